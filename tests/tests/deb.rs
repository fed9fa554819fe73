// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Debian package (scripts/build-deb) built from this build, installed by `hmg deploy --bundle`
//! over ssh to a loopback "Pi" (this machine: dpkg -i), and used as a user would with nothing else
//! set up: a fresh home, no plugin path, no onnxruntime path. Needs root (or password-less sudo)
//! for dpkg; removed again at the end.
//! Runs after the HailoRT build (scripts/test), as the package is built with it.

use std::path::Path;
use std::process::Command;

use hmg_e2e::debian::{Installed, assert_hmg_not_installed, build_deb};
use hmg_e2e::sshd::{Sshd, setup};
use hmg_e2e::*;

/// A command with only what a fresh login has: PATH, and a home of its own.
fn fresh(program: &str, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home)
        .env("GST_REGISTRY", home.join("registry.bin"))
        .current_dir(home);
    c
}

fn element_names(inspect: &str) -> Vec<String> {
    // "  yolonms: hmg YOLO NMS" lines of `gst-inspect-1.0 hmg`.
    let mut names: Vec<String> = inspect
        .lines()
        .filter_map(|l| {
            let (name, _) = l.trim_start().split_once(": ")?;
            (l.starts_with("  ") && !name.contains(' ')).then(|| name.to_string())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn test_the_deb_installs_and_runs_with_nothing_else_set_up() {
    let dir = temp_dir("deb");
    let deb = build_deb(&dir);
    let field = |name: &str| {
        let o = Command::new("dpkg-deb")
            .args(["-f"])
            .arg(&deb)
            .arg(name)
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let arch = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    assert_eq!(
        field("Architecture"),
        String::from_utf8(arch.stdout).unwrap().trim()
    );
    assert_eq!(field("Package"), "hmg");

    assert_hmg_not_installed();
    // Installed the way a user installs it on a Pi: hmg deploy --bundle, over ssh, to a "Pi"
    // (a loopback sshd) without hmg, with the service enabled after hmg doctor there.
    let pi = setup("deb-pi");
    std::fs::remove_file(pi.join("fakebin/hmg")).unwrap();
    std::fs::remove_dir_all(pi.join("pi-plugins")).unwrap();
    let sshd = Sshd::start(&pi, "host_key", false);
    let model = pi.join("m.onnx");
    std::fs::copy(repo().join("models/yolov12n-coco.onnx"), &model).unwrap();
    let _installed = Installed;
    let deploy = Command::new(profile_dir().join("hmg"))
        .args(["deploy", "--host", "pi", "--ssh-config"])
        .arg(sshd.client_config())
        .arg("--remote-dir")
        .arg(pi.join("pi/hmg"))
        .arg("--bundle")
        .arg(&deb)
        .arg("--model")
        .arg(&model)
        .args(["--service", "--detect-args", "--input graphs/file.gst"])
        .output()
        .unwrap();
    let t = text(&deploy);
    assert!(
        deploy.status.success(),
        "dpkg -i on the Pi needs root or password-less sudo: {t}"
    );
    for needle in [
        "hmg         not installed",
        "package: hmg_",
        "hmg doctor on the Pi: the service has what it needs",
        "hmg-detect.service (re)started",
    ] {
        assert!(t.contains(needle), "{needle}: {t}");
    }
    let unit =
        std::fs::read_to_string(pi.join("pi/.config/systemd/user/hmg-detect.service")).unwrap();
    assert!(
        unit.contains("exec hmg detect") && !unit.contains("GST_PLUGIN_PATH"),
        "the service runs the installed hmg: {unit}"
    );

    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let version = fresh("hmg", &home).arg("--version").output().unwrap();
    assert!(version.status.success(), "{}", text(&version));
    assert!(
        text(&version).contains("(HailoRT backend)"),
        "{}",
        text(&version)
    );

    // The system GStreamer finds the plugin, with every element the build's own plugin has.
    let inspect = fresh("gst-inspect-1.0", &home).arg("hmg").output().unwrap();
    assert!(inspect.status.success(), "{}", text(&inspect));
    let reference = gst_command("gst-inspect-1.0", &dir)
        .arg("hmg")
        .output()
        .unwrap();
    assert!(reference.status.success(), "{}", text(&reference));
    let installed = element_names(&text(&inspect));
    assert!(installed.len() >= 5, "{}", text(&inspect));
    assert_eq!(installed, element_names(&text(&reference)));
    assert!(
        text(&inspect).contains("/gstreamer-1.0/libgsthmg.so")
            && !text(&inspect).contains(&*profile_dir().to_string_lossy()),
        "the system plugin, not the build's: {}",
        text(&inspect)
    );

    // hmg demo: the packaged model, clip and onnxruntime, from any folder.
    let demo = fresh("hmg", &home).arg("demo").output().unwrap();
    let t = text(&demo);
    assert!(demo.status.success(), "{t}");
    assert!(
        t.contains("/usr/share/hmg/models/yolov12n-coco.onnx"),
        "{t}"
    );
    let log = std::fs::read_to_string(home.join("out/demo.jsonl")).unwrap();
    let detections: usize = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["detections"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .sum();
    assert!(log.lines().count() > 10 && detections > 0, "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}
