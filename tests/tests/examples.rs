// SPDX-License-Identifier: MIT OR Apache-2.0
//! The embedding examples (Python/PyGObject, C, gstreamer-rs) read the same detections from the
//! standard ROI meta as `detlog` writes for the same frames, and the raw outputs from HmgTensors.

use std::path::Path;
use std::process::Command;

use hmg_e2e::*;

const FRAMES: usize = 30;

fn model() -> String {
    repo()
        .join("models/yolov12n-coco.onnx")
        .display()
        .to_string()
}

fn clip() -> String {
    testdata().join("video/bikes.mp4").display().to_string()
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Each example line against the detlog line of the same frame.
fn assert_same_as_detlog(who: &str, lines: &[serde_json::Value], detlog: &[serde_json::Value]) {
    assert!(lines.len() >= FRAMES, "{who}: {} frames", lines.len());
    let mut detections = 0;
    for (ours, logged) in lines.iter().zip(detlog).take(FRAMES) {
        let frame = ours["frame"].as_u64().unwrap();
        assert_eq!(frame, logged["frame"].as_u64().unwrap(), "{who}");
        assert_eq!(ours["pts_ns"], logged["pts_ns"], "{who} frame {frame}");
        let a = ours["detections"].as_array().unwrap();
        let b = logged["detections"].as_array().unwrap();
        assert_eq!(a.len(), b.len(), "{who} frame {frame}: {a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x["class_id"], y["class_id"], "{who} frame {frame}");
            assert_eq!(x["label"], y["label"], "{who} frame {frame}");
            let conf = |v: &serde_json::Value| v["confidence"].as_f64().unwrap();
            assert!(
                (conf(x) - conf(y)).abs() < 1e-6,
                "{who} frame {frame}: {x} vs {y}"
            );
            for (p, q) in x["box"]
                .as_array()
                .unwrap()
                .iter()
                .zip(y["box"].as_array().unwrap())
            {
                assert!(
                    (p.as_f64().unwrap() - q.as_f64().unwrap()).abs() < 1e-3,
                    "{who} frame {frame}: {x} vs {y}"
                );
            }
        }
        detections += a.len();
        let tensors = ours["tensors"].as_array().unwrap();
        assert_eq!(tensors.len(), 1, "{who}: {tensors:?}");
        assert_eq!(
            tensors[0]["shape"],
            serde_json::json!([1, 84, 8400]),
            "{who}"
        );
        assert_eq!(tensors[0]["dtype"], "float32", "{who}");
        assert_eq!(tensors[0]["bytes"], 84 * 8400 * 4, "{who}");
    }
    assert!(
        detections > FRAMES,
        "{who}: the clip has cars in every frame ({detections})"
    );
}

fn run(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The Python example with a detlog in its graph: the reference for all three.
fn python_and_detlog(dir: &Path) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let log = dir.join("detlog.jsonl");
    let mut cmd = gst_command("/usr/bin/python3", dir);
    cmd.current_dir(repo())
        .arg("examples/python/detections.py")
        .args([
            "--model",
            &model(),
            "--input",
            &clip(),
            "--frames",
            &FRAMES.to_string(),
        ])
        .arg("--log")
        .arg(&log);
    let lines = json_lines(&run(cmd));
    let detlog = json_lines(&std::fs::read_to_string(&log).unwrap());
    (lines, detlog)
}

#[test]
fn test_python_example_reads_what_detlog_writes() {
    let dir = temp_dir("example-python");
    let (lines, detlog) = python_and_detlog(&dir);
    assert_same_as_detlog("python", &lines, &detlog);
}

/// With dettrack in its graph, the Python example reads each detection's track (fetching the
/// metas by id still works: dettrack numbers those it keeps 0, 1, 2 …).
#[test]
fn test_python_example_reads_the_tracks_detlog_writes() {
    let dir = temp_dir("example-python-track");
    let log = dir.join("detlog.jsonl");
    let mut cmd = gst_command("/usr/bin/python3", &dir);
    cmd.current_dir(repo())
        .arg("examples/python/detections.py")
        .args(["--model", &model(), "--input", &clip(), "--frames"])
        .arg(FRAMES.to_string())
        .arg("--track")
        .arg("--log")
        .arg(&log);
    let lines = json_lines(&run(cmd));
    let detlog = json_lines(&std::fs::read_to_string(&log).unwrap());
    assert_same_as_detlog("python --track", &lines, &detlog);
    assert_same_tracks("python --track", &lines, &detlog);
}

/// Each detection's track id and age equal detlog's, and every detection kept is tracked.
fn assert_same_tracks(who: &str, lines: &[serde_json::Value], detlog: &[serde_json::Value]) {
    let mut tracked = 0;
    for (ours, logged) in lines.iter().zip(detlog).take(FRAMES) {
        let a = ours["detections"].as_array().unwrap();
        let b = logged["detections"].as_array().unwrap();
        assert_eq!(a.len(), b.len(), "{who}: {ours} vs {logged}");
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x["track"]["id"], y["track"]["id"], "{who}: {x} vs {y}");
            assert_eq!(x["track"]["age"], y["track"]["age"], "{who}: {x} vs {y}");
            assert!(
                x["track"]["id"].as_u64().is_some(),
                "{who}: every detection kept is tracked"
            );
            tracked += 1;
        }
    }
    assert!(tracked > FRAMES, "{who}: {tracked}");
}

