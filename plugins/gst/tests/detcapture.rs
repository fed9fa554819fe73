// SPDX-License-Identifier: MIT OR Apache-2.0
//! detcapture on a real clip and a real model: it keeps exactly the frames whose detections (as
//! detlog writes them in the same graph) hold a score in the band, with those detections, the
//! frame itself (not the drawn one), no more often than its rate and within its size limit.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use gst::prelude::*;

fn video() -> String {
    testdata().join("video/bikes.mp4").display().to_string()
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hmg-detcapture-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `capture` (a detcapture with its properties) between yolonms and a detlog writing every
/// frame to `dir/log.jsonl` (and, with `snapshots`, each frame with detections as PNG), drawn
/// after; returns the element's counters and the `hmg-capture` messages posted.
/// Without `infer`, frames carry no detections (enough for `mode=all`).
fn run(
    dir: &Path,
    capture: &str,
    snapshots: bool,
    infer: bool,
) -> (BTreeMap<&'static str, u64>, usize) {
    let snap = if snapshots {
        format!(
            " snapshot-dir={} snapshot-interval=0",
            dir.join("snap").display()
        )
    } else {
        String::new()
    };
    let detect = if infer {
        format!(
            "hailoinfer model={} ! yolonms conf=0.25 iou=0.45 !",
            model("yolov12n.onnx")
        )
    } else {
        String::new()
    };
    let pipeline = launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB \
         ! {detect} {capture} name=cap \
         ! detlog name=log location={}{snap} ! detoverlay ! fakesink",
        video(),
        dir.join("log.jsonl").display(),
    ));
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut messages = 0;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(300)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} ({:?})", e.error(), e.debug()),
            gst::MessageView::Element(e)
                if e.structure().is_some_and(|s| s.name() == "hmg-capture") =>
            {
                messages += 1
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    // Messages posted by the writer while the graph stopped.
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Element(e) = msg.view()
            && e.structure().is_some_and(|s| s.name() == "hmg-capture")
        {
            messages += 1;
        }
    }
    let cap = pipeline.by_name("cap").unwrap();
    let counters = ["captured", "dropped", "skipped"]
        .into_iter()
        .map(|name| (name, cap.property::<u64>(name)))
        .collect();
    (counters, messages)
}

