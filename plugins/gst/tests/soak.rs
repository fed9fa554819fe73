// SPDX-License-Identifier: MIT OR Apache-2.0
//! A bounded soak of `hailoinfer ! yolonms ! detoverlay ! detlog`: memory flat, every frame's line
//! in the log, no growth in threads or file descriptors. Frames: `HMG_SOAK_FRAMES` (default 1500
//! for onnxruntime, RELIABILITY.md records a 20 000-frame run; 10 000 for the HEF). With
//! `--features hailo` the same graph runs a HEF on the HailoRT TEST DOUBLE, on 720p NV12 frames.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use gst::prelude::*;

fn frames(default: u64) -> u64 {
    std::env::var("HMG_SOAK_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Small RGB frames, each drawn anew (onnxruntime on a CPU is the slow part here).
const SMALL_RGB: &str =
    "videotestsrc num-buffers={n} pattern=ball ! video/x-raw,format=RGB,width=96,height=64";
/// A 1280×720 NV12 camera-like frame repeated (the HailoRT double is fast: the host path of a
/// real frame size is what runs).
#[cfg(feature = "hailo")]
const CAMERA_NV12: &str = "videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format=NV12,width=1280,height=720 ! imagefreeze num-buffers={n}";

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// One soak at a time: threads, descriptors and RSS are counted for the whole process.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `model` for `n` frames (after a short run that loads the runtimes' process-wide pools);
/// returns (RSS after warm-up, RSS at the end) in KiB.
fn soak(source: &str, model: &str, log: &Path, n: u64) -> (u64, u64) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    init();
    run_graph(source, model, log, 10);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let threads_before = count("/proc/self/task");
    let fds_before = count("/proc/self/fd");
    let (warm, end) = run_graph(source, model, log, n);
    // Streaming threads end with the pipeline; nothing may stay behind per run.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (threads, fds) = (count("/proc/self/task"), count("/proc/self/fd"));
    assert!(
        threads <= threads_before,
        "threads grew from {threads_before} to {threads}"
    );
    assert!(
        fds <= fds_before,
        "file descriptors grew from {fds_before} to {fds}"
    );
    (warm, end)
}

fn run_graph(source: &str, model: &str, log: &Path, n: u64) -> (u64, u64) {
    let source = source.replace("{n}", &n.to_string());
    let pipeline = launch(&format!(
        "{source} ! hailoinfer model={model} ! yolonms ! detoverlay ! detlog location={} ! fakesink name=sink",
        log.display()
    ));
    let seen = Arc::new(AtomicU64::new(0));
    let warm = Arc::new(AtomicU64::new(0));
    let (seen2, warm2) = (seen.clone(), warm.clone());
    let warm_at = (n / 5).max(1);
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if seen2.fetch_add(1, Ordering::SeqCst) + 1 == warm_at {
                warm2.store(rss_kib(), Ordering::SeqCst);
            }
            gst::PadProbeReturn::Ok
        });
    // No fixed cap: a long soak on a slow machine takes as long as it takes (≤ 100 ms a frame).
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let limit = gst::ClockTime::from_seconds(60 + n / 10);
    for msg in bus.iter_timed(limit) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} ({:?})", e.error(), e.debug()),
            _ => {}
        }
    }
    let end = rss_kib();
    pipeline.set_state(gst::State::Null).unwrap();
    drop(pipeline);
    assert_eq!(seen.load(Ordering::SeqCst), n);
    let lines = std::fs::read_to_string(log).unwrap().lines().count() as u64;
    assert_eq!(lines, n, "one log line per frame");
    (warm.load(Ordering::SeqCst), end)
}

#[test]
fn onnx_graph_memory_stays_flat() {
    let log = std::env::temp_dir().join(format!("hmg-soak-{}.jsonl", std::process::id()));
    let n = frames(1500);
    let (warm, end) = soak(SMALL_RGB, &model("nudenet_320n.onnx"), &log, n);
    let _ = std::fs::remove_file(&log);
    println!("onnx soak: {n} frames, RSS {warm} KiB after warm-up, {end} KiB at the end");
    // Allocator noise is a few MiB; a per-frame leak of even 1 KiB would exceed this well before
    // 1500 frames of 96×64 RGB.
    assert!(
        end <= warm + 8 * 1024,
        "RSS grew from {warm} to {end} KiB over {n} frames"
    );
}

#[cfg(feature = "hailo")]
#[test]
fn hef_graph_on_the_hailort_double_memory_stays_flat() {
    // SAFETY: set before HailoRT is loaded (this test binary loads it only here).
    unsafe { std::env::set_var("HMG_HAILORT_LIBRARY", hailort_double::library()) };
    let _serial = hailort_double::SERIAL
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let hef =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hailo/nudenet320.hef");
    let log = std::env::temp_dir().join(format!("hmg-soak-hef-{}.jsonl", std::process::id()));
    let n = frames(10_000);
    let (warm, end) = soak(CAMERA_NV12, &hef.display().to_string(), &log, n);
    let _ = std::fs::remove_file(&log);
    println!("hef soak: {n} frames, RSS {warm} KiB after warm-up, {end} KiB at the end");
    // The performance target: flat within 5 MB over 10 000 frames.
    assert!(
        end <= warm + 5 * 1024,
        "RSS grew from {warm} to {end} KiB over {n} frames"
    );
}
