// SPDX-License-Identifier: MIT OR Apache-2.0
//! Ultralytics' letterbox, reproduced bit-exactly: OpenCV `INTER_LINEAR` resize with OpenCV's
//! fixed-point SIMD rounding, centred padding of 114, output RGB HWC `u8`.
//!
//! Colour conversion happens in the same pass: each source row is read once, in its own pixel
//! format (RGB-family, GRAY8, NV12, I420), straight into the horizontal resize.

use crate::pixel::{FrameRef, PixelFormat};
use crate::yuv;

/// The value ultralytics pads with.
pub const PAD_VALUE: u8 = 114;

const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// Where a frame lands inside the model input: the geometry of one letterbox.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Frame width.
    pub src_width: usize,
    /// Frame height.
    pub src_height: usize,
    /// Model input width.
    pub dst_width: usize,
    /// Model input height.
    pub dst_height: usize,
    /// Width of the scaled frame inside the input.
    pub resized_width: usize,
    /// Height of the scaled frame inside the input.
    pub resized_height: usize,
    /// Padding left of the scaled frame.
    pub pad_left: usize,
    /// Padding above the scaled frame.
    pub pad_top: usize,
    /// `min(dst_h / src_h, dst_w / src_w)`, as ultralytics computes it.
    pub gain: f64,
}

impl Letterbox {
    /// Ultralytics' `LetterBox(center=True, scaleup=True)` geometry (Python `round` = ties-to-even).
    ///
    /// ```
    /// use hmg_detect::Letterbox;
    /// let lb = Letterbox::new(1920, 1080, 640, 640);
    /// assert_eq!((lb.resized_width, lb.resized_height, lb.pad_left, lb.pad_top), (640, 360, 0, 140));
    /// // A point in model-input pixels back in frame pixels:
    /// assert_eq!(lb.to_frame(320.0, 320.0), (960.0, 540.0));
    /// ```
    pub fn new(src_width: usize, src_height: usize, dst_width: usize, dst_height: usize) -> Self {
        let (sw, sh) = (src_width.max(1) as f64, src_height.max(1) as f64);
        let gain = (dst_height as f64 / sh).min(dst_width as f64 / sw);
        let resized_width = ((sw * gain).round_ties_even() as usize).clamp(1, dst_width.max(1));
        let resized_height = ((sh * gain).round_ties_even() as usize).clamp(1, dst_height.max(1));
        let dw = (dst_width - resized_width) as f64 / 2.0;
        let dh = (dst_height - resized_height) as f64 / 2.0;
        let pad_left = ((dw - 0.1).round_ties_even().max(0.0)) as usize;
        let pad_top = ((dh - 0.1).round_ties_even().max(0.0)) as usize;
        Self {
            src_width,
            src_height,
            dst_width,
            dst_height,
            resized_width,
            resized_height,
            pad_left,
            pad_top,
            gain,
        }
    }

    /// Maps a point from model-input pixels back to frame pixels, clipped to the frame. Like
    /// ultralytics' postprocess: per-axis gain `resized / original`, in `f32` like its tensors.
    #[inline]
    pub fn to_frame(&self, x: f32, y: f32) -> (f32, f32) {
        let gx = (self.resized_width as f64 / self.src_width.max(1) as f64) as f32;
        let gy = (self.resized_height as f64 / self.src_height.max(1) as f64) as f32;
        let fx = (x - self.pad_left as f32) / gx;
        let fy = (y - self.pad_top as f32) / gy;
        (
            fx.clamp(0.0, self.src_width as f32),
            fy.clamp(0.0, self.src_height as f32),
        )
    }
}

