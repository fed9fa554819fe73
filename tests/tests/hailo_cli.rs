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
