// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg doctor`: is this machine ready? Each check says what it found and, when something is
//! missing, the command that fixes it.

use std::path::Path;

use crate::{graph, venvs};

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// One line of the report.
#[derive(Debug, serde::Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    /// What was found.
    found: String,
    /// How to fix it (empty when fine).
    fix: String,
}

fn check(name: &'static str, ok: bool, found: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name,
        ok,
        found: found.into(),
        fix: if ok { String::new() } else { fix.into() },
    }
}

fn element(name: &str) -> bool {
    gst::ElementFactory::find(name).is_some()
}

fn checks() -> Vec<Check> {
    let mut out = Vec::new();
    let gst_ok = graph::init().is_ok();
    let version = gst::version_string().to_string();
    out.push(check(
        "GStreamer",
        gst_ok,
        version,
        "sudo apt install gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good",
    ));
    let ours = [
        "hailoinfer",
        "yolodecode",
        "yolonms",
        "detoverlay",
        "detlog",
    ]
    .iter()
    .all(|e| element(e));
    out.push(check(
        "hmg elements",
        ours,
        if ours {
            "hailoinfer, yolodecode, yolonms, detoverlay, detlog"
        } else {
            "missing"
        },
        "run scripts/setup",
    ));
    let installed = std::process::Command::new("gst-inspect-1.0")
        .arg("hmg")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    out.push(check(
        "plugin for gst-launch-1.0",
        installed,
        if installed {
            "gst-inspect-1.0 hmg finds it"
        } else {
            "gst-inspect-1.0 does not find the hmg plugin"
        },
        "run scripts/setup (installs libgsthmg.so into ~/.local/share/gstreamer-1.0/plugins)",
    ));
    for (el, what, fix) in [
        (
            "libcamerasrc",
            "Raspberry Pi camera source",
            "sudo apt install gstreamer1.0-libcamera",
        ),
        (
            "v4l2src",
            "USB camera source",
            "sudo apt install gstreamer1.0-plugins-good",
        ),
        (
            "rtspsrc",
            "RTSP source",
            "sudo apt install gstreamer1.0-plugins-good",
        ),
        (
            "x264enc",
            "mp4 recording (--record)",
            "sudo apt install gstreamer1.0-plugins-ugly",
        ),
        (
            "avdec_h264",
            "H.264 decoding (files, RTSP)",
            "sudo apt install gstreamer1.0-libav",
        ),
    ] {
        let ok = element(el);
        out.push(check(
            "element",
            ok,
            format!("{el} ({what}){}", if ok { "" } else { ": missing" }),
            fix,
        ));
    }
    let cameras: Vec<String> = (0..64)
        .map(|i| format!("/dev/video{i}"))
        .filter(|p| Path::new(p).exists())
        .collect();
    out.push(check(
        "cameras",
        true,
        if cameras.is_empty() {
            "no /dev/video* device (a Pi camera shows through libcamera)".to_string()
        } else {
            cameras.join(", ")
        },
        "",
    ));
    let ort = hmg_detect::engine::onnx::library_candidates();
    let ort_found = ort.iter().find(|p| p.is_file());
    out.push(check(
        "onnxruntime library",
        ort_found.is_some(),
        ort_found
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "not found".into()),
        "run scripts/setup, or set ORT_DYLIB_PATH to libonnxruntime.so",
    ));
    out.extend(python_checks());
    let dev = Path::new("/dev/hailo0").exists();
    out.push(hailort_check(dev));
    out.push(check(
        "Hailo device",
        dev || !hmg_detect::HAILO_SUPPORT,
        if dev { "/dev/hailo0" } else { "no /dev/hailo0" },
        "on the Raspberry Pi: sudo apt install hailo-all, then reboot (check the board with `hailortcli fw-control identify`)",
    ));
    out
}

