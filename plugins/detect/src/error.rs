// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`DetectError`]: every failure of hmg-detect, as a sentence that names the file and the fix.

use std::path::PathBuf;

/// Everything that can go wrong in hmg-detect; each message names the file and what to do.
// Each variant's `#[error]` text is its documentation.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("model file '{}' {why}: give the path of a .onnx model (see models/README.md)", path.display())]
    ModelMissing { path: PathBuf, why: &'static str },
    #[error("'{}' is a Hailo .hef model, but this hmg was built without HailoRT support: on the Raspberry Pi install Hailo's packages (`sudo apt install hailo-all`) and run scripts/setup again, which then builds with `--features hailo`; elsewhere run the .onnx export of the same model", .0.display())]
    HefUnsupported(PathBuf),
    #[error("'{}' {source}", path.display())]
    Hef {
        path: PathBuf,
        source: crate::hef::HefError,
    },
    #[error("{0}")]
    HailoRtMissing(String),
    #[error("HailoRT cannot run '{}': {message}", path.display())]
    HailoRt { path: PathBuf, message: String },
    #[error("'{}' has an unknown model extension: hmg runs .onnx models (and .hef with the HailoRT backend)", .0.display())]
    UnknownModelKind(PathBuf),
    #[error("could not load '{}' as an ONNX model: {reason}. Export it again with `yolo export format=onnx`", path.display())]
    NotOnnx { path: PathBuf, reason: String },
    #[error("'{}' is not a detector hmg knows: {reason}. hmg expects an ultralytics YOLOv8-style export (detect, segment or pose) whose output is (1, 4+classes, N), or (1, 300, 6) with NMS", path.display())]
    UnknownLayout { path: PathBuf, reason: String },
    #[error("{0}. Run scripts/setup, or set ORT_DYLIB_PATH to libonnxruntime.so")]
    RuntimeMissing(String),
    #[error("inference with '{}' failed: {reason}", path.display())]
    Inference { path: PathBuf, reason: String },
    #[error("labels file '{}': {reason}", path.display())]
    Labels { path: PathBuf, reason: String },
    #[error("invalid frame: {0}")]
    Frame(String),
    #[error("tensor '{name}': {reason}")]
    Tensor { name: String, reason: String },
}
