// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg doctor` on this machine (set up by scripts/setup) and with a problem planted.

use std::process::Command;

use hmg_e2e::*;

#[test]
fn test_doctor_reports_each_check_and_the_fix_for_problems() {
    // As a user runs it after scripts/setup: the plugin from the user's plugin folder and
    // onnxruntime from where setup put it, with no private paths.
    let out = Command::new(profile_dir().join("hmg"))
        .args(["doctor", "--json"])
        .env_remove("GST_PLUGIN_PATH")
        .env_remove("ORT_DYLIB_PATH")
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
    // On the set-up machine the plugin and onnxruntime checks pass.
    for name in [
        "GStreamer",
        "hmg elements",
        "plugin for gst-launch-1.0",
        "onnxruntime library",
    ] {
        let check = checks.iter().find(|c| c["name"] == name).unwrap();
        assert_eq!(check["ok"], true, "{check}");
    }

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

/// A stand-in `bin/python` that runs `body` (a shell script) whatever it is asked.
fn fake_venv(dir: &std::path::Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let python = dir.join("bin/python");
    std::fs::write(&python, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn test_doctor_checks_the_python_venvs() {
    let dir = temp_dir("doctor-venvs");
    let ultralytics = dir.join("ultralytics");
    fake_venv(
        &ultralytics,
        "echo 'importlib.metadata.PackageNotFoundError: No package metadata was found for onnxslim' >&2; exit 1",
    );
    let dfc = dir.join("dfc");
    fake_venv(&dfc, "echo 3.33.0");
    let out = Command::new(profile_dir().join("hmg"))
        .arg("doctor")
        .env("HMG_ULTRALYTICS_VENV", &ultralytics)
        .env("HMG_DFC_VENV", &dfc)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("FIX  ultralytics venv"), "{t}");
    assert!(
        t.contains("No package metadata was found for onnxslim"),
        "{t}"
    );
    assert!(t.contains("scripts/setup-ultralytics"), "{t}");
    assert!(t.contains("Dataflow Compiler 3.33.0"), "{t}");

    // Not created yet is fine: only training and export need it.
    let out = Command::new(profile_dir().join("hmg"))
        .args(["doctor", "--json"])
        .env("HMG_ULTRALYTICS_VENV", dir.join("none"))
        .env("HMG_DFC_VENV", dir.join("none"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let venv = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ultralytics venv")
        .unwrap();
    assert_eq!(venv["ok"], true);
    assert!(venv["found"].as_str().unwrap().contains("not created yet"));
}
