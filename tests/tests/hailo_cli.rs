// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Pi build's commands on .hef models (an `hmg` built with `--features hailo`, as
//! scripts/setup builds it where HailoRT is installed): through the HailoRT test double, which
//! in strict mode answers only the exact letterboxed bytes its fixtures were recorded from, and
//! through the REAL libhailort 4.20.0 built from source.

use std::path::Path;

use hmg_e2e::*;

fn hmg_with(library: &Path, dir: &Path) -> std::process::Command {
    let mut c = hmg_command(dir);
    c.env("HMG_HAILORT_LIBRARY", library);
    c
}

fn fixture(name: &str) -> std::path::PathBuf {
    hailort_double::fixtures().join(name)
}

fn hef_info_json(library: &Path, hef: &Path, dir: &Path) -> serde_json::Value {
    let out = hmg_with(library, dir)
        .args(["hef", "info", "--json"])
        .arg(hef)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn test_hef_info_the_double_answers_as_the_real_library_does() {
    let dir = temp_dir("hailo-cli-real");
    for name in [
        "nudenet320.hef",
        "nudenet320-nms.hef",
        "nudenet320-hailo8l.hef",
    ] {
        let real = hef_info_json(&hailort_double::real_library(), &fixture(name), &dir);
        let double = hef_info_json(hailort_double::library(), &fixture(name), &dir);
        assert_eq!(real["hailort"]["version"], "4.20.0", "{name}: {real}");
        let vstreams = &real["hailort"]["vstreams"];
        assert!(
            vstreams.as_array().is_some_and(|v| v.len() >= 2),
            "{name}: the real library lists the vstreams: {real}"
        );
        assert_eq!(
            vstreams, &double["hailort"]["vstreams"],
            "{name}: real vs double"
        );
        assert_eq!(real["checksum"], "xxh3");
    }
    let out = hmg_with(&hailort_double::real_library(), &dir)
        .args(["hef", "info"])
        .arg(fixture("nudenet320-nms.hef"))
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("HailoRT       4.20.0") && t.contains("nudenet320/yolov8_nms_postprocess"),
        "{t}"
    );
    // A v3 header (DFC 3.32+) is refused before HailoRT 4.20 sees it, with the upgrade.
    let out = hmg_with(&hailort_double::real_library(), &dir)
        .args(["hef", "info"])
        .arg(fixture("header-v3.hef"))
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        t.contains("which HailoRT reads from 4.21; libhailort 4.20.0 is older"),
        "{t}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_an_old_hailort_is_refused_with_the_upgrade_command() {
    let dir = temp_dir("hailo-cli-old");
    let out = hmg_with(hailort_double::library(), &dir)
        .env("HAILORT_DOUBLE_VERSION", "4.19.0")
        .args(["hef", "info"])
        .arg(fixture("nudenet320.hef"))
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        t.contains("libhailort 4.19.0 is too old") && t.contains("sudo apt install hailo-all"),
        "{t}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_batch_runs_a_hef_through_the_strict_double() {
    let dir = temp_dir("hailo-cli-batch");
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let names = ["astronaut.png", "camera.png", "coffee.png"];
    for name in names {
        std::fs::copy(testdata().join("images").join(name), images.join(name)).unwrap();
    }
    let out = hmg_with(hailort_double::library(), &dir)
        .env("HAILORT_DOUBLE_STRICT", "1")
        .args(["batch", "--no-images", "--model"])
        .arg(fixture("nudenet320-nms.hef"))
        .arg("--input")
        .arg(&images)
        .arg("--output")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/detections.json")).unwrap()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("manifest.json")).unwrap()).unwrap();
    let text_json = result.to_string();
    let mut total = 0;
    for name in names {
        let recorded = manifest["images"][name]["nms_boxes"]
            .as_array()
            .unwrap()
            .len();
        total += recorded;
        let found = result["images"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["file"].as_str().is_some_and(|f| f.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} missing: {text_json}"));
        // Strict: a wrong letterbox byte would have failed the write, not given other boxes.
        assert_eq!(
            found["detections"].as_array().unwrap().len(),
            recorded,
            "{name}: {found}"
        );
    }
    assert!(total > 0, "the pictures have recorded detections");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_detect_runs_a_hef_through_the_strict_double() {
    let dir = temp_dir("hailo-cli-detect");
    let out = dir.join("out");
    let names = ["astronaut.png", "camera.png"];
    let mut cmd = hmg_with(hailort_double::library(), &dir);
    cmd.env("HAILORT_DOUBLE_STRICT", "1")
        .args(["detect", "--headless", "--conf", "0.25", "--model"])
        .arg(fixture("nudenet320-nms.hef"))
        .arg("--output")
        .arg(&out);
    for name in names {
        cmd.arg("--input").arg(testdata().join("images").join(name));
    }
    let o = cmd.output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let run = detect_run_dir(&out);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("manifest.json")).unwrap()).unwrap();
    for name in names {
        let stem = name.trim_end_matches(".png");
        let lines = std::fs::read_to_string(run.join(format!("{stem}.jsonl"))).unwrap();
        let records: Vec<serde_json::Value> = lines
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 1, "{name}: one picture, one frame: {lines}");
        let recorded = manifest["images"][name]["nms_boxes"]
            .as_array()
            .unwrap()
            .len();
        assert!(recorded > 0);
        assert_eq!(
            records[0]["detections"].as_array().unwrap().len(),
            recorded,
            "{name}: {lines}"
        );
    }
    // The strict double fails on bytes it has no recording for: hmg decodes JPEG with another
    // decoder than cv2, so eagle.jpg's letterboxed bytes differ from the recorded ones.
    let o = hmg_with(hailort_double::library(), &dir)
        .env("HAILORT_DOUBLE_STRICT", "1")
        .args(["detect", "--headless", "--model"])
        .arg(fixture("nudenet320-nms.hef"))
        .arg("--input")
        .arg(testdata().join("images/eagle.jpg"))
        .arg("--output")
        .arg(dir.join("out-jpeg"))
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        t.contains("strict: no recording for this input frame")
            && t.contains("hailo_vstream_write_raw_buffer returned HAILO_INVALID_ARGUMENT (2)"),
        "{t}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_bench_times_a_hef_graph_through_the_double() {
    let dir = temp_dir("hailo-cli-bench");
    let o = hmg_with(hailort_double::library(), &dir)
        .env("HAILORT_DOUBLE_FRAME_US", "1000")
        .args(["bench", "--json", "--frames", "20", "--model"])
        .arg(fixture("nudenet320.hef"))
        .arg("--input")
        .arg(repo().join("media/bikes.mp4"))
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {t}"));
    let inference = &v["stages"]["inference"]["p50_ms"];
    // 1 ms of "device time" per frame in the double: the inference stage cannot be faster.
    assert!(inference.as_f64().is_some_and(|ms| ms >= 1.0), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_class_names_beside_a_hef_reach_detect_and_a_stale_file_is_refused() {
    let dir = temp_dir("hailo-cli-sidecar");
    // As hmg compile leaves it: a versioned HEF, the stable name linked to it, names beside.
    let versioned = dir.join("nude-20261203-0a1b2c3d.hef");
    std::fs::copy(fixture("nudenet320-nms.hef"), &versioned).unwrap();
    std::os::unix::fs::symlink("nude-20261203-0a1b2c3d.hef", dir.join("nude.hef")).unwrap();
    // The double's recordings, beside the HEF as it looks for them.
    for e in std::fs::read_dir(fixture("")).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("nms-") {
            std::os::unix::fs::symlink(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    std::fs::copy(
        fixture("nudenet320-nms.hef.double"),
        dir.join("nude.hef.double"),
    )
    .unwrap();
    // The names the model was trained with: the ONNX model's own metadata.
    let onnx = hmg_detect::open_engine(
        &testdata().join("models/nudenet_320n.onnx"),
        &hmg_detect::EngineOptions::default(),
    )
    .unwrap();
    let names = onnx.info().labels.clone();
    assert!(names.len() > 2, "{names:?}");
    let sidecar = hmg_detect::sidecar::ModelSidecar {
        model: "nude-20261203-0a1b2c3d.hef".into(),
        sha256: hmg_detect::sidecar::file_sha256(&versioned).unwrap(),
        names: names.clone(),
        nms: None,
        batch_size: None,
    };
    let sidecar_path = hmg_detect::sidecar::sidecar_path(&versioned);
    std::fs::write(&sidecar_path, serde_json::to_string(&sidecar).unwrap()).unwrap();
    let detect = |out: &str| {
        hmg_with(hailort_double::library(), &dir)
            .env("HAILORT_DOUBLE_STRICT", "1")
            .args(["detect", "--headless", "--conf", "0.25", "--model"])
            .arg(dir.join("nude.hef"))
            .arg("--input")
            .arg(testdata().join("images/astronaut.png"))
            .arg("--output")
            .arg(dir.join(out))
            .output()
            .unwrap()
    };
    let o = detect("out");
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let run = detect_run_dir(&dir.join("out"));
    let line = std::fs::read_to_string(run.join("astronaut.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    let detections = record["detections"].as_array().unwrap();
    assert!(!detections.is_empty(), "{line}");
    for d in detections {
        let id = d["class_id"].as_u64().unwrap() as usize;
        assert_eq!(d["label"], names[id], "{line}");
    }

    // Names written for another model are refused, naming the file and what to do.
    let mut stale = sidecar.clone();
    stale.sha256 = "0".repeat(64);
    std::fs::write(&sidecar_path, serde_json::to_string(&stale).unwrap()).unwrap();
    let o = detect("out-stale");
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("nude-20261203-0a1b2c3d.labels.json") && t.contains("belongs to another model"),
        "{t}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
