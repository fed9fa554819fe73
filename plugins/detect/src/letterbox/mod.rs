// SPDX-License-Identifier: MIT OR Apache-2.0
//! Ultralytics' letterbox, reproduced bit-exactly: OpenCV `INTER_LINEAR` resize with OpenCV's
//! fixed-point SIMD rounding, centred padding of 114, output RGB HWC `u8`.
//!
//! Colour conversion happens in the same pass: each source row is read once, in its own pixel
//! format (RGB-family, GRAY8, NV12, I420), straight into the horizontal resize.

#[cfg(target_arch = "x86_64")]
mod exact_ratios_avx2;
mod kernels;
mod tables;
mod to_tensor;

use crate::pixel::FrameRef;
use crate::yuv;
use kernels::{
    add_rows, average, average_pairs, hresize, packed_layout, sample, sample_thirds, vresize_one,
    vresize_two,
};
use tables::Tables;
pub use to_tensor::hwc_to_nchw_unit;

/// The value ultralytics pads with.
pub const PAD_VALUE: u8 = 114;

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

/// Reusable letterbox worker: holds tables, row caches and the output buffer, so steady-state
/// frames allocate nothing.
#[derive(Debug, Default)]
pub struct Letterboxer {
    tables: Tables,
    /// Horizontal-pass rows (general path) and which source rows they hold.
    rows: [Vec<i16>; 2],
    row_ids: [Option<usize>; 2],
    /// The sum of two source rows (halves path).
    row_sum: Vec<u16>,
    /// Two source rows of a YUV frame as planar RGB of the sampled columns.
    planes: [Vec<u8>; 2],
    yuv_samples: Vec<u8>,
    /// One source row as packed RGB (the unscaled YUV copy).
    rgb_row: Vec<u8>,
    /// One output row, when rows go straight into a float tensor.
    row_out: Vec<u8>,
    out: Vec<u8>,
    out_geometry: Option<Letterbox>,
    #[cfg(target_arch = "x86_64")]
    exact: exact_ratios_avx2::ExactRatios,
}

/// Where the letterbox writes each output row.
enum Target<'o> {
    /// The RGB HWC `u8` image in `Letterboxer::out` (its pad written once per geometry).
    Image,
    /// The three CHW `f32` planes (0..1) of one image: each row converted while it is in cache.
    Planes(&'o mut [f32]),
}

