// SPDX-License-Identifier: MIT OR Apache-2.0
//! `detzone` against ultralytics' `solutions.ObjectCounter` on real video: the same tracks
//! (dettrack's, written by detlog) go through ultralytics' own line counting
//! (`tests/reference/object_counter_reference.py`), and each track's first crossing of each line
//! — frame, track and direction — must be the one ultralytics counts. The deliberate difference:
//! ultralytics counts a track once per line, detzone once per line and direction (someone who
//! walks in and back out is one "in" and one "out"), so detzone's other crossings must all be a
//! track's first crossing in the other direction.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use hmg_e2e::*;
use serde_json::Value;

const ZONES: &str = r#"{
  "lines": [
    {"name": "middle", "points": [[0.5, 0.0], [0.5, 1.0]]},
    {"name": "third", "points": [[0.33, 0.0], [0.33, 1.0]]},
    {"name": "across", "points": [[1.0, 0.6], [0.0, 0.6]]}
  ],
  "zones": [{"name": "left", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}]
}"#;

fn events_on(dir: &Path, clip: &str) -> Vec<Value> {
    std::fs::write(dir.join("zones.json"), ZONES).unwrap();
    let log = dir.join("events.jsonl");
    let graph = format!(
        "filesrc location={} ! decodebin ! videoconvert ! hailoinfer model={} ! yolonms conf=0.1 ! dettrack ! detzone config={} ! detlog location={} ! fakesink",
        repo().join(clip).display(),
        repo().join("models/yolov12n-coco.onnx").display(),
        dir.join("zones.json").display(),
        log.display()
    );
    launch_graph(dir, &graph);
    read_json_lines(&log)
}