/// Per-axis resize tables: source offsets and fixed-point weights, as `cv::resize` builds them.
#[derive(Debug, Default)]
struct Tables {
    key: (usize, usize, usize, usize, usize),
    /// Byte offsets of the two source pixels of each output column (the second equals the
    /// first where its weight is 0: it contributes exactly nothing).
    x0: Vec<u32>,
    x1: Vec<u32>,
    alpha: Vec<[i16; 2]>,
    /// The source columns the resize reads, ascending, and the same two offsets per output
    /// column into a row holding only those columns as RGB (the YUV path converts just these).
    columns: Vec<u32>,
    cx0: Vec<u32>,
    cx1: Vec<u32>,
    /// The largest offset in `x0`/`x1` and in `cx0`/`cx1`.
    x_max: u32,
    cx_max: u32,
    /// The two source rows of each output row (already clamped) and their weights.
    y0: Vec<u32>,
    y1: Vec<u32>,
    beta: Vec<[i16; 2]>,
}

fn interval_start(d: usize, scale: f64) -> (i64, f32) {
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let s = f.floor();
    (s as i64, f - s)
}

fn weights(f: f32) -> [i16; 2] {
    // Each weight rounded on its own (cvRound), not 2048 - a0.
    [
        ((1.0 - f) * COEF_SCALE).round_ties_even() as i16,
        (f * COEF_SCALE).round_ties_even() as i16,
    ]
}

impl Tables {
    fn build(&mut self, sw: usize, sh: usize, dw: usize, dh: usize, bpp: usize) {
        let key = (sw, sh, dw, dh, bpp);
        if self.key == key && !self.x0.is_empty() {
            return;
        }
        self.key = key;
        let scale_x = 1.0 / (dw as f64 / sw as f64);
        let scale_y = 1.0 / (dh as f64 / sh as f64);
        self.x0.clear();
        self.x1.clear();
        self.alpha.clear();
        self.columns.clear();
        self.cx0.clear();
        self.cx1.clear();
        let last = sw as i64 - 1;
        for dx in 0..dw {
            let (mut sx, mut fx) = interval_start(dx, scale_x);
            if sx < 0 {
                sx = 0;
                fx = 0.0;
            }
            if sx >= last {
                sx = last;
                fx = 0.0;
            }
            let alpha = if sx == last {
                [COEF_SCALE as i16, 0]
            } else {
                weights(fx)
            };
            let sx1 = if alpha[1] == 0 { sx } else { sx + 1 };
            self.x0.push((sx as usize * bpp) as u32);
            self.x1.push((sx1 as usize * bpp) as u32);
            self.alpha.push(alpha);
            for (col, compact) in [(sx, &mut self.cx0), (sx1, &mut self.cx1)] {
                if self.columns.last() != Some(&(col as u32)) {
                    self.columns.push(col as u32);
                }
                compact.push(((self.columns.len() - 1) * 3) as u32);
            }
        }
        self.x_max = self.x0.iter().chain(&self.x1).copied().max().unwrap_or(0);
        self.cx_max = self.cx0.iter().chain(&self.cx1).copied().max().unwrap_or(0);
        self.y0.clear();
        self.y1.clear();
        self.beta.clear();
        let last = sh as i64 - 1;
        for dy in 0..dh {
            let (sy, fy) = interval_start(dy, scale_y);
            self.y0.push(sy.clamp(0, last) as u32);
            self.y1.push((sy + 1).clamp(0, last) as u32);
            self.beta.push(weights(fy));
        }
    }
}

/// Reusable letterbox worker: holds tables, row caches and the output buffer, so steady-state
/// frames allocate nothing.
#[derive(Debug, Default)]
pub struct Letterboxer {
    tables: Tables,
    rows: [Vec<i16>; 2],
    row_ids: [Option<usize>; 2],
    rgb_row: Vec<u8>,
    yuv_samples: Vec<u8>,
    out: Vec<u8>,
    out_geometry: Option<Letterbox>,
}

