// SPDX-License-Identifier: MIT OR Apache-2.0
//! The camera's pixel path (NV12, I420 → RGB) checked against code nobody here wrote: OpenCV's
//! `cvtColor` (BT.601 limited, what ultralytics sees when OpenCV converts) and GStreamer's
//! `videoconvert` for each colorimetry hailoinfer accepts, on real pictures. The 4:2:0 frames
//! and OpenCV's conversions come from `tests/reference/yuv_opencv.py`.

use std::path::Path;

use hmg_detect::{FrameRef, Letterboxer, PixelFormat, YuvMatrix};
use hmg_e2e::*;

/// The largest and the mean absolute difference per channel (R, G, B).
#[derive(Debug, Clone, Copy)]
struct Difference {
    max: [u8; 3],
    mean: [f64; 3],
}

impl Difference {
    fn largest(&self) -> u8 {
        *self.max.iter().max().unwrap()
    }
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [r, g, b] = self.mean;
        write!(f, "max {:?}, mean [{r:.3}, {g:.3}, {b:.3}]", self.max)
    }
}

fn difference(a: &[u8], b: &[u8]) -> Difference {
    assert_eq!(a.len(), b.len());
    let (mut max, mut sum) = ([0u8; 3], [0u64; 3]);
    for (pa, pb) in a.chunks_exact(3).zip(b.chunks_exact(3)) {
        for c in 0..3 {
            let d = pa[c].abs_diff(pb[c]);
            max[c] = max[c].max(d);
            sum[c] += d as u64;
        }
    }
    let n = (a.len() / 3) as f64;
    Difference {
        max,
        mean: sum.map(|s| s as f64 / n),
    }
}

/// One 4:2:0 frame, tightly packed, as the reference script wrote it.
struct Frame {
    format: PixelFormat,
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl Frame {
    fn frame_ref(&self, matrix: YuvMatrix) -> FrameRef<'_> {
        let (w, h) = (self.width, self.height);
        let (luma, chroma) = self.data.split_at(w * h);
        let frame = match self.format {
            PixelFormat::I420 => {
                let (u, v) = chroma.split_at(w * h / 4);
                FrameRef::new(PixelFormat::I420, w, h, [luma, u, v], [w, w / 2, w / 2])
            }
            _ => FrameRef::new(PixelFormat::Nv12, w, h, [luma, chroma, &[]], [w, w, 0]),
        };
        frame.unwrap().with_yuv_matrix(matrix)
    }

    /// hmg's conversion: the rows the unscaled letterbox copies.
    fn ours(&self, matrix: YuvMatrix) -> Vec<u8> {
        let frame = self.frame_ref(matrix);
        let mut rgb = vec![0u8; self.width * self.height * 3];
        for (y, row) in rgb.chunks_exact_mut(self.width * 3).enumerate() {
            hmg_detect::yuv::row_to_rgb(&frame, y, row);
        }
        rgb
    }
}

/// The colorimetries hailoinfer maps to a matrix, as GStreamer spells them in caps.
const COLORIMETRIES: [(&str, YuvMatrix); 4] = [
    ("bt601", YuvMatrix::Bt601Limited),
    ("bt709", YuvMatrix::Bt709Limited),
    ("1:4:0:0", YuvMatrix::Bt601Full),
    ("1:3:5:1", YuvMatrix::Bt709Full),
];

/// `videoconvert`'s RGB for `raw` read as `colorimetry`; `chroma` is its chroma-mode. `deep`:
/// through 16-bit ARGB64 (its precise path), rounded back to 8 bits; else straight to 8-bit RGB
/// (what `videoconvert ! video/x-raw,format=RGB` in front of hailoinfer gives).
fn videoconvert(
    dir: &Path,
    raw: &Path,
    frame: &Frame,
    colorimetry: &str,
    chroma: &str,
    deep: bool,
) -> Vec<u8> {
    let out = dir.join("videoconvert.raw");
    let (w, h) = (frame.width, frame.height);
    // The reference script's planes are tightly packed; GStreamer's default strides are not.
    let (format, strides, offsets) = match frame.format {
        PixelFormat::I420 => (
            "i420",
            format!("<{w},{},{}>", w / 2, w / 2),
            format!("<0,{},{}>", w * h, w * h + w * h / 4),
        ),
        _ => ("nv12", format!("<{w},{w}>"), format!("<0,{}>", w * h)),
    };
    launch_graph(
        dir,
        &format!(
            "filesrc location={} ! rawvideoparse format={format} width={w} height={h} plane-strides={strides} plane-offsets={offsets} frame-size={} colorimetry={colorimetry} framerate=1/1 ! videoconvert chroma-mode={chroma} dither=none ! video/x-raw,format={} ! filesink location={}",
            raw.display(),
            w * h * 3 / 2,
            if deep { "ARGB64" } else { "RGB" },
            out.display()
        ),
    );
    let bytes = std::fs::read(out).unwrap();
    if !deep {
        return bytes;
    }
    bytes
        .chunks_exact(8)
        .flat_map(|px| {
            let channel = |i: usize| {
                let v = u16::from_ne_bytes([px[2 * i], px[2 * i + 1]]) as u32;
                ((v + 128) / 257) as u8
            };
            [channel(1), channel(2), channel(3)]
        })
        .collect()
}

