// SPDX-License-Identifier: MIT OR Apache-2.0
//! Finding the files hmg ships (default model, demo clip) wherever hmg runs from.

use std::path::{Path, PathBuf};

pub const DEFAULT_MODEL: &str = "models/yolov12n-coco.onnx";
pub const DEMO_CLIP: &str = "media/bikes.mp4";

/// Folders that may hold `models/` and `media/`: `$HMG_HOME`, the current folder, the
/// checkout the binary was built in, the package's `<prefix>/share/hmg`, and the data folder
/// scripts/setup installs into.
fn roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(h) = std::env::var_os("HMG_HOME") {
        roots.push(PathBuf::from(h));
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).take(3).map(Path::to_path_buf));
        // Installed from the Debian package: /usr/bin/hmg and /usr/share/hmg.
        if let Some(prefix) = exe.parent().and_then(Path::parent) {
            roots.push(prefix.join("share/hmg"));
        }
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    if let Some(d) = data_home {
        roots.push(d.join("hmg"));
    }
    roots
}

/// Resolves a shipped file, or says where it looked.
pub fn find(relative: &str) -> anyhow::Result<PathBuf> {
    let roots = roots();
    roots.iter().map(|r| r.join(relative)).find(|p| p.is_file()).ok_or_else(|| {
        let looked: Vec<String> = roots.iter().map(|r| r.join(relative).display().to_string()).collect();
        anyhow::anyhow!(
            "cannot find '{relative}' (looked in {}). Run hmg from the hmg folder, run scripts/setup, or set HMG_HOME",
            looked.join(", ")
        )
    })
}
