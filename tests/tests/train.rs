// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg train`, `hmg export` and `hmg verify-onnx` on a synthetic two-class dataset (circles and
//! squares), with ultralytics' own predict on the same ONNX as the reference for our graph.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use hmg_e2e::*;
use serde_json::Value;

const IMGSZ: &str = "96";

/// Three quick epochs on the CPU: the settings of every training run of this file that compares
/// mAP50.
const SHORT_RUN: [&str; 11] = [
    "--epochs",
    "3",
    "--imgsz",
    IMGSZ,
    "--batch",
    "16",
    "--device",
    "cpu",
    "--workers",
    "0",
    "mosaic=0",
];

/// `datasets/synth`: images/{train,val} (PNG, so every decoder agrees to the bit),
/// labels/{train,val} and data.yaml; a few background images with empty label files.
fn make_dataset(root: &Path) -> PathBuf {
    for (split, count, seed) in [("train", 64, 7), ("val", 8, 8)] {
        synthetic_shapes(
            &root.join("images").join(split),
            &root.join("labels").join(split),
            count,
            seed,
        );
    }
    let yaml = root.join("data.yaml");
    std::fs::write(
        &yaml,
        format!(
            "path: {}\ntrain: images/train\nval: images/val\nnames:\n  0: circle\n  1: square\n",
            root.display()
        ),
    )
    .unwrap();
    yaml
}

fn hmg(dir: &Path, args: &[&str]) -> Output {
    hmg_command(dir).args(args).output().unwrap()
}

struct Trained {
    dir: PathBuf,
    data: PathBuf,
    run: PathBuf,
    output: String,
}

/// Trains once for every test of this file (3 epochs at 96 px: about half a minute on 2 cores).
fn trained() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let dir = temp_dir("train");
        let data = make_dataset(&dir.join("datasets/synth"));
        // Random weights on purpose: the barely-trained model the export tests compare.
        let mut args = vec![
            "train",
            data.to_str().unwrap(),
            "--name",
            "synth",
            "--model",
            "yolov8n.yaml",
        ];
        args.extend(SHORT_RUN);
        let out = hmg(&dir, &args);
        let output = text(&out);
        assert!(out.status.success(), "{output}");
        Trained {
            run: dir.join("runs/detect/synth"),
            dir,
            data,
            output,
        }
    })
}

#[test]
fn test_train_writes_ultralytics_layout_progress_and_guidance() {
    let t = trained();
    for epoch in 1..=3 {
        assert!(
            t.output.contains(&format!("epoch {epoch}/3: box_loss")),
            "{}",
            t.output
        );
    }
    assert!(!t.output.contains("epoch 4/3"), "{}", t.output);
    for file in [
        "weights/best.pt",
        "weights/last.pt",
        "results.csv",
        "results.png",
        "confusion_matrix.png",
        "BoxPR_curve.png",
        "hmg-train.log",
    ] {
        assert!(t.run.join(file).is_file(), "{file} missing: {}", t.output);
    }
    let csv = std::fs::read_to_string(t.run.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "header + 3 epochs: {csv}");
    let log = std::fs::read_to_string(t.run.join("hmg-train.log")).unwrap();
    assert!(log.contains("Ultralytics"), "ultralytics' own log is kept");
    assert!(t.output.contains("trained 3 of 3 epochs"), "{}", t.output);
    assert!(
        t.output.contains("aim for mAP50 > 0.8, mAP50-95 > 0.5"),
        "{}",
        t.output
    );
    assert!(
        t.output
            .contains(&t.run.join("weights/best.pt").display().to_string())
    );
}

