// SPDX-License-Identifier: MIT OR Apache-2.0
//! What travels beside a HEF: `<stem>.labels.json`. A HEF carries no class names, so
//! `hmg compile` writes them (with the HEF's sha256 and where its NMS runs) next to it, `hmg
//! deploy` copies them with it, and every HailoRT engine reads them back.
//!
//! ```
//! use std::path::Path;
//! use hmg_detect::sidecar::sidecar_path;
//! assert_eq!(
//!     sidecar_path(Path::new("models/birds-20261203-ab12cd34.hef")),
//!     Path::new("models/birds-20261203-ab12cd34.labels.json")
//! );
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::DetectError;

/// Where NMS runs in a compiled model, and the thresholds it was compiled with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompiledNms {
    /// `on-chip` (in the HEF, run by HailoRT) or `host` (raw outputs, yolonms on the host).
    pub place: String,
    /// The compiled score floor (on-chip only): lower runtime thresholds find nothing more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_threshold: Option<f64>,
    /// The compiled IoU threshold (on-chip only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iou_threshold: Option<f64>,
}

/// The contents of `<stem>.labels.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSidecar {
    /// The file name of the model it was written for.
    pub model: String,
    /// The model's sha256 (hex): a sidecar left beside another model is refused.
    pub sha256: String,
    /// Class names by class number.
    pub names: Vec<String>,
    /// Where NMS runs (absent for models hmg did not compile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nms: Option<CompiledNms>,
    /// Frames per inference HailoRT is configured with when it loads the HEF (`hmg compile
    /// --batch-size`, the seed's `batch_size(N)`); absent: HailoRT's automatic batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
}

/// `<dir>/<stem>.labels.json` for `<dir>/<stem>.<ext>`.
pub fn sidecar_path(model: &Path) -> PathBuf {
    model.with_extension("labels.json")
}

/// The sha256 of a file, as lowercase hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Reads the sidecar beside `model` — beside the path given, else beside the file a symlink
/// (`models/my_model.hef` → `my_model-<date>-<hash>.hef`) points at. None when there is none;
/// an error when it is unreadable or was written for another model.
pub fn read_beside(model: &Path) -> Result<Option<(PathBuf, ModelSidecar)>, DetectError> {
    let mut candidates = vec![sidecar_path(model)];
    if let Ok(real) = std::fs::canonicalize(model) {
        candidates.push(sidecar_path(&real));
    }
    let Some(path) = candidates.into_iter().find(|p| p.is_file()) else {
        return Ok(None);
    };
    let err = |reason: String| DetectError::Labels {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| err(format!("cannot read it ({e})")))?;
    let sidecar: ModelSidecar = serde_json::from_str(&text).map_err(|e| {
        err(format!(
            "not a model sidecar ({e}); delete it, or compile the model again with hmg compile"
        ))
    })?;
    let actual = file_sha256(model).map_err(|e| DetectError::Inference {
        path: model.to_path_buf(),
        reason: format!("cannot read it ({e})"),
    })?;
    if !sidecar.sha256.eq_ignore_ascii_case(&actual) {
        return Err(err(format!(
            "it belongs to another model ({} with sha256 {}…, but '{}' has {}…): copy the labels file that came with this model, or pass the class names with labels=/--labels",
            sidecar.model,
            sidecar.sha256.get(..12).unwrap_or(&sidecar.sha256),
            model.display(),
            &actual[..12]
        )));
    }
    if sidecar.names.is_empty() {
        return Err(err("it holds no class names".into()));
    }
    Ok(Some((path, sidecar)))
}

/// Class names from the sidecar beside `model` (empty when there is none).
pub fn names_beside(model: &Path) -> Result<Vec<String>, DetectError> {
    Ok(read_beside(model)?
        .map(|(_, s)| s.names)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hmg-sidecar-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(model: &Path, sha: &str) {
        let s = ModelSidecar {
            model: model.file_name().unwrap().to_string_lossy().into(),
            sha256: sha.into(),
            names: vec!["bird".into(), "cat".into()],
            nms: None,
            batch_size: None,
        };
        std::fs::write(sidecar_path(model), serde_json::to_string(&s).unwrap()).unwrap();
    }

    #[test]
    fn found_beside_the_file_and_through_a_symlink() {
        let d = dir("link");
        let versioned = d.join("m-20261203-0011aabb.hef");
        std::fs::write(&versioned, b"model bytes").unwrap();
        write(&versioned, &file_sha256(&versioned).unwrap());
        let current = d.join("m.hef");
        std::os::unix::fs::symlink("m-20261203-0011aabb.hef", &current).unwrap();
        assert_eq!(names_beside(&versioned).unwrap(), ["bird", "cat"]);
        assert_eq!(names_beside(&current).unwrap(), ["bird", "cat"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_sidecar_of_another_model_is_refused() {
        let d = dir("stale");
        let m = d.join("m.hef");
        std::fs::write(&m, b"new model").unwrap();
        write(
            &m,
            &file_sha256(&d.join("m.hef"))
                .unwrap()
                .replace(|_: char| true, "0"),
        );
        let e = names_beside(&m).unwrap_err().to_string();
        assert!(
            e.contains("belongs to another model") && e.contains("m.labels.json"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn no_sidecar_is_no_names() {
        let d = dir("none");
        let m = d.join("m.hef");
        std::fs::write(&m, b"x").unwrap();
        assert!(names_beside(&m).unwrap().is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
