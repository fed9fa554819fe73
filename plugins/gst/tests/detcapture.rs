// SPDX-License-Identifier: MIT OR Apache-2.0
//! detcapture on a real clip and a real model: it keeps exactly the frames whose detections or near
//! misses (as detlog writes them in the same graph) hold a score in the band, or that have a
//! detection no box of its class overlaps in the frames before and after, with those detections,
//! the frame itself (not the drawn one), no more often than its rate and within its size limit.

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
            "hailoinfer model={} ! yolonms conf=0.25 iou=0.45 near-misses=0.1 !",
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

/// A log line's detections, or its near misses (`field`), as (class, box, confidence, label).
fn listed(line: &serde_json::Value, field: &str) -> Vec<(u64, [f64; 4], f64, String)> {
    line[field]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|d| {
                    let b: Vec<f64> = d["box"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .collect();
                    (
                        d["class_id"].as_u64().unwrap(),
                        [b[0], b[1], b[2], b[3]],
                        d["confidence"].as_f64().unwrap(),
                        d["label"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `line` has a detection or near miss of `class` overlapping `b` by IoU 0.3.
fn has_object(line: &serde_json::Value, class: u64, b: [f64; 4]) -> bool {
    ["detections", "near_misses"]
        .iter()
        .flat_map(|f| listed(line, f))
        .any(|(c, o, _, _)| c == class && common::iou(o, b) >= 0.3)
}

/// The labels of the detections of frame `t` seen in it alone: no box of their class overlaps them
/// in frame `t - 1` or `t + 1` (the first and last frames have no neighbour to tell).
fn alone(lines: &[serde_json::Value], t: usize) -> Vec<String> {
    if t == 0 || t + 1 >= lines.len() {
        return Vec::new();
    }
    listed(&lines[t], "detections")
        .into_iter()
        .filter(|(c, b, _, _)| {
            !has_object(&lines[t - 1], *c, *b) && !has_object(&lines[t + 1], *c, *b)
        })
        .map(|(_, _, _, label)| label)
        .collect()
}

#[test]
fn uncertain_frames_are_kept_with_their_predictions_and_the_clean_picture() {
    // The band reaches 0.1 below yolonms' conf (0.25): its near misses count too. On this clip
    // nearly every frame has a score in it.
    let (low, high) = (0.15, 0.5);
    // The reference has frames with a detection in the band (else this test could not fail).
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
    let (near_misses, _) = check_uncertain("uncertain", low, high);
    assert!(near_misses > 0);
}

#[test]
fn frames_with_a_detection_of_their_own_are_kept() {
    // A narrow band leaves frames to the other reason: detections seen in one frame only.
    let (_, singles) = check_uncertain("single", 0.15, 0.17);
    assert!(singles > 0);
}

/// Runs the uncertain mode with the band `[low, high)` and checks that exactly the frames the log
/// says qualify were kept, each for its reason, with its predictions and the clean picture;
/// returns how many frames qualified by a near miss and how many by a detection of their own.
fn check_uncertain(name: &str, low: f64, high: f64) -> (usize, usize) {
    let in_band = |c: f64| c >= low && c < high;

    let dir = fresh_dir(name);
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
    // Why each frame qualifies, worked out from the log alone.
    let weakest_in_band = |line: &serde_json::Value| {
        ["near_misses", "detections"]
            .iter()
            .map(|f| {
                listed(line, f)
                    .into_iter()
                    .filter(|d| in_band(d.2))
                    .min_by(|a, b| a.2.total_cmp(&b.2))
            })
            .find_map(|d| d)
    };
    let mut qualifying = BTreeMap::new();
    let (mut near_misses, mut singles) = (0, 0);
    for (t, line) in lines.iter().enumerate() {
        if let Some(d) = weakest_in_band(line) {
            near_misses += usize::from(d.2 <= 0.25);
            qualifying.insert(t as u64, ("uncertain", d.3));
        } else if let Some(label) = alone(&lines, t).into_iter().next() {
            singles += 1;
            qualifying.insert(t as u64, ("single-frame", label));
        }
    }
    let records = records(&dir);
    assert!(!records.is_empty());
    assert_eq!(counters["captured"], records.len() as u64, "{counters:?}");
    assert_eq!(messages, records.len());
    let missing: Vec<_> = qualifying
        .iter()
        .filter(|(f, _)| !records.contains_key(f))
        .collect();
    assert_eq!(
        counters["captured"] + counters["skipped"],
        qualifying.len() as u64,
        "every qualifying frame is kept or counted as skipped: {counters:?}; not kept: {missing:?}"
    );
    let mut compared = 0;
    for (frame, record) in &records {
        let Some((reason, label)) = qualifying.get(frame) else {
            panic!("frame {frame} has no score in the band and no detection of its own: {record}");
        };
        let line = &lines[*frame as usize];
        assert_eq!(record["detections"], line["detections"], "frame {frame}");
        assert_eq!(record["near_misses"], line["near_misses"], "frame {frame}");
        assert_eq!(record["pts_ns"], line["pts_ns"], "frame {frame}");
        assert_eq!(record["reason"], *reason, "frame {frame}");
        assert_eq!(record["model"], "yolov12n.onnx");
        // The detail names the weakest score in the band (a near miss first), or one alone.
        assert!(
            record["detail"]
                .as_str()
                .unwrap()
                .starts_with(label.as_str()),
            "{record} ({label})"
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
        // detlog saves frames with detections only.
        if listed(line, "detections").is_empty() {
            continue;
        }
        compared += 1;
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
    assert!(compared > 0);
    (near_misses, singles)
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

/// `frames` frames of noise (slow to encode as JPEG) from a live or a non-live source, every one
/// qualifying: detcapture's counters and the pairs left on disk.
fn noise_into_busy_writer(name: &str, live: bool, when_busy: &str) -> (u64, u64, u64, u64) {
    let frames = 30;
    let dir = fresh_dir(name);
    let pipeline = launch(&format!(
        "videotestsrc is-live={live} num-buffers={frames} pattern=snow \
         ! video/x-raw,format=RGB,width=1280,height=720,framerate=200/1 \
         ! detcapture name=cap location={} mode=all max-rate=0 when-busy={when_busy} \
         ! fakesink sync=false",
        dir.display()
    ));
    run_to_end(&pipeline).unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    let cap = pipeline.by_name("cap").unwrap();
    let pairs = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .count() as u64;
    (
        frames,
        cap.property::<u64>("captured"),
        cap.property::<u64>("skipped"),
        pairs,
    )
}

#[test]
fn a_live_source_never_waits_for_a_busy_writer_and_a_file_always_does() {
    // 200 frames a second of 720p noise: no writer encodes that fast, so a live source skips some.
    let (frames, captured, skipped, pairs) = noise_into_busy_writer("live", true, "auto");
    assert!(skipped > 0, "captured {captured}, skipped {skipped}");
    assert_eq!(captured + skipped, frames);
    assert_eq!(pairs, captured);
    // The same frames, not live: auto waits, every one is saved.
    let (frames, captured, skipped, pairs) = noise_into_busy_writer("file", false, "auto");
    assert_eq!((captured, skipped, pairs), (frames, 0, frames));
    // And the explicit settings override what the source is.
    let (frames, captured, skipped, _) = noise_into_busy_writer("wait", true, "wait");
    assert_eq!((captured, skipped), (frames, 0));
    let (_, captured, skipped, _) = noise_into_busy_writer("skip", false, "skip");
    assert!(skipped > 0, "captured {captured}, skipped {skipped}");
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
