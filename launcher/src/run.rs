// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg run NAME|FILE.gst [--set KEY=VALUE]… [--print]`: a graph template, filled in and run.

use std::path::{Path, PathBuf};

use crate::template::{Template, parse_sets};
use crate::usage::UsageError;
use crate::{assets, graph};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Template name from graphs/ (file, pi-camera, usb-camera, multi-camera, rtsp) or a .gst file
    graph: String,
    /// Set a template variable (repeatable), e.g. --set MODEL=models/my_model.hef
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Print the filled-in gst-launch-1.0 command instead of running it
    #[arg(long)]
    print: bool,
    /// List the template's variables and defaults
    #[arg(long)]
    vars: bool,
    /// Build the graph (every element must exist and link) without running it
    #[arg(long)]
    check: bool,
}

/// The template file for a name or a path.
pub fn resolve(graph: &str) -> anyhow::Result<PathBuf> {
    let as_path = Path::new(graph);
    if as_path.extension().is_some_and(|e| e == "gst") || graph.contains('/') {
        if as_path.is_file() {
            return Ok(as_path.to_path_buf());
        }
        let why = hmg_detect::paths::not_a_file(as_path).unwrap_or("cannot be read");
        return Err(UsageError(format!("graph file '{graph}' {why}")).into());
    }
    assets::find(&format!("graphs/{graph}.gst")).map_err(|_| {
        let known = assets::find("graphs/file.gst")
            .ok()
            .and_then(|f| f.parent().map(Path::to_path_buf))
            .map(|dir| template_names(&dir).join(", "))
            .unwrap_or_default();
        UsageError(format!("no graph template '{graph}' (known: {known})")).into()
    })
}

fn template_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.path()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

/// Shell-quotes one word of a command line when needed.
fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:,+=@%!".contains(c))
    {
        return w.to_string();
    }
    format!("'{}'", w.replace('\'', "'\\''"))
}

/// Splits a launch line into words, keeping double-quoted parts together.
fn launch_words(line: &str) -> Vec<String> {
    let (mut words, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            _ if escaped => {
                cur.push(c);
                escaped = false;
            }
            '\\' => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                cur.push(c);
                quoted = !quoted;
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// A launch line as shell words a user can paste after `gst-launch-1.0`.
pub fn shell_line(line: &str) -> String {
    launch_words(line)
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let path = resolve(&args.graph)?;
    let template = Template::load(&path)?;
    if args.vars {
        println!("{}: {}", path.display(), template.title);
        for v in &template.variables {
            let default = v
                .default
                .as_deref()
                .map(|d| format!("default {d}"))
                .unwrap_or_else(|| "required".into());
            println!("  {:<10} {} ({default})", v.name, v.help);
        }
        return Ok(());
    }
    let mut values = parse_sets(&args.sets)?;
    // Defaults that name shipped files resolve to wherever hmg's data lives.
    for v in &template.variables {
        if let Some(d) = &v.default
            && !values.contains_key(&v.name)
            && ["models/", "media/", "graphs/"]
                .iter()
                .any(|dir| d.starts_with(dir))
            && let Ok(found) = assets::find(d)
        {
            values.insert(v.name.clone(), found.display().to_string());
        }
    }
    let line = template.fill(&values)?;
    if args.print {
        println!("gst-launch-1.0 {}", shell_line(&line));
        return Ok(());
    }
    graph::init()?;
    if args.check {
        gst::parse::launch(&line).map_err(|e| {
            anyhow::anyhow!("graph '{}' does not build: {e}\n  {line}", path.display())
        })?;
        println!(
            "{}: builds ({} elements checked)",
            path.display(),
            line.matches(" ! ").count() + 1
        );
        return Ok(());
    }
    // Output files' folders are created, like `hmg demo` does.
    for v in &template.variables {
        if v.name.starts_with("LOG") || v.name.starts_with("OUTPUT") {
            let value = values.get(&v.name).or(v.default.as_ref());
            if let Some(parent) = value
                .map(Path::new)
                .and_then(Path::parent)
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    anyhow::anyhow!("cannot create '{}' for {}: {e}", parent.display(), v.name)
                })?;
            }
        }
    }
    println!("hmg run {}: {}", path.display(), template.title);
    let stats = graph::run(&line, None, true)?;
    println!(
        "frames: {}  time: {:.2} s  FPS: {:.1}  detections: {}",
        stats.frames,
        stats.elapsed.as_secs_f64(),
        stats.fps(),
        stats.detections
    );
    for (name, counts) in &stats.zone_counts {
        println!("counts ({name}):");
        graph::print_counts(counts);
    }
    Ok(())
}
