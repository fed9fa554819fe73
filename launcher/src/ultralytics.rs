// SPDX-License-Identifier: MIT OR Apache-2.0
//! Running ultralytics in the venv hmg owns: created on first use, offline settings, the
//! driver script (`launcher/python/hmg_ultralytics.py`) run through [`crate::pydriver`].

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde_json::Value;

pub use crate::pydriver::Outcome;
use crate::pydriver::{Ended, run_python};
use crate::usage::usage;
use crate::venvs;

const DRIVER: &str = include_str!("../python/hmg_ultralytics.py");

/// The ultralytics venv, created (about 3 GB of wheels, once) when missing or incomplete.
pub fn ensure_venv() -> anyhow::Result<PathBuf> {
    let venv = venvs::ultralytics_venv();
    let (packages, wanted): (Vec<&str>, Vec<&str>) = venvs::ultralytics_pins().into_iter().unzip();
    if venvs::package_versions(&venv, &packages).is_ok_and(|v| v == wanted) {
        return Ok(venv);
    }
    eprintln!(
        "creating the ultralytics venv at {} (about 3 GB of downloads, once; later runs reuse it)",
        venv.display()
    );
    if !venv.join("bin/python").exists() {
        if let Some(parent) = venv.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("python3 is missing: sudo apt install python3 python3-venv")?;
        anyhow::ensure!(
            status.success(),
            "cannot create a venv at {}: sudo apt install python3-venv",
            venv.display()
        );
    }
    let requirements =
        crate::atomic::temp_file_with("hmg-requirements-", venvs::ULTRALYTICS_REQUIREMENTS)?;
    let status = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "-q",
            "-r",
        ])
        .arg(&requirements)
        .status()
        .context("cannot run pip in the ultralytics venv")?;
    drop(requirements);
    anyhow::ensure!(
        status.success(),
        "pip could not install ultralytics into {} (see above); check the network or the \
         package index, then run the command again",
        venv.display()
    );
    Ok(venv)
}

/// Settings that keep ultralytics offline (BUILD-FACTS): no hub, no auto-install, its config
/// and matplotlib's cache in hmg's cache, and the font it would otherwise download.
fn offline(cmd: &mut Command, venv: &Path) -> anyhow::Result<()> {
    let config = venvs::cache_dir().join("ultralytics-config");
    let font_dir = config.join("Ultralytics");
    std::fs::create_dir_all(&font_dir)
        .with_context(|| format!("cannot create {}", font_dir.display()))?;
    let arial = font_dir.join("Arial.ttf");
    if !arial.exists()
        && let Some(dejavu) = find_file(&venv.join("lib"), "DejaVuSans.ttf", 6)
    {
        let part = hmg_detect::atomic::Pending::new(&arial)?;
        std::fs::copy(&dejavu, part.path())
            .with_context(|| format!("cannot copy {}", dejavu.display()))?;
        part.commit()?;
    }
    cmd.env("YOLO_OFFLINE", "1")
        .env("YOLO_AUTOINSTALL", "0")
        .env("YOLO_CONFIG_DIR", &config)
        .env("MPLCONFIGDIR", venvs::cache_dir().join("matplotlib"))
        .env("PYTHONUNBUFFERED", "1");
    Ok(())
}

fn find_file(dir: &Path, name: &str, depth: usize) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut subdirs = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
        if depth > 0 && p.is_dir() {
            subdirs.push(p);
        }
    }
    subdirs.sort();
    subdirs
        .into_iter()
        .find_map(|d| find_file(&d, name, depth - 1))
}

/// Runs `command` of the ultralytics driver with `args`; every `@hmg` event goes to `on_event`,
/// all output into `log`. A user error of the driver (exit 3) becomes a usage error.
pub fn run_driver(
    command: &str,
    args: &Value,
    log: &Path,
    on_event: impl FnMut(&Value),
) -> anyhow::Result<Outcome> {
    let venv = ensure_venv()?;
    let mut cmd = Command::new(venvs::python(&venv));
    cmd.arg("-c").arg(DRIVER).arg(command).arg(args.to_string());
    offline(&mut cmd, &venv)?;
    match run_python(cmd, log, on_event)? {
        Ended::Finished(outcome) => Ok(outcome),
        Ended::Refused(error) => Err(usage(
            error["message"].as_str().unwrap_or("refused").to_string(),
        )),
        Ended::Failed { status, tail } => anyhow::bail!(
            "ultralytics failed ({status}); the last lines of its log {}:\n{tail}",
            log.display()
        ),
    }
}
