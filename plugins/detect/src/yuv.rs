// SPDX-License-Identifier: MIT OR Apache-2.0
//! YUV 4:2:0 (NV12, I420) rows to RGB, in 14-bit fixed point.

use crate::pixel::{FrameRef, PixelFormat, YuvMatrix};

const SHIFT: i32 = 14;

/// Fixed-point coefficients: `y_mul·(Y−y_off)` plus chroma terms.
#[derive(Debug, Clone, Copy)]
struct Coefs {
    y_off: i32,
    y_mul: i32,
    rv: i32,
    gu: i32,
    gv: i32,
    bu: i32,
}

fn coefs(m: YuvMatrix) -> Coefs {
    let (kr, kb, limited) = match m {
        YuvMatrix::Bt601Limited => (0.299, 0.114, true),
        YuvMatrix::Bt601Full => (0.299, 0.114, false),
        YuvMatrix::Bt709Limited => (0.2126, 0.0722, true),
        YuvMatrix::Bt709Full => (0.2126, 0.0722, false),
    };
    let kg = 1.0 - kr - kb;
    let (ys, cs, y_off) = if limited {
        (255.0 / 219.0, 255.0 / 224.0, 16)
    } else {
        (1.0, 1.0, 0)
    };
    let f = |v: f64| (v * (1 << SHIFT) as f64).round() as i32;
    Coefs {
        y_off,
        y_mul: f(ys),
        rv: f(2.0 * (1.0 - kr) * cs),
        gu: f(2.0 * (1.0 - kb) * kb / kg * cs),
        gv: f(2.0 * (1.0 - kr) * kr / kg * cs),
        bu: f(2.0 * (1.0 - kb) * cs),
    }
}

#[inline(always)]
fn clamp8(v: i32) -> u8 {
    ((v + (1 << (SHIFT - 1))) >> SHIFT).clamp(0, 255) as u8
}

/// Converts row `y` of a NV12/I420 frame to packed RGB (`out.len() >= width * 3`).
/// GRAY8 rows become three equal channels.
pub fn row_to_rgb(frame: &FrameRef<'_>, y: usize, out: &mut [u8]) {
    let w = frame.width;
    let yrow = &frame.planes[0][y * frame.strides[0]..][..w];
    let c = coefs(frame.yuv);
    let cy = y / 2;
    // Two luma samples share one chroma pair: chroma terms are computed once per pair, and the
    // loops run over exact chunks so the compiler drops the bounds checks.
    let pair = |o: &mut [u8], ys: &[u8], u: u8, v: u8| {
        let (u, v) = (u as i32 - 128, v as i32 - 128);
        let (r, g, b) = (c.rv * v, -c.gu * u - c.gv * v, c.bu * u);
        for (o, &yv) in o.chunks_exact_mut(3).zip(ys) {
            let yy = (yv as i32 - c.y_off) * c.y_mul;
            o[0] = clamp8(yy + r);
            o[1] = clamp8(yy + g);
            o[2] = clamp8(yy + b);
        }
    };
    let (pairs, odd) = (w / 2, w % 2);
    match frame.format {
        PixelFormat::Nv12 => {
            let uv = &frame.planes[1][cy * frame.strides[1]..][..(pairs + odd) * 2];
            for ((o, ys), c2) in out[..w * 3]
                .chunks_mut(6)
                .zip(yrow.chunks(2))
                .zip(uv.chunks_exact(2))
            {
                pair(o, ys, c2[0], c2[1]);
            }
        }
        PixelFormat::I420 => {
            let u = &frame.planes[1][cy * frame.strides[1]..][..pairs + odd];
            let v = &frame.planes[2][cy * frame.strides[2]..][..pairs + odd];
            for (((o, ys), &u), &v) in out[..w * 3].chunks_mut(6).zip(yrow.chunks(2)).zip(u).zip(v)
            {
                pair(o, ys, u, v);
            }
        }
        _ => {
            for (o, &yv) in out.chunks_exact_mut(3).zip(yrow) {
                o.fill(yv);
            }
        }
    }
}

