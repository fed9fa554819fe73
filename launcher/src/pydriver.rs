// SPDX-License-Identifier: MIT OR Apache-2.0
//! Running one of hmg's Python drivers (ultralytics, the Dataflow Compiler): `@hmg {json}` event
//! lines on stdout, everything else into a log file, its own process group so a terminal's
//! Ctrl-C reaches hmg only, and hmg passes one SIGINT on, so the tool stops once and cleanly.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

/// Exit status of a driver for an error it explains, and for Ctrl-C.
const EXPLAINED: i32 = 3;
const INTERRUPTED: i32 = 130;

/// How a driver run ended normally.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Finished; the `done` event.
    Done(Value),
    /// Stopped by Ctrl-C / SIGINT / SIGTERM.
    Interrupted,
}

/// Every way a driver run can end.
#[derive(Debug)]
pub enum Ended {
    Finished(Outcome),
    /// Exit 3 with an `error` event: the driver explained what it refused.
    Refused(Value),
    /// Anything else: the exit status and the last lines of stderr.
    Failed {
        status: String,
        tail: String,
    },
}

static INTERRUPT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPT.store(true, Ordering::SeqCst);
}

/// Runs `cmd` (a driver); every `@hmg` event goes to `on_event`, all output into `log`.
pub fn run_python(
    mut cmd: Command,
    log: &Path,
    mut on_event: impl FnMut(&Value),
) -> anyhow::Result<Ended> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let log_file = Arc::new(Mutex::new(
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?,
    ));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
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
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
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
            Some("error") => error = Some(event.clone()),
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
    Ok(match (status.code(), done, error) {
        (Some(0), Some(done), _) => Ended::Finished(Outcome::Done(done)),
        (Some(EXPLAINED), _, Some(error)) => Ended::Refused(error),
        (Some(INTERRUPTED), _, _) => Ended::Finished(Outcome::Interrupted),
        _ if interrupted => Ended::Finished(Outcome::Interrupted),
        _ => Ended::Failed {
            status: status.to_string(),
            tail: stderr_tail.lock().unwrap().join("\n"),
        },
    })
}
