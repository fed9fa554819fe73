// SPDX-License-Identifier: MIT OR Apache-2.0
//! Inference engines: a letterboxed RGB `u8` image in, raw output tensors out.
//!
//! ```
//! # std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))?;
//! use hmg_detect::{EngineOptions, Layout, open_engine};
//! let mut engine = open_engine("models/yolov12n-coco.onnx".as_ref(), &EngineOptions { threads: 1, ..Default::default() })?;
//! let info = engine.info().clone();
//! assert_eq!((info.input_width, info.input_height), (640, 640));
//! assert_eq!(info.layout, Layout::UltralyticsRaw { classes: 80, anchors: 8400, transposed: false });
//! let grey = vec![114u8; 640 * 640 * 3]; // an already letterboxed RGB image
//! let outputs = engine.infer(&grey)?;
//! assert_eq!(outputs[0].shape, [1, 84, 8400]);
//! assert_eq!(engine.max_in_flight(), 1);
//! // A .hef needs the `hailo` feature; without it the error says how to get it.
//! if !hmg_detect::HAILO_SUPPORT {
//!     let err = open_engine("tests/fixtures/hailo/nudenet320.hef".as_ref(), &EngineOptions::default()).err().unwrap();
//!     assert!(err.to_string().contains("without HailoRT support"));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "hailo")]
pub mod hailort;
pub mod onnx;
mod shared_runs;

use std::path::{Path, PathBuf};

use crate::error::DetectError;
use crate::layout::Layout;
use crate::letterbox::{Letterbox, Letterboxer};
use crate::pixel::FrameRef;
use crate::tensor::Tensor;

/// Which runtime runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// From the file extension: `.hef` → HailoRT, anything else → onnxruntime.
    #[default]
    Auto,
    /// HailoRT (`.hef`; needs the `hailo` feature).
    HailoRt,
    /// onnxruntime (`.onnx`).
    Onnx,
}

/// Options for opening a model.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Which runtime opens the model.
    pub backend: Backend,
    /// Intra-op threads for onnxruntime; 0 = onnxruntime's default (all cores).
    pub threads: usize,
    /// Frames per inference call (the engine may ignore it when the model has a fixed batch).
    pub batch_size: usize,
    /// HailoRT: engines with the same group share one virtual device (None = a device of its own).
    pub vdevice_group: Option<String>,
    /// onnxruntime: engines with the same group that open the same model file with the same
    /// threads share one session, one copy of the weights, running their frames in turn, or in
    /// one run when the model's batch axis is dynamic (None = a session of its own, run in
    /// parallel with the others).
    pub session_group: Option<String>,
    /// HailoRT NMS score / IoU thresholds pushed to HEFs with on-chip NMS (None = the HEF's).
    pub nms_score_threshold: Option<f32>,
    /// HailoRT NMS IoU threshold (None = the HEF's).
    pub nms_iou_threshold: Option<f32>,
}

/// What a model expects and produces, known once it is open.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The model file.
    pub path: PathBuf,
    /// Model input size in pixels (a letterboxed RGB image of this size goes in).
    pub input_width: usize,
    /// Model input height in pixels.
    pub input_height: usize,
    /// The output layout hmg decodes.
    pub layout: Layout,
    /// Output names and shapes, as the model reports them for the input size above.
    pub outputs: Vec<(String, Vec<usize>)>,
    /// Class names from the model's own metadata (empty when it has none).
    pub labels: Vec<String>,
}

/// A model ready to run.
pub trait Engine: Send {
    /// What the model expects and produces.
    fn info(&self) -> &ModelInfo;
    /// Runs the model on one letterboxed RGB HWC `u8` image of the model's input size.
    fn infer(&mut self, rgb: &[u8]) -> Result<Vec<Tensor>, DetectError> {
        self.submit(rgb)?;
        self.collect()
    }
    /// Starts inference of one frame; `collect` returns the outputs, oldest frame first.
    fn submit(&mut self, rgb: &[u8]) -> Result<(), DetectError>;
    /// Letterboxes `frame` to the model's input and submits it. An engine whose input is not
    /// the `u8` image (onnxruntime's `f32` NCHW) letterboxes straight into its own input
    /// tensor, in one pass; the others take the `u8` image [`submit`](Self::submit) takes.
    fn submit_frame(
        &mut self,
        frame: &FrameRef<'_>,
        letterboxer: &mut Letterboxer,
    ) -> Result<Letterbox, DetectError> {
        let (w, h) = (self.info().input_width, self.info().input_height);
        let (rgb, lb) = letterboxer.run(frame, w, h);
        self.submit(rgb)?;
        Ok(lb)
    }
    /// Outputs of the oldest submitted frame (blocks until they are ready).
    fn collect(&mut self) -> Result<Vec<Tensor>, DetectError>;
    /// Frames that may be submitted before the oldest is collected (1 = synchronous engine).
    fn max_in_flight(&self) -> usize {
        1
    }
    /// Where the output buffers of `collect` come from, when the engine recycles them: wrap each
    /// output's data with it ([`OutputPool::recycle_bytes`](crate::pool::OutputPool::recycle_bytes)) so that dropping it hands the buffer
    /// back for a later frame instead of freeing it.
    fn output_pool(&self) -> Option<&crate::pool::OutputPool> {
        None
    }
}

#[cfg(feature = "hailo")]
impl Engine for hailort::HailoEngine {
    fn info(&self) -> &ModelInfo {
        hailort::HailoEngine::info(self)
    }

    fn submit(&mut self, rgb: &[u8]) -> Result<(), DetectError> {
        hailort::HailoEngine::submit(self, rgb)
    }

    fn collect(&mut self) -> Result<Vec<Tensor>, DetectError> {
        hailort::HailoEngine::collect(self)
    }

    fn max_in_flight(&self) -> usize {
        hailort::IN_FLIGHT
    }

    fn output_pool(&self) -> Option<&crate::pool::OutputPool> {
        Some(hailort::HailoEngine::output_pool(self))
    }
}

/// Whether this build can run HEFs (cargo feature `hailo`).
pub const HAILO_SUPPORT: bool = cfg!(feature = "hailo");

/// Opens `path` with the backend its extension (or `options.backend`) asks for.
pub fn open_engine(path: &Path, options: &EngineOptions) -> Result<Box<dyn Engine>, DetectError> {
    if let Some(why) = crate::paths::not_a_file(path) {
        return Err(DetectError::ModelMissing {
            path: path.to_path_buf(),
            why,
        });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let hailo = match options.backend {
        Backend::HailoRt => true,
        Backend::Onnx => false,
        Backend::Auto => ext == "hef",
    };
    if hailo {
        let header = crate::hef::read_header(path).map_err(|source| DetectError::Hef {
            path: path.to_path_buf(),
            source,
        })?;
        #[cfg(feature = "hailo")]
        return Ok(Box::new(hailort::HailoEngine::open(
            path, &header, options,
        )?));
        #[cfg(not(feature = "hailo"))]
        {
            let _ = header;
            return Err(DetectError::HefUnsupported(path.to_path_buf()));
        }
    }
    if ext != "onnx" && options.backend == Backend::Auto {
        return Err(DetectError::UnknownModelKind(path.to_path_buf()));
    }
    Ok(Box::new(onnx::OnnxEngine::open(path, options)?))
}
