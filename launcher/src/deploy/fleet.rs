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

/// What only this process acts on: the hosts (each child gets one) and the canary settings.
const NOT_SHARED: [&str; 5] = ["--host", "--hosts", "--canary", "--soak", "--max-fps-drop"];

/// This process's own arguments without [`NOT_SHARED`] (and their values).
fn shared_arguments() -> Vec<String> {
    let mut out = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if NOT_SHARED.contains(&a.as_str()) {
            args.next();
        } else if !NOT_SHARED.iter().any(|o| a.starts_with(&format!("{o}="))) {
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

pub fn deploy_all(hosts: &[String], args: &DeployArgs) -> anyhow::Result<()> {
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
    let canaries = args.canary.map_or(0, |n| n as usize).min(hosts.len());
    let (first, rest) = hosts.split_at(canaries);
    let mut outcomes = Vec::new();
    if !first.is_empty() {
        let mut soaked = canary_stage(&exe, &shared, first, &logs, args)?;
        let failed: Vec<String> = soaked
            .iter()
            .filter(|o| !o.ok)
            .map(|o| format!("{}: {}", o.host, o.summary))
            .collect();
        if !failed.is_empty() {
            // Every canary goes back: the fleet stays on one model.
            for o in &mut soaked {
                let mut one = args.clone();
                one.host = o.host.clone();
                let back = super::rollback(&super::ssh_to(&one, &o.host), &one);
                o.summary += &match back {
                    Ok(()) => "; rolled back".to_string(),
                    Err(e) => format!("; ROLLBACK FAILED: {e:#}"),
                };
                o.ok = false;
            }
            print_table(&soaked);
            return Err(anyhow!(
                "the canary failed ({}); rolled back, and the other {} host(s) were not touched",
                failed.join("; "),
                rest.len()
            ));
        }
        outcomes.extend(soaked);
    }
    println!(
        "deploying to {} hosts ({} at a time); logs in {}/",
        rest.len(),
        PARALLEL.min(rest.len()),
        logs.display()
    );
    outcomes.extend(deploy_each(&exe, &shared, rest, &logs));
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

/// Deploys to the canaries, then watches each for `--soak`; an outcome per canary.
fn canary_stage(
    exe: &PathBuf,
    shared: &[String],
    canaries: &[String],
    logs: &std::path::Path,
    args: &DeployArgs,
) -> anyhow::Result<Vec<Outcome>> {
    let model = args
        .model
        .as_deref()
        .ok_or_else(|| usage("--canary needs --model"))?;
    let name = super::versioned_name(model)?;
    // Before: each canary's service as it runs now, read twice for its FPS, and the Pi's clock.
    println!(
        "canary: {} first, watched for {} s (after {} s measuring them as they run now)",
        canaries.join(", "),
        args.soak.as_secs(),
        super::canary::BASELINE_WINDOW.as_secs()
    );
    let read = || -> Vec<_> {
        canaries
            .iter()
            .map(|h| super::canary::read(&super::ssh_to(args, h), &args.remote_dir))
            .collect()
    };
    let first = read();
    std::thread::sleep(super::canary::BASELINE_WINDOW);
    let before: Vec<_> = first
        .into_iter()
        .zip(read())
        .map(|(a, b)| {
            let a = a.ok().and_then(|(s, _)| s);
            b.map(|(s, now)| ([a, s], now))
        })
        .collect();
    let mut outcomes = deploy_each(exe, shared, canaries, logs);
    std::thread::scope(|scope| {
        let watches: Vec<_> = outcomes
            .iter()
            .map(|o| (o.host.clone(), o.ok, o.summary.clone()))
            .zip(before)
            .map(|((host, ok, summary), before)| {
                let name = name.clone();
                scope.spawn(move || {
                    if !ok {
                        return Err(format!("deploy failed: {summary}"));
                    }
                    let (baseline, deployed_ms) = match before {
                        Ok((readings, Some(now))) => (readings, now),
                        Ok((_, None)) => return Err("the host did not report its time".into()),
                        Err(e) => return Err(format!("{e:#}")),
                    };
                    let soak = super::canary::Soak::new(baseline, deployed_ms, name, deployed_ms);
                    super::canary::watch(
                        &super::ssh_to(args, &host),
                        &args.remote_dir,
                        soak,
                        args.soak,
                        args.max_fps_drop,
                    )
                })
            })
            .collect();
        for (o, w) in outcomes.iter_mut().zip(watches) {
            let verdict = w
                .join()
                .unwrap_or_else(|_| Err("the soak watcher crashed".into()));
            println!(
                "  {} {}: {}",
                if verdict.is_ok() { "ok    " } else { "FAILED" },
                o.host,
                verdict.as_deref().unwrap_or_else(|e| e)
            );
            o.ok = verdict.is_ok();
            o.summary = format!(
                "canary {}",
                verdict.unwrap_or_else(|e| format!("failed: {e}"))
            );
        }
    });
    Ok(outcomes)
}

/// `hmg deploy --host X` for each of `hosts`, `PARALLEL` at a time.
fn deploy_each(
    exe: &PathBuf,
    shared: &[String],
    hosts: &[String],
    logs: &std::path::Path,
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(hosts.len()) {
            scope.spawn(|| {
                while let Some(host) = hosts.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let outcome = deploy_child(exe, shared, host, logs);
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
    outcomes
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
