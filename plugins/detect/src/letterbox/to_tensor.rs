// SPDX-License-Identifier: MIT OR Apache-2.0
//! The letterboxed image as the float tensor ONNX models take.

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
    row_to_planes(rgb, out, plane, 0);
}

/// The value of a pad pixel in the float tensor (`114 / 255`, divided as every pixel is).
#[inline]
pub(super) fn unit(v: u8) -> f32 {
    v as f32 / 255.0
}

/// One run of RGB HWC `u8` pixels into the three `plane`-long planes of `planes` (CHW `f32`,
/// 0..1), from pixel `at` of each plane on: how the letterbox writes the tensor a row at a time.
pub(super) fn row_to_planes(rgb: &[u8], planes: &mut [f32], plane: usize, at: usize) {
    let n = rgb.len() / 3;
    let (r, rest) = planes.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    let (r, g, b) = (&mut r[at..at + n], &mut g[at..at + n], &mut b[at..at + n]);
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: simd::avx2() checked that the CPU has AVX2.
        unsafe { split_avx2(rgb, r, g, b) };
        return;
    }
    split(rgb, r, g, b);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn split_avx2(rgb: &[u8], r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
    split_with(rgb, r, g, b, div255_fma);
}

/// `v / 255`, bit for bit, without a division (a vector division is the slowest instruction of
/// the pass on Intel cores): the product with `1/255` corrected by its exact remainder, which one
/// fused multiply-add computes (the unit test checks all 256 values against the division).
#[inline(always)]
fn div255_fma(v: u8) -> f32 {
    const INV: f32 = 1.0 / 255.0;
    let x = v as f32;
    let q = x * INV;
    let remainder = (-q).mul_add(255.0, x);
    remainder.mul_add(INV, q)
}

/// The portable pass: numpy's `x / 255` bit for bit (a plain multiplication by 1/255 differs in
/// the last bit). On aarch64, where FMA is part of the base instruction set, the fused form
/// replaces the slower vector division (not measured on a Pi); elsewhere `mul_add` without FMA
/// would be a library call, so the division stays.
#[inline(always)]
fn split(rgb: &[u8], r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
    if cfg!(target_arch = "aarch64") {
        split_with(rgb, r, g, b, div255_fma);
    } else {
        split_with(rgb, r, g, b, unit);
    }
}

#[inline(always)]
fn split_with(rgb: &[u8], r: &mut [f32], g: &mut [f32], b: &mut [f32], unit: impl Fn(u8) -> f32) {
    for (((px, r), g), b) in rgb
        .chunks_exact(3)
        .zip(r.iter_mut())
        .zip(g.iter_mut())
        .zip(b.iter_mut())
    {
        *r = unit(px[0]);
        *g = unit(px[1]);
        *b = unit(px[2]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fused_quotient_is_the_division_for_every_byte() {
        for v in 0..=255u8 {
            assert_eq!(div255_fma(v).to_bits(), unit(v).to_bits(), "{v}");
        }
    }
}
