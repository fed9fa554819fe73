// SPDX-License-Identifier: MIT OR Apache-2.0
//! The exact 2× and 3× downscales of packed 3- and 4-byte pixels (720p and 1080p → 640) with
//! AVX2, eight output pixels a step: for 2× the rounded mean of the four source pixels taken in
//! bytes ([`mean_of_four`]), for 3× the middle pixel of three, and the three channels of each
//! output pixel picked with byte shuffles. The compiler's own vectorisation of these stride-6 and stride-9 gathers spends most
//! of its time blending or inserting single bytes.

use std::arch::x86_64::*;

/// The kernels' shuffle masks for the pixel layout of the rows before: built at a frame's first
/// row (when the CPU has AVX2), then only compared with each row's layout.
#[derive(Debug, Default)]
pub(super) struct ExactRatios {
    halves: Option<(Layout, Masks)>,
    thirds: Option<(Layout, Masks)>,
}

/// Bytes per pixel and where R, G and B are in one.
type Layout = (usize, [usize; 3]);

impl ExactRatios {
    /// Output row of an exact 2× downscale from source rows `r0` and `r1` with the AVX2 kernel,
    /// when the CPU has AVX2 and the pixels are 3 or 4 bytes (`bpp`); false, and nothing
    /// written, if not.
    pub(super) fn halves(
        &mut self,
        bpp: usize,
        off: [usize; 3],
        r0: &[u8],
        r1: &[u8],
        out: &mut [u8],
    ) -> bool {
        let Some(masks) = masks_for(&mut self.halves, (bpp, off), |o| {
            2 * bpp * (o / 3) + off[o % 3]
        }) else {
            return false;
        };
        // SAFETY: masks_for built masks, so the CPU has AVX2.
        unsafe {
            match bpp {
                3 => halve_rows::<3>(masks, off, r0, r1, out),
                _ => halve_rows::<4>(masks, off, r0, r1, out),
            }
        }
        true
    }

    /// Output row of an exact 3× downscale from source row `src`, as [`Self::halves`] decides.
    pub(super) fn thirds(
        &mut self,
        bpp: usize,
        off: [usize; 3],
        src: &[u8],
        out: &mut [u8],
    ) -> bool {
        let Some(masks) = masks_for(&mut self.thirds, (bpp, off), |o| {
            bpp + 3 * bpp * (o / 3) + off[o % 3]
        }) else {
            return false;
        };
        // SAFETY: masks_for built masks, so the CPU has AVX2.
        unsafe {
            match bpp {
                3 => sample_thirds::<3>(masks, off, src, out),
                _ => sample_thirds::<4>(masks, off, src, out),
            }
        }
        true
    }
}

/// The masks kept in `slot` for `layout`, built with `at` if the slot held another layout; none
/// without AVX2 or for pixels of other than 3 or 4 bytes.
fn masks_for(
    slot: &mut Option<(Layout, Masks)>,
    layout: Layout,
    at: impl Fn(usize) -> usize,
) -> Option<&Masks> {
    if slot.as_ref().is_none_or(|(kept, _)| *kept != layout) {
        if !matches!(layout.0, 3 | 4) || !crate::simd::avx2() {
            return None;
        }
        // SAFETY: simd::avx2() checked that the CPU has AVX2.
        *slot = Some((layout, unsafe { Masks::new(at) }));
    }
    slot.as_ref().map(|(_, masks)| masks)
}

/// Output pixels per step: 24 output bytes, from `16·BPP` source bytes of each row.
const STEP: usize = 8;

/// `out[3k + c] = (r0[2k·BPP + off[c]] + r0[(2k + 1)·BPP + off[c]] + r1[..] + r1[..] + 2) >> 2`:
/// what [`super::kernels::add_rows`] then [`super::kernels::average_pairs`] compute, bit for bit.
#[target_feature(enable = "avx2")]
fn halve_rows<const BPP: usize>(
    masks: &Masks,
    off: [usize; 3],
    r0: &[u8],
    r1: &[u8],
    out: &mut [u8],
) {
    // Each step reads BPP vectors of 16 bytes of each row, and the same shifted by one pixel.
    let (stride, read) = (2 * BPP * STEP, 2 * BPP * STEP + BPP);
    let n = out.len() / 3;
    let len = r0.len().min(r1.len());
    let steps = if len >= read {
        ((len - read) / stride + 1).min(n / STEP)
    } else {
        0
    };
    for s in 0..steps {
        let (src, dst) = (stride * s, 3 * STEP * s);
        // SAFETY: src + read <= len (steps above; the widest load, 32 bytes at 16·(BPP − 2) +
        // BPP, ends there) and dst + 24 <= 3n <= out.len().
        unsafe {
            let wide = |row: &[u8], at: usize| _mm256_loadu_si256(row.as_ptr().add(at).cast());
            let narrow = |row: &[u8], at: usize| {
                _mm256_zextsi128_si256(_mm_loadu_si128(row.as_ptr().add(at).cast()))
            };
            // Bytes at..at + 32 (at..at + 16 with `narrow`) of the step, each the rounded mean of
            // its byte and the one a pixel on, in both rows.
            let means = |load: &dyn Fn(&[u8], usize) -> __m256i, at: usize| {
                mean_of_four(
                    load(r0, at),
                    load(r0, at + BPP),
                    load(r1, at),
                    load(r1, at + BPP),
                )
            };
            let t01 = means(&wide, src);
            let t23 = if BPP == 4 {
                means(&wide, src + 32)
            } else {
                means(&narrow, src + 32)
            };
            let zero = _mm_setzero_si128();
            let t = [
                _mm256_castsi256_si128(t01),
                _mm256_extracti128_si256::<1>(t01),
                _mm256_castsi256_si128(t23),
                _mm256_extracti128_si256::<1>(t23),
                zero,
                zero,
            ];
            masks.store(&t, BPP, out.as_mut_ptr().add(dst));
        }
    }
    for k in steps * STEP..n {
        for c in 0..3 {
            let i = 2 * k * BPP + off[c];
            let total = r0[i] as u16 + r0[i + BPP] as u16 + r1[i] as u16 + r1[i + BPP] as u16;
            out[3 * k + c] = ((total + 2) >> 2) as u8;
        }
    }
}

