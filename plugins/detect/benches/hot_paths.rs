// SPDX-License-Identifier: MIT OR Apache-2.0
//! Hot paths per frame: the letterbox from each pixel format and to each model size, the
//! tensor conversion, decode + NMS of real outputs of a 640 and a 320 model, the whole host
//! path of one 1080p frame and the memory floor under it, drawing 20 boxes.
//! `cargo bench -p hmg-detect --bench hot_paths`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use hmg_detect::draw::{DrawOptions, layout_detections, paint_plane};
use hmg_detect::letterbox::hwc_to_nchw_unit;
use hmg_detect::{
    Detection, FrameRef, Layout, Letterbox, Letterboxer, PixelFormat, PostprocessOptions,
    Postprocessor, Tensor, TensorData, YuvMatrix, open_engine, yuv,
};

/// A 1920x1080 RGB frame with real image content (a PNG from testdata, tiled) or a pattern.
fn frame_1080p() -> Vec<u8> {
    let (w, h) = (1920usize, 1080usize);
    let mut out: Vec<u8> = (0..w * h * 3).map(|i| ((i * 7919) % 251) as u8).collect();
    let path = testdata().join("images/astronaut.png");
    if let Ok(file) = std::fs::File::open(path)
        && let Ok(mut r) = png::Decoder::new(std::io::BufReader::new(file)).read_info()
    {
        {
            let mut buf = vec![0; r.output_buffer_size().expect("image fits in memory")];
            if let Ok(info) = r.next_frame(&mut buf) {
                let (iw, ih) = (info.width as usize, info.height as usize);
                for y in 0..h {
                    for x in 0..w {
                        let s = ((y % ih) * iw + (x % iw)) * 3;
                        out[(y * w + x) * 3..][..3].copy_from_slice(&buf[s..s + 3]);
                    }
                }
            }
        }
    }
    out
}

fn testdata() -> PathBuf {
    std::env::var_os("HMG_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
        })
}

/// Planar YUV 4:2:0 of `rgb` (BT.601 limited luma, real chroma from 2×2 averages), as
/// (Y, interleaved UV for NV12, U, V).
fn to_yuv420(rgb: &[u8], w: usize, h: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let px = |x: usize, y: usize| {
        let p = &rgb[(y * w + x) * 3..][..3];
        yuv::rgb_to_yuv(YuvMatrix::Bt601Limited, [p[0], p[1], p[2]])
    };
    let y: Vec<u8> = (0..w * h).map(|i| px(i % w, i / w)[0]).collect();
    let (cw, ch) = (w / 2, h / 2);
    let (mut u, mut v) = (Vec::with_capacity(cw * ch), Vec::with_capacity(cw * ch));
    for cy in 0..ch {
        for cx in 0..cw {
            let s = [(0, 0), (1, 0), (0, 1), (1, 1)].map(|(dx, dy)| px(2 * cx + dx, 2 * cy + dy));
            u.push((s.iter().map(|p| p[1] as u32).sum::<u32>() / 4) as u8);
            v.push((s.iter().map(|p| p[2] as u32).sum::<u32>() / 4) as u8);
        }
    }
    let uv = u.iter().zip(&v).flat_map(|(&u, &v)| [u, v]).collect();
    (y, uv, u, v)
}

fn bench_letterbox_size(c: &mut Criterion, rgb: &[u8], (w, h): (usize, usize), size: usize) {
    let bgrx: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0], 255])
        .collect();
    let (y, uv, u, v) = to_yuv420(rgb, w, h);
    let frames = [
        FrameRef::packed(PixelFormat::Rgb, w, h, rgb).unwrap(),
        FrameRef::packed(PixelFormat::Bgrx, w, h, &bgrx).unwrap(),
        FrameRef::new(PixelFormat::Nv12, w, h, [&y, &uv, &[]], [w, w, 0]).unwrap(),
        FrameRef::new(PixelFormat::I420, w, h, [&y, &u, &v], [w, w / 2, w / 2]).unwrap(),
    ];
    let mut lb = Letterboxer::new();
    let mut g = c.benchmark_group(format!("letterbox_{w}x{h}_to_{size}"));
    for f in &frames {
        g.bench_function(f.format.gst_name(), |b| {
            b.iter(|| black_box(lb.run(black_box(f), size, size).1))
        });
    }
    g.finish();
}