/// Converts the pixels at columns `cols` of row `y` of a NV12/I420 frame to RGB, packed
/// (`PACKED`) or planar: R of every listed column, then G, then B (`out.len() >= 3 * cols.len()`). The letterbox converts
/// only the pixels its resize samples. Same arithmetic as [`row_to_rgb`], so the same values.
/// `scratch` holds the gathered Y, U and V bytes between the two passes.
#[inline(always)]
pub(crate) fn columns_to_rgb<const PACKED: bool>(
    frame: &FrameRef<'_>,
    y: usize,
    cols: &[u32],
    scratch: &mut Vec<u8>,
    out: &mut [u8],
) {
    let n = cols.len();
    let w = frame.width;
    let yrow = &frame.planes[0][y * frame.strides[0]..][..w];
    let cy = y / 2;
    let cw = w.div_ceil(2);
    scratch.resize(3 * n, 128);
    let (ys, chroma) = scratch.split_at_mut(n);
    let (us, vs) = chroma.split_at_mut(n);
    // Pass 1: gather the samples. Pass 2 then runs on whole planes, which the compiler turns
    // into SIMD with branch-free clamps.
    if n == w {
        // Every column (downscales up to 2×, upscales): copies and chroma doubling, no gather.
        ys.copy_from_slice(yrow);
        let (us2, vs2) = (&mut us[..w / 2 * 2], &mut vs[..w / 2 * 2]);
        match frame.format {
            PixelFormat::Nv12 => {
                let uv = &frame.planes[1][cy * frame.strides[1]..][..cw * 2];
                // Each pair's U and V doubled as 16-bit words (see `double`).
                for (k, c) in uv.chunks_exact(2).enumerate().take(w / 2) {
                    let pair = u16::from_le_bytes([c[0], c[1]]);
                    let (u, v) = (pair & 0xFF, pair >> 8);
                    us2[2 * k..2 * k + 2].copy_from_slice(&(u * 0x101).to_le_bytes());
                    vs2[2 * k..2 * k + 2].copy_from_slice(&(v * 0x101).to_le_bytes());
                }
                if w % 2 == 1 {
                    (us[w - 1], vs[w - 1]) = (uv[2 * (cw - 1)], uv[2 * (cw - 1) + 1]);
                }
            }
            PixelFormat::I420 => {
                let up = &frame.planes[1][cy * frame.strides[1]..][..cw];
                let vp = &frame.planes[2][cy * frame.strides[2]..][..cw];
                double(up, us2);
                double(vp, vs2);
                if w % 2 == 1 {
                    (us[w - 1], vs[w - 1]) = (up[cw - 1], vp[cw - 1]);
                }
            }
            _ => {
                us.fill(128);
                vs.fill(128);
            }
        }
    } else {
        gather_samples(frame, yrow, cy, cols, ys, us, vs);
    }
    let c = coefs(frame.yuv);
    let rgb = |y: u8, u: u8, v: u8| {
        let (u, v) = (u as i32 - 128, v as i32 - 128);
        let yy = (y as i32 - c.y_off) * c.y_mul;
        [
            clamp8(yy + c.rv * v),
            clamp8(yy + (-c.gu * u - c.gv * v)),
            clamp8(yy + c.bu * u),
        ]
    };
    let samples = ys.iter().zip(us.iter()).zip(vs.iter());
    if PACKED {
        for (o, ((&y, &u), &v)) in out[..3 * n].chunks_exact_mut(3).zip(samples) {
            let [r, g, b] = rgb(y, u, v);
            o[0] = r;
            o[1] = g;
            o[2] = b;
        }
    } else {
        let (r, rest) = out[..3 * n].split_at_mut(n);
        let (g, b) = rest.split_at_mut(n);
        for (((r, g), b), ((&y, &u), &v)) in r.iter_mut().zip(g).zip(b).zip(samples) {
            [*r, *g, *b] = rgb(y, u, v);
        }
    }
}

/// Each sample of `plane` for the two columns it covers: `out[2k] = out[2k + 1] = plane[k]`
/// (written as one 16-bit word, which the compiler vectorises; a byte at a time it does not).
#[inline(always)]
fn double(plane: &[u8], out: &mut [u8]) {
    for (o, &p) in out.chunks_exact_mut(2).zip(plane) {
        o.copy_from_slice(&(u16::from(p) * 0x101).to_le_bytes());
    }
}

