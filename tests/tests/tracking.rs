// SPDX-License-Identifier: MIT OR Apache-2.0
//! `dettrack` against ultralytics' own BYTETracker on real video: both are fed the same
//! detections (our graph's yolonms output, conf=0.1 as ultralytics tracks), and the track IDs
//! must map one-to-one onto the reference's on at least 99 % of the tracked boxes, frame by
//! frame, with the tracker's boxes within 0.01 px. The reference is computed here, by
//! `tests/reference/bytetrack_reference.py` in the ultralytics venv.

use std::collections::HashMap;
use std::path::Path;

use hmg_e2e::*;
use serde_json::Value;

/// Our graph on `clip`, tracked, every detection logged (`keep-untracked`) with its track.
fn track(dir: &Path, clip: &str, keep_untracked: bool, out: &str) -> Vec<Value> {
    let log = dir.join(out);
    let graph = format!(
        "filesrc location={} ! decodebin ! videoconvert ! hailoinfer model={} ! yolonms conf=0.1 ! dettrack keep-untracked={keep_untracked} ! detlog location={} ! fakesink",
        repo().join(clip).display(),
        repo().join("models/yolov12n-coco.onnx").display(),
        log.display()
    );
    launch_graph(dir, &graph);
    read_json_lines(&log)
}

struct Parity {
    boxes: usize,
    consistent: usize,
    ids: usize,
    max_box_difference: f64,
}

/// Ours vs the reference, frame by frame: a box counts as consistent when both track it and
/// its pair of IDs agrees with every earlier pairing (one-to-one, in both directions).
fn compare(ours: &[Value], reference: &[Value]) -> Parity {
    assert_eq!(ours.len(), reference.len(), "one reference frame per frame");
    let (mut ours_to_ref, mut ref_to_ours) = (HashMap::new(), HashMap::new());
    let mut p = Parity {
        boxes: 0,
        consistent: 0,
        ids: 0,
        max_box_difference: 0.0,
    };
    for (frame, (o, r)) in ours.iter().zip(reference).enumerate() {
        let mine: HashMap<usize, &Value> = o["detections"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .filter_map(|(i, d)| Some((i, d.get("track")?)))
            .collect();
        let theirs: HashMap<usize, &Value> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["detection"].as_u64().unwrap() as usize, t))
            .collect();
        let mut indices: Vec<usize> = mine.keys().chain(theirs.keys()).copied().collect();
        indices.sort_unstable();
        indices.dedup();
        for i in indices {
            p.boxes += 1;
            let (Some(m), Some(t)) = (mine.get(&i), theirs.get(&i)) else {
                continue;
            };
            let (a, b) = (m["id"].as_u64().unwrap(), t["track_id"].as_u64().unwrap());
            let forward = *ours_to_ref.entry(a).or_insert(b) == b;
            let backward = *ref_to_ours.entry(b).or_insert(a) == a;
            if forward && backward {
                p.consistent += 1;
            }
            for (x, y) in m["box"]
                .as_array()
                .unwrap()
                .iter()
                .zip(t["box"].as_array().unwrap())
            {
                let d = (x.as_f64().unwrap() - y.as_f64().unwrap()).abs();
                assert!(d.is_finite(), "frame {frame}: {m} vs {t}");
                p.max_box_difference = p.max_box_difference.max(d);
            }
        }
    }
    p.ids = ours_to_ref.len();
    p
}

fn parity_on(clip: &str, name: &str) {
    let dir = temp_dir(name);
    let ours = track(&dir, clip, true, "tracks.jsonl");
    let reference_file = dir.join("reference.json");
    let run = ultralytics_python(&dir)
        .arg(repo().join("tests/reference/bytetrack_reference.py"))
        .arg(dir.join("tracks.jsonl"))
        .arg(&reference_file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    let reference: Value =
        serde_json::from_slice(&std::fs::read(&reference_file).unwrap()).unwrap();
    let frames = reference["frames"].as_array().unwrap();
    let p = compare(&ours, frames);
    println!(
        "{clip}: {} tracked boxes, {} consistent ({:.2} %), {} track ids, largest box difference {:.4} px (ultralytics {})",
        p.boxes,
        p.consistent,
        100.0 * p.consistent as f64 / p.boxes.max(1) as f64,
        p.ids,
        p.max_box_difference,
        reference["ultralytics"]
    );
    // Something was tracked, by both, for longer than a frame.
    let reference_boxes: usize = frames.iter().map(|f| f.as_array().unwrap().len()).sum();
    assert!(
        reference_boxes > ours.len(),
        "the clip has objects to track"
    );
    assert!(
        p.consistent * 100 >= p.boxes * 99,
        "{} of {}",
        p.consistent,
        p.boxes
    );
    // detlog rounds boxes to 1/1000 px: the reference starts from inputs 0.0005 px off ours.
    assert!(p.max_box_difference <= 0.01, "{}", p.max_box_difference);

    // By default the detections no track took are dropped, as ultralytics' track mode drops them.
    let tracked_only = track(&dir, clip, false, "tracked-only.jsonl");
    for (frame, (all, only)) in ours.iter().zip(&tracked_only).enumerate() {
        let kept: Vec<&Value> = all["detections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d.get("track").is_some())
            .collect();
        let only = only["detections"].as_array().unwrap();
        assert_eq!(kept.len(), only.len(), "frame {frame}");
        assert!(
            only.iter().all(|d| d.get("track").is_some()),
            "frame {frame}"
        );
    }
}

#[test]
fn test_track_ids_match_ultralytics_bytetrack_on_the_demo_clip() {
    parity_on("media/bikes.mp4", "track-bikes");
}

#[test]
fn test_track_ids_match_ultralytics_bytetrack_on_a_second_real_clip() {
    parity_on("media/carphone.mp4", "track-carphone");
}

/// `hmg detect --track`: every detection of the JSON lines carries its track; a track first shows
/// with a detection at --conf or above (weaker ones only keep tracks alive); the summary counts
/// the tracks the lines name.
#[test]
fn test_hmg_detect_track_names_each_detection_s_track() {
    let dir = temp_dir("detect-track");
    let conf = 0.4;
    let out = hmg_command(&dir)
        .args([
            "detect",
            "--headless",
            "--track",
            "--conf",
            &conf.to_string(),
        ])
        .args(["--snapshot-interval", "0", "--output", "out", "--input"])
        .arg(repo().join("media/carphone.mp4"))
        .arg("--model")
        .arg(repo().join("models/yolov12n-coco.onnx"))
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let run = detect_run_dir(&dir.join("out"));
    let lines = read_json_lines(&run.join("carphone.jsonl"));
    let mut first_seen: HashMap<u64, f64> = HashMap::new();
    let mut weak = 0;
    for line in &lines {
        for d in line["detections"].as_array().unwrap() {
            let id = d["track"]["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("untracked: {d}"));
            let c = d["confidence"].as_f64().unwrap();
            first_seen.entry(id).or_insert(c);
            if c < conf {
                weak += 1;
            }
        }
    }
    assert!(!first_seen.is_empty(), "the clip has someone to track");
    for (id, c) in &first_seen {
        assert!(*c >= conf, "track {id} started from a detection at {c}");
    }
    let summary: Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["streams"][0]["tracks"].as_u64().unwrap() as usize,
        first_seen.len(),
        "{summary}"
    );
    assert!(t.contains(&format!("tracks {}", first_seen.len())), "{t}");
    println!(
        "{} tracks, {weak} detections below --conf kept tracks alive",
        first_seen.len()
    );
}