fn bench_letterbox(c: &mut Criterion) {
    let rgb = frame_1080p();
    bench_letterbox_size(c, &rgb, (1920, 1080), 640);
    bench_letterbox_size(c, &rgb, (1920, 1080), 320);
    let rgb720 = crop(&rgb, 1920, 1280, 720);
    bench_letterbox_size(c, &rgb720, (1280, 720), 640);
    let mut lb = Letterboxer::new();
    let frame = FrameRef::packed(PixelFormat::Rgb, 1920, 1080, &rgb).unwrap();
    let input = lb.run(&frame, 640, 640).0.to_vec();
    let mut chw = vec![0f32; input.len()];
    c.bench_function("to_tensor_640_nchw_f32", |b| {
        b.iter(|| hwc_to_nchw_unit(black_box(&input), &mut chw))
    });
    // The float tensor onnxruntime takes: the letterbox writing it row by row (what the ONNX
    // engine does) against the u8 image then a conversion pass (what it did before).
    for (w, h, rgb) in [(1920, 1080, &rgb), (1280, 720, &rgb720)] {
        let frame = FrameRef::packed(PixelFormat::Rgb, w, h, rgb).unwrap();
        let mut g = c.benchmark_group(format!("preprocess_{w}x{h}_rgb_640_nchw_f32"));
        // As the ONNX engine runs it: the tensor keeps its pad while the geometry stays.
        let mut previous = None;
        g.bench_function("one_pass", |b| {
            b.iter(|| {
                previous =
                    Some(lb.run_nchw_unit_over(black_box(&frame), 640, 640, &mut chw, previous));
                black_box(previous)
            })
        });
        g.bench_function("two_passes", |b| {
            b.iter(|| {
                let (input, geometry) = lb.run(black_box(&frame), 640, 640);
                hwc_to_nchw_unit(input, &mut chw);
                black_box(geometry)
            })
        });
        g.finish();
    }
}

fn crop(rgb: &[u8], w: usize, cw: usize, ch: usize) -> Vec<u8> {
    (0..ch)
        .flat_map(|y| rgb[y * w * 3..][..cw * 3].iter().copied())
        .collect()
}

/// One real output of `model` for the 1080p frame: (engine input, geometry, output, labels).
fn model_output(model: &std::path::Path) -> Option<(Vec<u8>, Letterbox, Tensor, Vec<String>)> {
    let Ok(mut engine) = open_engine(model, &Default::default()) else {
        eprintln!(
            "{}: skipped, the model or onnxruntime is not available (run scripts/setup)",
            model.display()
        );
        return None;
    };
    let rgb = frame_1080p();
    let frame = FrameRef::packed(PixelFormat::Rgb, 1920, 1080, &rgb).unwrap();
    let size = engine.info().input_width;
    let mut lb = Letterboxer::new();
    let (input, geometry) = lb.run(&frame, size, size);
    let input = input.to_vec();
    let output = engine.infer(&input).unwrap().remove(0);
    Some((input, geometry, output, engine.info().labels.clone()))
}

fn models() -> [PathBuf; 2] {
    [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/yolov12n-coco.onnx"),
        testdata().join("models/nudenet_320n.onnx"),
    ]
}