/// Where the resize reads a source row from.
enum Source<'f> {
    /// A packed row straight from the frame.
    Packed(&'f [u8], [usize; 3]),
    /// A YUV frame, converted per row into planar RGB of the sampled columns.
    Yuv,
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
        self.write(frame, &lb, Target::Image);
        (&self.out, lb)
    }

    /// Letterboxes `frame` straight into the float tensor ONNX models take: `out` is one CHW
    /// image of `dst_width`×`dst_height` in 0..1, exactly [`hwc_to_nchw_unit`] of what
    /// [`run`](Self::run) gives, written in one pass (no `u8` image in between).
    ///
    /// ```
    /// use hmg_detect::{FrameRef, Letterboxer, PixelFormat};
    /// use hmg_detect::letterbox::hwc_to_nchw_unit;
    /// let bgr: Vec<u8> = (0..64 * 32 * 3).map(|i| (i % 251) as u8).collect();
    /// let frame = FrameRef::packed(PixelFormat::Bgr, 64, 32, &bgr)?;
    /// let mut tensor = vec![0f32; 3 * 32 * 32];
    /// let lb = Letterboxer::new().run_nchw_unit(&frame, 32, 32, &mut tensor);
    /// let mut two_passes = vec![0f32; 3 * 32 * 32];
    /// hwc_to_nchw_unit(Letterboxer::new().run(&frame, 32, 32).0, &mut two_passes);
    /// assert_eq!((tensor, lb.pad_top), (two_passes, 8));
    /// # Ok::<(), hmg_detect::DetectError>(())
    /// ```
    pub fn run_nchw_unit(
        &mut self,
        frame: &FrameRef<'_>,
        dst_width: usize,
        dst_height: usize,
        out: &mut [f32],
    ) -> Letterbox {
        self.run_nchw_unit_over(frame, dst_width, dst_height, out, None)
    }

    /// [`run_nchw_unit`](Self::run_nchw_unit) into a tensor that last held a frame of geometry
    /// `previous` (written by this function): when the geometry is the same, its pad is still
    /// there and is not written again — at 1080p → 640 that is 44 % of the tensor.
    pub fn run_nchw_unit_over(
        &mut self,
        frame: &FrameRef<'_>,
        dst_width: usize,
        dst_height: usize,
        out: &mut [f32],
        previous: Option<Letterbox>,
    ) -> Letterbox {
        let lb = Letterbox::new(frame.width, frame.height, dst_width, dst_height);
        assert_eq!(out.len(), 3 * dst_width * dst_height, "one CHW image");
        if previous != Some(lb) {
            Self::pad_planes(&lb, out);
        }
        self.row_out.resize(lb.resized_width * 3, 0);
        self.write(frame, &lb, Target::Planes(out));
        lb
    }

    fn pad_planes(lb: &Letterbox, out: &mut [f32]) {
        let (dst_width, plane) = (lb.dst_width, lb.dst_width * lb.dst_height);
        let pad = to_tensor::unit(PAD_VALUE);
        let (top, bottom) = (
            lb.pad_top * dst_width,
            (lb.pad_top + lb.resized_height) * dst_width,
        );
        for p in out.chunks_exact_mut(plane) {
            p[..top].fill(pad);
            p[bottom..].fill(pad);
            if lb.resized_width < dst_width {
                for row in p[top..bottom].chunks_exact_mut(dst_width) {
                    row[..lb.pad_left].fill(pad);
                    row[lb.pad_left + lb.resized_width..].fill(pad);
                }
            }
        }
    }

    fn write(&mut self, frame: &FrameRef<'_>, lb: &Letterbox, target: Target<'_>) {
        if lb.resized_width == frame.width && lb.resized_height == frame.height {
            self.copy_unscaled(frame, lb, target);
        } else {
            self.resize(frame, lb, target);
        }
    }

    /// Output row `dy`'s slice of the image, or the row buffer when the target is the tensor.
    #[inline(always)]
    fn row<'b>(
        image: &'b mut [u8],
        row_out: &'b mut [u8],
        target: &Target<'_>,
        lb: &Letterbox,
        dy: usize,
    ) -> &'b mut [u8] {
        match target {
            Target::Image => {
                let start = ((lb.pad_top + dy) * lb.dst_width + lb.pad_left) * 3;
                &mut image[start..start + lb.resized_width * 3]
            }
            Target::Planes(_) => row_out,
        }
    }

    /// Hands a finished row `dy` to the tensor (nothing to do for the image: it is in place).
    #[inline(always)]
    fn emit(target: &mut Target<'_>, lb: &Letterbox, dy: usize, row: &[u8]) {
        if let Target::Planes(planes) = target {
            let plane = lb.dst_width * lb.dst_height;
            let at = (lb.pad_top + dy) * lb.dst_width + lb.pad_left;
            to_tensor::row_to_planes(row, planes, plane, at);
        }
    }

    fn copy_unscaled(&mut self, frame: &FrameRef<'_>, lb: &Letterbox, mut target: Target<'_>) {
        let mut image = std::mem::take(&mut self.out);
        let mut row_out = std::mem::take(&mut self.row_out);
        for y in 0..frame.height {
            let (src, bpp, off) = match frame.format.packed_layout() {
                Some((bpp, off)) => (packed_row(frame, y, bpp), bpp, off),
                None => {
                    self.rgb_row.resize(frame.width * 3, 0);
                    yuv::row_to_rgb(frame, y, &mut self.rgb_row);
                    (&self.rgb_row[..], 3, [0, 1, 2])
                }
            };
            let dst = Self::row(&mut image, &mut row_out, &target, lb, y);
            for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(bpp)) {
                d[0] = s[off[0]];
                d[1] = s[off[1]];
                d[2] = s[off[2]];
            }
            Self::emit(&mut target, lb, y, dst);
        }
        self.out = image;
        self.row_out = row_out;
    }

    /// The resize, compiled twice: for the CPU's AVX2 when it has it (the per-row loops then
    /// run 16 or 32 values at a time), and for the baseline target.
    fn resize(&mut self, frame: &FrameRef<'_>, lb: &Letterbox, target: Target<'_>) {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: simd::avx2() checked that the CPU has AVX2.
            unsafe { self.resize_avx2(frame, lb, target) };
            return;
        }
        self.resize_rows(frame, lb, target);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn resize_avx2(&mut self, frame: &FrameRef<'_>, lb: &Letterbox, target: Target<'_>) {
        self.resize_rows(frame, lb, target);
    }

    #[inline(always)]
    fn resize_rows(&mut self, frame: &FrameRef<'_>, lb: &Letterbox, mut target: Target<'_>) {
        self.tables.build(
            frame.width,
            frame.height,
            lb.resized_width,
            lb.resized_height,
            off_bpp(frame),
        );
        // Taken out for the frame so the scratch buffers can be borrowed beside them.
        let mut image = std::mem::take(&mut self.out);
        let mut row_out = std::mem::take(&mut self.row_out);
        for dy in 0..lb.resized_height {
            let row = Self::row(&mut image, &mut row_out, &target, lb, dy);
            if self.tables.nearest {
                self.sample_row(frame, dy, row);
            } else if self.tables.halves {
                self.average_row(frame, dy, row);
            } else {
                self.interpolate_row(frame, dy, row);
            }
            Self::emit(&mut target, lb, dy, row);
        }
        self.out = image;
        self.row_out = row_out;
    }

    /// Output row `dy` when every weight is (2048, 0): each pixel is one source pixel.
    #[inline(always)]
    fn sample_row(&mut self, frame: &FrameRef<'_>, dy: usize, out: &mut [u8]) {
        let t = &self.tables;
        let sy = t.y0[dy] as usize;
        match source(frame, sy) {
            Source::Packed(src, off) => {
                #[cfg(target_arch = "x86_64")]
                if t.thirds && self.exact.thirds(off_bpp(frame), off, src, out) {
                    return;
                }
                match (t.thirds, off_bpp(frame)) {
                    (true, 3) if off == [0, 1, 2] => sample_thirds::<3>([0, 1, 2], src, out),
                    (true, 3) => sample_thirds::<3>(off, src, out),
                    (true, 4) => sample_thirds::<4>(off, src, out),
                    _ => {
                        let taps = t.pixel_taps();
                        packed_layout!(off_bpp(frame), off, sample(src, taps, out))
                    }
                }
            }
            // The sampled columns are exactly the output's, in order: convert straight into it.
            Source::Yuv => {
                yuv::columns_to_rgb::<true>(frame, sy, &t.columns, &mut self.yuv_samples, out)
            }
        }
    }

    /// Output row `dy` when every weight is (1024, 1024): each pixel is the rounded mean of
    /// four source pixels.
    #[inline(always)]
    fn average_row(&mut self, frame: &FrameRef<'_>, dy: usize, out: &mut [u8]) {
        let t = &self.tables;
        let (sy0, sy1) = (t.y0[dy] as usize, t.y1[dy] as usize);
        match (source(frame, sy0), source(frame, sy1)) {
            (Source::Packed(s0, off), Source::Packed(s1, _)) => {
                #[cfg(target_arch = "x86_64")]
                if t.pairs && self.exact.halves(off_bpp(frame), off, s0, s1, out) {
                    return;
                }
                self.row_sum.resize(s0.len(), 0);
                add_rows(s0, s1, &mut self.row_sum);
                let sum = &self.row_sum;
                match (t.pairs, off_bpp(frame)) {
                    (true, 3) if off == [0, 1, 2] => average_pairs::<3>([0, 1, 2], sum, out),
                    (true, 3) => average_pairs::<3>(off, sum, out),
                    (true, 4) => average_pairs::<4>(off, sum, out),
                    _ => {
                        let taps = t.pixel_taps();
                        packed_layout!(off_bpp(frame), off, average(sum, taps, out))
                    }
                }
            }
            // Every column, in order, with AVX2: both rows converted packed, then the packed 2×
            // kernel (the same sums as the planar path below, without its gather). The
            // baseline x86 build is faster planar (its packed stores cost more than the gather).
            #[cfg(target_arch = "x86_64")]
            _ if t.pairs && crate::simd::avx2() => {
                let [p0, p1] = &mut self.planes;
                let s0 = yuv_row::<true>(frame, sy0, t, &mut self.yuv_samples, p0);
                let s1 = yuv_row::<true>(frame, sy1, t, &mut self.yuv_samples, p1);
                if !self.exact.halves(3, [0, 1, 2], s0, s1, out) {
                    self.row_sum.resize(s0.len(), 0);
                    add_rows(s0, s1, &mut self.row_sum);
                    average_pairs::<3>([0, 1, 2], &self.row_sum, out);
                }
            }
            _ => {
                let [p0, p1] = &mut self.planes;
                let s0 = yuv_row::<false>(frame, sy0, t, &mut self.yuv_samples, p0);
                let s1 = yuv_row::<false>(frame, sy1, t, &mut self.yuv_samples, p1);
                self.row_sum.resize(s0.len(), 0);
                add_rows(s0, s1, &mut self.row_sum);
                let taps = t.column_taps();
                average(planar(t), &self.row_sum, taps, out);
            }
        }
    }

    /// Output row `dy` in general: OpenCV's horizontal pass on (up to) two source rows, kept
    /// while the next output rows use them, then its vertical pass.
    #[inline(always)]
    fn interpolate_row(&mut self, frame: &FrameRef<'_>, dy: usize, out: &mut [u8]) {
        if dy == 0 {
            self.row_ids = [None, None];
            for r in &mut self.rows {
                r.resize(out.len(), 0);
            }
        }
        let (sy0, sy1) = (self.tables.y0[dy] as usize, self.tables.y1[dy] as usize);
        let [b0, b1] = self.tables.beta[dy];
        self.ensure_row(frame, 0, sy0);
        // A zero weight contributes exactly 0 in OpenCV's formula: skip that row.
        let second = b1 != 0 && sy1 != sy0;
        if second {
            self.ensure_row(frame, 1, sy1);
        }
        if b1 == 0 {
            vresize_one(&self.rows[0], b0, out);
        } else if second {
            vresize_two(&self.rows[0], &self.rows[1], b0, b1, out);
        } else {
            vresize_two(&self.rows[0], &self.rows[0], b0, b1, out);
        }
    }

    /// Makes slot `slot` hold horizontal-pass row `sy`, reusing the other slot when it has it.
    #[inline(always)]
    fn ensure_row(&mut self, frame: &FrameRef<'_>, slot: usize, sy: usize) {
        if self.row_ids[slot] == Some(sy) {
            return;
        }
        if self.row_ids[1 - slot] == Some(sy) {
            self.rows.swap(0, 1);
            self.row_ids.swap(0, 1);
            return;
        }
        let t = &self.tables;
        let dst = &mut self.rows[slot];
        match source(frame, sy) {
            Source::Packed(src, off) => {
                let taps = t.pixel_taps();
                packed_layout!(off_bpp(frame), off, hresize(src, taps, &t.alpha, dst))
            }
            Source::Yuv => {
                let planes =
                    yuv_row::<false>(frame, sy, t, &mut self.yuv_samples, &mut self.planes[0]);
                let taps = t.column_taps();
                hresize(planar(t), planes, taps, &t.alpha, dst);
            }
        }
        self.row_ids[slot] = Some(sy);
    }
}