/// `(a + b + c + d + 2) >> 2` per byte without widening. With `p` and `q` the rounded-up halves
/// of `a + b` and `c + d` (`pavgb`), `(p + q + 1) >> 1` is the same quotient of `a + b + c + d`
/// plus the two round-ups; it is one too high exactly when a round-up happened (`a + b` or `c + d`
/// odd) and `p + q` is odd. (Checked against the widened sum in the tests, on every layout.)
#[inline]
#[target_feature(enable = "avx2")]
fn mean_of_four(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m256i {
    let (p, q) = (_mm256_avg_epu8(a, b), _mm256_avg_epu8(c, d));
    let rounded_up = _mm256_or_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
    let too_high = _mm256_and_si256(_mm256_xor_si256(p, q), rounded_up);
    let one = _mm256_set1_epi8(1);
    _mm256_sub_epi8(_mm256_avg_epu8(p, q), _mm256_and_si256(too_high, one))
}

/// Shuffle masks that take output bytes 0..16 (`low`) and 16..24 (`high`) of a step from up to
/// six 16-byte vectors of source values; output byte `o` comes from value `at(o)`.
#[derive(Debug)]
struct Masks {
    low: [__m128i; 6],
    high: [__m128i; 6],
}

impl Masks {
    #[target_feature(enable = "avx2")]
    fn new(at: impl Fn(usize) -> usize) -> Self {
        // 0x80 makes pshufb write 0, so the shuffles can be OR-ed.
        let mut bytes = [[[0x80u8; 16]; 6]; 2];
        for o in 0..3 * STEP {
            let at = at(o);
            bytes[o / 16][at / 16][o % 16] = (at % 16) as u8;
        }
        // SAFETY: each array is 16 bytes, read unaligned.
        let load = |b: &[u8; 16]| unsafe { _mm_loadu_si128(b.as_ptr().cast()) };
        Self {
            low: bytes[0].each_ref().map(load),
            high: bytes[1].each_ref().map(load),
        }
    }

    /// The 24 output bytes of a step from its first `n` vectors, stored at `p`.
    ///
    /// SAFETY (callers): `p` is valid for 24 bytes of writes.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store(&self, t: &[__m128i; 6], n: usize, p: *mut u8) {
        let pick = |m: &[__m128i; 6]| {
            let mut v = _mm_shuffle_epi8(t[0], m[0]);
            for i in 1..n {
                v = _mm_or_si128(v, _mm_shuffle_epi8(t[i], m[i]));
            }
            v
        };
        // SAFETY: the caller's p is valid for 24 bytes.
        unsafe {
            _mm_storeu_si128(p.cast(), pick(&self.low));
            _mm_storel_epi64(p.add(16).cast(), pick(&self.high));
        }
    }
}

/// `out[3k + c] = src[(3k + 1)·BPP + off[c]]`: the middle pixel of every three, as
/// [`super::kernels::sample_thirds`] picks it, bit for bit.
#[target_feature(enable = "avx2")]
fn sample_thirds<const BPP: usize>(masks: &Masks, off: [usize; 3], src: &[u8], out: &mut [u8]) {
    let stride = 3 * BPP * STEP;
    // The vectors a step reads: up to its last output byte's source byte.
    let vectors = (BPP + stride - 3 * BPP + 3) / 16 + 1;
    let read = 16 * vectors;
    let n = out.len() / 3;
    let steps = if src.len() >= read {
        ((src.len() - read) / stride + 1).min(n / STEP)
    } else {
        0
    };
    for s in 0..steps {
        let (at, dst) = (stride * s, 3 * STEP * s);
        // SAFETY: at + read <= src.len() (steps above) and dst + 24 <= 3n <= out.len().
        unsafe {
            let load = |i: usize| _mm_loadu_si128(src.as_ptr().add(at + 16 * i).cast());
            let zero = _mm_setzero_si128();
            let mut t = [zero; 6];
            for (i, v) in t.iter_mut().enumerate().take(vectors) {
                *v = load(i);
            }
            masks.store(&t, vectors, out.as_mut_ptr().add(dst));
        }
    }
    let done = 3 * STEP * steps;
    super::kernels::sample_thirds::<BPP>(off, &src[stride * steps..], &mut out[done..]);
}