fn bench_decode_nms(c: &mut Criterion) {
    for model in models() {
        let Some((_, geometry, output, labels)) = model_output(&model) else {
            continue;
        };
        let layout = Layout::detect(std::slice::from_ref(&output.shape)).unwrap();
        let mut post = Postprocessor::new();
        let opts = PostprocessOptions::default();
        let mut out = Vec::new();
        let shape: Vec<String> = output.shape.iter().map(|d| d.to_string()).collect();
        c.bench_function(&format!("decode_nms_{}", shape.join("x")), |b| {
            b.iter(|| {
                out.clear();
                post.run(
                    layout,
                    black_box(&[output.view()]),
                    &geometry,
                    &labels,
                    &opts,
                    &mut out,
                )
                .unwrap();
                black_box(out.len())
            })
        });
    }
}

/// What ultralytics' preprocess + postprocess do for one frame, end to end on the host:
/// letterbox, HWC u8 → NCHW f32 /255, decode, NMS, boxes back to the frame.
fn bench_host_path(c: &mut Criterion) {
    let Some((_, _, output, labels)) = model_output(&models()[0]) else {
        return;
    };
    let layout = Layout::detect(std::slice::from_ref(&output.shape)).unwrap();
    let rgb = frame_1080p();
    let rgb720 = crop(&rgb, 1920, 1280, 720);
    for (w, h, rgb) in [(1920, 1080, &rgb), (1280, 720, &rgb720)] {
        let frame = FrameRef::packed(PixelFormat::Rgb, w, h, rgb).unwrap();
        let mut lb = Letterboxer::new();
        let mut chw = vec![0f32; 640 * 640 * 3];
        let mut post = Postprocessor::new();
        let opts = PostprocessOptions::default();
        let mut out = Vec::new();
        c.bench_function(&format!("host_path_{w}x{h}_rgb_640_1x84x8400"), |b| {
            let mut previous = None;
            b.iter(|| {
                let geometry =
                    lb.run_nchw_unit_over(black_box(&frame), 640, 640, &mut chw, previous);
                previous = Some(geometry);
                out.clear();
                post.run(
                    layout,
                    &[output.view()],
                    &geometry,
                    &labels,
                    &opts,
                    &mut out,
                )
                .unwrap();
                black_box(out.len())
            })
        });
    }
}

/// The bytes the 1080p host path cannot avoid moving, and nothing else: every byte of the 360
/// source rows a 3× downscale samples (a pixel in three still pulls in every cache line), the
/// picture part of the NCHW `f32` tensor written, the model output's class rows read (decode
/// reads the box rows only for the few anchors that score). Any single-thread
/// implementation that makes the same tensor and reads the same output pays at least this, so
/// the reference's time over it bounds the host path's speed-up on the machine it runs on.
fn bench_memory_floor(c: &mut Criterion) {
    let Some((_, geometry, output, _)) = model_output(&models()[0]) else {
        return;
    };
    let TensorData::F32(scores) = &output.data else {
        return;
    };
    let scores = &scores[4 * output.shape[2]..];
    let rgb = frame_1080p();
    let row = 1920 * 3;
    let plane = 640 * 640;
    let (top, rows) = (geometry.pad_top, geometry.resized_height);
    let mut chw = vec![0f32; 3 * plane];
    c.bench_function("memory_floor_1920x1080_640_1x84x8400", |b| {
        let mut value = 0f32;
        b.iter(|| {
            value += 1.0;
            let mut planes = chw
                .chunks_exact_mut(plane)
                .map(|p| &mut p[top * 640..][..rows * 640]);
            let planes = std::array::from_fn(|_| planes.next().unwrap());
            let floor = Floor {
                rgb: &rgb,
                row,
                planes,
                value,
                scores,
            };
            black_box(floor.move_bytes())
        })
    });
}

/// What the memory floor touches: the sampled rows of `rgb` (`row` bytes each), the tensor's
/// picture rows (`planes`, filled with `value`), the model output's class rows (`scores`).
struct Floor<'a> {
    rgb: &'a [u8],
    row: usize,
    planes: [&'a mut [f32]; 3],
    value: f32,
    scores: &'a [f32],
}