/// ultralytics predict on `model` over `images` → file name → [class, conf, x1, y1, x2, y2].
fn ultralytics_predict(
    scratch: &Path,
    model: &Path,
    images: &Path,
    conf: &str,
) -> BTreeMap<String, Vec<Vec<f64>>> {
    let script = r#"
import json, sys
from pathlib import Path
from ultralytics import YOLO
model = YOLO(sys.argv[1], task="detect")
out = {}
for r in model.predict(sys.argv[2], conf=float(sys.argv[3]), iou=0.7, imgsz=int(sys.argv[4]), max_det=300, verbose=False):
    b = r.boxes
    out[Path(r.path).name] = [[int(c), float(s), *map(float, xyxy)] for c, s, xyxy in zip(b.cls, b.conf, b.xyxy)]
print("@json " + json.dumps(out))
"#;
    let v = python_json(
        scratch,
        script,
        &[
            model.as_os_str(),
            images.as_os_str(),
            conf.as_ref(),
            IMGSZ.as_ref(),
        ],
    );
    serde_json::from_value(v).unwrap()
}

/// Our graph on the val PNGs in name order → per frame [class, conf, x1, y1, x2, y2].
fn graph_detections(dir: &Path, model: &Path, images: &Path, conf: &str) -> Vec<Vec<Vec<f64>>> {
    let log = dir.join(format!(
        "{}.jsonl",
        model.file_stem().unwrap().to_string_lossy()
    ));
    let out = gst_command("gst-launch-1.0", dir)
        .env(
            "ORT_DYLIB_PATH",
            repo().join(".local/onnxruntime/libonnxruntime.so"),
        )
        .args(["-q", "multifilesrc"])
        .arg(format!("location={}/%03d.png", images.display()))
        .args([
            "caps=image/png,framerate=1/1",
            "!",
            "pngdec",
            "!",
            "videoconvert",
            "!",
            "video/x-raw,format=RGB",
            "!",
            "hailoinfer",
        ])
        .arg(format!("model={}", model.display()))
        .args([
            "!",
            "yolonms",
            &format!("conf={conf}"),
            "iou=0.7",
            "max-det=300",
            "!",
            "detlog",
        ])
        .arg(format!("location={}", log.display()))
        .args(["!", "fakesink"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["detections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let b = d["box"].as_array().unwrap();
                    let mut row = vec![
                        d["class_id"].as_f64().unwrap(),
                        d["confidence"].as_f64().unwrap(),
                    ];
                    row.extend(b.iter().map(|x| x.as_f64().unwrap()));
                    row
                })
                .collect()
        })
        .collect()
}

fn assert_same_detections(
    ours: &[Vec<Vec<f64>>],
    reference: &BTreeMap<String, Vec<Vec<f64>>>,
) -> usize {
    assert_eq!(ours.len(), reference.len(), "one frame per val image");
    let mut compared = 0;
    for (frame, (name, theirs)) in ours.iter().zip(reference) {
        assert_eq!(
            frame.len(),
            theirs.len(),
            "{name}: ours {frame:?}\nultralytics {theirs:?}"
        );
        let mut left: Vec<&Vec<f64>> = theirs.iter().collect();
        for d in frame {
            let at = left
                .iter()
                .position(|r| {
                    r[0] == d[0]
                        && (r[1] - d[1]).abs() < 1e-4
                        && (2..6).all(|k| (r[k] - d[k]).abs() < 0.05)
                })
                .unwrap_or_else(|| panic!("{name}: {d:?} not in ultralytics' {theirs:?}"));
            left.remove(at);
            compared += 1;
        }
    }
    compared
}

