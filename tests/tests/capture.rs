// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg detect --capture` on the real clip, the seam between detection and labelling: every
//! capture is a frame of the run's own JSON lines, with the same predictions, and either a score in
//! the band around `--conf` (a detection up to 0.2 above, a near miss up to 0.1 below) or a
//! detection seen in that frame alone; the clean picture at full size; the summary counts what the
//! folder holds; a bad mode is a usage error before anything runs.

use std::process::Command;

use hmg_e2e::*;

fn hmg() -> Command {
    let mut c = Command::new(profile_dir().join("hmg"));
    c.current_dir(repo());
    c
}

#[test]
fn detect_captures_the_frames_it_was_unsure_about() {
    let dir = temp_dir("capture");
    let out_dir = dir.join("out");
    let conf = 0.35;
    let out = hmg()
        .args(["detect", "--model", "models/yolov12n-coco.onnx"])
        .args(["--input", "media/bikes.mp4", "--headless"])
        .args([
            "--conf",
            &conf.to_string(),
            "--capture",
            "--capture-rate",
            "30",
        ])
        .arg("--output")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let captures = out_dir.join("captures");
    let run = detect_run_dir(&out_dir);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    let counted = &summary["streams"][0]["captures"];
    let lines = read_json_lines(&run.join("bikes.jsonl"));

    let mut records: Vec<serde_json::Value> = std::fs::read_dir(&captures)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
        .collect();
    records.sort_by_key(|r| r["frame"].as_u64());
    assert!(!records.is_empty(), "{}", text(&out));
    assert_eq!(counted["captured"], records.len(), "{counted}");
    // At 30 a minute, no two within two seconds of video of each other.
    for pair in records.windows(2) {
        let gap = pair[1]["pts_ns"].as_u64().unwrap() - pair[0]["pts_ns"].as_u64().unwrap();
        assert!(gap >= 2_000_000_000, "{gap} ns apart");
    }
    let in_band = |d: &serde_json::Value| {
        let c = d["confidence"].as_f64().unwrap();
        c >= conf - 0.1 && c < conf + 0.2
    };
    let listed = |line: &serde_json::Value, field: &str| -> Vec<serde_json::Value> {
        line[field].as_array().cloned().unwrap_or_default()
    };
    let has_band_score = |line: &serde_json::Value| {
        listed(line, "detections")
            .iter()
            .chain(&listed(line, "near_misses"))
            .any(in_band)
    };
    // Whether `line` has something of `d`'s class overlapping it (IoU 0.3), near misses included.
    let has_object = |line: &serde_json::Value, d: &serde_json::Value| {
        listed(line, "detections")
            .iter()
            .chain(&listed(line, "near_misses"))
            .any(|o| {
                o["class_id"] == d["class_id"]
                    && box_iou(json_box(o, "box"), json_box(d, "box")) >= 0.3
            })
    };
    let (mut unsure, mut alone) = (0, 0);
    for r in &records {
        let t = r["frame"].as_u64().unwrap() as usize;
        let line = &lines[t];
        assert_eq!(r["detections"], line["detections"], "{r}");
        assert_eq!(r["near_misses"], line["near_misses"], "{r}");
        assert_eq!(r["pts_ns"], line["pts_ns"], "{r}");
        match r["reason"].as_str().unwrap() {
            "uncertain" => {
                unsure += 1;
                assert!(has_band_score(line), "{r}");
            }
            "single-frame" => {
                alone += 1;
                assert!(
                    !has_band_score(line)
                        && listed(line, "detections").iter().any(|d| {
                            !has_object(&lines[t - 1], d) && !has_object(&lines[t + 1], d)
                        }),
                    "{r}"
                );
            }
            other => panic!("reason {other}: {r}"),
        }
        assert_eq!(r["model"], "yolov12n-coco.onnx");
        let picture = image::open(captures.join(r["image"].as_str().unwrap())).unwrap();
        assert_eq!(
            (picture.width() as u64, picture.height() as u64),
            (
                line["width"].as_u64().unwrap(),
                line["height"].as_u64().unwrap()
            )
        );
    }
    // hmg detect asked yolonms for near misses: the clip has some, so the band could be wrong.
    assert!(lines.iter().any(|l| !listed(l, "near_misses").is_empty()));
    assert!(unsure > 0, "{records:?}");
    // Frames with a score in the band the rate held back are counted, not lost silently.
    let qualifying = lines.iter().filter(|l| has_band_score(l)).count() as u64;
    assert_eq!(
        unsure + counted["skipped"].as_u64().unwrap(),
        qualifying,
        "{counted} ({alone} kept for a detection of their own)"
    );
}

#[test]
fn a_bad_capture_mode_is_a_usage_error() {
    let out = hmg()
        .args(["detect", "--model", "models/yolov12n-coco.onnx"])
        .args([
            "--input",
            "media/bikes.mp4",
            "--headless",
            "--capture",
            "unsure",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("uncertain, all or classes="),
        "{}",
        text(&out)
    );
}
