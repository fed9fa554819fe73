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
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: simd::avx2() checked that the CPU has AVX2.
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