impl Letterboxer {
    /// A letterboxer with empty scratch buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Letterboxes `frame` into a `dst_width`×`dst_height` RGB HWC image.
    ///
    /// ```
    /// use hmg_detect::{FrameRef, Letterboxer, PixelFormat};
    /// let bgr = vec![200u8; 64 * 32 * 3];
    /// let frame = FrameRef::packed(PixelFormat::Bgr, 64, 32, &bgr)?;
    /// let mut letterboxer = Letterboxer::new();
    /// let (rgb, lb) = letterboxer.run(&frame, 32, 32);
    /// assert_eq!(rgb.len(), 32 * 32 * 3);
    /// assert_eq!((lb.resized_height, lb.pad_top), (16, 8));
    /// assert_eq!(&rgb[..3], &[114, 114, 114]); // ultralytics' grey padding
    /// # Ok::<(), hmg_detect::DetectError>(())
    /// ```
    pub fn run(
        &mut self,
        frame: &FrameRef<'_>,
        dst_width: usize,
        dst_height: usize,
    ) -> (&[u8], Letterbox) {
        let lb = Letterbox::new(frame.width, frame.height, dst_width, dst_height);
        let size = dst_width * dst_height * 3;
        if self.out_geometry != Some(lb) || self.out.len() != size {
            // Only the pad changes with geometry; it is written once, not per frame.
            self.out.clear();
            self.out.resize(size, PAD_VALUE);
            self.out_geometry = Some(lb);
        }
        if lb.resized_width == frame.width && lb.resized_height == frame.height {
            self.copy_unscaled(frame, &lb);
        } else {
            self.resize(frame, &lb);
        }
        (&self.out, lb)
    }

    fn copy_unscaled(&mut self, frame: &FrameRef<'_>, lb: &Letterbox) {
        let row_bytes = lb.resized_width * 3;
        for y in 0..frame.height {
            let (src, bpp, off) = source_row(frame, y, &mut self.rgb_row);
            let start = ((lb.pad_top + y) * lb.dst_width + lb.pad_left) * 3;
            let dst = &mut self.out[start..start + row_bytes];
            for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(bpp)) {
                d[0] = s[off[0]];
                d[1] = s[off[1]];
                d[2] = s[off[2]];
            }
        }
    }

    /// The resize, compiled twice: for the CPU's AVX2 when it has it (the vertical pass then
    /// runs 16 values at a time), and for the baseline target.
    fn resize(&mut self, frame: &FrameRef<'_>, lb: &Letterbox) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked on the line above.
            unsafe { self.resize_avx2(frame, lb) };
            return;
        }
        self.resize_rows(frame, lb);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn resize_avx2(&mut self, frame: &FrameRef<'_>, lb: &Letterbox) {
        self.resize_rows(frame, lb);
    }

    #[inline(always)]
    fn resize_rows(&mut self, frame: &FrameRef<'_>, lb: &Letterbox) {
        let bpp = row_bpp(frame.format);
        self.tables.build(
            frame.width,
            frame.height,
            lb.resized_width,
            lb.resized_height,
            bpp,
        );
        let n = lb.resized_width * 3;
        for r in &mut self.rows {
            r.resize(n, 0);
        }
        self.row_ids = [None, None];
        for dy in 0..lb.resized_height {
            let (sy0, sy1) = (self.tables.y0[dy] as usize, self.tables.y1[dy] as usize);
            let [b0, b1] = self.tables.beta[dy];
            self.ensure_row(frame, 0, sy0);
            // A zero weight contributes exactly 0 in OpenCV's formula: skip that row.
            let second = b1 != 0 && sy1 != sy0;
            if second {
                self.ensure_row(frame, 1, sy1);
            }
            let start = ((lb.pad_top + dy) * lb.dst_width + lb.pad_left) * 3;
            let out = &mut self.out[start..start + n];
            if b1 == 0 {
                vresize_one(&self.rows[0], b0, out);
            } else if second {
                vresize_two(&self.rows[0], &self.rows[1], b0, b1, out);
            } else {
                vresize_two(&self.rows[0], &self.rows[0], b0, b1, out);
            }
        }
    }

    /// Makes slot `slot` hold horizontal-pass row `sy`, reusing the other slot when it has it.
    #[inline(always)]
    fn ensure_row(&mut self, frame: &FrameRef<'_>, slot: usize, sy: usize) {
        if self.row_ids[slot] == Some(sy) {
            return;
        }
        let other = 1 - slot;
        if self.row_ids[other] == Some(sy) {
            self.rows.swap(0, 1);
            self.row_ids.swap(0, 1);
            return;
        }
        let t = &self.tables;
        let dst = &mut self.rows[slot];
        match frame.format.packed_layout() {
            Some((bpp, off)) => {
                let start = sy * frame.strides[0];
                let src = &frame.planes[0][start..start + frame.width * bpp];
                hresize_packed(src, bpp, off, (&t.x0, &t.x1, t.x_max), &t.alpha, dst);
            }
            None => {
                self.rgb_row.resize(t.columns.len() * 3, 0);
                yuv::columns_to_rgb(
                    frame,
                    sy,
                    &t.columns,
                    &mut self.yuv_samples,
                    &mut self.rgb_row,
                );
                hresize::<3, 0, 1, 2>(&self.rgb_row, (&t.cx0, &t.cx1, t.cx_max), &t.alpha, dst);
            }
        }
        self.row_ids[slot] = Some(sy);
    }
}

