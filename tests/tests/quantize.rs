// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg quantize` on the bundled real model (YOLOv12n, COCO) with a calibration set `hmg
//! calibrate` makes from real video frames, checked against its float parent on a val split
//! whose labels ultralytics' own predict of the float model wrote; bad calibration sets refused.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hmg_e2e::*;

/// Frames of the two bundled videos (train and val from different frames), labelled by
/// ultralytics predict of `model` at conf 0.25 — labels nobody here computed.
const MAKE_DATASET: &str = r#"
import sys, cv2
from pathlib import Path
from ultralytics import YOLO
root, model, media = Path(sys.argv[1]), YOLO(sys.argv[2], task="detect"), Path(sys.argv[3])
for split, off in (("train", 0), ("val", 3)):
    for sub in ("images", "labels"):
        (root / sub / split).mkdir(parents=True, exist_ok=True)
    for video, step, count in (("bikes.mp4", 6, 24), ("carphone.mp4", 9, 8)):
        cap, i, kept = cv2.VideoCapture(str(media / video)), 0, 0
        while kept < count:
            ok, frame = cap.read()
            if not ok:
                break
            i += 1
            if (i + off) % step:
                continue
            kept += 1
            name = f"{Path(video).stem}-{i:04d}"
            cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), frame)
            r = model.predict(frame, conf=0.25, verbose=False)[0]
            with open(root / "labels" / split / f"{name}.txt", "w") as out:
                for c, b in zip(r.boxes.cls.tolist(), r.boxes.xywhn.tolist()):
                    out.write(f"{int(c)} " + " ".join(f"{v:.6f}" for v in b) + "\n")
names = "".join(f"  {k}: {v}\n" for k, v in model.names.items())
(root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n{names}")
print("@json", len(list((root / "images" / "val").iterdir())))
"#;

struct Quantized {
    dir: PathBuf,
    float: PathBuf,
    int8: PathBuf,
    /// The lines hmg quantize printed.
    report: String,
    val_pictures: u64,
}

fn model_copy(dir: &Path) -> PathBuf {
    let float = dir.join("coco.onnx");
    if !float.exists() {
        std::fs::copy(repo().join("models/yolov12n-coco.onnx"), &float).unwrap();
    }
    float
}

/// Dataset, calibration set and one int8 model, made once for the tests of this file.
fn quantized() -> &'static Quantized {
    static ONCE: OnceLock<Quantized> = OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = temp_dir("quantize");
        let float = model_copy(&dir);
        let val = python_json(
            &dir,
            MAKE_DATASET,
            &[
                dir.join("ds").as_os_str(),
                float.as_os_str(),
                repo().join("media").as_os_str(),
            ],
        );
        let val_pictures = val.as_u64().unwrap();
        assert!(val_pictures >= 16, "{val}");
        let out = hmg_command(&dir)
            .args(["calibrate", "ds/data.yaml", "--num-samples", "32"])
            .args(["--output", "calib"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        // Any drop is allowed here: the figures themselves are what the tests check.
        let out = quantize_on_the_set(&dir)
            .args(["--max-map50-drop", "100"])
            .output()
            .unwrap();
        let report = text(&out);
        assert!(out.status.success(), "{report}");
        Quantized {
            int8: dir.join("coco.int8.onnx"),
            dir,
            float,
            report,
            val_pictures,
        }
    })
}

/// `hmg quantize` of the model copy with the test's calibration set and data.
fn quantize_on_the_set(dir: &Path) -> std::process::Command {
    let mut c = hmg_command(dir);
    c.args([
        "quantize",
        "coco.onnx",
        "--calib",
        "calib",
        "--data",
        "ds/data.yaml",
    ]);
    c
}

/// The (mAP50, mAP50-95) on the line that starts with `prefix` after trimming.
fn map_on_line(report: &str, prefix: &str) -> (f64, f64) {
    let line = report
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in:\n{report}"));
    let value = |key: &str| -> f64 {
        let rest = &line[line.find(key).unwrap() + key.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (value("mAP50 "), value("mAP50-95 "))
}

#[test]
fn test_int8_model_is_qdq_with_a_float_head_and_runs_as_the_float_one() {
    let q = quantized();
    // The file: QDQ nodes, the head's decode (after the six cv2/cv3 convolutions) in float,
    // class names kept for our decoder.
    let facts = python_json(
        &q.dir,
        r#"
import json, sys, onnx
m = onnx.load(sys.argv[1])
ops = [n.op_type for n in m.graph.node]
last = m.graph.node[-1]
print("@json", json.dumps({"q": ops.count("QuantizeLinear"), "last": last.op_type,
  "last_inputs_dequantized": any(n.op_type == "DequantizeLinear" and n.output[0] in last.input for n in m.graph.node),
  "names": "names" in {p.key for p in m.metadata_props}, "elem": m.graph.output[0].type.tensor_type.elem_type}))
"#,
        &[q.int8.as_os_str()],
    );
    assert!(facts["q"].as_u64().unwrap() > 50, "{facts}");
    assert_eq!(facts["last"], "Concat", "{facts}");
    assert_eq!(facts["last_inputs_dequantized"], false, "{facts}");
    assert_eq!(facts["names"], true);
    assert_eq!(facts["elem"], 1, "float output");
    // hmg batch runs it as it runs the float model: same labels, most boxes the same.
    let images = q.dir.join("ds/images/val");
    let mut found = Vec::new();
    for (model, out) in [(&q.float, "batch-float"), (&q.int8, "batch-int8")] {
        let o = hmg_command(&q.dir)
            .args(["batch", "--input", images.to_str().unwrap(), "--model"])
            .arg(model)
            .args(["--output", out])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(q.dir.join(out).join("detections.json")).unwrap(),
        )
        .unwrap();
        found.push(json);
    }
    let labels = |v: &serde_json::Value| -> std::collections::BTreeSet<String> {
        v.to_string()
            .split("\"label\":\"")
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].to_string())
            .collect()
    };
    assert!(labels(&found[0]).contains("person"), "{}", found[0]);
    assert!(labels(&found[1]).contains("person") && labels(&found[1]).contains("car"));
}

