// SPDX-License-Identifier: MIT OR Apache-2.0
//! hmg-detect against ultralytics' own reference detections (shared testdata).
//! PNG images decode identically everywhere, so our letterbox must give the very same input
//! tensor and the boxes must agree to < 0.01 px.

mod common;

use common::{read_png, reference, testdata};
use hmg_detect::{Detector, EngineOptions, FrameRef, Letterbox, PixelFormat};

fn check_model(model: &str, reference_name: &str, detections_key: &str, letterbox_key: &str) {
    check_model_batched(model, reference_name, detections_key, letterbox_key, 1);
}

/// Runs all PNG images of the reference through `Detector::detect_batch` with `batch_size`.
fn check_model_batched(
    model: &str,
    reference_name: &str,
    detections_key: &str,
    letterbox_key: &str,
    batch_size: usize,
) -> usize {
    let r = reference(reference_name);
    let options = EngineOptions {
        batch_size,
        ..Default::default()
    };
    let mut detector =
        Detector::open_with(&testdata().join("models").join(model), &options).expect("model opens");
    let (tw, th) = (detector.info().input_width, detector.info().input_height);
    let images: Vec<_> = r["images"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.ends_with(".png"))
        .map(|(name, img)| (name, img, read_png(&testdata().join("images").join(name))))
        .collect();
    let frames: Vec<_> = images
        .iter()
        .map(|(_, _, (rgb, w, h))| FrameRef::packed(PixelFormat::Rgb, *w, *h, rgb).unwrap())
        .collect();
    let all = detector.detect_batch(&frames).unwrap();
    let mut checked = 0;
    for ((name, img, (_, w, h)), ours) in images.iter().zip(all) {
        let (w, h) = (*w, *h);
        let lbr = &img[letterbox_key];
        let lb = Letterbox::new(w, h, tw, th);
        assert_eq!(
            lb.resized_width as u64,
            lbr["resized_w"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            lb.resized_height as u64,
            lbr["resized_h"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            lb.pad_left as u64,
            lbr["pad_left"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            lb.pad_top as u64,
            lbr["pad_top"].as_u64().unwrap(),
            "{name}"
        );

        let theirs = img[detections_key].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{name}: {ours:?} vs {theirs:?}");
        for (o, t) in ours.iter().zip(theirs) {
            assert_eq!(o.class_id as u64, t["class_id"].as_u64().unwrap(), "{name}");
            assert_eq!(&*o.label, t["class_name"].as_str().unwrap(), "{name}");
            let conf = t["confidence"].as_f64().unwrap();
            assert!(
                (o.confidence as f64 - conf).abs() < 1e-4,
                "{name}: conf {} vs {conf}",
                o.confidence
            );
            let b: Vec<f64> = t["box_xyxy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            for (ours, theirs) in [o.x1, o.y1, o.x2, o.y2].iter().zip(&b) {
                assert!(
                    (*ours as f64 - theirs).abs() < 0.01,
                    "{name}: box {o:?} vs {b:?}"
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 3, "three PNG images in the reference");
    detector.batch_size()
}

#[test]
fn yolov12n_png_images_match_ultralytics_to_a_hundredth_of_a_pixel() {
    check_model("yolov12n.onnx", "yolov12n.json", "detections", "letterbox");
}

#[test]
fn nudenet_dynamic_model_square_input_matches_ultralytics() {
    check_model(
        "nudenet_320n.onnx",
        "nudenet_320n.json",
        "detections_square_input",
        "letterbox_square_input",
    );
}

#[test]
fn nudenet_batch_of_three_matches_ultralytics_image_by_image() {
    let batch = check_model_batched(
        "nudenet_320n.onnx",
        "nudenet_320n.json",
        "detections_square_input",
        "letterbox_square_input",
        3,
    );
    assert_eq!(
        batch, 3,
        "the dynamic batch axis takes three images per run"
    );
}

#[test]
fn fixed_batch_model_runs_a_batch_request_one_image_at_a_time() {
    let batch = check_model_batched(
        "yolov12n.onnx",
        "yolov12n.json",
        "detections",
        "letterbox",
        4,
    );
    assert_eq!(batch, 1, "yolov12n's input is fixed at batch 1");
}