/// The reference script's output for every picture of the test data.
fn reference(dir: &Path) -> Vec<serde_json::Value> {
    let images: Vec<_> = std::fs::read_dir(testdata().join("images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut args: Vec<&std::ffi::OsStr> = vec![dir.as_os_str()];
    args.extend(images.iter().map(|p| p.as_os_str()));
    let script = std::fs::read_to_string(repo().join("tests/reference/yuv_opencv.py")).unwrap();
    let reference = python_json(dir, &script, &args);
    println!("OpenCV {}", reference["opencv"]);
    let listed = reference["images"].as_array().unwrap().clone();
    assert_eq!(listed.len(), images.len());
    listed
}

fn size(image: &serde_json::Value, w: &str, h: &str) -> (usize, usize) {
    (
        image[w].as_u64().unwrap() as usize,
        image[h].as_u64().unwrap() as usize,
    )
}

/// Rounding apart, two fixed-point conversions of one matrix differ by at most 1.
const OPENCV_BOUND: u8 = 1;
/// Converting before the resize instead of after: two roundings of at most 1 each.
const LETTERBOX_BOUND: u8 = 2;
/// videoconvert's 16-bit path widens 8-bit samples as `v·257`, so its offsets (16, 128) are off by
/// up to 0.5/255 of full scale before the matrix: with our rounding, at most 3 apart.
const VIDEOCONVERT_BOUND: u8 = 3;
/// swscale's fixed-point tables round on their own (mean ~1.5 on green against the exact
/// matrix); with nearest chroma on both sides the frames stay within 3.
const VIDEOCAPTURE_BOUND: u8 = 3;

/// The largest difference of a wrong matrix must break the bound that the right one keeps:
/// proof that the comparison can tell matrices apart.
fn assert_discriminates(what: &str, wrong_largest: u8, bound: u8) {
    assert!(
        wrong_largest > bound,
        "{what}: a wrong matrix stays within {bound} (largest {wrong_largest}); the check proves nothing"
    );
}

#[test]
fn yuv_to_rgb_agrees_with_opencv_and_videoconvert_on_real_pictures() {
    let dir = temp_dir("yuv-references");
    let mut wrong_vs_opencv = 0u8;
    let mut wrong_vs_videoconvert = [0u8; 4];
    for image in reference(&dir) {
        let name = image["name"].as_str().unwrap();
        let (width, height) = size(&image, "width", "height");
        for (format, ext) in [(PixelFormat::I420, "i420"), (PixelFormat::Nv12, "nv12")] {
            let raw = dir.join(format!("{name}.{ext}"));
            let frame = Frame {
                format,
                width,
                height,
                data: std::fs::read(&raw).unwrap(),
            };
            let opencv = std::fs::read(dir.join(format!("{name}.{ext}.rgb"))).unwrap();
            let d = difference(&frame.ours(YuvMatrix::Bt601Limited), &opencv);
            println!("{name} {ext}: hmg vs cv2.cvtColor (BT.601 limited): {d}");
            assert!(
                d.largest() <= OPENCV_BOUND,
                "{name} {ext} vs cv2.cvtColor: {d}"
            );
            let wrong = difference(&frame.ours(YuvMatrix::Bt709Limited), &opencv);
            wrong_vs_opencv = wrong_vs_opencv.max(wrong.largest());

            // Through the letterbox's resize (the path of every frame larger than the model):
            // the YUV frame against OpenCV's RGB of it.
            let (mut a, mut b) = (Letterboxer::new(), Letterboxer::new());
            let (yuv_tensor, _) = a.run(&frame.frame_ref(YuvMatrix::Bt601Limited), 640, 640);
            let rgb_frame = FrameRef::packed(PixelFormat::Rgb, width, height, &opencv).unwrap();
            let (rgb_tensor, _) = b.run(&rgb_frame, 640, 640);
            let d = difference(yuv_tensor, rgb_tensor);
            println!("{name} {ext}: letterbox of the frame vs letterbox of cv2's RGB: {d}");
            assert!(
                d.largest() <= LETTERBOX_BOUND,
                "{name} {ext} letterbox: {d}"
            );

            for (k, (colorimetry, matrix)) in COLORIMETRIES.into_iter().enumerate() {
                let gst = videoconvert(&dir, &raw, &frame, colorimetry, "none", true);
                let d = difference(&frame.ours(matrix), &gst);
                println!("{name} {ext} {colorimetry}: hmg vs videoconvert (16-bit): {d}");
                assert!(
                    d.largest() <= VIDEOCONVERT_BOUND,
                    "{name} {ext} {colorimetry} vs videoconvert: {d}"
                );
                for (_, other) in COLORIMETRIES.into_iter().filter(|(_, m)| *m != matrix) {
                    let wrong = difference(&frame.ours(other), &gst).largest();
                    wrong_vs_videoconvert[k] = wrong_vs_videoconvert[k].max(wrong);
                }
                // What a graph that converts to RGB before hailoinfer hands it (figures only:
                // GStreamer's behaviour, not ours).
                for chroma in ["none", "full"] {
                    let rgb = videoconvert(&dir, &raw, &frame, colorimetry, chroma, false);
                    let d = difference(&frame.ours(matrix), &rgb);
                    println!(
                        "{name} {ext} {colorimetry}: hmg vs videoconvert to RGB, chroma-mode={chroma}: {d}"
                    );
                }
            }
        }
    }
    println!(
        "a wrong matrix's largest difference: vs cv2.cvtColor {wrong_vs_opencv}, vs videoconvert {wrong_vs_videoconvert:?}"
    );
    assert_discriminates("vs cv2.cvtColor", wrong_vs_opencv, OPENCV_BOUND);
    for (k, (colorimetry, _)) in COLORIMETRIES.iter().enumerate() {
        assert_discriminates(colorimetry, wrong_vs_videoconvert[k], VIDEOCONVERT_BOUND);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// GStreamer's default strides: rows rounded up to 4 bytes.
fn round4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Packed RGB rows without GStreamer's row padding.
fn unpad_rgb(bytes: &[u8], width: usize, height: usize) -> Vec<u8> {
    let stride = round4(width * 3);
    assert_eq!(bytes.len(), stride * height);
    bytes
        .chunks_exact(stride)
        .flat_map(|row| &row[..width * 3])
        .copied()
        .collect()
}

/// JPEG pictures through plain GStreamer: jpegdec emits I420 (it cannot hand 4:2:0 pictures out
/// as RGB), so someone upsamples the chroma. Compared with what ultralytics reads (cv2.imread):
/// `jpegdec idct-method=islow ! hailoinfer` (hmg converts, nearest chroma) must come closer than
/// `decodebin ! videoconvert ! video/x-raw,format=RGB ! hailoinfer`, the graph users write first.
#[test]
fn jpeg_pictures_through_jpegdec_come_closest_to_imread_without_videoconvert() {
    let dir = temp_dir("yuv-jpeg");
    let jpegs: Vec<_> = reference(&dir)
        .into_iter()
        .filter(|i| i["jpeg"].as_bool().unwrap())
        .collect();
    assert!(!jpegs.is_empty(), "the test data has JPEG pictures");
    for image in jpegs {
        let name = image["name"].as_str().unwrap();
        let (w, h) = size(&image, "full_width", "full_height");
        let imread = std::fs::read(dir.join(format!("{name}.imread.rgb"))).unwrap();
        let jpeg = testdata().join(format!("images/{name}.jpg"));
        let run = |tail: &str| {
            let out = dir.join("decoded.raw");
            launch_graph(
                &dir,
                &format!(
                    "filesrc location={} ! {tail} ! filesink location={}",
                    jpeg.display(),
                    out.display()
                ),
            );
            std::fs::read(out).unwrap()
        };
        // jpegdec's I420 in GStreamer's default layout, converted as hailoinfer converts it
        // (JPEG colorimetry: BT.601 full range).
        let i420 = run("jpegdec idct-method=islow ! video/x-raw,format=I420");
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (ys, cs) = (round4(w), round4(cw));
        let (u_at, v_at) = (
            ys * h.next_multiple_of(2),
            ys * h.next_multiple_of(2) + cs * ch,
        );
        let frame = FrameRef::new(
            PixelFormat::I420,
            w,
            h,
            [&i420[..u_at], &i420[u_at..v_at], &i420[v_at..]],
            [ys, cs, cs],
        )
        .unwrap()
        .with_yuv_matrix(YuvMatrix::Bt601Full);
        let mut ours = vec![0u8; w * h * 3];
        for (y, row) in ours.chunks_exact_mut(w * 3).enumerate() {
            hmg_detect::yuv::row_to_rgb(&frame, y, row);
        }
        let ours = difference(&ours, &imread);
        let converted = unpad_rgb(
            &run("decodebin ! videoconvert ! video/x-raw,format=RGB"),
            w,
            h,
        );
        let theirs = difference(&converted, &imread);
        println!("{name}.jpg vs cv2.imread: jpegdec idct-method=islow ! hailoinfer: {ours}");
        println!("{name}.jpg vs cv2.imread: decodebin ! videoconvert ! RGB: {theirs}");
        let mean = |d: &Difference| d.mean.iter().sum::<f64>() / 3.0;
        assert!(
            mean(&ours) < mean(&theirs),
            "{name}.jpg: hmg's conversion ({ours}) is not closer to cv2.imread than videoconvert's ({theirs})"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Video as `yolo predict` reads it: cv2.VideoCapture decodes with FFmpeg and converts with
/// swscale. swscale takes the nearest chroma sample too, so hmg's conversion of the same decoded
/// I420 (GStreamer's FFmpeg decoder) stays within a few code values of every frame.
#[test]
fn video_frames_agree_with_cv2_videocapture() {
    let dir = temp_dir("yuv-videocapture");
    let (clip, rgb) = (dir.join("hd.mp4"), dir.join("videocapture.rgb"));
    let script =
        std::fs::read_to_string(repo().join("tests/reference/videocapture_frames.py")).unwrap();
    let reference = python_json(
        &dir,
        &script,
        &[
            repo().join("media/bikes.mp4").as_os_str(),
            clip.as_os_str(),
            rgb.as_os_str(),
            "5".as_ref(),
        ],
    );
    let (w, h) = size(&reference, "width", "height");
    let frames = reference["frames"].as_u64().unwrap() as usize;
    assert!(frames > 0);
    let i420 = dir.join("hd.i420");
    launch_graph(
        &dir,
        &format!(
            "filesrc location={} ! decodebin ! video/x-raw,format=I420 ! filesink location={}",
            clip.display(),
            i420.display()
        ),
    );
    let (decoded, captured) = (std::fs::read(i420).unwrap(), std::fs::read(rgb).unwrap());
    let frame_size = w * h * 3 / 2;
    assert_eq!(
        decoded.len(),
        frames * frame_size,
        "GStreamer decoded every frame"
    );
    let (mut worst, mut wrong) = (0u8, 0u8);
    for (k, (yuv, expected)) in decoded
        .chunks_exact(frame_size)
        .zip(captured.chunks_exact(w * h * 3))
        .enumerate()
    {
        let frame = Frame {
            format: PixelFormat::I420,
            width: w,
            height: h,
            data: yuv.to_vec(),
        };
        let d = difference(&frame.ours(YuvMatrix::Bt601Limited), expected);
        println!("frame {k}: hmg vs cv2.VideoCapture: {d}");
        worst = worst.max(d.largest());
        wrong = wrong.max(difference(&frame.ours(YuvMatrix::Bt709Limited), expected).largest());
    }
    println!("largest difference: {worst} (BT.709 instead: {wrong})");
    assert!(
        worst <= VIDEOCAPTURE_BOUND,
        "hmg vs cv2.VideoCapture: {worst}"
    );
    assert_discriminates("vs cv2.VideoCapture", wrong, VIDEOCAPTURE_BOUND);
    std::fs::remove_dir_all(&dir).ok();
}
