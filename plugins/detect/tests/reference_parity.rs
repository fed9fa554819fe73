// SPDX-License-Identifier: MIT OR Apache-2.0
//! hmg-detect against ultralytics' own reference detections (shared testdata).
//! PNG images decode identically everywhere, so our letterbox must give the very same input
//! tensor and the boxes must agree to < 0.01 px.

mod common;

use common::{read_png, reference, testdata};
use hmg_detect::{Detector, FrameRef, Letterbox, PixelFormat};

fn check_model(model: &str, reference_name: &str, detections_key: &str, letterbox_key: &str) {
    let r = reference(reference_name);
    let mut detector = Detector::open(testdata().join("models").join(model)).expect("model opens");
    let (tw, th) = (detector.info().input_width, detector.info().input_height);
    let images = r["images"].as_object().unwrap();
    let mut checked = 0;
    for (name, img) in images {
        if !name.ends_with(".png") {
            continue;
        }
        let (rgb, w, h) = read_png(&testdata().join("images").join(name));
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

        let frame = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
        let ours = detector.detect(&frame).unwrap();
        let theirs = img[detections_key].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{name}: {ours:?} vs {theirs:?}");
        for (o, t) in ours.iter().zip(theirs) {
            assert_eq!(o.class_id as u64, t["class_id"].as_u64().unwrap(), "{name}");
            assert_eq!(o.label, t["class_name"].as_str().unwrap(), "{name}");
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
