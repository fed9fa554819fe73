// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg collect`: the frames `hmg detect --capture` kept on the Pis, fetched for labelling. Over
//! SSH with keys only (deploy's client and rules), one folder per host, each pair checked by its
//! sha256 against the Pi's own sum before it counts as copied; only then removed on the Pi
//! (`--keep` leaves it). A second run fetches only what is new: pairs already here with the same
//! sums are not copied again (and are removed on the Pi if an earlier run could not).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, anyhow};

use crate::deploy::ssh::{Ssh, line, quote};
use crate::usage::usage;

#[derive(clap::Args, Debug, Clone)]
pub struct CollectArgs {
    /// A Pi, as for ssh: pi@raspberrypi.local, or a Host from your ssh config; repeatable
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// A file with one host per line (# starts a comment), as for hmg deploy
    #[arg(long = "hosts", value_name = "FILE")]
    hosts_file: Option<PathBuf>,
    #[command(flatten)]
    ssh: crate::deploy::ssh::SshOptions,
    /// hmg's folder on the Pi (hmg deploy's --remote-dir)
    #[arg(long, default_value = "hmg")]
    remote_dir: String,
    /// The captures folder on the Pi (default: <remote-dir>/out/detect/captures, where the
    /// service's hmg detect --capture writes)
    #[arg(long, value_name = "DIR")]
    captures: Option<String>,
    /// Only captures made since a date (2026-12-01, UTC) or a time ago (90m, 12h, 7d)
    #[arg(long, value_name = "WHEN", value_parser = since_ms)]
    since: Option<u64>,
    /// Where the captures go: one subfolder per host
    #[arg(long, default_value = "captured")]
    into: PathBuf,
    /// Leave the captures on the Pi after copying them
    #[arg(long)]
    keep: bool,
    /// Say what would be copied, copy nothing
    #[arg(long)]
    dry_run: bool,
}

/// `--since` as Unix milliseconds.
fn since_ms(s: &str) -> Result<u64, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let bad = || format!("'{s}' is neither a date (2026-12-01) nor a time ago (90m, 12h, 7d)");
    let unit = |u: char| match u {
        's' => Some(1_000),
        'm' => Some(60_000),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        _ => None,
    };
    if let Some(last) = s.chars().last()
        && let Some(per) = unit(last)
        && let Ok(n) = s[..s.len() - 1].parse::<u64>()
    {
        return Ok(now.saturating_sub(n.saturating_mul(per)));
    }
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts[..] else {
        return Err(bad());
    };
    let (y, m, d) = (
        y.parse::<i64>().map_err(|_| bad())?,
        m.parse::<i64>().map_err(|_| bad())?,
        d.parse::<i64>().map_err(|_| bad())?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d) as u64 * 86_400_000)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A capture's stem as detcapture names it (`<13-digit unix ms>-<stream>-<frame>`), with its
/// time; anything else in the folder is not ours and is left alone.
fn capture_time(stem: &str) -> Option<u64> {
    let (ms, rest) = stem.split_once('-')?;
    let safe = rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (ms.len() == 13 && safe && !rest.is_empty())
        .then(|| ms.parse().ok())
        .flatten()
}

/// The Pi's complete pairs with their sums: a record (`.json`) is written after its picture.
const LIST: &str = r#"for r in *.json; do [ -f "$r" ] || continue; p="${r%.json}.jpg"; [ -f "$p" ] || continue; sha256sum -- "$p" "$r"; done"#;

#[derive(Debug, Default)]
struct Pair {
    jpg: Option<String>,
    json: Option<String>,
}

/// What happened on one host.
#[derive(Debug, Default)]
struct HostReport {
    new: usize,
    had: usize,
    failed: usize,
    removed: usize,
    classes: BTreeMap<String, u64>,
}