fn row_bpp(format: PixelFormat) -> usize {
    format.packed_layout().map_or(3, |(bpp, _)| bpp)
}

/// One source row as packed bytes: straight from the frame for packed formats, converted to
/// RGB for YUV.
fn source_row<'a>(
    frame: &FrameRef<'a>,
    y: usize,
    scratch: &'a mut Vec<u8>,
) -> (&'a [u8], usize, [usize; 3]) {
    match frame.format.packed_layout() {
        Some((bpp, off)) => {
            let start = y * frame.strides[0];
            (&frame.planes[0][start..start + frame.width * bpp], bpp, off)
        }
        None => {
            scratch.resize(frame.width * 3, 0);
            yuv::row_to_rgb(frame, y, scratch);
            (&scratch[..], 3, [0, 1, 2])
        }
    }
}

/// The horizontal pass specialised for each packed layout `PixelFormat` has, so the channel
/// offsets are constants.
#[inline(always)]
fn hresize_packed(
    src: &[u8],
    bpp: usize,
    off: [usize; 3],
    x: (&[u32], &[u32], u32),
    alpha: &[[i16; 2]],
    dst: &mut [i16],
) {
    match (bpp, off) {
        (3, [0, 1, 2]) => hresize::<3, 0, 1, 2>(src, x, alpha, dst),
        (3, [2, 1, 0]) => hresize::<3, 2, 1, 0>(src, x, alpha, dst),
        (4, [0, 1, 2]) => hresize::<4, 0, 1, 2>(src, x, alpha, dst),
        (4, [2, 1, 0]) => hresize::<4, 2, 1, 0>(src, x, alpha, dst),
        (4, [1, 2, 3]) => hresize::<4, 1, 2, 3>(src, x, alpha, dst),
        (4, [3, 2, 1]) => hresize::<4, 3, 2, 1>(src, x, alpha, dst),
        (1, [0, 0, 0]) => hresize::<1, 0, 0, 0>(src, x, alpha, dst),
        _ => unreachable!("PixelFormat::packed_layout has no layout {bpp} {off:?}"),
    }
}

/// `H = p[x0]*a0 + p[x1]*a1` per channel, stored as `H >> 4` (OpenCV's `HResizeLinear` for
/// 8-bit input). `x` holds the byte offsets of the two pixels (of `BPP` bytes, R/G/B at
/// `R`/`G`/`B`) of each output column, and the largest of them.
#[inline(always)]
fn hresize<const BPP: usize, const R: usize, const G: usize, const B: usize>(
    src: &[u8],
    (x0, x1, max): (&[u32], &[u32], u32),
    alpha: &[[i16; 2]],
    dst: &mut [i16],
) {
    let n = dst.len() / 3;
    let (x0, x1, alpha) = (&x0[..n], &x1[..n], &alpha[..n]);
    // The tables never point past the row: one check here instead of six per column.
    let max = max as usize;
    assert!(
        n == 0 || max + BPP <= src.len(),
        "resize table beyond the row"
    );
    for (i, d) in dst.chunks_exact_mut(3).enumerate() {
        let (p0, p1) = (x0[i] as usize, x1[i] as usize);
        let [a0, a1] = alpha[i];
        let (a0, a1) = (a0 as i32, a1 as i32);
        // SAFETY: p0, p1 <= max and max + BPP <= src.len(), checked above; R, G, B < BPP.
        let px = |p: usize, c: usize| unsafe { *src.get_unchecked(p + c) } as i32;
        d[0] = ((px(p0, R) * a0 + px(p1, R) * a1) >> 4) as i16;
        d[1] = ((px(p0, G) * a0 + px(p1, G) * a1) >> 4) as i16;
        d[2] = ((px(p0, B) * a0 + px(p1, B) * a1) >> 4) as i16;
    }
}

