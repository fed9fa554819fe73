// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg demo` as a user runs it.

use std::process::Command;

use hmg_e2e::*;

fn hmg() -> Command {
    let mut c = Command::new(profile_dir().join("hmg"));
    c.current_dir(repo());
    c
}

#[test]
fn test_demo_writes_a_playable_mp4_and_jsonl_with_real_objects() {
    let out_dir = temp_dir("demo");
    let out = hmg()
        .args(["demo", "--quiet", "--output-dir"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("frames: 250"), "{t}");
    assert!(t.contains("FPS:"), "{t}");

    let jsonl = std::fs::read_to_string(out_dir.join("demo.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 250);
    // The demo's clip, model and thresholds are the reference's (bikes.mp4, yolov12n, 0.25/0.45).
    let mut labels = std::collections::BTreeMap::new();
    for d in lines
        .iter()
        .flat_map(|l| l["detections"].as_array().unwrap())
    {
        *labels
            .entry(d["label"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_labels_near_reference(
        &labels,
        &reference_video_labels("yolov12n_video_bikes.json"),
    );
    assert!(
        part_files(&out_dir).is_empty(),
        "{:?}",
        part_files(&out_dir)
    );

    // Decode the mp4 back: 250 frames of 640x272.
    let raw = out_dir.join("frames.gray");
    let dec = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "filesrc",
            &format!("location={}", out_dir.join("demo.mp4").display()),
            "!",
            "decodebin",
            "!",
            "videoconvert",
            "!",
            "video/x-raw,format=GRAY8",
            "!",
            "filesink",
            &format!("location={}", raw.display()),
        ])
        .output()
        .unwrap();
    assert!(dec.status.success(), "{}", text(&dec));
    assert_eq!(std::fs::metadata(&raw).unwrap().len(), 250 * 640 * 272);
}

#[test]
fn test_demo_with_a_missing_model_fails_clearly_and_keeps_old_results() {
    let out_dir = temp_dir("demo-missing");
    std::fs::write(out_dir.join("demo.mp4"), b"previous").unwrap();
    let out = hmg()
        .args([
            "demo",
            "--quiet",
            "--model",
            "/no/such/model.onnx",
            "--output-dir",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    let t = text(&out);
    assert!(!out.status.success());
    assert!(
        t.contains("/no/such/model.onnx") && t.contains("does not exist"),
        "{t}"
    );
    assert_eq!(
        std::fs::read(out_dir.join("demo.mp4")).unwrap(),
        b"previous"
    );
    assert!(
        part_files(&out_dir).is_empty(),
        "{:?}",
        part_files(&out_dir)
    );
}

#[test]
fn test_help_lists_demo() {
    let out = hmg().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(text(&out).contains("demo"));
}
