// SPDX-License-Identifier: MIT OR Apache-2.0
//! Numbers and pipes as a hostile user gives them: every NaN, infinite, negative or absurd value
//! is a usage error (exit 2, naming the option), never a panic; output piped into a command that
//! exits early ends hmg quietly, as Unix tools end.

use std::process::{Command, Stdio};

use hmg_e2e::*;

#[test]
fn absurd_numbers_are_usage_errors_not_panics() {
    let model = repo().join("models/yolov12n-coco.onnx");
    let m = model.to_str().unwrap();
    for args in [
        vec!["detect", "--model", m, "--duration", "nan"],
        vec!["detect", "--model", m, "--duration", "inf"],
        vec!["detect", "--model", m, "--duration=-5"],
        vec!["detect", "--model", m, "--duration", "1e300"],
        vec!["detect", "--model", m, "--snapshot-interval", "nan"],
        vec!["detect", "--model", m, "--threads", "100000"],
        vec!["detect", "--model", m, "--conf", "nan"],
        vec!["demo", "--conf=nan"],
        vec!["demo", "--iou", "2"],
        vec!["monitor", "mqtt://127.0.0.1:1/t", "--interval", "1e300"],
        vec!["monitor", "mqtt://127.0.0.1:1/t", "--duration", "inf"],
        vec!["batch", "--model", m, "--input", ".", "--threads", "100000"],
        vec!["batch", "--model", m, "--input", ".", "--conf=-1"],
        vec!["bench", "--model", m, "--threads", "100000"],
    ] {
        let out = Command::new(profile_dir().join("hmg"))
            .args(&args)
            .output()
            .unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {t}");
        assert!(!t.contains("panicked"), "{args:?}: {t}");
        let option = args
            .iter()
            .find(|a| a.starts_with("--") && !a.starts_with("--model") && !a.starts_with("--input"))
            .unwrap();
        let name = option.split('=').next().unwrap();
        assert!(t.contains(name), "{args:?} names {name}: {t}");
    }
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // `hmg hef info … | true`: the reader is gone before hmg writes.
    let reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let mut reader = reader;
    let pipe = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    let out = Command::new(profile_dir().join("hmg"))
        .args(["hef", "info"])
        .arg(repo().join("tests/fixtures/hailo/nudenet320.hef"))
        .stdout(pipe)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", text(&out));
    assert!(out.stderr.is_empty(), "nothing more said: {}", text(&out));
}
