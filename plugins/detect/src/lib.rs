// SPDX-License-Identifier: MIT OR Apache-2.0
//! hmg-detect: the detection library under the hmg GStreamer plugin and CLI. No GStreamer here.
//!
//! - [`Letterboxer`]: ultralytics' letterbox, bit-exact with OpenCV's `INTER_LINEAR`, from any
//!   supported pixel format straight to the model's RGB input.
//! - [`engine`]: runtimes behind one trait: onnxruntime, and HailoRT with the `hailo` feature.
//! - [`hef`]: the HEF header (chip, SDK version) read without Hailo's library.
//! - [`Layout`], [`Decoder`], [`nms()`], [`Postprocessor`]: raw tensors to final [`Detection`]s.
//! - [`draw`]: boxes and labels on RGB-family and YUV frames.
//! - [`Detector`]: all of it behind `Detector::open(path)?.detect(&frame)`.

// `!(score > conf)` on purpose: a NaN score must fail every threshold.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
#![deny(missing_docs)]

pub mod atomic;
pub mod decode;
mod decode_hailo;
pub mod detection;
pub mod detector;
pub mod draw;
pub mod engine;
pub mod error;
pub mod events;
pub mod hef;
pub mod labels;
pub mod layout;
pub mod letterbox;
pub mod metrics;
pub mod nms;
pub mod npy;
pub mod paths;
pub mod pixel;
pub mod pool;
pub mod sidecar;
mod simd;
pub mod tensor;
pub mod track;
pub mod yuv;
pub mod zones;

/// The Rust developer's guide (docs/guide-rust.md); its examples run as doc tests.
#[doc = include_str!("../../../docs/guide-rust.md")]
pub mod guide {}

pub use decode::{Candidate, Decoder};
pub use detection::{Detection, Label, PostprocessOptions, Postprocessor};
pub use detector::Detector;
pub use engine::{Backend, Engine, EngineOptions, HAILO_SUPPORT, ModelInfo, open_engine};
pub use error::DetectError;
pub use labels::{label_for, load_labels};
pub use layout::{HailoHead, LAYOUT_NAMES, Layout, hailo_heads};
pub use letterbox::{Letterbox, Letterboxer};
pub use nms::{NmsOptions, nms};
pub use pixel::{FrameRef, PixelFormat, YuvMatrix};
pub use tensor::{Tensor, TensorData, TensorRef, TensorSlice};
