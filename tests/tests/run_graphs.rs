// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg run`: every template in graphs/ builds with real elements (cameras included), runs on the
//! bundled clip, stops cleanly on Ctrl-C, and bad arguments exit with 2 before anything starts.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hmg_e2e::*;

fn hmg() -> Command {
    let mut c = Command::new(profile_dir().join("hmg"));
    c.current_dir(repo());
    c
}

fn templates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("graphs"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "gst"))
        .map(|e| e.path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn test_every_template_documents_its_variables_and_builds() {
    let names = templates();
    for expected in [
        "file",
        "pi-camera",
        "usb-camera",
        "multi-camera",
        "rtsp",
        "counting",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "graphs/{expected}.gst missing: {names:?}"
        );
    }
    for name in &names {
        let vars = hmg().args(["run", name, "--vars"]).output().unwrap();
        assert!(vars.status.success(), "{name}: {}", text(&vars));
        let mut check = hmg();
        check.args(["run", name, "--check"]);
        if text(&vars).contains("required") {
            // Every required variable of the shipped templates is a URL.
            check.args(["--set", "URL=rtsp://127.0.0.1:8554/test"]);
        }
        let out = check.output().unwrap();
        assert!(out.status.success(), "{name}: {}", text(&out));
        assert!(text(&out).contains("builds"), "{name}: {}", text(&out));
    }
}

#[test]
fn test_print_gives_a_line_gst_launch_runs() {
    let dir = temp_dir("run-print");
    let log = dir.join("with space.jsonl");
    let out = hmg()
        .args(["run", "file", "--print", "--set"])
        .arg(format!("LOG={}", log.display()))
        .args(["--set", "OUTPUT=/dev/null"])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && line.starts_with("gst-launch-1.0 "),
        "{line}"
    );
    // The printed command, run by a shell as a user would paste it.
    let mut sh = gst_command("sh", &dir);
    let run = sh.arg("-c").arg(&line).output().unwrap();
    assert!(run.status.success(), "{line}\n{}", text(&run));
    let lines = std::fs::read_to_string(&log).unwrap().lines().count();
    assert_eq!(lines, 250);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_bad_arguments_exit_2_with_one_clear_line() {
    for (args, needle) in [
        (vec!["run", "file", "--set", "MODLE=x"], "no variable MODLE"),
        (vec!["run", "rtsp"], "needs URL"),
        (
            vec!["run", "no-such-graph"],
            "no graph template 'no-such-graph'",
        ),
        (vec!["run", "file", "--set", "novalue"], "KEY=VALUE"),
        (vec!["run", "missing/graph.gst"], "does not exist"),
    ] {
        let out = hmg().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(needle), "{args:?}: {}", text(&out));
    }
}

#[test]
fn test_ctrl_c_finishes_the_files() {
    let dir = temp_dir("run-sigint");
    let (log, mp4) = (dir.join("d.jsonl"), dir.join("d.mp4"));
    let child = hmg()
        .args(["run", "file", "--set"])
        .arg(format!("LOG={}", log.display()))
        .arg("--set")
        .arg(format!("OUTPUT={}", mp4.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until frames flow, then Ctrl-C.
    let start = Instant::now();
    while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(start.elapsed() < Duration::from_secs(120), "no frames");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("stopping"), "{t}");
    let frames: usize = t
        .split("frames: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{t}"));
    assert!(frames > 0 && frames < 250, "{t}");
    // Every frame that went through is logged, and the mp4 is finalized (it demuxes).
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        frames
    );
    assert_mp4_playable(&mp4, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_the_counting_template_prints_the_counts_its_events_tell() {
    let dir = temp_dir("run-counting");
    let (log, mp4) = (dir.join("events.jsonl"), dir.join("counting.mp4"));
    let out = hmg()
        .args(["run", "counting", "--set"])
        .arg(format!("LOG={}", log.display()))
        .arg("--set")
        .arg(format!("OUTPUT={}", mp4.display()))
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // "    door: car in 1 out 1, person in 2 out 1": the totals per direction.
    let door = t
        .lines()
        .find_map(|l| l.trim().strip_prefix("door: "))
        .unwrap_or_else(|| panic!("no door counts: {t}"));
    let total = |direction: &str| -> u64 {
        door.split(", ")
            .map(|part| {
                let words: Vec<&str> = part.split_whitespace().collect();
                let at = words.iter().position(|w| *w == direction).unwrap();
                words[at + 1].parse::<u64>().unwrap()
            })
            .sum()
    };
    // Every track's end record lists its crossings.
    let mut crossed = std::collections::HashMap::<String, u64>::new();
    let records = read_json_lines(&log);
    for r in records.iter().filter(|r| r["type"] == "end") {
        for c in r["crossings"].as_array().unwrap() {
            if c["line"] == "door" {
                *crossed
                    .entry(c["direction"].as_str().unwrap().into())
                    .or_default() += 1;
            }
        }
    }
    assert!(crossed.values().sum::<u64>() > 0, "nobody crossed: {t}");
    for direction in ["in", "out"] {
        assert_eq!(
            total(direction),
            crossed.get(direction).copied().unwrap_or(0),
            "{direction}: {t}"
        );
    }
    assert_mp4_playable(&mp4, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}