fn log(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The capture records in `dir/cap`, by frame.
fn records(dir: &Path) -> BTreeMap<u64, serde_json::Value> {
    std::fs::read_dir(dir.join("cap"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let r: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            (r["frame"].as_u64().unwrap(), r)
        })
        .collect()
}

fn confidences(line: &serde_json::Value) -> Vec<f64> {
    line["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["confidence"].as_f64().unwrap())
        .collect()
}

#[test]
fn uncertain_frames_are_kept_with_their_predictions_and_the_clean_picture() {
    let (low, high) = (0.25, 0.5);
    // The reference has frames with a score in the band (else this test could not fail).
    let reference = reference("yolov12n_video_bikes.json");
    let in_band = |c: f64| c >= low && c < high;
    assert!(
        reference["video"]["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["detections"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| in_band(d["confidence"].as_f64().unwrap())))
    );

    let dir = fresh_dir("uncertain");
    let (counters, messages) = run(
        &dir,
        &format!(
            "detcapture location={} band-low={low} band-high={high} max-rate=0 stream-name=bikes model=yolov12n.onnx",
            dir.join("cap").display()
        ),
        true,
        true,
    );
    let lines = log(&dir);
    let qualifying: Vec<u64> = lines
        .iter()
        .filter(|l| confidences(l).into_iter().any(in_band))
        .map(|l| l["frame"].as_u64().unwrap())
        .collect();
    let records = records(&dir);
    assert!(!records.is_empty());
    assert_eq!(counters["captured"], records.len() as u64, "{counters:?}");
    assert_eq!(messages, records.len());
    assert_eq!(
        counters["captured"] + counters["skipped"],
        qualifying.len() as u64,
        "every qualifying frame is kept or counted as skipped: {counters:?}"
    );
    for (frame, record) in &records {
        assert!(
            qualifying.contains(frame),
            "frame {frame} has no score in the band"
        );
        let line = &lines[*frame as usize];
        assert_eq!(record["detections"], line["detections"], "frame {frame}");
        assert_eq!(record["pts_ns"], line["pts_ns"], "frame {frame}");
        assert_eq!(record["reason"], "uncertain");
        assert_eq!(record["model"], "yolov12n.onnx");
        // The detail names the weakest detection in the band.
        let weakest = line["detections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| in_band(d["confidence"].as_f64().unwrap()))
            .min_by(|a, b| {
                a["confidence"]
                    .as_f64()
                    .unwrap()
                    .total_cmp(&b["confidence"].as_f64().unwrap())
            })
            .unwrap();
        assert!(
            record["detail"]
                .as_str()
                .unwrap()
                .starts_with(weakest["label"].as_str().unwrap()),
            "{record}"
        );
        // The picture: full size, the frame detlog saw before detoverlay drew on it.
        let picture = image::open(dir.join("cap").join(record["image"].as_str().unwrap()))
            .unwrap()
            .to_rgb8();
        assert_eq!(
            (picture.width() as u64, picture.height() as u64),
            (
                line["width"].as_u64().unwrap(),
                line["height"].as_u64().unwrap()
            )
        );
        let clean = image::open(dir.join("snap").join(format!("log-{frame:06}.png")))
            .unwrap()
            .to_rgb8();
        let diff: f64 = picture
            .as_raw()
            .iter()
            .zip(clean.as_raw())
            .map(|(a, b)| (*a as f64 - *b as f64).abs())
            .sum::<f64>()
            / clean.as_raw().len() as f64;
        assert!(
            diff < 2.0,
            "frame {frame}: mean difference {diff:.2} from the clean frame"
        );
    }
}

#[test]
fn the_rate_and_the_size_limit_hold() {
    // One a second of stream time: the frames a greedy one-second spacing of the pts keeps.
    let dir = fresh_dir("rate");
    let (counters, _) = run(
        &dir,
        &format!(
            "detcapture location={} mode=all max-rate=60",
            dir.join("cap").display()
        ),
        false,
        false,
    );
    let mut expected = Vec::new();
    let mut last: Option<u64> = None;
    for line in log(&dir) {
        let pts = line["pts_ns"].as_u64().unwrap();
        if last.is_none_or(|l| pts - l >= 1_000_000_000) {
            last = Some(pts);
            expected.push(line["frame"].as_u64().unwrap());
        }
    }
    let kept: Vec<u64> = records(&dir).into_keys().collect();
    assert_eq!(kept, expected, "{counters:?}");
    assert_eq!(
        counters["skipped"],
        log(&dir).len() as u64 - expected.len() as u64
    );

    // Every frame into 1 MB: the oldest go, the folder stays within the limit plus the newest.
    let dir = fresh_dir("size");
    let (counters, _) = run(
        &dir,
        &format!(
            "detcapture location={} mode=all max-rate=0 max-size-mb=1",
            dir.join("cap").display()
        ),
        false,
        false,
    );
    let files: Vec<(String, u64)> = std::fs::read_dir(dir.join("cap"))
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    let pictures = files.iter().filter(|(n, _)| n.ends_with(".jpg")).count() as u64;
    let records = files.iter().filter(|(n, _)| n.ends_with(".json")).count() as u64;
    assert_eq!(pictures, records, "every picture has its record: {files:?}");
    assert!(counters["dropped"] > 0, "{counters:?}");
    assert_eq!(counters["captured"] - counters["dropped"], pictures);
    let largest = files.iter().map(|(_, len)| *len).max().unwrap();
    let total: u64 = files.iter().map(|(_, len)| len).sum();
    assert!(total <= (1 << 20) + 2 * largest, "{total} bytes");
}

#[test]
fn bad_settings_fail_at_start_and_say_what_to_do() {
    let graph = |capture: &str| {
        format!(
            "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=64,height=48 ! {capture} ! fakesink"
        )
    };
    let e = expect_error(&graph("detcapture"));
    assert!(e.contains("location=DIR"), "{e}");
    let dir = fresh_dir("bad");
    let e = expect_error(&graph(&format!(
        "detcapture location={} mode=unsure",
        dir.display()
    )));
    assert!(e.contains("uncertain, all or classes="), "{e}");
    let e = expect_error(&graph(&format!(
        "detcapture location={} band-low=0.6 band-high=0.5",
        dir.display()
    )));
    assert!(e.contains("band-low"), "{e}");
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let e = expect_error(&graph(&format!("detcapture location={}", file.display())));
    assert!(
        e.contains(&file.display().to_string()) && e.contains("writable folder"),
        "{e}"
    );
}
