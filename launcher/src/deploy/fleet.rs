// SPDX-License-Identifier: MIT OR Apache-2.0
//! Deploying to several Pis at once: one `hmg deploy --host X` child process per host (at most
//! `PARALLEL` at a time), each with its own log, then one table of results. A failing host does
//! not stop the others; the exit code is 1 when any failed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, anyhow};

use super::DeployArgs;
use crate::usage::usage;

const PARALLEL: usize = 8;

/// The hosts of `--host` and `--hosts FILE`, in order, without repeats.
pub fn hosts(args: &DeployArgs) -> anyhow::Result<Vec<String>> {
    hosts_from(&args.hosts, args.hosts_file.as_deref())
}

/// `given` hosts, then those of `file` (one a line, `#` starts a comment), without repeats.
pub fn hosts_from(given: &[String], file: Option<&std::path::Path>) -> anyhow::Result<Vec<String>> {
    let mut hosts = given.to_vec();
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            usage(format!(
                "cannot read the hosts file '{}': {e}",
                file.display()
            ))
        })?;
        hosts.extend(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
        if hosts.is_empty() {
            return Err(usage(format!(
                "the hosts file '{}' names no host (one per line)",
                file.display()
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    for h in &hosts {
        if h.trim().is_empty() || h.starts_with('-') || h.contains(char::is_whitespace) {
            return Err(usage(format!("'{h}' is not a host")));
        }
    }
    Ok(hosts)
}

/// This process's own arguments with every --host / --hosts removed (each child gets one host).
fn shared_arguments() -> Vec<String> {
    let mut out = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--host" || a == "--hosts" {
            args.next();
        } else if !(a.starts_with("--host=") || a.starts_with("--hosts=")) {
            out.push(a);
        }
    }
    out
}

struct Outcome {
    host: String,
    ok: bool,
    seconds: f64,
    /// The line that says what happened (the error, or what is current now).
    summary: String,
    log: PathBuf,
}

pub fn deploy_all(hosts: &[String]) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the hmg executable")?;
    let shared = shared_arguments();
    let logs = PathBuf::from("out/deploy").join(
        gst::glib::DateTime::now_local()
            .and_then(|t| t.format("%Y%m%d-%H%M%S"))
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "run".into()),
    );
    std::fs::create_dir_all(&logs)
        .with_context(|| format!("cannot create the log folder '{}'", logs.display()))?;
    println!(
        "deploying to {} hosts ({} at a time); logs in {}/",
        hosts.len(),
        PARALLEL.min(hosts.len()),
        logs.display()
    );
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(hosts.len()) {
            scope.spawn(|| {
                while let Some(host) = hosts.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let outcome = deploy_child(&exe, &shared, host, &logs);
                    println!(
                        "  {} {host}: {}",
                        if outcome.ok { "ok    " } else { "FAILED" },
                        outcome.summary
                    );
                    outcomes.lock().unwrap().push(outcome);
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|o| hosts.iter().position(|h| *h == o.host));
    print_table(&outcomes);
    let failed = outcomes.iter().filter(|o| !o.ok).count();
    if failed > 0 {
        return Err(anyhow!(
            "{failed} of {} hosts failed (their logs say why); run the same command with --host for each to retry",
            outcomes.len()
        ));
    }
    Ok(())
}

fn deploy_child(exe: &PathBuf, shared: &[String], host: &str, logs: &std::path::Path) -> Outcome {
    let start = Instant::now();
    let log = logs.join(format!("{}.log", host.replace(['/', '\\'], "_")));
    let result = Command::new(exe)
        .args(shared)
        .args(["--host", host])
        .stdin(std::process::Stdio::null())
        .output();
    let (ok, text) = match result {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (
            false,
            format!("error: cannot start {}: {e}\n", exe.display()),
        ),
    };
    let _ =
        crate::atomic::write_atomic(&log, |w| Ok(std::io::Write::write_all(w, text.as_bytes())?));
    let summary = if ok {
        text.lines()
            .rev()
            .find(|l| {
                l.contains(" is current on ")
                    || l.starts_with("rolled back")
                    || l.starts_with("bundle:")
                    || l.starts_with("service:")
            })
            .unwrap_or("done")
            .to_string()
    } else {
        text.lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("failed")
            .trim_start_matches("error: ")
            .to_string()
    };
    Outcome {
        host: host.to_string(),
        ok,
        seconds: start.elapsed().as_secs_f64(),
        summary,
        log,
    }
}

fn print_table(outcomes: &[Outcome]) {
    let width = outcomes
        .iter()
        .map(|o| o.host.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!();
    println!(
        "{:<width$}  {:<6}  {:>6}  what happened",
        "host", "result", "time"
    );
    for o in outcomes {
        println!(
            "{:<width$}  {:<6}  {:>5.1}s  {}{}",
            o.host,
            if o.ok { "ok" } else { "FAILED" },
            o.seconds,
            o.summary,
            if o.ok {
                String::new()
            } else {
                format!(" (log: {})", o.log.display())
            }
        );
    }
}
