// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Hailo layouts against ultralytics. The fixtures are the real YOLOv8n (NudeNet 320n) heads
//! quantized to UINT8 as a HEF returns them, and HailoRT NMS buffers, for six real images
//! (scripts/make-hailo-fixtures).

mod common;

use common::{hailo_fixtures, json, read_png, reference, testdata};
use hmg_detect::{
    Detection, EngineOptions, FrameRef, Layout, Letterbox, Letterboxer, NmsOptions, PixelFormat,
    PostprocessOptions, Postprocessor, TensorRef, TensorSlice, open_engine,
};
use serde_json::Value;

struct Heads {
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    quant: Vec<(f32, f32)>,
    bytes: Vec<u8>,
}

impl Heads {
    fn load(manifest: &Value, image: &str) -> Self {
        let outputs = manifest["outputs"].as_array().unwrap();
        let file = manifest["images"][image]["heads"].as_str().unwrap();
        let bytes = std::fs::read(hailo_fixtures().join(file)).unwrap();
        let shapes: Vec<Vec<usize>> = outputs
            .iter()
            .map(|o| {
                o["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect()
            })
            .collect();
        assert_eq!(
            bytes.len(),
            shapes
                .iter()
                .map(|s| s.iter().product::<usize>())
                .sum::<usize>(),
            "{file}"
        );
        Self {
            names: outputs
                .iter()
                .map(|o| o["name"].as_str().unwrap().to_string())
                .collect(),
            shapes,
            quant: outputs
                .iter()
                .map(|o| {
                    (
                        o["zero_point"].as_f64().unwrap() as f32,
                        o["scale"].as_f64().unwrap() as f32,
                    )
                })
                .collect(),
            bytes,
        }
    }

    fn views(&self) -> Vec<TensorRef<'_>> {
        let mut offset = 0;
        (0..self.shapes.len())
            .map(|i| {
                let n: usize = self.shapes[i].iter().product();
                let data = TensorSlice::U8(&self.bytes[offset..offset + n]);
                offset += n;
                TensorRef {
                    name: &self.names[i],
                    shape: &self.shapes[i],
                    data,
                    zero_point: self.quant[i].0,
                    scale: self.quant[i].1,
                }
            })
            .collect()
    }
}

fn options(conf: f32) -> PostprocessOptions {
    PostprocessOptions {
        conf,
        nms: NmsOptions {
            iou: 0.45,
            class_agnostic: false,
            max_det: 300,
        },
        classes: None,
    }
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
}

fn bx(d: &Detection) -> [f32; 4] {
    [d.x1, d.y1, d.x2, d.y2]
}

/// Every `want` detection scoring clearly above `conf` (beyond what quantization can move) has a
/// partner in `got`: same class, IoU ≥ 0.95, |Δconf| ≤ 0.03; and `got` has nothing clearly
/// above `conf` that `want` lacks.
fn assert_matches(what: &str, got: &[Detection], want: &[(u32, f32, [f32; 4])], conf: f32) {
    const MARGIN: f32 = 0.03;
    for &(class_id, score, b) in want.iter().filter(|w| w.1 > conf + MARGIN) {
        let best = got
            .iter()
            .filter(|d| d.class_id == class_id)
            .max_by(|x, y| iou(bx(x), b).total_cmp(&iou(bx(y), b)));
        let d = best.unwrap_or_else(|| {
            panic!("{what}: class {class_id} {score:.3} {b:?} not found in {got:?}")
        });
        assert!(
            iou(bx(d), b) >= 0.95,
            "{what}: IoU {} for {d:?} vs {b:?}",
            iou(bx(d), b)
        );
        assert!(
            (d.confidence - score).abs() <= MARGIN,
            "{what}: conf {} vs {score}",
            d.confidence
        );
    }
    for d in got.iter().filter(|d| d.confidence > conf + MARGIN) {
        assert!(
            want.iter()
                .any(|w| w.0 == d.class_id && iou(bx(d), w.2) >= 0.95),
            "{what}: extra detection {d:?}"
        );
    }
}

fn manifest() -> Value {
    json(&hailo_fixtures().join("manifest.json"))
}