/// Returns the number of crossings ultralytics counted on this clip.
fn line_parity_on(clip: &str, name: &str) -> usize {
    let dir = temp_dir(name);
    let frames = events_on(&dir, clip);
    let reference_file = dir.join("reference.json");
    let run = ultralytics_python(&dir)
        .arg(repo().join("tests/reference/object_counter_reference.py"))
        .arg(dir.join("events.jsonl"))
        .arg(dir.join("zones.json"))
        .arg(&reference_file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    let reference: Value =
        serde_json::from_slice(&std::fs::read(&reference_file).unwrap()).unwrap();
    let mut counted = 0;
    for (line, r) in reference["lines"].as_object().unwrap() {
        let theirs: BTreeSet<(u64, u64, String)> = r["counted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["frame"].as_u64().unwrap(),
                    c["track_id"].as_u64().unwrap(),
                    c["direction"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut first = BTreeSet::new();
        let mut seen: HashMap<u64, String> = HashMap::new();
        let mut extra = 0;
        for (i, f) in frames.iter().enumerate() {
            for e in f
                .get("events")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if e["kind"] != "line-crossed" || e["name"] != line.as_str() {
                    continue;
                }
                let (track, direction) = (
                    e["track_id"].as_u64().unwrap(),
                    e["direction"].as_str().unwrap().to_string(),
                );
                match seen.get(&track) {
                    None => {
                        first.insert((i as u64, track, direction.clone()));
                        seen.insert(track, direction);
                    }
                    Some(d) => {
                        assert_ne!(*d, direction, "{line}: track {track} counted twice one way");
                        extra += 1;
                    }
                }
            }
        }
        assert_eq!(
            first, theirs,
            "{clip} {line}: first crossings vs ultralytics' counts"
        );
        println!(
            "{clip} {line}: ultralytics in {} out {}; detzone {} first crossings, all equal, and {extra} crossings back",
            r["in"],
            r["out"],
            first.len()
        );
        counted += theirs.len();
    }
    // The zone: every exit follows an entry of the same track, with the dwell between them.
    let mut entered: HashMap<u64, u64> = HashMap::new();
    for f in &frames {
        let pts = f["pts_ns"].as_u64().unwrap();
        for e in f
            .get("events")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let track = e["track_id"].as_u64().unwrap();
            match e["kind"].as_str().unwrap() {
                "zone-entered" => assert!(entered.insert(track, pts).is_none(), "{e}"),
                "zone-exited" => {
                    let since = entered.remove(&track).unwrap_or_else(|| panic!("{e}"));
                    let dwell = e["dwell_s"].as_f64().unwrap();
                    // Stream time from the entry's frame to this one (also for a track that
                    // vanished and was forgotten: it leaves on the frame that forgets it).
                    assert!((dwell - (pts - since) as f64 / 1e9).abs() < 1e-3, "{e}");
                }
                _ => {}
            }
        }
    }
    counted
}

#[test]
fn test_line_counts_match_ultralytics_object_counter_on_real_clips() {
    let counted = line_parity_on("media/bikes.mp4", "zones-bikes")
        + line_parity_on("media/carphone.mp4", "zones-carphone");
    assert!(
        counted >= 5,
        "the clips have crossings to count ({counted})"
    );
}

/// The zones file is read again while PLAYING, and a bad one at the start is an error that
/// names the file.
#[test]
fn test_a_bad_zones_file_is_refused_with_its_name() {
    let dir = temp_dir("zones-bad");
    let zones = dir.join("zones.json");
    std::fs::write(
        &zones,
        r#"{"lines": [{"name": "door", "points": [[0, 0], [3, 0]]}]}"#,
    )
    .unwrap();
    let out = gst_command("gst-launch-1.0", &dir)
        .args(["videotestsrc", "num-buffers=3", "!", "detzone"])
        .arg(format!("config={}", zones.display()))
        .args(["!", "fakesink"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("zones.json") && t.contains("normalized"), "{t}");
}

/// `hmg detect --zones`: the events in the JSON lines add up to the counts of the summary, which
/// prints them per line and class; a bad zones file is a usage error naming it.
#[test]
fn test_hmg_detect_zones_counts_what_its_events_say() {
    let dir = temp_dir("zones-detect");
    std::fs::write(dir.join("zones.json"), ZONES).unwrap();
    let run = |zones: &str| {
        hmg_command(&dir)
            .args(["detect", "--headless", "--zones", zones])
            .args(["--snapshot-interval", "0", "--output", "out", "--input"])
            .arg(repo().join("media/bikes.mp4"))
            .arg("--model")
            .arg(repo().join("models/yolov12n-coco.onnx"))
            .output()
            .unwrap()
    };
    std::fs::write(
        dir.join("bad.json"),
        r#"{"zones": [{"name": "z", "polygon": [[0, 0]]}]}"#,
    )
    .unwrap();
    let bad = run("bad.json");
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("bad.json") && text(&bad).contains("3 to 1000"),
        "{}",
        text(&bad)
    );

    let out = run("zones.json");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let run_dir = detect_run_dir(&dir.join("out"));
    let mut tally: HashMap<(String, String, String), u64> = HashMap::new();
    for line in std::fs::read_to_string(run_dir.join("bikes.jsonl"))
        .unwrap()
        .lines()
    {
        let v: Value = serde_json::from_str(line).unwrap();
        for e in v
            .get("events")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if e["kind"] == "line-crossed" {
                let key = (
                    e["name"].as_str().unwrap().to_string(),
                    e["label"].as_str().unwrap().to_string(),
                    e["direction"].as_str().unwrap().to_string(),
                );
                *tally.entry(key).or_default() += 1;
            }
        }
    }
    assert!(!tally.is_empty(), "the clip has crossings");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    let counts = &summary["streams"][0]["counts"]["lines"];
    let mut from_summary = HashMap::new();
    for (line, classes) in counts.as_object().unwrap() {
        for (label, c) in classes.as_object().unwrap() {
            for direction in ["in", "out"] {
                let n = c[direction].as_u64().unwrap();
                if n > 0 {
                    from_summary.insert((line.clone(), label.clone(), direction.to_string()), n);
                }
            }
        }
    }
    assert_eq!(from_summary, tally, "{summary}");
    let ((line, label, _), _) = tally.iter().next().unwrap();
    assert!(
        t.contains(&format!("    {line}: ")) && t.contains(label.as_str()),
        "{t}"
    );
}