impl Floor<'_> {
    /// The floor's loops, with AVX2 where the letterbox has it too.
    fn move_bytes(self) -> (u8, u32) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { self.move_bytes_avx2() };
        }
        self.move_bytes_with()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn move_bytes_avx2(self) -> (u8, u32) {
        self.move_bytes_with()
    }

    #[inline(always)]
    fn move_bytes_with(self) -> (u8, u32) {
        let mut sum = 0u8;
        for sy in (1..self.rgb.len() / self.row).step_by(3) {
            sum = self.rgb[sy * self.row..][..self.row]
                .iter()
                .fold(sum, |a, &x| a.wrapping_add(x));
        }
        for p in self.planes {
            p.fill(self.value);
        }
        // Bitwise OR: a reduction the compiler vectorises, unlike a float maximum.
        let bits = self.scores.iter().fold(0u32, |a, &x| a | x.to_bits());
        (sum, bits)
    }
}

fn bench_overlay(c: &mut Criterion) {
    let (w, h) = (1920usize, 1080usize);
    let dets: Vec<Detection> = (0..20)
        .map(|i| {
            let x = 40.0 + (i % 5) as f32 * 360.0;
            let y = 60.0 + (i / 5) as f32 * 250.0;
            Detection {
                class_id: i,
                label: "person".into(),
                confidence: 0.87,
                x1: x,
                y1: y,
                x2: x + 300.0,
                y2: y + 200.0,
            }
        })
        .collect();
    let mut frame = frame_1080p();
    let mut rects = Vec::new();
    c.bench_function("overlay_20_boxes_1920x1080_rgb", |b| {
        b.iter(|| {
            rects.clear();
            layout_detections(
                black_box(&dets),
                w as u32,
                h as u32,
                &DrawOptions::default(),
                &mut rects,
            );
            paint_plane(
                PixelFormat::Rgb,
                YuvMatrix::default(),
                0,
                &mut frame,
                w * 3,
                w,
                h,
                &rects,
            );
        })
    });
}

/// `dettrack`'s cost per frame with 100 objects in view: 100 boxes moving on periodic paths
/// (a 1080p frame, one lap every 200 frames, so the sequence repeats without a jump), a fifth of
/// them scoring low; the tracker is warm (100 live tracks) before timing starts.
fn bench_tracking(c: &mut Criterion) {
    use hmg_detect::track::{ByteTracker, TrackInput, TrackerOptions};
    const PERIOD: usize = 200;
    let frames: Vec<Vec<TrackInput>> = (0..PERIOD)
        .map(|t| {
            let phase = t as f32 / PERIOD as f32 * std::f32::consts::TAU;
            (0..100)
                .map(|i| {
                    let (cx, cy) = (
                        96.0 + (i % 10) as f32 * 180.0,
                        60.0 + (i / 10) as f32 * 100.0,
                    );
                    let (dx, dy) = (
                        (phase + i as f32).cos() * 40.0,
                        (phase + i as f32).sin() * 20.0,
                    );
                    let (x, y) = (cx + dx, cy + dy);
                    TrackInput {
                        xyxy: [x - 40.0, y - 30.0, x + 40.0, y + 30.0],
                        score: if i % 5 == 0 { 0.2 } else { 0.8 },
                        class_id: (i % 3) as u32,
                    }
                })
                .collect()
        })
        .collect();
    let mut tracker = ByteTracker::new(TrackerOptions::default());
    for f in frames.iter().take(10) {
        tracker.update(f);
    }
    let mut t = 10;
    // dettrack keeps its output list from frame to frame, as here.
    let mut tracked = Vec::new();
    c.bench_function("track_100_objects", |b| {
        b.iter(|| {
            t += 1;
            tracker.update_into(black_box(&frames[t % PERIOD]), &mut tracked);
            black_box(tracked.len())
        })
    });
}

criterion_group!(
    benches,
    bench_letterbox,
    bench_decode_nms,
    bench_host_path,
    bench_memory_floor,
    bench_overlay,
    bench_tracking
);
criterion_main!(benches);
