// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg batch` over a folder of the shared test images, against ultralytics' reference.

use std::path::Path;
use std::process::Command;

use hmg_e2e::*;

fn batch(args: &[&str], input: &Path, output: &Path) -> std::process::Output {
    Command::new(profile_dir().join("hmg"))
        .current_dir(repo())
        .args(["batch", "--input"])
        .arg(input)
        .arg("--output")
        .arg(output)
        .args(args)
        .output()
        .unwrap()
}

fn model(name: &str) -> String {
    testdata().join("models").join(name).display().to_string()
}

#[test]
fn test_batch_of_four_matches_ultralytics_and_reports_a_broken_image() {
    let dir = temp_dir("batch");
    let input = dir.join("pictures");
    std::fs::create_dir_all(&input).unwrap();
    for entry in std::fs::read_dir(testdata().join("images")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, input.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(input.join("broken.jpg"), b"not a jpeg").unwrap();
    std::fs::write(input.join("notes.txt"), b"not an image").unwrap();
    let output = dir.join("out");

    let out = batch(
        &["--model", &model("nudenet_320n.onnx"), "--batch-size", "4"],
        &input,
        &output,
    );
    let t = text(&out);
    // Every good image is processed; the broken one is named and makes the exit code 1.
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("broken.jpg"), "{t}");
    assert!(t.contains("1 of 7 images could not be read"), "{t}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(output.join("detections.json")).unwrap()).unwrap();
    assert_eq!(report["batch_size"], 4);
    assert_eq!(report["failed"][0]["file"], "broken.jpg");
    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(testdata().join("reference/nudenet_320n.json")).unwrap(),
    )
    .unwrap();
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 6, "{report}");
    let mut with_detections = 0;
    for image in images {
        let file = image["file"].as_str().unwrap();
        let expected = &reference["images"][file];
        assert_eq!(image["width"], expected["width"], "{file}");
        // PNGs decode identically everywhere. JPEG decoders differ by a grey level here and
        // there (ours is zune-jpeg, ultralytics' is libjpeg-turbo): compare the detections that
        // are clear of the 0.25 threshold, boxes to 1.5 px.
        let (margin, tolerance) = if file.ends_with(".png") {
            (0.0, 0.01)
        } else {
            (0.03, 1.5)
        };
        let clear = |list: &serde_json::Value| -> Vec<serde_json::Value> {
            list.as_array()
                .unwrap()
                .iter()
                .filter(|d| d["confidence"].as_f64().unwrap() > 0.25 + margin)
                .cloned()
                .collect()
        };
        let ours = clear(&image["detections"]);
        let theirs = clear(&expected["detections_square_input"]);
        assert_eq!(ours.len(), theirs.len(), "{file}: {ours:?} vs {theirs:?}");
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!(o["class_id"], t["class_id"], "{file}");
            assert_eq!(o["label"], t["class_name"], "{file}");
            for (a, b) in o["box"]
                .as_array()
                .unwrap()
                .iter()
                .zip(t["box_xyxy"].as_array().unwrap())
            {
                let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                assert!((a - b).abs() < tolerance, "{file}: {o} vs {t}");
            }
        }
        let drawn = !image["detections"].as_array().unwrap().is_empty();
        with_detections += usize::from(drawn);

        // The annotated copy has the original's size; boxes change pixels only where drawn.
        let annotated = image::open(output.join("images").join(file))
            .unwrap()
            .into_rgb8();
        let original = image::open(input.join(file)).unwrap().into_rgb8();
        assert_eq!(annotated.dimensions(), original.dimensions(), "{file}");
        if file.ends_with(".png") {
            assert_eq!(annotated == original, !drawn, "{file}");
        }
    }
    assert!(with_detections >= 3, "{report}");
    assert!(!output.join("images/broken.jpg").exists());
    let leftovers = part_files(&output.join("images"));
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The PNGs of the test data written losslessly as WebP and TIFF by another encoder (Pillow, in
/// ultralytics' venv): the same pixels, so the same detections as ultralytics' reference of the
/// PNG; an empty file is named with what is wrong with it.
#[test]
fn test_webp_and_tiff_pictures_give_the_detections_of_their_pixels() {
    let dir = temp_dir("batch-formats");
    let input = dir.join("pictures");
    std::fs::create_dir_all(&input).unwrap();
    let pngs: Vec<String> = std::fs::read_dir(testdata().join("images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(!pngs.is_empty());
    let script = r#"
import json, pathlib, sys
from PIL import Image
out = pathlib.Path(sys.argv[1])
for png in sys.argv[2:]:
    stem = pathlib.Path(png).stem
    picture = Image.open(png).convert("RGB")
    picture.save(out / f"{stem}.webp", lossless=True)
    picture.save(out / f"{stem}.tif", compression="tiff_lzw")
print("@json " + json.dumps(sorted(p.name for p in out.iterdir())))
"#;
    let mut args: Vec<&std::ffi::OsStr> = vec![input.as_os_str()];
    args.extend(pngs.iter().map(std::ffi::OsStr::new));
    let written = python_json(&dir, script, &args);
    assert_eq!(
        written.as_array().unwrap().len(),
        2 * pngs.len(),
        "{written}"
    );
    std::fs::write(input.join("empty.webp"), b"").unwrap();

    let output = dir.join("out");
    let out = batch(&["--model", &model("nudenet_320n.onnx")], &input, &output);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("empty.webp': the file is empty"), "{t}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(output.join("detections.json")).unwrap()).unwrap();
    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(testdata().join("reference/nudenet_320n.json")).unwrap(),
    )
    .unwrap();
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 2 * pngs.len(), "{report}");
    let mut detections = 0;
    for image in images {
        let file = image["file"].as_str().unwrap();
        let png = format!("{}.png", file.rsplit_once('.').unwrap().0);
        let expected = &reference["images"][png.as_str()];
        assert_eq!(image["width"], expected["width"], "{file}");
        assert_eq!(image["height"], expected["height"], "{file}");
        let ours = image["detections"].as_array().unwrap();
        let theirs = expected["detections_square_input"].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{file}: {ours:?} vs {theirs:?}");
        for (o, t) in ours.iter().zip(theirs) {
            assert_eq!(o["class_id"], t["class_id"], "{file}");
            let (a, b) = (&o["box"], &t["box_xyxy"]);
            for (a, b) in a.as_array().unwrap().iter().zip(b.as_array().unwrap()) {
                let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                assert!((a - b).abs() < 0.01, "{file}: {o} vs {t}");
            }
        }
        detections += ours.len();
        assert!(output.join("images").join(file).is_file(), "{file}");
    }
    assert!(detections > 0, "{report}");
}

/// A model exported with a fixed batch (ultralytics' `batch=2`) takes exactly two images a run:
/// hmg fills its runs with frames, pads the last one, and gets ultralytics' detections of the same
/// model, with runs of one frame (the default), of two, and with a last run half full.
#[test]
fn test_a_model_with_a_fixed_batch_gives_ultralytics_detections() {
    let (dir, input) = rail_pictures("batch-fixed", &["dog.jpg", "astronaut.png", "coffee.png"]);
    let script = r#"
import json, sys
from pathlib import Path
from ultralytics import YOLO
dir = Path(sys.argv[1])
onnx = YOLO(str(dir / "rail.pt")).export(format="onnx", batch=2, imgsz=640)
out = {"model": str(onnx), "images": {}}
for r in YOLO(onnx, task="detect").predict(str(dir / "pictures"), conf=0.01, iou=0.7, max_det=300, verbose=False):
    b = r.boxes
    out["images"][Path(r.path).name] = [[int(c), float(s), *map(float, xyxy)] for c, s, xyxy in zip(b.cls, b.conf, b.xyxy)]
print("@json " + json.dumps(out))
"#;
    let reference = python_json(&dir, script, &[dir.as_os_str()]);
    let model = reference["model"].as_str().unwrap();
    let expected = reference["images"].as_object().unwrap();
    assert_eq!(expected.len(), 3, "{reference}");
    let found: usize = expected.values().map(|d| d.as_array().unwrap().len()).sum();
    assert!(
        found > 0,
        "the reference finds something to compare: {reference}"
    );
    for batch_size in ["1", "2", "3"] {
        let output = dir.join(format!("out-{batch_size}"));
        let out = batch(
            &[
                "--model",
                model,
                "--conf",
                "0.01",
                "--iou",
                "0.7",
                "--batch-size",
                batch_size,
            ],
            &input,
            &output,
        );
        let t = text(&out);
        assert!(out.status.success(), "--batch-size {batch_size}: {t}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(output.join("detections.json")).unwrap())
                .unwrap();
        assert_detections_equal(&report, expected);
    }
}

/// ultralytics models of other tasks: a segment model is a detector with mask coefficients after
/// its class scores (its boxes are ultralytics' boxes of the same model), an oriented-box and a
/// classification model are refused saying what they are, in `hmg batch` and in the graph. The
/// segment model is YOLOv8n-seg with the real rail detector's weights (all but the mask branch),
/// so it finds what that one finds.
#[test]
fn test_models_of_other_tasks_give_their_boxes_or_say_what_they_are() {
    let (dir, input) = rail_pictures("batch-tasks", &["dog.jpg", "coffee.png"]);
    let script = r#"
import json, sys
from pathlib import Path
from ultralytics import YOLO
from ultralytics.nn.tasks import SegmentationModel
dir = Path(sys.argv[1])
det = YOLO(str(dir / "rail.pt"))
seg = YOLO("yolov8n-seg.yaml", task="segment")
seg.model = SegmentationModel("yolov8n-seg.yaml", nc=len(det.names), verbose=False)
seg.model.load(det.model)
seg.model.names, seg.model.task, seg.model.args = det.names, "segment", dict(det.model.args)
out = {"models": {}, "images": {}}
for task, model in (("segment", seg), ("obb", YOLO("yolov8n-obb.yaml")), ("classify", YOLO("yolov8n-cls.yaml"))):
    made = Path(model.export(format="onnx"))
    out["models"][task] = str(made.rename(dir / f"{task}.onnx"))
for r in YOLO(out["models"]["segment"], task="segment").predict(str(dir / "pictures"), conf=0.01, iou=0.7, max_det=300, verbose=False):
    b = r.boxes
    out["images"][Path(r.path).name] = [[int(c), float(s), *map(float, xyxy)] for c, s, xyxy in zip(b.cls, b.conf, b.xyxy)]
print("@json " + json.dumps(out))
"#;
    let reference = python_json(&dir, script, &[dir.as_os_str()]);
    let models = &reference["models"];
    let expected = reference["images"].as_object().unwrap();
    let found: usize = expected.values().map(|d| d.as_array().unwrap().len()).sum();
    assert!(
        found > 0,
        "the reference finds something to compare: {reference}"
    );
    let output = dir.join("out-segment");
    let segment = models["segment"].as_str().unwrap();
    let out = batch(
        &["--model", segment, "--conf", "0.01", "--iou", "0.7"],
        &input,
        &output,
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(output.join("detections.json")).unwrap()).unwrap();
    assert_detections_equal(&report, expected);
    // The same through the graph (`hmg detect`): the class count travels in the tensors' meta,
    // since the output's shape alone would make the mask coefficients classes.
    let out = hmg_command(&dir)
        .args([
            "detect",
            "--model",
            segment,
            "--input",
            "pictures",
            "--headless",
        ])
        .args(["--conf", "0.01", "--iou", "0.7", "--output", "detect"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let run = detect_run_dir(&dir.join("detect"));
    let images = read_json_lines(&run.join("pictures.jsonl"));
    assert_detections_equal(&serde_json::json!({ "images": images }), expected);

    for (task, words) in [
        ("obb", "oriented bounding box"),
        ("classify", "classification"),
    ] {
        let model = models[task].as_str().unwrap();
        let out = batch(
            &["--model", model],
            &input,
            &dir.join(format!("out-{task}")),
        );
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{task}: {t}");
        let error = t.lines().find(|l| l.starts_with("error:")).unwrap_or("");
        assert!(
            error.contains(words) && error.contains(&format!("{task}.onnx")),
            "{t}"
        );
    }
}

/// A scratch folder with the real rail checkpoint (`rail.pt`) and a `pictures` folder of the test
/// data's `images` as PNGs (a JPEG's pixels written losslessly, so that both sides decode the
/// same pixels), for models made from it that low thresholds let find something.
fn rail_pictures(name: &str, images: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = temp_dir(name);
    let input = dir.join("pictures");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(pretrained_checkpoint(), dir.join("rail.pt")).unwrap();
    for image in images {
        let png = Path::new(image).with_extension("png");
        image::open(testdata().join("images").join(image))
            .unwrap()
            .save(input.join(png))
            .unwrap();
    }
    (dir, input)
}

/// Every image of an `hmg batch` report has the detections of the reference (ultralytics:
/// image name → [class, confidence, x1, y1, x2, y2]), to 1e-4 in confidence and 0.01 px.
fn assert_detections_equal(
    report: &serde_json::Value,
    expected: &serde_json::Map<String, serde_json::Value>,
) {
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), expected.len(), "{report}");
    for image in images {
        let file = image["file"].as_str().unwrap();
        let ours = image["detections"].as_array().unwrap();
        let theirs = expected[file].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{file}: {ours:?} vs {theirs:?}");
        for (o, t) in ours.iter().zip(theirs) {
            let t: Vec<f64> = t
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(o["class_id"].as_f64().unwrap(), t[0], "{file}");
            let confidence = o["confidence"].as_f64().unwrap();
            assert!((confidence - t[1]).abs() < 1e-4, "{file}: {o} vs {t:?}");
            for (a, b) in o["box"].as_array().unwrap().iter().zip(&t[2..]) {
                assert!(
                    (a.as_f64().unwrap() - b).abs() < 0.01,
                    "{file}: {o} vs {t:?}"
                );
            }
        }
    }
}

#[test]
fn test_batch_refuses_bad_arguments_before_starting() {
    let dir = temp_dir("batch-usage");
    let images = testdata().join("images");
    let cases: [(&[&str], &Path, &str); 3] = [
        (
            &["--model", "missing.onnx"],
            &images,
            "model 'missing.onnx' does not exist",
        ),
        (
            &["--model", &model("nudenet_320n.onnx")],
            &dir,
            "has no images",
        ),
        (
            &["--model", &model("nudenet_320n.onnx"), "--batch-size", "0"],
            &images,
            "--batch-size must be at least 1",
        ),
    ];
    for (args, input, message) in cases {
        let out = batch(args, input, &dir.join("out"));
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(message), "{}", text(&out));
    }
    // Writing annotated images into the input folder would overwrite the originals.
    std::fs::create_dir_all(dir.join("in/images")).unwrap();
    std::fs::copy(images.join("dog.jpg"), dir.join("in/images/dog.jpg")).unwrap();
    let out = Command::new(profile_dir().join("hmg"))
        .current_dir(&dir)
        .args([
            "batch",
            "--model",
            &model("nudenet_320n.onnx"),
            "--input",
            "in/images",
            "--output",
            "in",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("over the originals"), "{}", text(&out));
}
