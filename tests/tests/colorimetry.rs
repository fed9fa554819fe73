// SPDX-License-Identifier: MIT OR Apache-2.0
//! HD video that does not state its colorimetry: GStreamer guesses BT.709 from the size, OpenCV's
//! FFmpeg path (and so `yolo predict`) converts with BT.601. `hailoinfer unstated-colorimetry`
//! chooses; its default must give ultralytics' detections, per frame, on such a clip. The clip is
//! bikes.mp4 scaled to 1280×720 by OpenCV and written with its MPEG-4 encoder (no colour
//! description), by `tests/reference/hd_clip_predict.py`, which also runs ultralytics on it.

use std::path::Path;

use hmg_e2e::*;
use serde_json::Value;

/// Frames of the clip: enough for a figure, short enough for CPU inference twice.
const FRAMES: &str = "80";

fn detect(dir: &Path, clip: &Path, colorimetry: &str) -> Vec<Value> {
    let log = dir.join(format!("{colorimetry}.jsonl"));
    let graph = format!(
        "filesrc location={} ! decodebin ! videoconvert ! hailoinfer model={} unstated-colorimetry={colorimetry} ! yolonms conf=0.25 iou=0.45 ! detlog location={} ! fakesink",
        clip.display(),
        repo().join("models/yolov12n-coco.onnx").display(),
        log.display()
    );
    launch_graph(dir, &graph);
    read_json_lines(&log)
}

fn iou(a: &[f64], b: &[f64]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// (class, confidence, box) of a list of detections, as detlog and the reference write them.
fn detections(list: &Value) -> Vec<(u64, f64, Vec<f64>)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let conf = d["confidence"].as_f64().unwrap();
            (d["class_id"].as_u64().unwrap(), conf, numbers(&d["box"]))
        })
        .collect()
}

/// How one run agrees with the reference: frames where every reference detection scoring at
/// least 0.35 has its counterpart (same class, IoU ≥ `min_iou`, confidence within `max_dconf`)
/// and every one of ours scoring at least 0.40 has one in the reference (the video parity test's
/// margins: a detection near the 0.25 threshold may fall either side with another decoder), and
/// the mean confidence difference over the pairs found.
#[derive(Debug)]
struct Agreement {
    frames_equal: usize,
    mean_dconf: f64,
}

fn agreement(ours: &[Value], reference: &[Value], min_iou: f64, max_dconf: f64) -> Agreement {
    assert_eq!(ours.len(), reference.len(), "one reference frame per frame");
    let (mut frames_equal, mut dconf, mut pairs) = (0, 0.0, 0);
    for (o, r) in ours.iter().zip(reference) {
        let (mine, theirs) = (detections(&o["detections"]), detections(r));
        let finds = |x: &(u64, f64, Vec<f64>), pool: &[(u64, f64, Vec<f64>)]| {
            pool.iter()
                .filter(|y| y.0 == x.0 && iou(&x.2, &y.2) >= min_iou)
                .map(|y| (x.1 - y.1).abs())
                .fold(None, |best: Option<f64>, d| {
                    Some(best.map_or(d, |b| b.min(d)))
                })
        };
        let mut equal = true;
        for t in theirs.iter().filter(|t| t.1 >= 0.35) {
            match finds(t, &mine) {
                Some(d) => {
                    dconf += d;
                    pairs += 1;
                    equal &= d <= max_dconf;
                }
                None => equal = false,
            }
        }
        equal &= mine
            .iter()
            .filter(|m| m.1 >= 0.40)
            .all(|m| finds(m, &theirs).is_some());
        frames_equal += usize::from(equal);
    }
    Agreement {
        frames_equal,
        mean_dconf: dconf / pairs.max(1) as f64,
    }
}

#[test]
fn test_hd_clip_without_colorimetry_matches_ultralytics_by_default() {
    let dir = temp_dir("colorimetry-hd");
    let clip = dir.join("hd.mp4");
    let reference = python_json(
        &dir,
        &std::fs::read_to_string(repo().join("tests/reference/hd_clip_predict.py")).unwrap(),
        &[
            repo().join("media/bikes.mp4").as_os_str(),
            repo().join("models/yolov12n-coco.onnx").as_os_str(),
            clip.as_os_str(),
            FRAMES.as_ref(),
        ],
    );
    let frames = reference["frames"].as_array().unwrap();
    let total: usize = frames.iter().map(|f| f.as_array().unwrap().len()).sum();
    assert!(total > frames.len(), "the clip has objects: {total}");

    // The clip really states nothing: GStreamer's caps carry no colorimetry.
    let caps = gst_command("gst-launch-1.0", &dir)
        .args(["-v", "filesrc"])
        .arg(format!("location={}", clip.display()))
        .args(["!", "decodebin", "!", "fakesink", "num-buffers=1"])
        .output()
        .unwrap();
    let said = text(&caps);
    let raw = said
        .lines()
        .find(|l| l.contains("video/x-raw") && l.contains("width=(int)1280"))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(!raw.contains("colorimetry"), "{raw}");

    let default_run = detect(&dir, &clip, "bt601");
    let bt709 = detect(&dir, &clip, "bt709");
    let auto = detect(&dir, &clip, "auto");
    let n = frames.len();
    for (name, run) in [("bt601", &default_run), ("bt709", &bt709), ("auto", &auto)] {
        let strict = agreement(run, frames, 0.95, 0.02);
        let loose = agreement(run, frames, 0.85, 0.08);
        println!(
            "unstated-colorimetry={name}: {} of {n} frames within the strict tolerance (IoU ≥ 0.95, confidence ± 0.02), {} within the loose one (IoU ≥ 0.85, ± 0.08); mean confidence difference {:.4} (ultralytics {})",
            strict.frames_equal, loose.frames_equal, strict.mean_dconf, reference["ultralytics"]
        );
    }
    // auto is GStreamer's guess, BT.709 at this size.
    assert_eq!(auto, bt709);
    let ours = agreement(&default_run, frames, 0.85, 0.08);
    let other = agreement(&bt709, frames, 0.85, 0.08);
    assert!(ours.frames_equal * 20 >= n * 19, "{ours:?} of {n}");
    assert!(
        ours.mean_dconf < other.mean_dconf,
        "BT.601 {ours:?} is not closer to ultralytics than BT.709 {other:?}"
    );
}