/// Python itself, the ultralytics venv (training/export) and the Dataflow Compiler venv (HEF
/// compilation). The venvs are only needed for those steps: missing is not a problem, broken is.
fn python_checks() -> Vec<Check> {
    let mut out = Vec::new();
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    out.push(check(
        "Python",
        python.is_some(),
        python.unwrap_or_else(|| "python3 not found".into()),
        "sudo apt install python3 python3-venv",
    ));

    let venv = venvs::ultralytics_venv();
    let packages = venvs::ultralytics_packages();
    out.push(if !venv.exists() {
        check(
            "ultralytics venv",
            true,
            format!(
                "not created yet at {} (needed to train and export; scripts/setup-ultralytics creates it)",
                venv.display()
            ),
            "",
        )
    } else {
        match venvs::package_versions(&venv, &packages) {
            Ok(versions) => check(
                "ultralytics venv",
                true,
                format!(
                    "{} ({})",
                    venv.display(),
                    packages
                        .iter()
                        .zip(&versions)
                        .map(|(p, v)| format!("{p} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "",
            ),
            Err(e) => check(
                "ultralytics venv",
                false,
                format!("broken: {e}"),
                format!(
                    "rm -rf {} && scripts/setup-ultralytics",
                    venv.display()
                ),
            ),
        }
    });

    let candidates = venvs::dfc_venv_candidates();
    let found = candidates.iter().find(|v| v.exists());
    out.push(match found {
        None => check(
            "Dataflow Compiler venv",
            true,
            format!(
                "not installed (needed only to compile .hef on an x86 PC; looked in {})",
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "",
        ),
        Some(v) => match venvs::package_versions(v, &["hailo_dataflow_compiler"]) {
            Ok(version) => check(
                "Dataflow Compiler venv",
                true,
                format!("{} (Dataflow Compiler {})", v.display(), version[0]),
                "",
            ),
            Err(e) => check(
                "Dataflow Compiler venv",
                false,
                format!("broken: {e}"),
                format!(
                    "download the Dataflow Compiler (3.33.0 or newer) from the Hailo Developer Zone and pip install its wheel into {}",
                    v.display()
                ),
            ),
        },
    });
    out
}

fn hailort_check(device_present: bool) -> Check {
    #[cfg(feature = "hailo")]
    {
        let _ = device_present;
        match hmg_detect::engine::hailort::runtime() {
            Ok(rt) => check("HailoRT", true, format!("libhailort {}", rt.version), ""),
            Err(e) => check(
                "HailoRT",
                false,
                e,
                "sudo apt install hailo-all, then reboot",
            ),
        }
    }
    #[cfg(not(feature = "hailo"))]
    {
        without_hailort_check(device_present)
    }
}

/// A build without HailoRT is fine on a machine without a Hailo device, and a problem on one.
#[cfg_attr(feature = "hailo", allow(dead_code))]
fn without_hailort_check(device_present: bool) -> Check {
    if device_present {
        check(
            "HailoRT",
            false,
            "a Hailo device is present (/dev/hailo0), but this hmg is built without HailoRT: it cannot run .hef models",
            "install hmg built for the Pi (the hmg .deb, docs/guide-pi.md), or rebuild here with scripts/setup after `sudo apt install hailo-all`",
        )
    } else {
        check(
            "HailoRT",
            true,
            "this hmg is built without HailoRT (.onnx models only)",
            "",
        )
    }
}

pub fn run(args: &DoctorArgs) -> anyhow::Result<()> {
    let report = checks();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for c in &report {
            let mark = if c.ok { "ok  " } else { "FIX " };
            println!("{mark} {:<26} {}", c.name, c.found);
            if !c.fix.is_empty() {
                println!("     {:<26} → {}", "", c.fix);
            }
        }
    }
    let problems = report.iter().filter(|c| !c.ok).count();
    if problems > 0 {
        anyhow::bail!("{problems} problem(s) found; each line marked FIX says what to run");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hailo_device_without_hailort_in_the_build_is_a_problem() {
        let c = without_hailort_check(true);
        assert!(!c.ok && c.found.contains("/dev/hailo0") && c.fix.contains(".deb"));
        assert!(without_hailort_check(false).ok);
    }
}