fn packed_row<'f>(frame: &FrameRef<'f>, y: usize, bpp: usize) -> &'f [u8] {
    let start = y * frame.strides[0];
    &frame.planes[0][start..start + frame.width * bpp]
}

#[inline(always)]
fn source<'f>(frame: &FrameRef<'f>, y: usize) -> Source<'f> {
    match frame.format.packed_layout() {
        Some((bpp, off)) => Source::Packed(packed_row(frame, y, bpp), off),
        None => Source::Yuv,
    }
}

/// Bytes per pixel of a packed format (for [`packed_layout!`]).
#[inline(always)]
fn off_bpp(frame: &FrameRef<'_>) -> usize {
    frame.format.packed_layout().map_or(3, |(bpp, _)| bpp)
}

/// Channel offsets of the planar rows [`yuv_row`] makes: R, G and B planes one after the
/// other, a pixel at its column index.
#[inline(always)]
fn planar(t: &Tables) -> [usize; 3] {
    let n = t.columns.len();
    [0, n, 2 * n]
}

/// Row `y` of a YUV frame as RGB of the sampled columns, in `buf`: packed (`PACKED`) or planar.
#[inline(always)]
fn yuv_row<'b, const PACKED: bool>(
    frame: &FrameRef<'_>,
    y: usize,
    t: &Tables,
    samples: &mut Vec<u8>,
    buf: &'b mut Vec<u8>,
) -> &'b [u8] {
    buf.resize(3 * t.columns.len(), 0);
    yuv::columns_to_rgb::<PACKED>(frame, y, &t.columns, samples, buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixel::PixelFormat;
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

    /// The one-pass tensor equals the two passes (u8 image, then `hwc_to_nchw_unit`) bit for
    /// bit, on every resize path (unscaled, nearest, halves, general), packed and YUV formats,
    /// and one letterboxer switching between geometries and between the two outputs.
    #[test]
    fn tensor_in_one_pass_equals_image_then_conversion() {
        let mut fused = Letterboxer::new();
        let mut image = Letterboxer::new();
        let mut reused = std::collections::HashMap::new();
        let sizes = [
            (640, 480),
            (320, 240),
            (1280, 1280),
            (1920, 1080),
            (101, 57),
            (640, 640),
        ];
        for &(w, h) in sizes.iter().chain(sizes.iter().rev()) {
            let rgb = pattern(w, h);
            let bgrx = repack(&rgb, PixelFormat::Bgrx);
            // Any bytes make a YUV frame: the planes are cut from the same pattern.
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let (y, uv) = (&rgb[..w * h], &rgb[w * h..w * h + 2 * cw * ch]);
            let frames = [
                FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap(),
                FrameRef::packed(PixelFormat::Bgrx, w, h, &bgrx).unwrap(),
                FrameRef::new(PixelFormat::Nv12, w, h, [y, uv, &[]], [w, cw * 2, 0]).unwrap(),
            ];
            for frame in &frames {
                for (dw, dh) in [(640, 640), (320, 256)] {
                    let mut want = vec![0f32; 3 * dw * dh];
                    hwc_to_nchw_unit(image.run(frame, dw, dh).0, &mut want);
                    let mut got = vec![f32::NAN; 3 * dw * dh];
                    let lb = fused.run_nchw_unit(frame, dw, dh, &mut got);
                    assert_eq!(lb, Letterbox::new(w, h, dw, dh));
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{w}x{h} {:?} -> {dw}x{dh}", frame.format);
                    // One tensor reused across geometries: the pad is rewritten exactly when
                    // the geometry changed.
                    let size = dw * dh;
                    let slot = reused
                        .entry(size)
                        .or_insert((vec![f32::NAN; 3 * size], None));
                    slot.1 = Some(fused.run_nchw_unit_over(frame, dw, dh, &mut slot.0, slot.1));
                    let same = slot
                        .0
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "reused: {w}x{h} {:?} -> {dw}x{dh}", frame.format);
                    // The u8 image of the same letterboxer is untouched by the tensor pass.
                    let mut again = vec![0f32; 3 * dw * dh];
                    hwc_to_nchw_unit(fused.run(frame, dw, dh).0, &mut again);
                    assert!(
                        again
                            .iter()
                            .zip(&want)
                            .all(|(a, b)| a.to_bits() == b.to_bits())
                    );
                }
            }
        }
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
