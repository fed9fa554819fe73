// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Python environments hmg works with: ultralytics (training, export, reference runs) in a
//! venv hmg owns, and Hailo's Dataflow Compiler in the venv its installer makes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Packages of the ultralytics venv, one requirement per line (shared with scripts/).
pub const ULTRALYTICS_REQUIREMENTS: &str =
    include_str!("../../python/ultralytics-requirements.txt");

/// `$XDG_CACHE_HOME/hmg` or `~/.cache/hmg`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("hmg")
}

/// Where the ultralytics venv lives: `$HMG_ULTRALYTICS_VENV`, else `<cache>/venvs/ultralytics`.
pub fn ultralytics_venv() -> PathBuf {
    std::env::var_os("HMG_ULTRALYTICS_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("venvs/ultralytics"))
}

/// Where the Dataflow Compiler venv is looked for: `$HAILO_SDK_VENV` and/or `$HMG_DFC_VENV` when
/// set, else the seed's `.venv_hailo_full` (here or in `step4_hef_compilation/`), then
/// `<cache>/venvs/hailo-dfc`. `hmg doctor` and `hmg compile` look in the same places.
pub fn dfc_venv_candidates() -> Vec<PathBuf> {
    let from_env: Vec<PathBuf> = ["HAILO_SDK_VENV", "HMG_DFC_VENV"]
        .iter()
        .filter_map(|var| std::env::var_os(var).filter(|v| !v.is_empty()))
        .map(PathBuf::from)
        .collect();
    if !from_env.is_empty() {
        return from_env;
    }
    vec![
        PathBuf::from(".venv_hailo_full"),
        PathBuf::from("step4_hef_compilation/.venv_hailo_full"),
        cache_dir().join("venvs/hailo-dfc"),
    ]
}

pub fn python(venv: &Path) -> PathBuf {
    venv.join("bin/python")
}

/// Versions of `packages` installed in `venv` (read from package metadata, nothing imported),
/// or what went wrong.
pub fn package_versions(venv: &Path, packages: &[&str]) -> Result<Vec<String>, String> {
    let python = python(venv);
    if !python.exists() {
        return Err(format!("{} does not exist", python.display()));
    }
    let script = "import sys, importlib.metadata as m\n\
                  for p in sys.argv[1:]:\n    print(m.version(p))";
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(packages)
        .output()
        .map_err(|e| format!("{} cannot run: {e}", python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("failed").trim().to_string();
        return Err(format!("{}: {last}", python.display()));
    }
    let versions: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    if versions.len() != packages.len() {
        return Err(format!("{} answered {versions:?}", python.display()));
    }
    Ok(versions)
}

/// The pinned `(package, version)` pairs of the ultralytics requirements.
pub fn ultralytics_pins() -> Vec<(&'static str, &'static str)> {
    ULTRALYTICS_REQUIREMENTS
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_once("==").unwrap_or((l, "")))
        .collect()
}

/// Names of the packages in the ultralytics requirements (without version pins).
pub fn ultralytics_packages() -> Vec<&'static str> {
    ultralytics_pins()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_name_ultralytics_and_onnx_tools() {
        let p = ultralytics_packages();
        for needed in ["ultralytics", "onnx", "onnxruntime", "onnxslim"] {
            assert!(p.contains(&needed), "{p:?}");
        }
    }
}