#[test]
fn test_c_example_builds_with_pkg_config_and_reads_what_detlog_writes() {
    let dir = temp_dir("example-c");
    let flags = run({
        let mut c = Command::new("pkg-config");
        c.args(["--cflags", "--libs", "gstreamer-1.0", "gstreamer-video-1.0"]);
        c
    });
    let exe = dir.join("detections");
    let mut cc = Command::new("cc");
    cc.args(["-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(repo().join("examples/c/detections.c"))
        .args(flags.split_whitespace());
    run(cc);
    let log = dir.join("detlog.jsonl");
    let mut cmd = gst_command(exe.to_str().unwrap(), &dir);
    cmd.args([model(), clip(), FRAMES.to_string()]).arg(&log);
    let lines = json_lines(&run(cmd));
    let detlog = json_lines(&std::fs::read_to_string(&log).unwrap());
    assert_same_as_detlog("c", &lines, &detlog);
    // With dettrack in its graph, it reads each detection's track.
    let log = dir.join("detlog-track.jsonl");
    let mut cmd = gst_command(exe.to_str().unwrap(), &dir);
    cmd.args([model(), clip(), FRAMES.to_string()])
        .arg(&log)
        .arg("track");
    let lines = json_lines(&run(cmd));
    let detlog = json_lines(&std::fs::read_to_string(&log).unwrap());
    assert_same_as_detlog("c track", &lines, &detlog);
    assert_same_tracks("c track", &lines, &detlog);
}

#[test]
fn test_rust_example_reads_typed_detections() {
    let dir = temp_dir("example-rust");
    let (_, detlog) = python_and_detlog(&dir);
    let exe = profile_dir().join("examples/embed");
    assert!(
        exe.is_file(),
        "build it with cargo build --release --examples (scripts/test does)"
    );
    let mut cmd = Command::new(&exe);
    cmd.args([model(), clip(), FRAMES.to_string()]);
    let lines = json_lines(&run(cmd));
    assert_same_as_detlog("rust", &lines, &detlog);
}

/// With dettrack in its pipeline, the Rust example reads the tracks the Python example's detlog
/// wrote for the same graph.
#[test]
fn test_rust_example_reads_the_tracks() {
    let dir = temp_dir("example-rust-track");
    let log = dir.join("detlog.jsonl");
    let mut python = gst_command("/usr/bin/python3", &dir);
    python
        .current_dir(repo())
        .arg("examples/python/detections.py")
        .args(["--model", &model(), "--input", &clip(), "--frames"])
        .arg(FRAMES.to_string())
        .arg("--track")
        .arg("--log")
        .arg(&log);
    run(python);
    let detlog = json_lines(&std::fs::read_to_string(&log).unwrap());
    let mut cmd = Command::new(profile_dir().join("examples/embed"));
    cmd.args([model(), clip(), FRAMES.to_string(), "track".to_string()]);
    let lines = json_lines(&run(cmd));
    assert_same_as_detlog("rust track", &lines, &detlog);
    assert_same_tracks("rust track", &lines, &detlog);
}