#[test]
fn test_quantize_figures_are_those_of_verify_onnx_and_ultralytics_val() {
    let q = quantized();
    let parent = map_on_line(&q.report, "mAP (val): float parent");
    let int8 = map_on_line(&q.report, "this model");
    let agreement = format!("agreement ({} val pictures", q.val_pictures);
    assert!(q.report.contains(&agreement), "{}", q.report);
    // Our graph's figure for each model, measured alone by hmg verify-onnx; and ultralytics'
    // own val of both (an independent implementation; its letterbox and loader differ from a
    // live graph's, so its figures differ a little): the int8 model is a working detector
    // there too, and no better than its parent.
    let mut theirs = Vec::new();
    for (model, expected) in [(&q.float, parent), (&q.int8, int8)] {
        let out = hmg_command(&q.dir)
            .args(["verify-onnx"])
            .arg(model)
            .args(["--data", "ds/data.yaml"])
            .output()
            .unwrap();
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        assert_eq!(map_on_line(&t, "mAP (val): hmg graph"), expected, "{t}");
        theirs.push(map_on_line(&t, "ultralytics val"));
        if model == &q.int8 {
            // verify-onnx finds the float parent beside best.int8.onnx and prints both.
            assert!(
                t.contains("parent:   ") && t.contains("float parent mAP50"),
                "{t}"
            );
        }
    }
    assert!(
        theirs[1].0 > 0.5 && theirs[1].0 <= theirs[0].0 + 0.01,
        "{theirs:?}"
    );
    // Without --data, verify-onnx compares the two on the calibration pictures.
    let out = hmg_command(&q.dir)
        .args(["verify-onnx", "coco.int8.onnx", "--calib", "calib"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let line = t
        .lines()
        .find(|l| l.starts_with("agreement (32 calibration pictures"))
        .unwrap_or_else(|| panic!("{t}"));
    let f1: f64 = line.split("(F1 ").nth(1).unwrap()[..5].parse().unwrap();
    assert!(f1 > 0.5 && f1 <= 1.0, "{line}");
    assert!(
        !t.contains("float parent mAP50"),
        "no mAP without --data: {t}"
    );
    // The float model is the labels' own model: near-perfect; int8 loses some but stays a
    // detector.
    assert!(parent.0 > 0.95, "{parent:?}");
    assert!(int8.0 > 0.5 && int8.0 <= parent.0 + 0.02, "{int8:?}");
}

#[test]
fn test_a_drop_beyond_the_threshold_is_refused_with_the_figures_and_nothing_written() {
    let q = quantized();
    let parent = map_on_line(&q.report, "mAP (val): float parent");
    let int8 = map_on_line(&q.report, "this model");
    let drop = (parent.0 - int8.0) * 100.0;
    assert!(
        drop > 0.2,
        "the int8 model lost no mAP50 ({drop}); the refusal needs a loss"
    );
    let allowed = format!("{:.2}", drop / 2.0);
    let out = quantize_on_the_set(&q.dir)
        .args([
            "--output",
            "refused/coco.int8.onnx",
            "--max-map50-drop",
            &allowed,
        ])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("REFUSED") && t.contains(&format!("allowed {allowed}")),
        "{t}"
    );
    assert!(t.contains("float parent mAP50"), "{t}");
    assert!(!q.dir.join("refused/coco.int8.onnx").exists());
    assert_eq!(unfinished(&q.dir.join("refused")), Vec::<String>::new());
}

fn unfinished(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".hmg-quantize-"))
        .collect()
}

#[test]
fn test_bad_calibration_sets_are_refused_naming_the_file() {
    let dir = temp_dir("quantize-bad-calib");
    model_copy(&dir);
    let npy = |name: &str, descr: &str, shape: &[usize], fill: u8| -> PathBuf {
        let mut bytes = hmg_detect::npy::header_bytes(descr, shape);
        let size = shape.iter().product::<usize>() * if descr == "<f4" { 4 } else { 1 };
        bytes.resize(bytes.len() + size, fill);
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let cases = [
        (
            npy("flat.npy", "|u1", &[4, 640, 640, 3], 114),
            2,
            "one flat colour",
        ),
        (npy("small.npy", "|u1", &[4, 320, 320, 3], 9), 2, "320x320"),
        (npy("float.npy", "<f4", &[2, 640, 640, 3], 0), 2, "UINT8"),
        (
            npy("empty.npy", "|u1", &[0, 640, 640, 3], 0),
            2,
            "no pictures",
        ),
    ];
    std::fs::write(dir.join("text.npy"), "not a numpy file").unwrap();
    for (path, code, why) in cases
        .into_iter()
        .chain([(dir.join("text.npy"), 2, "text.npy")])
    {
        let out = hmg_command(&dir)
            .args(["quantize", "coco.onnx", "--calib"])
            .arg(&path)
            .output()
            .unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(code), "{}: {t}", path.display());
        assert!(
            t.contains(path.file_name().unwrap().to_str().unwrap()) && t.contains(why),
            "{t}"
        );
        assert!(!dir.join("coco.int8.onnx").exists(), "{t}");
        assert_eq!(unfinished(&dir), Vec::<String>::new(), "{t}");
    }
}
