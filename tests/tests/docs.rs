// SPDX-License-Identifier: MIT OR Apache-2.0
//! The guides' `sh` blocks, run as written from a copy of the hmg folder's layout, so that the
//! docs never show a command that does not work. (The Rust guide runs as doc tests of hmg-detect;
//! the Pi guide's `sh seed-walk` block, annotate to the Pi, runs in seed_walk.rs, which needs the
//! HailoRT build.)

use std::path::Path;

use hmg_e2e::*;

/// The `sh` code blocks of a markdown file.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), l) => {
                block.push_str(l);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Runs every `sh` block of `guide` in a folder that has the repository's models/, media/ and
/// test fixtures, with our `hmg` first on PATH and our plugin on GST_PLUGIN_PATH.
fn run_guide(guide: &str) {
    let dir = temp_dir(&format!("docs-{}", guide.trim_end_matches(".md")));
    for link in ["models", "media", "graphs"] {
        std::os::unix::fs::symlink(repo().join(link), dir.join(link)).unwrap();
    }
    std::fs::create_dir_all(dir.join("tests/fixtures")).unwrap();
    std::os::unix::fs::symlink(
        repo().join("tests/fixtures/hailo"),
        dir.join("tests/fixtures/hailo"),
    )
    .unwrap();
    let markdown = std::fs::read_to_string(repo().join("docs").join(guide)).unwrap();
    let blocks = sh_blocks(&markdown);
    assert!(!blocks.is_empty(), "{guide} has no sh blocks");
    let path = format!(
        "{}:{}",
        profile_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for block in blocks {
        let out = gst_command("bash", &dir)
            .current_dir(&dir)
            .env("PATH", &path)
            .env("HMG_HOME", repo())
            .args(["-euo", "pipefail", "-c", &block])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{guide}: this block failed:\n{block}\n{}",
            text(&out)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_pi_guide_commands_work() {
    run_guide("guide-pi.md");
}

#[test]
fn test_analytics_guide_commands_work() {
    run_guide("analytics.md");
}

#[test]
fn test_live_view_guide_commands_work() {
    run_guide("live-view.md");
}

#[test]
fn test_data_loop_guide_commands_work() {
    run_guide("data-loop.md");
}

#[test]
fn test_gstreamer_guide_commands_work() {
    run_guide("guide-gstreamer.md");
}

#[test]
fn test_guides_link_only_to_files_that_exist() {
    for guide in [
        "guide-pi.md",
        "guide-gstreamer.md",
        "analytics.md",
        "live-view.md",
        "guide-rust.md",
        "metadata.md",
        "fleet.md",
        "deploy.md",
        "training.md",
        "compile.md",
        "quantize.md",
    ] {
        let text = std::fs::read_to_string(repo().join("docs").join(guide)).unwrap();
        for target in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            if target.starts_with("http") {
                continue;
            }
            // A link into a section names the file before its #anchor.
            let file = target.split('#').next().unwrap_or(target);
            let path = repo().join("docs").join(file);
            assert!(
                Path::new(&path).exists(),
                "{guide} links to missing {target}"
            );
        }
    }
}

/// The README's plain-GStreamer block exactly as a user runs it after scripts/setup: the plugin
/// from the user's plugin folder (no private GST_PLUGIN_PATH), onnxruntime from where setup put
/// it (no ORT_DYLIB_PATH), GStreamer's own registry.
#[test]
fn test_readme_gstreamer_block_runs_as_a_user_runs_it() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let block = sh_blocks(&readme)
        .into_iter()
        .find(|b| b.contains("gst-inspect-1.0 hmg"))
        .expect("README.md has a plain-GStreamer sh block");
    let dir = temp_dir("docs-readme");
    for link in ["models", "media"] {
        std::os::unix::fs::symlink(repo().join(link), dir.join(link)).unwrap();
    }
    let out = std::process::Command::new("bash")
        .current_dir(&dir)
        .env_remove("GST_PLUGIN_PATH")
        .env_remove("GST_REGISTRY")
        .env_remove("ORT_DYLIB_PATH")
        .args(["-euo", "pipefail", "-c", &block])
        .output()
        .unwrap();
    let said = text(&out);
    assert!(
        out.status.success(),
        "README.md: this block failed:\n{block}\n{said}"
    );
    // gst-inspect-1.0 shows every element the README's table names.
    let elements: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert!(
        elements.len() >= 8,
        "the README's element table: {elements:?}"
    );
    for element in &elements {
        assert!(
            said.contains(&format!("{element}: ")),
            "gst-inspect-1.0 hmg does not list {element}:\n{said}"
        );
    }
    // … and the table names every element the plugin has.
    let listed: Vec<&str> = said
        .lines()
        .filter(|l| l.contains(": hmg "))
        .filter_map(|l| l.trim().split(':').next())
        .collect();
    assert!(!listed.is_empty(), "{said}");
    for element in listed {
        assert!(
            elements.contains(&element),
            "README.md's element table misses {element}"
        );
    }
    assert_mp4_playable(&dir.join("out.mp4"), &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README's shell lines, comments dropped and `\` continuations joined.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut commands = Vec::new();
    for block in sh_blocks(&readme) {
        let joined = block.replace("\\\n", " ");
        for line in joined.lines() {
            let command = line.split(" #").next().unwrap().trim();
            if !command.is_empty() && !command.starts_with('#') {
                commands.push(command.to_string());
            }
        }
    }
    commands
}

/// The README's listings need a camera, a Hailo-8, a broker or hours of training, so they cannot
/// run here; each line is still checked as far as it can be without running it. Every `hmg` line
/// passes hmg's own argument parser flag for flag (with `--help` last: unknown flags, invalid
/// values and unknown commands fail before it), and every `gst-launch-1.0` line parses into a
/// graph (every element exists and has each property named).
#[test]
fn test_readme_listed_commands_are_accepted_as_written() {
    let commands = readme_commands();
    let hmg_lines: Vec<&String> = commands.iter().filter(|c| c.starts_with("hmg ")).collect();
    assert!(hmg_lines.len() >= 20, "{commands:?}");
    for command in hmg_lines {
        let out = std::process::Command::new(profile_dir().join("hmg"))
            .args(command.split_whitespace().skip(1))
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README.md: `{command}` is refused by hmg:\n{}",
            text(&out)
        );
    }
    let graphs: Vec<&String> = commands
        .iter()
        .filter(|c| c.starts_with("gst-launch-1.0 "))
        .collect();
    assert!(graphs.len() >= 2, "{commands:?}");
    let dir = temp_dir("docs-readme-graphs");
    for command in graphs {
        let description = command.trim_start_matches("gst-launch-1.0 ");
        let out = gst_command("/usr/bin/python3", &dir)
            .args([
                "-c",
                "import sys, gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; \
                 Gst.init(None); Gst.parse_launch(sys.argv[1])",
                description,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README.md: `{command}` does not parse:\n{}",
            text(&out)
        );
    }
}