/// OpenCV's `VResizeLinearVec_32s8u`: `((h0*b0)>>16) + ((h1*b1)>>16)`, then `(t+2)>>2`,
/// saturated. Written on `i16` lanes (both products' high halves fit) so it maps to `pmulhw`.
#[inline(always)]
fn vresize_two(r0: &[i16], r1: &[i16], b0: i16, b1: i16, out: &mut [u8]) {
    let n = out.len();
    let (r0, r1) = (&r0[..n], &r1[..n]);
    for i in 0..n {
        let t = mul_hi(r0[i], b0).wrapping_add(mul_hi(r1[i], b1));
        out[i] = (t.wrapping_add(2) >> 2).clamp(0, 255) as u8;
    }
}

#[inline(always)]
fn vresize_one(r0: &[i16], b0: i16, out: &mut [u8]) {
    let n = out.len();
    let r0 = &r0[..n];
    for i in 0..n {
        let t = mul_hi(r0[i], b0);
        out[i] = (t.wrapping_add(2) >> 2).clamp(0, 255) as u8;
    }
}

#[inline(always)]
fn mul_hi(a: i16, b: i16) -> i16 {
    ((a as i32 * b as i32) >> 16) as i16
}

/// RGB HWC `u8` → CHW `f32` in 0..1 (`x / 255` in `f32`, like numpy) into `out`, which holds
/// exactly one image (`rgb.len()` floats).
///
/// ```
/// let rgb = [255u8, 0, 51, 0, 255, 102]; // two pixels
/// let mut chw = [0f32; 6];
/// hmg_detect::letterbox::hwc_to_nchw_unit(&rgb, &mut chw);
/// assert_eq!(chw, [1.0, 0.0, 0.0, 1.0, 0.2, 0.4]); // R plane, G plane, B plane
/// ```
pub fn hwc_to_nchw_unit(rgb: &[u8], out: &mut [f32]) {
    let plane = rgb.len() / 3;
    assert_eq!(out.len(), plane * 3, "one CHW image");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked on the line above.
        unsafe { hwc_to_nchw_unit_avx2(rgb, out) };
        return;
    }
    hwc_to_nchw_unit_rows(rgb, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn hwc_to_nchw_unit_avx2(rgb: &[u8], out: &mut [f32]) {
    hwc_to_nchw_unit_rows(rgb, out);
}

/// A true division, like numpy's (a multiplication by 1/255 differs in the last bit).
#[inline(always)]
fn hwc_to_nchw_unit_rows(rgb: &[u8], out: &mut [f32]) {
    let plane = rgb.len() / 3;
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (((px, r), g), b) in rgb
        .chunks_exact(3)
        .zip(r.iter_mut())
        .zip(g.iter_mut())
        .zip(b.iter_mut())
    {
        *r = px[0] as f32 / 255.0;
        *g = px[1] as f32 / 255.0;
        *b = px[2] as f32 / 255.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixel::YuvMatrix;
    use crate::yuv::rgb_to_yuv;

    fn pattern(w: usize, h: usize) -> Vec<u8> {
        (0..w * h * 3).map(|i| ((i * 7919) % 251) as u8).collect()
    }

    fn repack(rgb: &[u8], format: PixelFormat) -> Vec<u8> {
        let (bpp, off) = format.packed_layout().unwrap();
        let mut out = vec![0u8; rgb.len() / 3 * bpp];
        for (d, s) in out.chunks_exact_mut(bpp).zip(rgb.chunks_exact(3)) {
            for c in 0..3 {
                d[off[c]] = s[c];
            }
        }
        out
    }

    #[test]
    fn geometry_matches_ultralytics_rounding() {
        let lb = Letterbox::new(600, 400, 640, 640);
        assert_eq!(
            (lb.resized_width, lb.resized_height, lb.pad_left, lb.pad_top),
            (640, 427, 0, 106)
        );
        let lb = Letterbox::new(640, 424, 640, 640);
        assert_eq!(
            (lb.resized_width, lb.resized_height, lb.pad_top),
            (640, 424, 108)
        );
        let lb = Letterbox::new(1920, 1080, 320, 320);
        assert_eq!(
            (lb.resized_width, lb.resized_height, lb.pad_top),
            (320, 180, 70)
        );
        let lb = Letterbox::new(1, 1, 640, 640);
        assert_eq!((lb.resized_width, lb.resized_height), (640, 640));
        assert_eq!(lb.to_frame(640.0, 700.0), (1.0, 1.0));
    }

    #[test]
    fn every_packed_format_gives_the_rgb_result() {
        for (w, h) in [(101, 57), (640, 480), (33, 700), (1280, 720), (7, 3)] {
            let rgb = pattern(w, h);
            let mut lb = Letterboxer::new();
            let want = lb
                .run(
                    &FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap(),
                    640,
                    640,
                )
                .0
                .to_vec();
            for f in PixelFormat::ALL
                .into_iter()
                .filter(|f| f.packed_layout().is_some_and(|(b, _)| b > 1))
            {
                let data = repack(&rgb, f);
                let got = lb
                    .run(&FrameRef::packed(f, w, h, &data).unwrap(), 640, 640)
                    .0
                    .to_vec();
                assert!(got == want, "{f:?} {w}x{h}");
            }
        }
    }

    #[test]
    fn pad_is_114_and_picture_is_centred() {
        let (w, h) = (64, 32);
        let rgb = vec![200u8; w * h * 3];
        let mut lb = Letterboxer::new();
        let (out, g) = lb.run(
            &FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap(),
            128,
            128,
        );
        assert_eq!(
            (g.resized_width, g.resized_height, g.pad_top),
            (128, 64, 32)
        );
        assert!(out[..32 * 128 * 3].iter().all(|&v| v == PAD_VALUE));
        assert!(out[32 * 128 * 3..96 * 128 * 3].iter().all(|&v| v == 200));
        assert!(out[96 * 128 * 3..].iter().all(|&v| v == PAD_VALUE));
    }

    #[test]
    fn strided_rows_and_yuv_formats() {
        // A flat colour survives any resize; YUV conversion lands within rounding of it.
        let (w, h) = (99usize, 51usize);
        let rgb = [30u8, 160, 220];
        let [y, u, v] = rgb_to_yuv(YuvMatrix::Bt601Limited, rgb);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let yp = vec![y; (w + 5) * h];
        let (up, vp) = (vec![u; cw * ch], vec![v; cw * ch]);
        let uv: Vec<u8> = (0..cw * ch).flat_map(|_| [u, v]).collect();
        let mut lb = Letterboxer::new();
        let frames = [
            FrameRef::new(PixelFormat::I420, w, h, [&yp, &up, &vp], [w + 5, cw, cw]).unwrap(),
            FrameRef::new(PixelFormat::Nv12, w, h, [&yp, &uv, &[]], [w + 5, cw * 2, 0]).unwrap(),
        ];
        for f in frames {
            let (out, g) = lb.run(&f, 320, 320);
            let mid = ((g.pad_top + g.resized_height / 2) * 320 + 160) * 3;
            for c in 0..3 {
                assert!(
                    (out[mid + c] as i32 - rgb[c] as i32).abs() <= 2,
                    "{:?}: {:?}",
                    f.format,
                    &out[mid..mid + 3]
                );
            }
        }
        assert!(
            FrameRef::new(
                PixelFormat::I420,
                w,
                h,
                [&yp, &up[..10], &vp],
                [w + 5, cw, cw]
            )
            .is_err()
        );
    }
}
