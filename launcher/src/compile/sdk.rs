// SPDX-License-Identifier: MIT OR Apache-2.0
//! Finding the user's Hailo Dataflow Compiler: a venv whose Python imports `hailo_sdk_client`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::venvs;

/// A usable SDK venv.
#[derive(Debug, Clone)]
pub struct Sdk {
    pub venv: PathBuf,
    pub version: String,
}

/// Where to look, in order: `--sdk`, else hmg's usual places (`$HAILO_SDK_VENV`,
/// `$HMG_DFC_VENV`, the seed's `.venv_hailo_full`, the cache; see `venvs::dfc_venv_candidates`).
pub fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    match explicit {
        Some(p) => vec![p.to_path_buf()],
        None => venvs::dfc_venv_candidates(),
    }
}

/// The first candidate whose Python imports `hailo_sdk_client`, or what each one lacked.
pub fn find(explicit: Option<&Path>) -> Result<Sdk, Vec<String>> {
    let mut looked = Vec::new();
    for venv in candidates(explicit) {
        let python = venvs::python(&venv);
        if !python.exists() {
            looked.push(format!("{}: no venv there", venv.display()));
            continue;
        }
        let out = Command::new(&python)
            .args([
                "-c",
                "import hailo_sdk_client as h; print(getattr(h, '__version__', 'unknown'))",
            ])
            .output();
        match out {
            Ok(o) if o.status.success() => {
                return Ok(Sdk {
                    venv,
                    version: String::from_utf8_lossy(&o.stdout).trim().to_string(),
                });
            }
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                let last = err
                    .lines()
                    .last()
                    .unwrap_or("import failed")
                    .trim()
                    .to_string();
                looked.push(format!("{}: {last}", venv.display()));
            }
            Err(e) => looked.push(format!("{}: {e}", python.display())),
        }
    }
    Err(looked)
}

/// The seed's "Hailo SDK not found", with where hmg looked and how to fix it.
pub fn not_found_message(looked: &[String], written: &[PathBuf]) -> String {
    let files: Vec<String> = written
        .iter()
        .map(|p| format!("  {}", p.display()))
        .collect();
    format!(
        "Hailo SDK not found (the Dataflow Compiler, Python module hailo_sdk_client).\n\
         Looked in:\n  {}\n\
         Get it from the Hailo Developer Zone (https://hailo.ai/developer-zone/, free account): the \
         Dataflow Compiler wheel for x86-64 Linux (hailo_dataflow_compiler-<version>-py3-none-linux_x86_64.whl), then\n  \
         python3 -m venv .venv_hailo_full && .venv_hailo_full/bin/pip install hailo_dataflow_compiler-*.whl\n\
         and run hmg compile again (it finds .venv_hailo_full here), or point at it with --sdk PATH or HAILO_SDK_VENV=PATH.\n\
         Already written and checked, ready for the compiler:\n{}",
        looked.join("\n  "),
        files.join("\n")
    )
}