/// Y, U and V of the pixels at columns `cols`.
#[inline(always)]
fn gather_samples(
    frame: &FrameRef<'_>,
    yrow: &[u8],
    cy: usize,
    cols: &[u32],
    ys: &mut [u8],
    us: &mut [u8],
    vs: &mut [u8],
) {
    let cw = frame.width.div_ceil(2);
    for (d, &x) in ys.iter_mut().zip(cols) {
        *d = yrow[x as usize];
    }
    match frame.format {
        PixelFormat::Nv12 => {
            let uv = &frame.planes[1][cy * frame.strides[1]..][..cw * 2];
            for ((u, v), &x) in us.iter_mut().zip(vs.iter_mut()).zip(cols) {
                let i = (x as usize / 2) * 2;
                *u = uv[i];
                *v = uv[i + 1];
            }
        }
        PixelFormat::I420 => {
            let up = &frame.planes[1][cy * frame.strides[1]..][..cw];
            let vp = &frame.planes[2][cy * frame.strides[2]..][..cw];
            for ((u, v), &x) in us.iter_mut().zip(vs.iter_mut()).zip(cols) {
                *u = up[x as usize / 2];
                *v = vp[x as usize / 2];
            }
        }
        _ => {
            us.fill(128);
            vs.fill(128);
        }
    }
}

/// RGB → (Y, U, V) for drawing on YUV frames, with the same matrix.
///
/// ```
/// use hmg_detect::{YuvMatrix, yuv::rgb_to_yuv};
/// assert_eq!(rgb_to_yuv(YuvMatrix::Bt601Limited, [0, 0, 0]), [16, 128, 128]);
/// assert_eq!(rgb_to_yuv(YuvMatrix::Bt709Full, [255, 255, 255]), [255, 128, 128]);
/// ```
pub fn rgb_to_yuv(m: YuvMatrix, rgb: [u8; 3]) -> [u8; 3] {
    let (kr, kb, limited) = match m {
        YuvMatrix::Bt601Limited => (0.299, 0.114, true),
        YuvMatrix::Bt601Full => (0.299, 0.114, false),
        YuvMatrix::Bt709Limited => (0.2126, 0.0722, true),
        YuvMatrix::Bt709Full => (0.2126, 0.0722, false),
    };
    let [r, g, b] = rgb.map(|v| v as f64 / 255.0);
    let y = kr * r + (1.0 - kr - kb) * g + kb * b;
    let u = (b - y) / (2.0 * (1.0 - kb));
    let v = (r - y) / (2.0 * (1.0 - kr));
    let (y8, c8) = if limited {
        (16.0 + 219.0 * y, 224.0)
    } else {
        (255.0 * y, 255.0)
    };
    let q = |x: f64| x.round().clamp(0.0, 255.0) as u8;
    [q(y8), q(128.0 + c8 * u), q(128.0 + c8 * v)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_and_primaries_round_trip() {
        for m in [
            YuvMatrix::Bt601Limited,
            YuvMatrix::Bt601Full,
            YuvMatrix::Bt709Limited,
            YuvMatrix::Bt709Full,
        ] {
            for rgb in [
                [0, 0, 0],
                [255, 255, 255],
                [128, 128, 128],
                [200, 30, 40],
                [20, 200, 90],
                [10, 60, 230],
            ] {
                let [y, u, v] = rgb_to_yuv(m, rgb);
                let (yp, up, vp) = ([y, y], [u], [v]);
                let f = FrameRef::new(PixelFormat::I420, 2, 1, [&yp, &up, &vp], [2, 1, 1])
                    .unwrap()
                    .with_yuv_matrix(m);
                let mut out = [0u8; 6];
                row_to_rgb(&f, 0, &mut out);
                for c in 0..3 {
                    assert!(
                        (out[c] as i32 - rgb[c] as i32).abs() <= 2,
                        "{m:?} {rgb:?} -> {out:?}"
                    );
                }
            }
        }
    }
}
