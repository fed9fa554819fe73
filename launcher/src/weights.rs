// SPDX-License-Identifier: MIT OR Apache-2.0
//! The weights `hmg train` starts from. Ultralytics' pretrained checkpoints by name
//! (`yolov8n.pt`, as ultralytics users expect) are fetched once from ultralytics' asset release
//! into hmg's cache, their sha256 recorded on the first fetch and checked at every later use;
//! offline and absent, hmg stops before any work and says which file to place where. An
//! architecture (`yolov8n.yaml`) starts from random weights; any other `.pt` is a local file.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::usage::usage;

/// Where ultralytics publishes its pretrained checkpoints (`HMG_WEIGHTS_URL` overrides it, for a
/// mirror on a network without GitHub).
const ASSETS: &str = "https://github.com/ultralytics/assets/releases/download/v8.3.0";

/// A checkpoint ultralytics publishes by name: `yolov8n.pt`, `yolo11s.pt`, … (no folder).
fn is_published_name(model: &str) -> bool {
    model.starts_with("yolo")
        && model.ends_with(".pt")
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// The folder of fetched checkpoints.
pub fn cache() -> PathBuf {
    crate::venvs::cache_dir().join("weights")
}

/// The model argument `hmg train` hands to ultralytics: an architecture as given, a local
/// checkpoint as an absolute path, a published checkpoint from the cache (fetched if needed).
pub fn resolve(model: &str) -> anyhow::Result<String> {
    let lower = model.to_ascii_lowercase();
    if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        return Ok(model.to_string());
    }
    let local = Path::new(model);
    if local.is_file() {
        return Ok(std::path::absolute(local)?.display().to_string());
    }
    if !is_published_name(model) {
        return Err(usage(format!(
            "--model {model} does not exist (give a checkpoint .pt you have, a published one such as yolov8n.pt, or an architecture such as yolov8n.yaml)"
        )));
    }
    let path = cache().join(model);
    if path.is_file() {
        check_recorded(&path)?;
    } else {
        fetch(model, &path)?;
    }
    Ok(path.display().to_string())
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    hmg_detect::sidecar::file_sha256(path)
        .map_err(|e| anyhow::anyhow!("cannot read '{}': {e}", path.display()))
}

fn record_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// The cached checkpoint is the one fetched (its sha256 then), not a damaged or swapped file.
fn check_recorded(path: &Path) -> anyhow::Result<()> {
    let Ok(recorded) = std::fs::read_to_string(record_path(path)) else {
        return Ok(()); // placed by hand: nothing recorded to compare with
    };
    let actual = sha256_file(path)?;
    if recorded.split_whitespace().next() != Some(actual.as_str()) {
        return Err(usage(format!(
            "'{}' is not the file fetched before (sha256 {actual}, recorded {}): delete it and run again to fetch it anew",
            path.display(),
            recorded.trim()
        )));
    }
    Ok(())
}

fn fetch(name: &str, path: &Path) -> anyhow::Result<()> {
    let base = std::env::var("HMG_WEIGHTS_URL").unwrap_or_else(|_| ASSETS.to_string());
    let url = format!("{}/{name}", base.trim_end_matches('/'));
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create '{}': {e}", dir.display()))?;
    let part = hmg_detect::atomic::Pending::new(path)?;
    eprintln!("fetching the pretrained weights {name} from {url}");
    let fetched = Command::new("curl")
        .args([
            "-fsSL",
            "--retry",
            "2",
            "--connect-timeout",
            "15",
            "--max-time",
            "600",
            "-o",
        ])
        .arg(part.path())
        .arg(&url)
        .status()
        .is_ok_and(|s| s.success())
        && part.path().metadata().is_ok_and(|m| m.len() > 0);
    if !fetched {
        return Err(usage(format!(
            "the pretrained weights {name} are not here and could not be fetched from {url} (offline?). Download that file on a connected machine and place it at {}, or pass --model PATH.pt (a checkpoint you have) or --model {} (random weights: needs far more pictures)",
            path.display(),
            name.replace(".pt", ".yaml")
        )));
    }
    let sha = sha256_file(part.path())?;
    crate::atomic::write_atomic(&record_path(path), |w| {
        Ok(std::io::Write::write_all(
            w,
            format!("{sha}  {name}\n").as_bytes(),
        )?)
    })?;
    part.commit()?;
    eprintln!("cached {} (sha256 {sha})", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_names_only() {
        assert!(is_published_name("yolov8n.pt") && is_published_name("yolo11s.pt"));
        assert!(!is_published_name("runs/best.pt") && !is_published_name("best.pt"));
        assert!(!is_published_name("yolov8n.yaml"));
    }
}
