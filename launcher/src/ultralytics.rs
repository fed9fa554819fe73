// SPDX-License-Identifier: MIT OR Apache-2.0
//! Running ultralytics in the venv hmg owns: created on first use, offline settings, the
//! driver script (`launcher/python/hmg_ultralytics.py`) and its events, its log kept in a file,
//! Ctrl-C passed on once so ultralytics can stop cleanly.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::usage::usage;
use crate::venvs;

const DRIVER: &str = include_str!("../python/hmg_ultralytics.py");

/// Exit status of the driver for a user error and for Ctrl-C.
const USER_ERROR: i32 = 3;
const INTERRUPTED: i32 = 130;

/// How a driver run ended (errors other than these are returned as `Err`).
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Finished; the `done` event.
    Done(Value),
    /// Stopped by Ctrl-C / SIGINT / SIGTERM.
    Interrupted,
}

/// The ultralytics venv, created (about 3 GB of wheels, once) when missing or incomplete.
pub fn ensure_venv() -> anyhow::Result<PathBuf> {
    let venv = venvs::ultralytics_venv();
    let packages = venvs::ultralytics_packages();
    let wanted: Vec<&str> = venvs::ULTRALYTICS_REQUIREMENTS
        .lines()
        .filter_map(|l| l.split('#').next())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split("==").nth(1))
        .collect();
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
    let requirements = tempfile_with(venvs::ULTRALYTICS_REQUIREMENTS)?;
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
    let _ = std::fs::remove_file(&requirements);
    anyhow::ensure!(
        status.success(),
        "pip could not install ultralytics into {} (see above); check the network or the \
         package index, then run the command again",
        venv.display()
    );
    Ok(venv)
}

fn tempfile_with(text: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("hmg-requirements-{}.txt", std::process::id()));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
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
        let part = font_dir.join("Arial.ttf.part");
        std::fs::copy(&dejavu, &part)
            .with_context(|| format!("cannot copy {}", dejavu.display()))?;
        std::fs::rename(&part, &arial)?;
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

static INTERRUPT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPT.store(true, Ordering::SeqCst);
}

/// Runs `command` of the driver with `args`; every `@hmg` event goes to `on_event`, all output
/// into `log`. The driver runs in its own process group, so a terminal's Ctrl-C reaches hmg
/// only, and hmg passes it on once: ultralytics gets one KeyboardInterrupt and stops cleanly.
pub fn run_driver(
    command: &str,
    args: &Value,
    log: &Path,
    mut on_event: impl FnMut(&Value),
) -> anyhow::Result<Outcome> {
    let venv = ensure_venv()?;
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let log_file = Arc::new(Mutex::new(
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?,
    ));
    let mut cmd = Command::new(venvs::python(&venv));
    cmd.arg("-c")
        .arg(DRIVER)
        .arg(command)
        .arg(args.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    offline(&mut cmd, &venv)?;
    INTERRUPT.store(false, Ordering::SeqCst);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            libc::signal(
                signal,
                on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", venvs::python(&venv).display()))?;
    let pid = child.id() as libc::pid_t;
    let running = Arc::new(AtomicBool::new(true));
    let forwarder = {
        let running = running.clone();
        std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                if INTERRUPT.swap(false, Ordering::SeqCst) {
                    // SAFETY: plain kill(2) on our own child.
                    unsafe { libc::kill(pid, libc::SIGINT) };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let stderr = child.stderr.take().expect("piped");
    let stderr_log = log_file.clone();
    let stderr_tail = Arc::new(Mutex::new(Vec::<String>::new()));
    let tail = stderr_tail.clone();
    let stderr_thread = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(stderr_log.lock().unwrap(), "{line}");
            let mut t = tail.lock().unwrap();
            t.push(line);
            if t.len() > 12 {
                t.remove(0);
            }
        }
    });
    let mut done = None;
    let mut error = None;
    let mut interrupted = false;
    for line in BufReader::new(child.stdout.take().expect("piped"))
        .lines()
        .map_while(Result::ok)
    {
        let _ = writeln!(log_file.lock().unwrap(), "{line}");
        let Some(json) = line.strip_prefix("@hmg ") else {
            continue;
        };
        let Ok(event) = serde_json::from_str::<Value>(json) else {
            continue;
        };
        match event["event"].as_str() {
            Some("done") => done = Some(event.clone()),
            Some("error") => error = event["message"].as_str().map(str::to_string),
            Some("interrupted") => interrupted = true,
            _ => {}
        }
        on_event(&event);
    }
    let status = child.wait().context("the ultralytics driver vanished")?;
    running.store(false, Ordering::SeqCst);
    let _ = forwarder.join();
    let _ = stderr_thread.join();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: restoring the default disposition.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
    let _ = log_file.lock().unwrap().flush();
    match (status.code(), done, error) {
        (Some(0), Some(done), _) => Ok(Outcome::Done(done)),
        (Some(USER_ERROR), _, Some(message)) => Err(usage(message)),
        (Some(INTERRUPTED), _, _) => Ok(Outcome::Interrupted),
        _ if interrupted => Ok(Outcome::Interrupted),
        _ => {
            let tail = stderr_tail.lock().unwrap().join("\n");
            anyhow::bail!(
                "ultralytics failed ({status}); the last lines of its log {}:\n{tail}",
                log.display()
            )
        }
    }
}
