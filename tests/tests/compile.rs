// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg calibrate`, `hmg compile` and `hmg pipeline`. The Dataflow Compiler is proprietary and
//! absent here: compilation runs against the TEST DOUBLE in tests/dfc-double (a stand-in
//! `hailo_sdk_client` that checks what it receives and can fail like the real one).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use hmg_e2e::*;
use serde_json::Value;

fn hmg(dir: &Path, args: &[&str]) -> Output {
    hmg_env(dir, args, &[])
}

fn hmg_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = hmg_command(dir);
    // No SDK unless a test gives one: the machine's own places must not leak in.
    c.env("HAILO_SDK_VENV", dir.join("no-sdk-here"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("HMG_ULTRALYTICS_VENV", ultralytics_venv())
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

struct Prepared {
    dir: PathBuf,
    onnx: PathBuf,
    dataset: PathBuf,
}

/// An exported (untrained) YOLOv8n at 96 px with hmg export's sidecar, and a two-class dataset.
fn prepared() -> &'static Prepared {
    static P: OnceLock<Prepared> = OnceLock::new();
    P.get_or_init(|| {
        let dir = temp_dir("compile");
        let dataset = dir.join("datasets/synth");
        synthetic_shapes(&dataset.join("train/images"), &dataset.join("train/labels"), 24, 3);
        synthetic_shapes(&dataset.join("val/images"), &dataset.join("val/labels"), 4, 4);
        std::fs::write(
            dataset.join("data.yaml"),
            format!(
                "path: {}\ntrain: train/images\nval: val/images\nnames:\n  0: circle\n  1: square\n",
                dataset.display()
            ),
        )
        .unwrap();
        let made = ultralytics_python(&dir)
            .arg("-c")
            .arg("import sys\nfrom ultralytics import YOLO\nm = YOLO('yolov8n.yaml')\nm.save(sys.argv[1])")
            .arg(dir.join("v8n.pt"))
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", text(&made));
        let out = hmg(&dir, &["export", "v8n.pt", "--imgsz", "96", "--output-dir", "exports"]);
        assert!(out.status.success(), "{}", text(&out));
        Prepared {
            onnx: dir.join("exports/v8n.onnx"),
            dir,
            dataset,
        }
    })
}

fn npy_header(path: &Path) -> hmg_detect::npy::NpyHeader {
    hmg_detect::npy::NpyHeader::parse(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn test_calibrate_samples_across_classes_reproducibly() {
    let p = prepared();
    let dir = p.dir.join("calibrate");
    std::fs::create_dir_all(&dir).unwrap();
    let ds = p.dataset.to_str().unwrap();
    let run = |out: &str, seed: &str| {
        let o = hmg(
            &dir,
            &[
                "calibrate",
                ds,
                "--num-samples",
                "8",
                "--imgsz",
                "96",
                "--output",
                out,
                "--seed",
                seed,
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    let t = run("a", "1");
    assert!(t.contains("8 x 96x96x3, uint8"), "{t}");
    let h = npy_header(&dir.join("a/calib_set.npy"));
    assert_eq!(
        (h.descr.as_str(), h.shape.clone()),
        ("|u1", vec![8, 96, 96, 3])
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("a/manifest.json")).unwrap())
            .unwrap();
    let images = manifest["images"].as_array().unwrap();
    assert_eq!(images.len(), 8);
    assert!(
        images
            .iter()
            .all(|i| i["file"].as_str().unwrap().contains("/train/images/"))
    );
    assert!(manifest["class_counts"]["circle"].as_u64().unwrap() >= 1);
    assert!(manifest["class_counts"]["square"].as_u64().unwrap() >= 1);
    run("b", "1");
    run("c", "2");
    let read = |d: &str| std::fs::read(dir.join(d).join("calib_set.npy")).unwrap();
    assert_eq!(read("a"), read("b"), "same seed, same bytes");
    assert_ne!(read("a"), read("c"), "another seed, another sample");

    // An unreadable picture is named, and the good set from before is kept.
    let broken = p.dir.join("datasets/broken");
    synthetic_shapes(
        &broken.join("train/images"),
        &broken.join("train/labels"),
        4,
        5,
    );
    std::fs::write(broken.join("train/images/001.png"), b"not a png").unwrap();
    let before = read("a");
    let o = hmg(
        &dir,
        &[
            "calibrate",
            broken.to_str().unwrap(),
            "--imgsz",
            "96",
            "--output",
            "a",
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("001.png"), "{t}");
    assert_eq!(read("a"), before, "nothing lost");
    assert!(part_files(&dir.join("a")).is_empty());
    let o = hmg(&dir, &["calibrate", ds, "--imgsz", "100"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

fn calibration(p: &Prepared) -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    C.get_or_init(|| {
        let o = hmg(
            &p.dir,
            &[
                "calibrate",
                p.dataset.to_str().unwrap(),
                "--num-samples",
                "16",
                "--imgsz",
                "96",
                "--output",
                "calibration_data",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        p.dir.join("calibration_data")
    })
    .clone()
}

#[test]
fn test_compile_without_sdk_writes_script_and_says_sdk_not_found() {
    let p = prepared();
    calibration(p);
    let dir = &p.dir;
    let onnx = p.onnx.to_str().unwrap();
    let o = hmg(
        dir,
        &[
            "compile",
            onnx,
            "--output",
            "nosdk",
            "--calib",
            "calibration_data",
            "--nms",
            "on-chip",
            "--optimization-level",
            "2",
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("Hailo SDK not found"), "{t}");
    assert!(
        t.contains("hailo.ai/developer-zone")
            && t.contains("--sdk")
            && t.contains("HAILO_SDK_VENV"),
        "{t}"
    );
    assert!(
        t.contains("models/nosdk.alls"),
        "what was written is listed: {t}"
    );
    // Small set at level 2: warned.
    assert!(
        t.contains("warning: the calibration set has 16 pictures") && t.contains("1024"),
        "{t}"
    );

    let script = std::fs::read_to_string(dir.join("models/nosdk.alls")).unwrap();
    assert!(
        script.contains("normalization1 = normalization([0.0, 0.0, 0.0], [255.0, 255.0, 255.0])")
    );
    assert_eq!(
        script
            .matches("change_output_activation(/model.22/cv3.")
            .count(),
        3,
        "{script}"
    );
    assert!(script.contains("meta_arch=yolov8, engine=cpu"));
    assert!(
        script.contains("model_optimization_config(calibration, batch_size=8, calibset_size=16)")
    );
    let nms: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("models/nosdk.nms.json")).unwrap())
            .unwrap();
    assert_eq!(nms["classes"], 80, "yolov8n.yaml has 80 classes");
    assert_eq!(nms["image_dims"], serde_json::json!([96, 96]));
    assert_eq!(nms["regression_length"], 16);
    let strides: Vec<u64> = nms["bbox_decoders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["stride"].as_u64().unwrap())
        .collect();
    assert_eq!(strides, [8, 16, 32]);
    let ends = std::fs::read_to_string(dir.join("models/nosdk.end-nodes.txt")).unwrap();
    assert_eq!(ends.lines().count(), 6);
    assert!(!dir.join("models/nosdk.hef").exists());

    // --dry-run: the same files, exit 0, no SDK needed. By default NMS runs on the host (no
    // NMS config) and the level follows the calibration set's size (16 pictures: 0).
    let o = hmg(dir, &["compile", onnx, "--output", "dry", "--dry-run"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("dry run"), "{t}");
    assert!(
        t.contains("optimization level 0 (from the 16 calibration pictures"),
        "{t}"
    );
    assert!(
        std::fs::read_to_string(dir.join("models/dry.alls"))
            .unwrap()
            .contains("model_optimization_flavor(optimization_level=0,")
    );
    assert!(
        !std::fs::read_to_string(dir.join("models/dry.alls"))
            .unwrap()
            .contains("nms_postprocess")
    );
    assert!(!dir.join("models/dry.nms.json").exists());
    assert!(
        t.contains("only 16 pictures; 64 is the usual minimum") && !t.contains("1024"),
        "level 0 needs no 1024 pictures, but 16 is still few: {t}"
    );
}

#[test]
fn test_compile_runs_the_dfc_double_and_versions_the_hef() {
    let p = prepared();
    calibration(p);
    let dir = &p.dir;
    let sdk = fake_sdk(dir);
    let onnx = p.onnx.to_str().unwrap();
    let args = [
        "compile",
        onnx,
        "--output",
        "my_model",
        "--calib",
        "calibration_data",
        "--sdk",
        sdk.to_str().unwrap(),
        "--optimization-level",
        "1",
        "--nms",
        "on-chip",
        "--batch-size",
        "2",
    ];
    let o = hmg(dir, &args);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for stage in [
        "[1/3] parse",
        "[2/3] optimize: quantize with 16 pictures",
        "[3/3] compile for hailo8",
    ] {
        assert!(t.contains(stage), "{stage}: {t}");
    }
    let current = dir.join("models/my_model.hef");
    let target = std::fs::read_link(&current).unwrap();
    let name = target.to_str().unwrap();
    assert!(
        name.starts_with("my_model-")
            && name.ends_with(".hef")
            && name.len() == "my_model-20261128-12345678.hef".len(),
        "{name}"
    );
    assert!(t.contains("hailo8"), "hmg hef info ran: {t}");
    // After parsing, the script and NMS config name the parser's layers.
    let script = std::fs::read_to_string(dir.join("models/my_model.alls")).unwrap();
    assert!(
        !script.contains("/model.22/") && script.contains("change_output_activation(conv"),
        "{script}"
    );
    let nms: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("models/my_model.nms.json")).unwrap(),
    )
    .unwrap();
    assert!(
        nms["bbox_decoders"][0]["reg_layer"]
            .as_str()
            .unwrap()
            .starts_with("conv")
    );
    let info = hmg(dir, &["hef", "info", "models/my_model.hef", "--json"]);
    assert!(info.status.success(), "{}", text(&info));

    // The class names (a HEF has none), its hash, NMS place and inference batch, beside it.
    let sidecar_path = dir
        .join("models")
        .join(name.replace(".hef", ".labels.json"));
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(&sidecar_path).unwrap()).unwrap();
    let export: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("exports/v8n.json")).unwrap())
            .unwrap();
    let expected: Vec<&str> = export["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(
        sidecar["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(sidecar["model"], name);
    assert_eq!(
        sidecar["sha256"].as_str().unwrap(),
        hmg_detect::sidecar::file_sha256(&dir.join("models").join(name)).unwrap()
    );
    assert_eq!(sidecar["nms"]["place"], "on-chip");
    assert_eq!(sidecar["nms"]["score_threshold"], 0.2);
    assert_eq!(sidecar["batch_size"], 2);
    // Found through the stable name too.
    assert_eq!(
        hmg_detect::sidecar::names_beside(&current).unwrap(),
        expected
    );

    // A compiler failure in the middle: clear message, log kept, the previous HEF still current.
    let o = hmg_env(dir, &args, &[("HMG_DFC_DOUBLE_FAIL", "optimize")]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("stopped at optimize") && t.contains("not enough memory") && t.contains("log:"),
        "{t}"
    );
    assert_eq!(
        std::fs::read_link(&current).unwrap(),
        target,
        "nothing lost"
    );

    // The seed's own script lines are translated, and the double accepts the result.
    std::fs::write(dir.join("seed.mscript"), "enable_loose_mode\noptimization_level(0)\nbatch_size(1)\nnormalization1 = normalization([0.0, 0.0, 0.0], [255.0, 255.0, 255.0])\n").unwrap();
    let mut with_script = args.to_vec();
    with_script.extend(["--model-script", "seed.mscript"]);
    let o = hmg(dir, &with_script);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("optimization_level(0) → model_optimization_flavor(optimization_level=0"),
        "{t}"
    );
    assert!(t.contains("enable_loose_mode is not documented"), "{t}");
    // Merged, not replaced: hmg's normalization, sigmoids and NMS stay; the seed's level wins
    // and its batch_size(1) is the inference batch.
    assert!(t.contains("model script (merged)"), "{t}");
    assert!(t.contains("optimization level 0 (as asked)"), "{t}");
    let merged = std::fs::read_to_string(dir.join("models/my_model.alls")).unwrap();
    assert_eq!(merged.matches("normalization(").count(), 1, "{merged}");
    assert!(
        merged.contains("nms_postprocess(") && merged.contains("sigmoid"),
        "{merged}"
    );
    assert!(
        merged.contains("model_optimization_flavor(optimization_level=0,")
            && !merged.contains("optimization_level=1"),
        "{merged}"
    );
    let latest = std::fs::read_link(&current).unwrap();
    let sidecar: Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.join("models")
                .join(latest.to_str().unwrap().replace(".hef", ".labels.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        sidecar.get("batch_size").is_none(),
        "batch_size(1): {sidecar}"
    );
}

#[test]
fn test_compile_refuses_bad_calibration_and_nms_exports_before_the_compiler() {
    let p = prepared();
    let dir = &p.dir;
    let onnx = p.onnx.to_str().unwrap();
    // A float calibration set: the seed's "Invalid image format", caught by hmg.
    let made = ultralytics_python(dir)
        .arg("-c")
        .arg("import sys, numpy as np\nnp.save(sys.argv[1], np.random.rand(4, 96, 96, 3).astype(np.float32))")
        .arg(dir.join("float.npy"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let o = hmg(
        dir,
        &[
            "compile",
            onnx,
            "--output",
            "f",
            "--calib",
            "float.npy",
            "--dry-run",
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("Invalid image format") && t.contains("float32") && t.contains("hmg calibrate"),
        "{t}"
    );
    let o = hmg(
        dir,
        &[
            "compile",
            onnx,
            "--output",
            "f",
            "--calib",
            "missing-dir",
            "--dry-run",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no calibration set"), "{}", text(&o));
    let o = hmg(
        dir,
        &[
            "export",
            "v8n.pt",
            "--imgsz",
            "96",
            "--nms",
            "--output-dir",
            "exports",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = hmg(
        dir,
        &[
            "compile",
            "exports/v8n_nms.onnx",
            "--output",
            "f",
            "--dry-run",
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("NMS inside") && t.contains("without --nms"),
        "{t}"
    );
    let o = hmg(dir, &["compile", "none.onnx", "--output", "f"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn test_pipeline_resumes_after_a_failure_in_a_middle_stage() {
    let dir = temp_dir("pipeline");
    let dataset = dir.join("datasets/synth");
    // The seed's layout with every picture in train: the split stage has work to do.
    synthetic_shapes(
        &dataset.join("train/images"),
        &dataset.join("train/labels"),
        24,
        11,
    );
    std::fs::create_dir_all(dataset.join("val/images")).unwrap();
    std::fs::create_dir_all(dataset.join("val/labels")).unwrap();
    std::fs::write(
        dataset.join("data.yaml"),
        format!("train: {0}/train/images\nval: {0}/val/images\nnc: 2\nnames:\n  0: circle\n  1: square\n", dataset.display()),
    )
    .unwrap();
    let sdk = fake_sdk(&dir);
    // The calibrate stage cannot write its folder: a file stands where it goes.
    std::fs::create_dir_all(dir.join("calibration_data")).unwrap();
    std::fs::write(dir.join("calibration_data/m"), b"in the way").unwrap();
    let args = [
        "pipeline",
        "datasets/synth",
        "m",
        "--model",
        "yolov8n.yaml",
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "8",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--num-samples",
        "8",
        "--optimization-level",
        "0",
        "--sdk",
        sdk.to_str().unwrap(),
        // The optional int8 stage, from the same calibration set (a one-epoch model has no
        // mAP to lose: any drop is allowed).
        "--quantize",
        "--max-map50-drop",
        "100",
    ];
    let o = hmg(&dir, &args);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("stage calibrate failed") && t.contains("run the same command again"),
        "{t}"
    );
    for stage in ["verify", "split", "train", "export", "verify-onnx"] {
        assert!(
            t.lines()
                .any(|l| l.starts_with(stage) && l.contains(" ran ")),
            "{stage} ran: {t}"
        );
    }
    assert!(
        t.lines()
            .any(|l| l.starts_with("calibrate") && l.contains("FAILED")),
        "{t}"
    );
    assert!(
        dataset
            .join("val/images")
            .read_dir()
            .unwrap()
            .next()
            .is_some(),
        "split moved pictures to val"
    );
    let weights = std::fs::read(dir.join("runs/detect/m/weights/best.pt")).unwrap();

    std::fs::remove_file(dir.join("calibration_data/m")).unwrap();
    let o = hmg(&dir, &args);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for stage in ["train", "export", "verify-onnx"] {
        assert!(
            t.lines()
                .any(|l| l.starts_with(stage) && l.contains("skipped")),
            "{stage} skipped: {t}"
        );
    }
    for stage in ["calibrate", "quantize", "compile"] {
        assert!(
            t.lines()
                .any(|l| l.starts_with(stage) && l.contains(" ran ")),
            "{stage} ran: {t}"
        );
    }
    assert!(dir.join("exports/m/best.int8.onnx").exists(), "{t}");
    assert_eq!(
        std::fs::read(dir.join("runs/detect/m/weights/best.pt")).unwrap(),
        weights,
        "not retrained"
    );
    assert!(dir.join("models/m.hef").exists());

    // Nothing changed: everything is skipped; --from compile redoes only compile.
    let o = hmg(&dir, &args);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(!t.contains(" ran "), "{t}");
    let mut from = args.to_vec();
    from.extend(["--from", "compile"]);
    let o = hmg(&dir, &from);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("compile") && l.contains(" ran ")),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.starts_with("calibrate") && l.contains("skipped")),
        "{t}"
    );
}

#[test]
fn test_compile_via_ultralytics_format_hailo_with_the_dfc_double() {
    let p = prepared();
    let dir = &p.dir;
    let sdk = fake_sdk(dir);
    let data = p.dataset.join("data.yaml");
    let o = hmg(
        dir,
        &[
            "compile",
            "v8n.pt",
            "--via",
            "ultralytics",
            "--output",
            "via_u",
            "--sdk",
            sdk.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "--data is needed: {}", text(&o));
    let o = hmg(
        dir,
        &[
            "compile",
            "v8n.pt",
            "--via",
            "ultralytics",
            "--data",
            data.to_str().unwrap(),
            "--output",
            "via_u",
            "--sdk",
            sdk.to_str().unwrap(),
        ],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let target = std::fs::read_link(dir.join("models/via_u.hef")).unwrap();
    assert!(target.to_str().unwrap().starts_with("via_u-"), "{target:?}");
    assert!(
        t.contains("compiled for  Hailo-8"),
        "hef info of the result: {t}"
    );
    // ultralytics' own script went through the double's checks: its sigmoid and NMS lines.
    let log = std::fs::read_to_string(dir.join("models/logs/via_u-ultralytics.log")).unwrap();
    assert!(log.contains("Hailo"), "{log}");
}
