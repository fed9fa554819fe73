// SPDX-License-Identifier: MIT OR Apache-2.0
//! The exact 2× downscale of packed 3- and 4-byte pixels (720p → 640) with AVX2: eight output pixels a step,
//! the four source pixels added in 16-bit lanes and the three channels of every second pixel
//! picked with byte shuffles. The compiler's own vectorisation of the stride-6 gather spends
//! most of its time blending; this reads both source rows once and writes the row directly.

use std::arch::x86_64::*;

/// Output pixels per step: 24 output bytes, from `16·BPP` source bytes of each row.
const STEP: usize = 8;

/// `out[3k + c] = (r0[2k·BPP + off[c]] + r0[(2k + 1)·BPP + off[c]] + r1[..] + r1[..] + 2) >> 2`:
/// what [`super::kernels::add_rows`] then [`super::kernels::average_pairs`] compute, bit for bit.
#[target_feature(enable = "avx2")]
pub(super) fn halve_rows<const BPP: usize>(off: [usize; 3], r0: &[u8], r1: &[u8], out: &mut [u8]) {
    // Each step reads BPP vectors of 16 bytes, and the same shifted by one pixel.
    let (stride, read) = (2 * BPP * STEP, 2 * BPP * STEP + BPP);
    let n = out.len() / 3;
    let len = r0.len().min(r1.len());
    let steps = if len >= read {
        ((len - read) / stride + 1).min(n / STEP)
    } else {
        0
    };
    let masks = Masks::new(off, BPP);
    let two = _mm256_set1_epi16(2);
    for s in 0..steps {
        let (src, dst) = (stride * s, 3 * STEP * s);
        // SAFETY: src + read <= len (steps above) and dst + 24 <= 3n <= out.len().
        unsafe {
            let sum = |j: usize| {
                let at = src + 16 * j;
                let load = |row: &[u8], at: usize| {
                    _mm256_cvtepu8_epi16(_mm_loadu_si128(row.as_ptr().add(at).cast()))
                };
                let pair0 = _mm256_add_epi16(load(r0, at), load(r0, at + BPP));
                let pair1 = _mm256_add_epi16(load(r1, at), load(r1, at + BPP));
                let total = _mm256_add_epi16(_mm256_add_epi16(pair0, pair1), two);
                _mm256_srli_epi16::<2>(total)
            };
            // packus interleaves the 128-bit lanes; the permute puts the bytes back in order.
            let packed = |a, b| _mm256_permute4x64_epi64::<0xD8>(_mm256_packus_epi16(a, b));
            let t01 = packed(sum(0), sum(1));
            let t23 = if BPP == 4 {
                packed(sum(2), sum(3))
            } else {
                let s2 = sum(2);
                packed(s2, s2)
            };
            let t = [
                _mm256_castsi256_si128(t01),
                _mm256_extracti128_si256::<1>(t01),
                _mm256_castsi256_si128(t23),
                _mm256_extracti128_si256::<1>(t23),
            ];
            let pick = |m: &[__m128i; 4]| {
                let mut v =
                    _mm_or_si128(_mm_shuffle_epi8(t[0], m[0]), _mm_shuffle_epi8(t[1], m[1]));
                v = _mm_or_si128(v, _mm_shuffle_epi8(t[2], m[2]));
                if BPP == 4 {
                    v = _mm_or_si128(v, _mm_shuffle_epi8(t[3], m[3]));
                }
                v
            };
            let p = out.as_mut_ptr().add(dst);
            _mm_storeu_si128(p.cast(), pick(&masks.low));
            _mm_storel_epi64(p.add(16).cast(), pick(&masks.high));
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

/// Shuffle masks that take output bytes 0..16 (`low`) and 16..24 (`high`) of a step from the
/// 16-byte vectors of averaged values (averages at source bytes `0..16·BPP` of the step).
struct Masks {
    low: [__m128i; 4],
    high: [__m128i; 4],
}

impl Masks {
    #[target_feature(enable = "avx2")]
    fn new(off: [usize; 3], bpp: usize) -> Self {
        // 0x80 makes pshufb write 0, so the shuffles can be OR-ed.
        let mut bytes = [[[0x80u8; 16]; 4]; 2];
        for o in 0..3 * STEP {
            let at = 2 * bpp * (o / 3) + off[o % 3];
            bytes[o / 16][at / 16][o % 16] = (at % 16) as u8;
        }
        // SAFETY: each array is 16 bytes, read unaligned.
        let load = |b: &[u8; 16]| unsafe { _mm_loadu_si128(b.as_ptr().cast()) };
        Self {
            low: bytes[0].each_ref().map(load),
            high: bytes[1].each_ref().map(load),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kernels::{add_rows, average_pairs};
    use super::*;

    #[test]
    fn equals_the_portable_kernels() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
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
                    // SAFETY: the CPU has AVX2 (checked above).
                    unsafe {
                        if bpp == 3 {
                            average_pairs::<3>(off, &sum, &mut want);
                            halve_rows::<3>(off, &r0, &r1, &mut got);
                        } else {
                            average_pairs::<4>(off, &sum, &mut want);
                            halve_rows::<4>(off, &r0, &r1, &mut got);
                        }
                    }
                    assert_eq!(got, want, "{width} px, {bpp} bytes, {off:?}");
                }
            }
        }
    }
}
