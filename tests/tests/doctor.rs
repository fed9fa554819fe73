// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg doctor` on this machine (set up by scripts/setup) and with a problem planted.

use std::process::Command;

use hmg_e2e::*;

#[test]
fn test_doctor_reports_each_check_and_the_fix_for_problems() {
    let out = Command::new(profile_dir().join("hmg"))
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let checks = v.as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for n in [
        "GStreamer",
        "hmg elements",
        "onnxruntime library",
        "HailoRT",
        "cameras",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let found = |name: &str| {
        checks.iter().find(|c| c["name"] == name).unwrap()["found"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        found("GStreamer").starts_with("GStreamer 1."),
        "{}",
        found("GStreamer")
    );
    assert!(
        checks
            .iter()
            .any(|c| c["found"].as_str().unwrap().starts_with("libcamerasrc"))
    );

    // A wrong onnxruntime path is reported with its fix, and the exit code says so.
    let out = Command::new(profile_dir().join("hmg"))
        .arg("doctor")
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("FIX  onnxruntime library") && t.contains("ORT_DYLIB_PATH"),
        "{t}"
    );
}