#[test]
fn test_export_with_and_without_nms_and_our_graph_equals_ultralytics_predict() {
    let t = trained();
    let best = t.run.join("weights/best.pt");
    let exports = t.dir.join("exports");
    let raw = hmg(
        &t.dir,
        &[
            "export",
            best.to_str().unwrap(),
            "--imgsz",
            IMGSZ,
            "--output-dir",
            "exports",
        ],
    );
    assert!(raw.status.success(), "{}", text(&raw));
    let nms = hmg(
        &t.dir,
        &[
            "export",
            best.to_str().unwrap(),
            "--imgsz",
            IMGSZ,
            "--nms",
            "--output-dir",
            "exports",
        ],
    );
    assert!(nms.status.success(), "{}", text(&nms));
    for (stem, out, shape, layout) in [
        (
            "best",
            &raw,
            serde_json::json!([[1, 6, 189]]),
            "ultralytics-raw",
        ),
        (
            "best_nms",
            &nms,
            serde_json::json!([[1, 300, 6]]),
            "ultralytics-nms",
        ),
    ] {
        assert!(exports.join(format!("{stem}.onnx")).is_file());
        let sidecar: Value = serde_json::from_str(
            &std::fs::read_to_string(exports.join(format!("{stem}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(sidecar["names"], serde_json::json!(["circle", "square"]));
        assert_eq!(sidecar["imgsz"], serde_json::json!([96, 96]));
        assert_eq!(sidecar["outputs"], shape, "{sidecar}");
        assert_eq!(sidecar["layout"], layout);
        let ends: Vec<&str> = sidecar["end_nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(ends.len(), 6);
        for (k, e) in ends.iter().enumerate() {
            let (branch, i) = (if k % 2 == 0 { "cv2" } else { "cv3" }, k / 2);
            assert!(
                e.ends_with(&format!("model.22/{branch}.{i}/{branch}.{i}.2/Conv")),
                "{e}"
            );
            assert!(text(out).contains(e), "end node printed: {}", text(out));
        }
    }
    assert!(best.is_file(), "the weights are left where they were");

    let val = t.data.parent().unwrap().join("images/val");
    // Barely trained: scores are low, so compare everything above 0.001 (as yolo val keeps).
    let conf = "0.001";
    let raw_onnx = exports.join("best.onnx");
    let reference = ultralytics_predict(&t.dir, &raw_onnx, &val, conf);
    let ours = graph_detections(&t.dir, &raw_onnx, &val, conf);
    let compared = assert_same_detections(&ours, &reference);
    assert!(compared >= 8, "only {compared} detections compared");

    let nms_onnx = exports.join("best_nms.onnx");
    let reference = ultralytics_predict(&t.dir, &nms_onnx, &val, conf);
    let ours = graph_detections(&t.dir, &nms_onnx, &val, conf);
    assert_same_detections(&ours, &reference);
}

#[test]
fn test_verify_onnx_passes_the_trained_model_and_fails_broken_ones() {
    let t = trained();
    let dir = t.dir.join("verify");
    std::fs::create_dir_all(&dir).unwrap();
    let best = t.run.join("weights/best.pt");
    let out = hmg(
        &t.dir,
        &[
            "export",
            best.to_str().unwrap(),
            "--imgsz",
            IMGSZ,
            "--output-dir",
            "verify",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let model = dir.join("best.onnx");

    let out = hmg(
        &t.dir,
        &[
            "verify-onnx",
            model.to_str().unwrap(),
            "--data",
            t.data.to_str().unwrap(),
        ],
    );
    let o = text(&out);
    assert!(out.status.success(), "{o}");
    assert!(o.contains("layout:   ultralytics-raw (input 96x96)"), "{o}");
    assert!(
        o.contains("0 detection(s) above conf 0.25 on 6 black/grey/white frames"),
        "{o}"
    );
    assert!(o.contains("hmg graph mAP50"), "{o}");
    assert!(o.contains("ultralytics val mAP50"), "{o}");
    assert!(o.contains("PASS"), "{o}");

    // A model that fires everywhere: +20 on every class logit of the three heads.
    let broken = dir.join("fires-everywhere.onnx");
    let script = r#"
import sys, onnx, numpy as np
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
inits = {i.name: i for i in m.graph.initializer}
changed = 0
for n in m.graph.node:
    if n.op_type == "Conv" and "/cv3." in n.name and n.name.endswith(".2/Conv"):
        b = inits[n.input[2]]
        b.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(b) + np.float32(20), b.name))
        changed += 1
assert changed == 3, changed
onnx.save(m, sys.argv[2])
"#;
    let made = ultralytics_python(&dir)
        .arg("-c")
        .arg(script)
        .arg(&model)
        .arg(&broken)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let out = hmg(&t.dir, &["verify-onnx", broken.to_str().unwrap()]);
    let o = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("FALSE POSITIVES") && o.contains("background images"),
        "{o}"
    );

    // A truncated file: a clear error naming it, not a crash.
    let truncated = dir.join("truncated.onnx");
    std::fs::write(&truncated, &std::fs::read(&model).unwrap()[..4000]).unwrap();
    let out = hmg(&t.dir, &["verify-onnx", truncated.to_str().unwrap()]);
    let o = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(o.contains("FAIL") && o.contains("truncated.onnx"), "{o}");
    assert!(!o.contains("panicked"), "{o}");
}

#[test]
fn test_bad_inputs_fail_before_training_starts() {
    let dir = temp_dir("train-bad");
    let out = hmg(&dir, &["train", "missing/data.yaml", "--epochs", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("missing/data.yaml") && text(&out).contains("does not exist"));

    // data.yaml whose folders are not there.
    std::fs::write(
        dir.join("data.yaml"),
        "train: nowhere/images\nval: nowhere/images\nnames: [a]\n",
    )
    .unwrap();
    let out = hmg(&dir, &["train", "data.yaml", "--epochs", "1"]);
    let o = text(&out);
    assert_eq!(out.status.code(), Some(2), "{o}");
    assert!(
        o.contains("error") && o.contains("images folder does not exist"),
        "{o}"
    );
    assert!(!dir.join("runs").exists(), "nothing started");

    // Checkpoints that are not detectors: garbage, and a real classification model.
    let data = make_dataset(&dir.join("datasets/tiny"));
    std::fs::write(dir.join("garbage.pt"), b"not a checkpoint").unwrap();
    let made = ultralytics_python(&dir)
        .arg("-c")
        .arg("import sys\nfrom ultralytics import YOLO\nYOLO('yolov8n-cls.yaml').save(sys.argv[1])")
        .arg(dir.join("classifier.pt"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    for (pt, says) in [
        ("garbage.pt", "not an ultralytics checkpoint"),
        ("classifier.pt", "'classify' model, not an object detector"),
    ] {
        let out = hmg(
            &dir,
            &[
                "train",
                data.to_str().unwrap(),
                "--model",
                pt,
                "--epochs",
                "1",
                "--name",
                "x",
            ],
        );
        let o = text(&out);
        assert_eq!(out.status.code(), Some(2), "{o}");
        assert!(o.contains(pt) && o.contains(says), "{o}");
        let out = hmg(&dir, &["export", pt]);
        let o = text(&out);
        assert_eq!(out.status.code(), Some(2), "{o}");
        assert!(o.contains(pt) && o.contains(says), "{o}");
    }
    assert!(
        !dir.join("runs/detect/x/weights").exists(),
        "no training started"
    );
    let out = hmg(&dir, &["export", "data.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = hmg(&dir, &["verify-onnx", "none.onnx"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn test_ctrl_c_stops_cleanly_and_resume_continues() {
    use std::io::{BufRead, BufReader};
    let dir = temp_dir("train-resume");
    let data = make_dataset(&dir.join("datasets/synth"));
    let args = [
        "train",
        data.to_str().unwrap(),
        "--epochs",
        "3",
        "--imgsz",
        "64",
        "--batch",
        "16",
        "--name",
        "r",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--model",
        "yolov8n.yaml",
        "mosaic=0",
    ];
    let mut child = Command::new(profile_dir().join("hmg"))
        .current_dir(&dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "hmg ended early: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with("epoch 1/3") {
            break;
        }
    }
    // SAFETY: plain kill(2) on our child.
    let rc = unsafe { libc_kill(child.id() as i32, 2) };
    assert_eq!(rc, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(
        rest.contains("training stopped after epoch") && rest.contains("--resume"),
        "{rest}"
    );
    let run = dir.join("runs/detect/r");
    assert!(run.join("weights/last.pt").is_file());

    let mut resume_args = args.to_vec();
    resume_args.push("--resume");
    let out = hmg(&dir, &resume_args);
    let o = text(&out);
    assert!(out.status.success(), "{o}");
    assert!(o.contains("epoch 3/3"), "{o}");
    let csv = std::fs::read_to_string(run.join("results.csv")).unwrap();
    let epochs: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().trim())
        .collect();
    assert_eq!(epochs.last(), Some(&"3"), "{csv}");
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// The last epoch's mAP50 of a run's results.csv.
fn final_map50(run: &Path) -> f64 {
    let csv = std::fs::read_to_string(run.join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').map(str::trim).collect();
    let col = header
        .iter()
        .position(|h| *h == "metrics/mAP50(B)")
        .unwrap();
    let last: Vec<&str> = lines.last().unwrap().split(',').collect();
    last[col].trim().parse().unwrap()
}

#[test]
fn test_training_starts_from_pretrained_weights_fetched_once_and_learns() {
    let dir = temp_dir("train-pretrained");
    let data = make_dataset(&dir.join("datasets/synth"));
    // A real pretrained YOLOv8n detector (scripts/fetch-test-weights: from a PyPI package,
    // fine-tuned by its authors from ultralytics' yolov8n.pt), served as yolov8n.pt.
    let checkpoint = pretrained_checkpoint();
    let assets = dir.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    std::fs::copy(&checkpoint, assets.join("yolov8n.pt")).unwrap();
    let server = AssetServer::start(&assets);
    let cache = dir.join("cache");
    let venv = ultralytics_venv();
    let train = |url: &str, extra: &[&str]| {
        hmg_command(&dir)
            .env("XDG_CACHE_HOME", &cache)
            .env("HMG_ULTRALYTICS_VENV", &venv)
            .env("HMG_WEIGHTS_URL", url)
            .args(["train", data.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap()
    };
    let mut settings = vec!["--name", "ft"];
    settings.extend(SHORT_RUN);
    // No --model: ultralytics users' default, yolov8n.pt, fetched into the cache.
    let out = train(&format!("http://127.0.0.1:{}", server.1), &settings);
    let o = text(&out);
    assert!(out.status.success(), "{o}");
    assert!(
        o.contains("fetching the pretrained weights yolov8n.pt"),
        "{o}"
    );
    let cached = cache.join("hmg/weights/yolov8n.pt");
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        std::fs::read(&checkpoint).unwrap()
    );
    let recorded = std::fs::read_to_string(cache.join("hmg/weights/yolov8n.pt.sha256")).unwrap();
    assert!(recorded.starts_with(&hmg_detect::sidecar::file_sha256(&checkpoint).unwrap()));
    // Pretrained features learn circles and squares in three epochs; the same three epochs from
    // random weights (the shared run of this file) learn next to nothing.
    let pretrained = final_map50(&dir.join("runs/detect/ft"));
    let scratch = final_map50(&trained().run);
    assert!(
        pretrained > 0.3 && pretrained > scratch + 0.2,
        "mAP50 {pretrained} from pretrained weights vs {scratch} from random ones: {o}"
    );
    drop(server);

    let unreachable = format!("http://127.0.0.1:{}", free_port());
    // A damaged cached file is refused, not trained from.
    let mut bytes = std::fs::read(&cached).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&cached, &bytes).unwrap();
    let out = train(&unreachable, &settings);
    let o = text(&out);
    assert_eq!(out.status.code(), Some(2), "{o}");
    assert!(
        o.contains("is not the file fetched before") && o.contains("delete it"),
        "{o}"
    );
    // Offline and absent: stops before any work, naming the file and where it goes.
    std::fs::remove_file(&cached).unwrap();
    let runs_before = std::fs::read_dir(dir.join("runs/detect")).unwrap().count();
    let out = train(&unreachable, &settings);
    let o = text(&out);
    assert_eq!(out.status.code(), Some(2), "{o}");
    assert!(
        o.contains("could not be fetched")
            && o.contains(&format!("{unreachable}/yolov8n.pt"))
            && o.contains(&cached.display().to_string())
            && o.contains("--model yolov8n.yaml"),
        "{o}"
    );
    assert_eq!(
        std::fs::read_dir(dir.join("runs/detect")).unwrap().count(),
        runs_before,
        "nothing started"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