#[test]
fn quantized_raw_heads_match_ultralytics() {
    let manifest = manifest();
    let r = reference("nudenet_320n.json");
    let labels: Vec<String> = (0..18)
        .map(|i| {
            r["model"]["names"][i.to_string()]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut post = Postprocessor::new();
    let mut total = 0;
    for (image, entry) in r["images"].as_object().unwrap() {
        let heads = Heads::load(&manifest, image);
        let views = heads.views();
        let layout = Layout::detect(&heads.shapes).unwrap();
        assert_eq!(layout, Layout::HailoRaw { classes: 18 });
        let lb = Letterbox::new(
            entry["width"].as_u64().unwrap() as usize,
            entry["height"].as_u64().unwrap() as usize,
            320,
            320,
        );
        let mut ours = Vec::new();
        post.run(layout, &views, &lb, &labels, &options(0.25), &mut ours)
            .unwrap();
        let want: Vec<(u32, f32, [f32; 4])> = entry["detections_square_input"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let b: Vec<f32> = d["box_xyxy"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect();
                (
                    d["class_id"].as_u64().unwrap() as u32,
                    d["confidence"].as_f64().unwrap() as f32,
                    [b[0], b[1], b[2], b[3]],
                )
            })
            .collect();
        assert_matches(image, &ours, &want, 0.25);
        for d in &ours {
            assert_eq!(&*d.label, labels[d.class_id as usize]);
        }
        total += want.len();
    }
    assert_eq!(total, 3, "the reference has three square-input detections");
}

/// Many more boxes than the reference at 0.25: the quantized heads against the float model at
/// a low threshold, on the PNG images whose letterbox is bit-exact (checked by the input hash
/// the fixture recorded).
#[test]
fn quantized_raw_heads_match_the_float_model_at_low_confidence() {
    let manifest = manifest();
    let Ok(mut engine) = open_engine(
        &testdata().join("models/nudenet_320n.onnx"),
        &EngineOptions::default(),
    ) else {
        panic!("onnxruntime is needed for this test: run scripts/setup");
    };
    assert_eq!(
        (engine.info().input_width, engine.info().input_height),
        (320, 320)
    );
    let mut letterboxer = Letterboxer::new();
    let mut post = Postprocessor::new();
    let mut compared = 0;
    for image in ["astronaut.png", "coffee.png", "camera.png"] {
        let (rgb, w, h) = read_png(&testdata().join("images").join(image));
        let frame = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
        let (input, lb) = letterboxer.run(&frame, 320, 320);
        let hash = input.iter().fold(0xcbf29ce484222325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
        assert_eq!(
            format!("{hash:016x}"),
            manifest["images"][image]["input_fnv1a64"].as_str().unwrap(),
            "{image}: input tensor"
        );
        let float_out = engine.infer(input).unwrap();
        let float_layout = engine.info().layout;
        let mut want = Vec::new();
        post.run(
            float_layout,
            &[float_out[0].view()],
            &lb,
            &[],
            &options(0.05),
            &mut want,
        )
        .unwrap();
        let heads = Heads::load(&manifest, image);
        let mut got = Vec::new();
        post.run(
            Layout::HailoRaw { classes: 18 },
            &heads.views(),
            &lb,
            &[],
            &options(0.05),
            &mut got,
        )
        .unwrap();
        let want: Vec<_> = want
            .iter()
            .map(|d| (d.class_id, d.confidence, bx(d)))
            .collect();
        assert_matches(image, &got, &want, 0.05);
        compared += want.iter().filter(|w| w.1 > 0.08).count();
    }
    assert!(compared >= 5, "only {compared} detections compared");
}

#[test]
fn nms_buffers_reproduce_their_boxes() {
    let manifest = manifest();
    let mut post = Postprocessor::new();
    let mut boxes = 0;
    for (image, entry) in manifest["images"].as_object().unwrap() {
        let data: Vec<f32> = std::fs::read(hailo_fixtures().join(entry["nms"].as_str().unwrap()))
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let shape = vec![18, 501];
        let layout = Layout::detect_named(
            &["nudenet320/yolov8_nms_postprocess"],
            std::slice::from_ref(&shape),
        )
        .unwrap();
        assert_eq!(
            layout,
            Layout::HailoNms {
                classes: 18,
                max_per_class: 100
            }
        );
        let view = TensorRef {
            name: "nms",
            shape: &shape,
            data: TensorSlice::F32(&data),
            zero_point: 0.0,
            scale: 1.0,
        };
        // An identity letterbox keeps boxes in model-input pixels.
        let lb = Letterbox::new(320, 320, 320, 320);
        let mut got = Vec::new();
        let mut opts = options(0.0);
        opts.nms.iou = 0.0; // must be ignored: the device already ran NMS
        post.run(layout, &[view], &lb, &[], &opts, &mut got)
            .unwrap();
        let want = entry["nms_boxes"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{image}");
        for w in want {
            let b: Vec<f32> = w["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let class_id = w["class_id"].as_u64().unwrap() as u32;
            let found = got.iter().any(|d| {
                d.class_id == class_id
                    && (d.confidence - w["score"].as_f64().unwrap() as f32).abs() < 1e-6
                    && bx(d).iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3)
            });
            assert!(found, "{image}: {w} not reproduced in {got:?}");
        }
        boxes += want.len();
    }
    assert!(boxes >= 3, "fixtures hold {boxes} boxes");
}
