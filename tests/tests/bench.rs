// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg bench`: per-stage timings, the whole graph and peak memory, as a table or JSON, on any
//! clip and pixel format; bad arguments are usage errors, a broken clip a clear failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use hmg_e2e::*;

fn hmg() -> Command {
    let mut c = Command::new(profile_dir().join("hmg"));
    c.current_dir(repo());
    c
}

/// A 12-frame 320×240 H.264 clip made for the test.
fn clip(dir: &Path) -> PathBuf {
    let path = dir.join("clip.mp4");
    let out = gst_command("gst-launch-1.0", dir)
        .args([
            "-q",
            "videotestsrc",
            "num-buffers=12",
            "pattern=ball",
            "!",
            "video/x-raw,width=320,height=240,framerate=30/1",
            "!",
            "x264enc",
            "!",
            "mp4mux",
            "!",
            "filesink",
        ])
        .arg(format!("location={}", path.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    path
}

fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = hmg()
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

#[test]
fn json_report_has_every_stage_the_graph_and_memory() {
    let dir = temp_dir("bench-json");
    let clip = clip(&dir);
    let clip = clip.to_str().unwrap();
    let v = bench_json(&["--input", clip, "--frames", "4", "--format", "NV12"]);
    assert_eq!(v["frames"], 4);
    assert_eq!(v["frame"], "320x240 NV12");
    assert_eq!(v["layout"], "ultralytics-raw");
    for stage in [
        "letterbox",
        "inference",
        "decode + NMS",
        "overlay",
        "detections JSON",
    ] {
        let s = &v["stages"][stage];
        let (p50, p90) = (s["p50_ms"].as_f64().unwrap(), s["p90_ms"].as_f64().unwrap());
        assert!(p50 > 0.0 && p90 >= p50, "{stage}: {s}");
    }
    // Inference dominates a CPU frame; the host stages are a small part of it.
    let inference = v["stages"]["inference"]["mean_ms"].as_f64().unwrap();
    assert!(v["host_total_mean_ms"].as_f64().unwrap() < inference);
    // So the advice names the CPU inference, and what to do about it.
    let advice = v["advice"][0].as_str().unwrap();
    assert!(
        advice.contains("inference on the CPU is the slowest stage")
            && advice.contains("hmg compile"),
        "{advice}"
    );
    let rounds = v["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 1);
    assert_eq!(rounds[0]["graph"]["frames"], 12, "every frame of the clip");
    assert!(v["graph_fps"].as_f64().unwrap() > 0.0);
    assert!(v["graph_share_of_inference"].as_f64().unwrap() > 0.0);
    assert!(v["peak_rss_mib"].as_f64().unwrap() > 10.0);

    let v = bench_json(&[
        "--input",
        clip,
        "--frames",
        "2",
        "--no-graph",
        "--rounds",
        "2",
    ]);
    assert_eq!(v["frames"], 4, "two rounds of two frames");
    assert!(v["graph_fps"].is_null());
    assert_eq!(v["frame"], "320x240 RGB");
}

#[test]
fn table_names_the_stages_and_the_share() {
    let dir = temp_dir("bench-table");
    let clip = clip(&dir);
    let out = hmg()
        .args(["bench", "--frames", "3", "--input"])
        .arg(&clip)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "letterbox",
        "decode + NMS",
        "host stages total",
        "inference alone",
        "% of inference alone",
        "peak memory",
    ] {
        assert!(stdout.contains(line), "'{line}' missing:\n{stdout}");
    }
}

#[test]
fn bad_arguments_are_usage_errors_and_a_broken_clip_fails_clearly() {
    let dir = temp_dir("bench-errors");
    let cases: [(&[&str], &str); 5] = [
        (&["--format", "YUY9"], "--format YUY9 is not one hmg reads"),
        (
            &["--model", "nope.onnx"],
            "model 'nope.onnx' does not exist",
        ),
        (&["--input", "nope.mp4"], "input 'nope.mp4' does not exist"),
        (&["--frames", "0"], "--frames must be at least 1"),
        (&["--rounds", "0"], "--rounds must be at least 1"),
    ];
    for (args, message) in cases {
        let out = hmg().arg("bench").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(message), "{args:?}: {}", text(&out));
    }
    let broken = dir.join("broken.mp4");
    std::fs::write(&broken, b"not a video").unwrap();
    let out = hmg()
        .args(["bench", "--input"])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("cannot decode") && text(&out).contains("broken.mp4"),
        "{}",
        text(&out)
    );
}