/// Local folder name of a host: without the user, file-name safe.
fn host_folder(host: &str) -> String {
    let name = host.rsplit('@').next().unwrap_or(host);
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn sums_match(path: &Path, sum: &str) -> bool {
    hmg_detect::sidecar::file_sha256(path).is_ok_and(|s| s == sum)
}

fn collect_host(args: &CollectArgs, host: &str) -> anyhow::Result<HostReport> {
    let ssh = args.ssh.to(host, false);
    let remote = args.captures.clone().unwrap_or_else(|| {
        format!(
            "{}/out/detect/captures",
            args.remote_dir.trim_end_matches('/')
        )
    });
    let cd = format!("cd -- {} 2>/dev/null || exit 0; ", quote(&remote));
    let listing = ssh.run(&format!("{cd}{LIST}"), None)?;
    let mut pairs: BTreeMap<String, Pair> = BTreeMap::new();
    for l in listing.lines() {
        let Some((sum, name)) = l.split_once("  ") else {
            continue;
        };
        let (stem, is_jpg) = match (name.strip_suffix(".jpg"), name.strip_suffix(".json")) {
            (Some(stem), _) => (stem, true),
            (_, Some(stem)) => (stem, false),
            _ => continue,
        };
        let Some(at) = capture_time(stem) else {
            continue;
        };
        if args.since.is_some_and(|since| at < since) {
            continue;
        }
        let pair = pairs.entry(stem.to_string()).or_default();
        let slot = if is_jpg {
            &mut pair.jpg
        } else {
            &mut pair.json
        };
        *slot = Some(sum.to_string());
    }
    pairs.retain(|_, p| p.jpg.is_some() && p.json.is_some());

    let dest = args.into.join(host_folder(host));
    let mut report = HostReport::default();
    let (have, need): (Vec<_>, Vec<_>) = pairs.iter().partition(|(stem, p)| {
        sums_match(&dest.join(format!("{stem}.jpg")), p.jpg.as_deref().unwrap())
            && sums_match(
                &dest.join(format!("{stem}.json")),
                p.json.as_deref().unwrap(),
            )
    });
    report.had = have.len();
    if args.dry_run {
        println!(
            "{host}: would copy {} capture(s) from {remote} into {} ({} already there){}",
            need.len(),
            dest.display(),
            have.len(),
            if args.keep {
                String::new()
            } else {
                format!(", then remove {} on the Pi", need.len() + have.len())
            }
        );
        return Ok(report);
    }
    let mut verified: Vec<&String> = have.iter().map(|(stem, _)| *stem).collect();
    if !need.is_empty() {
        let staging = dest.join(".incoming");
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("cannot create '{}'", staging.display()))?;
        let names: Vec<String> = need
            .iter()
            .flat_map(|(stem, _)| [format!("{stem}.jpg"), format!("{stem}.json")])
            .collect();
        fetch(&ssh, &remote, &names, &staging)?;
        for (stem, pair) in &need {
            let (jpg, json) = (format!("{stem}.jpg"), format!("{stem}.json"));
            let ok = sums_match(&staging.join(&jpg), pair.jpg.as_deref().unwrap())
                && sums_match(&staging.join(&json), pair.json.as_deref().unwrap());
            if !ok {
                report.failed += 1;
                let _ = std::fs::remove_file(staging.join(&jpg));
                let _ = std::fs::remove_file(staging.join(&json));
                continue;
            }
            // The picture first: here too a record means a complete pair.
            for name in [&jpg, &json] {
                std::fs::rename(staging.join(name), dest.join(name))
                    .with_context(|| format!("cannot move '{name}' into '{}'", dest.display()))?;
            }
            report.new += 1;
            verified.push(stem);
            count_classes(&dest.join(&json), &mut report.classes);
        }
        let _ = std::fs::remove_dir(&staging);
    }
    if !args.keep {
        for chunk in verified.chunks(200) {
            // Records first: a picture left without its record is never taken for a capture.
            let mut words = vec!["rm", "-f", "--"];
            let names: Vec<String> = chunk
                .iter()
                .flat_map(|stem| [format!("{stem}.json"), format!("{stem}.jpg")])
                .collect();
            words.extend(names.iter().map(String::as_str));
            ssh.run(
                &format!("cd -- {} && {}", quote(&remote), line(&words)),
                None,
            )?;
            report.removed += chunk.len();
        }
    }
    Ok(report)
}

/// Copies `names` from `remote` into `staging` as one tar stream over ssh (names on its stdin).
fn fetch(ssh: &Ssh, remote: &str, names: &[String], staging: &Path) -> anyhow::Result<()> {
    let remote_tar = format!("cd -- {} && tar -cf - --null -T -", quote(remote));
    let mut sender = Command::new("ssh")
        .args(ssh.args())
        .arg(&remote_tar)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow!("cannot run ssh: {e} (install the OpenSSH client)"))?;
    let mut list = Vec::new();
    for n in names {
        list.extend_from_slice(n.as_bytes());
        list.push(0);
    }
    let mut stdin = sender.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(&list));
    let receiver = Command::new("tar")
        .args(["-xf", "-", "-C"])
        .arg(staging)
        .stdin(sender.stdout.take().expect("piped"))
        .output()
        .map_err(|e| anyhow!("cannot run tar: {e}"))?;
    let _ = writer.join();
    let sent = sender.wait_with_output()?;
    if sent.status.code() == Some(255) {
        anyhow::bail!(
            "{}",
            crate::deploy::ssh::explain(&ssh.host, &String::from_utf8_lossy(&sent.stderr))
        );
    }
    if !sent.status.success() || !receiver.status.success() {
        anyhow::bail!(
            "copying from {} failed: {}{}",
            ssh.host,
            String::from_utf8_lossy(&sent.stderr).trim(),
            String::from_utf8_lossy(&receiver.stderr).trim()
        );
    }
    Ok(())
}