#[cfg(test)]
mod tests {
    use super::super::kernels;
    use super::super::kernels::{add_rows, average_pairs};
    use super::*;

    /// Every `a`, `b`, `c`, each with 32 values of `d` spread over the byte range.
    #[test]
    fn the_mean_of_four_bytes_equals_the_widened_sum() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let splat = |v: u8| [v; 32];
        let load = |v: &[u8; 32]| unsafe { _mm256_loadu_si256(v.as_ptr().cast()) };
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for c in 0..=255u8 {
                    let seed = a as usize * 3 + b as usize * 5 + c as usize * 7;
                    let d: [u8; 32] = std::array::from_fn(|i| (seed + 8 * i) as u8);
                    let mut got = [0u8; 32];
                    // SAFETY: the CPU has AVX2 (checked above); 32-byte arrays.
                    unsafe {
                        let m = mean_of_four(
                            load(&splat(a)),
                            load(&splat(b)),
                            load(&splat(c)),
                            load(&d),
                        );
                        _mm256_storeu_si256(got.as_mut_ptr().cast(), m);
                    }
                    for (g, d) in got.iter().zip(d) {
                        let want = (a as u16 + b as u16 + c as u16 + d as u16 + 2) >> 2;
                        assert_eq!(*g as u16, want, "{a} {b} {c} {d}");
                    }
                }
            }
        }
    }

    /// One [`ExactRatios`] over every layout in turn: its masks are rebuilt when the layout
    /// changes. Without AVX2 (or with it disabled) it must refuse and write nothing.
    #[test]
    fn equals_the_portable_kernels() {
        let mut exact = ExactRatios::default();
        for width in [1280usize, 1282, 2, 16, 18, 34, 98] {
            for (bpp, offs) in [
                (3, vec![[0, 1, 2], [2, 1, 0]]),
                (4, vec![[0, 1, 2], [2, 1, 0], [1, 2, 3], [3, 2, 1]]),
            ] {
                let row = |seed: usize| -> Vec<u8> {
                    (0..width * bpp)
                        .map(|i| ((i * 37 + seed * 101 + i / 7) % 256) as u8)
                        .collect()
                };
                let (r0, r1) = (row(1), row(2));
                for off in offs {
                    let mut sum = vec![0u16; r0.len()];
                    add_rows(&r0, &r1, &mut sum);
                    let mut want = vec![0u8; width / 2 * 3];
                    let mut got = vec![0u8; want.len()];
                    if bpp == 3 {
                        average_pairs::<3>(off, &sum, &mut want);
                    } else {
                        average_pairs::<4>(off, &sum, &mut want);
                    }
                    let ran = exact.halves(bpp, off, &r0, &r1, &mut got);
                    assert_eq!(ran, crate::simd::avx2());
                    if !ran {
                        assert!(got.iter().all(|&b| b == 0));
                        continue;
                    }
                    assert_eq!(got, want, "{width} px, {bpp} bytes, {off:?}");
                }
            }
        }
    }

    #[test]
    fn sampling_thirds_equals_the_portable_kernel() {
        let mut exact = ExactRatios::default();
        for width in [1920usize, 1923, 3, 24, 27, 75, 96, 111] {
            for (bpp, offs) in [
                (3, vec![[0, 1, 2], [2, 1, 0]]),
                (4, vec![[0, 1, 2], [2, 1, 0], [1, 2, 3], [3, 2, 1]]),
            ] {
                let row: Vec<u8> = (0..width * bpp).map(|i| (i * 7 + i / 5) as u8).collect();
                for off in offs {
                    let mut want = vec![0u8; width / 3 * 3];
                    let mut got = vec![0u8; want.len()];
                    if bpp == 3 {
                        kernels::sample_thirds::<3>(off, &row, &mut want);
                    } else {
                        kernels::sample_thirds::<4>(off, &row, &mut want);
                    }
                    let ran = exact.thirds(bpp, off, &row, &mut got);
                    assert_eq!(ran, crate::simd::avx2());
                    if !ran {
                        assert!(got.iter().all(|&b| b == 0));
                        continue;
                    }
                    assert_eq!(got, want, "{width} px, {bpp} bytes, {off:?}");
                }
            }
        }
    }
}
