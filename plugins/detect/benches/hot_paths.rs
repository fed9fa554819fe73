// SPDX-License-Identifier: MIT OR Apache-2.0
//! Hot paths per frame: letterbox 1920x1080 → 640, decode + NMS of a real (1, 84, 8400)
//! output, drawing 20 boxes. `cargo bench -p hmg-detect --bench hot_paths`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use hmg_detect::draw::{DrawOptions, layout_detections, paint_plane};
use hmg_detect::{
    Detection, FrameRef, Layout, Letterbox, Letterboxer, PixelFormat, PostprocessOptions,
    Postprocessor, YuvMatrix, open_engine,
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

fn to_nv12(rgb: &[u8], w: usize, h: usize) -> (Vec<u8>, Vec<u8>) {
    let y: Vec<u8> = rgb
        .chunks_exact(3)
        .map(|p| ((66 * p[0] as u32 + 129 * p[1] as u32 + 25 * p[2] as u32 + 128) >> 8) as u8 + 16)
        .collect();
    (y, vec![128u8; w * h / 2])
}

fn bench_letterbox(c: &mut Criterion) {
    let (w, h) = (1920, 1080);
    let rgb = frame_1080p();
    let bgrx: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0], 255])
        .collect();
    let (y, uv) = to_nv12(&rgb, w, h);
    let mut lb = Letterboxer::new();
    let mut g = c.benchmark_group("letterbox_1920x1080_to_640");
    g.bench_function("RGB", |b| {
        let f = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
        b.iter(|| black_box(lb.run(black_box(&f), 640, 640).1))
    });
    g.bench_function("BGRx", |b| {
        let f = FrameRef::packed(PixelFormat::Bgrx, w, h, &bgrx).unwrap();
        b.iter(|| black_box(lb.run(black_box(&f), 640, 640).1))
    });
    g.bench_function("NV12", |b| {
        let f = FrameRef::new(PixelFormat::Nv12, w, h, [&y, &uv, &[]], [w, w, 0]).unwrap();
        b.iter(|| black_box(lb.run(black_box(&f), 640, 640).1))
    });
    g.finish();
}

fn bench_decode_nms(c: &mut Criterion) {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/yolov12n-coco.onnx");
    let Ok(mut engine) = open_engine(&model, &Default::default()) else {
        eprintln!(
            "decode_nms skipped: the model or onnxruntime is not available (run scripts/setup)"
        );
        return;
    };
    let rgb = frame_1080p();
    let frame = FrameRef::packed(PixelFormat::Rgb, 1920, 1080, &rgb).unwrap();
    let mut lb = Letterboxer::new();
    let (input, geometry) = lb.run(&frame, 640, 640);
    let output = engine.infer(input).unwrap().remove(0);
    let layout = Layout::detect(std::slice::from_ref(&output.shape)).unwrap();
    let labels = engine.info().labels.clone();
    let mut post = Postprocessor::new();
    let opts = PostprocessOptions::default();
    let mut out = Vec::new();
    c.bench_function("decode_nms_1x84x8400", |b| {
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
    let _: Letterbox = geometry;
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

criterion_group!(benches, bench_letterbox, bench_decode_nms, bench_overlay);
criterion_main!(benches);