/// Adds the labels predicted in a capture record to `classes`.
fn count_classes(record: &Path, classes: &mut BTreeMap<String, u64>) {
    let Ok(bytes) = std::fs::read(record) else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return;
    };
    for d in value["detections"].as_array().into_iter().flatten() {
        if let Some(label) = d["label"].as_str() {
            *classes.entry(label.to_string()).or_default() += 1;
        }
    }
}

pub fn run(args: &CollectArgs) -> anyhow::Result<()> {
    let hosts = crate::deploy::fleet::hosts_from(&args.hosts, args.hosts_file.as_deref())?;
    if hosts.is_empty() {
        return Err(usage(
            "name the Pis to collect from: --host pi@raspberrypi.local or --hosts fleet.txt",
        ));
    }
    let results: Vec<(String, anyhow::Result<HostReport>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = hosts
            .iter()
            .map(|h| (h.clone(), scope.spawn(|| collect_host(args, h))))
            .collect();
        workers
            .into_iter()
            .map(|(h, w)| {
                let r = w
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("collecting from {h} crashed")));
                (h, r)
            })
            .collect()
    });
    if args.dry_run {
        return results
            .into_iter()
            .find_map(|(h, r)| r.err().map(|e| anyhow!("{h}: {e:#}")))
            .map_or(Ok(()), Err);
    }
    let width = hosts.iter().map(|h| h.len()).max().unwrap_or(4).max(4);
    println!(
        "{:<width$}  {:>5}  {:>7}  {:>6}  {:>12}  result",
        "host", "new", "already", "failed", "removed (Pi)"
    );
    let mut classes: HashMap<String, u64> = HashMap::new();
    let mut failures = Vec::new();
    for (host, result) in &results {
        match result {
            Ok(r) => {
                println!(
                    "{host:<width$}  {:>5}  {:>7}  {:>6}  {:>12}  {}",
                    r.new,
                    r.had,
                    r.failed,
                    r.removed,
                    if r.failed == 0 {
                        "ok".to_string()
                    } else {
                        format!("{} failed their checksum, left on the Pi", r.failed)
                    }
                );
                for (c, n) in &r.classes {
                    *classes.entry(c.clone()).or_default() += n;
                }
                if r.failed > 0 {
                    failures.push(format!(
                        "{host}: {} capture(s) failed their checksum",
                        r.failed
                    ));
                }
            }
            Err(e) => {
                println!(
                    "{host:<width$}  {:>5}  {:>7}  {:>6}  {:>12}  failed: {e:#}",
                    "-", "-", "-", "-"
                );
                failures.push(format!("{host}: {e:#}"));
            }
        }
    }
    let mut classes: Vec<(String, u64)> = classes.into_iter().collect();
    classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if !classes.is_empty() {
        let list: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!("new predictions per class: {}", list.join(", "));
    }
    println!(
        "into {} (label them: hmg annotate --images {} --dataset datasets/train)",
        args.into.display(),
        args.into.join("<host>").display()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "{} of {} host(s) did not collect cleanly: {}",
            failures.len(),
            hosts.len(),
            failures.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_dates_and_times_ago() {
        assert_eq!(since_ms("1970-01-02"), Ok(86_400_000));
        assert_eq!(since_ms("2000-03-01"), Ok(951_868_800_000));
        let now = since_ms("0s").unwrap();
        let day_ago = since_ms("1d").unwrap();
        assert!((now - day_ago).abs_diff(86_400_000) < 5_000);
        for bad in ["yesterday", "2026-13-01", "12x", "-5h", "2026-12"] {
            assert!(since_ms(bad).unwrap_err().contains("time ago"), "{bad}");
        }
    }

    #[test]
    fn only_detcaptures_names_count_as_captures() {
        assert_eq!(
            capture_time("1796376889751-bikes-000013"),
            Some(1_796_376_889_751)
        );
        assert_eq!(capture_time("notes"), None);
        assert_eq!(capture_time("123-bikes-000013"), None);
        assert_eq!(capture_time("1796376889751-../x"), None);
        assert_eq!(capture_time("1796376889751-"), None);
    }

    #[test]
    fn host_folders_drop_the_user_and_odd_characters() {
        assert_eq!(host_folder("pi@raspberrypi.local"), "raspberrypi.local");
        assert_eq!(host_folder("pi-a"), "pi-a");
        assert_eq!(host_folder("[fe80::1]"), "_fe80__1_");
    }
}
