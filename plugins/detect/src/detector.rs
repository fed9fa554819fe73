// SPDX-License-Identifier: MIT OR Apache-2.0
//! The seed's `HailoDetector(hef, conf, iou).detect(frame)` as a Rust API.

use std::path::Path;

use crate::detection::{Detection, PostprocessOptions, Postprocessor};
use crate::engine::{Engine, EngineOptions, ModelInfo, open_engine};
use crate::error::DetectError;
use crate::letterbox::Letterboxer;
use crate::pixel::FrameRef;

/// A model plus everything needed to go from a frame to detections.
///
/// ```
/// # std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))?;
/// use hmg_detect::{Detector, FrameRef, PixelFormat};
/// let mut detector = Detector::open("models/yolov12n-coco.onnx")?.conf(0.25).iou(0.45);
/// assert_eq!(detector.info().labels[2], "car");
/// let rgb = vec![0u8; 640 * 480 * 3]; // a black frame: nothing to find
/// let frame = FrameRef::packed(PixelFormat::Rgb, 640, 480, &rgb)?;
/// for d in detector.detect(&frame)? {
///     println!("{} {:.2} [{:.0}, {:.0}, {:.0}, {:.0}]", d.label, d.confidence, d.x1, d.y1, d.x2, d.y2);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Detector {
    engine: Box<dyn Engine>,
    letterboxer: Letterboxer,
    post: Postprocessor,
    options: PostprocessOptions,
    labels: Vec<String>,
}

impl Detector {
    /// Opens a model with default engine options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DetectError> {
        Self::open_with(path.as_ref(), &EngineOptions::default())
    }

    /// Opens a model with explicit engine options (backend, threads, batch size, …).
    pub fn open_with(path: &Path, options: &EngineOptions) -> Result<Self, DetectError> {
        let engine = open_engine(path, options)?;
        let labels = engine.info().labels.clone();
        Ok(Self {
            engine,
            letterboxer: Letterboxer::new(),
            post: Postprocessor::new(),
            options: PostprocessOptions::default(),
            labels,
        })
    }

    /// Confidence threshold (detections must score above it).
    pub fn conf(mut self, conf: f32) -> Self {
        self.options.conf = conf;
        self
    }

    /// IoU threshold of NMS.
    pub fn iou(mut self, iou: f32) -> Self {
        self.options.nms.iou = iou;
        self
    }

    /// Replaces the class names the model carries.
    pub fn labels(mut self, labels: Vec<String>) -> Self {
        self.labels = labels;
        self
    }

    /// The post-processing options, to change thresholds or class filters in place.
    ///
    /// ```
    /// # std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))?;
    /// let mut detector = hmg_detect::Detector::open("models/yolov12n-coco.onnx")?;
    /// let options = detector.options_mut();
    /// options.classes = Some(vec![0, 2]); // persons and cars only
    /// options.nms.class_agnostic = true;
    /// options.nms.max_det = 50;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn options_mut(&mut self) -> &mut PostprocessOptions {
        &mut self.options
    }

    /// What the model expects and produces.
    pub fn info(&self) -> &ModelInfo {
        self.engine.info()
    }

    /// Frames the engine takes at once: the batch of a dynamic-batch ONNX model, the frames
    /// a HailoRT device keeps in flight, 1 for a fixed-batch ONNX model.
    pub fn batch_size(&self) -> usize {
        self.engine.max_in_flight().max(1)
    }

    /// Detects objects in one frame; boxes are in the frame's pixels.
    pub fn detect(&mut self, frame: &FrameRef<'_>) -> Result<Vec<Detection>, DetectError> {
        let mut out = self.detect_batch(std::slice::from_ref(frame))?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Detects objects in several frames, [`batch_size`](Self::batch_size) at a time through
    /// the engine; one list of detections per frame, in order.
    pub fn detect_batch(
        &mut self,
        frames: &[FrameRef<'_>],
    ) -> Result<Vec<Vec<Detection>>, DetectError> {
        let mut results = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(self.batch_size()) {
            let mut boxes = Vec::with_capacity(chunk.len());
            for frame in chunk {
                boxes.push(self.engine.submit_frame(frame, &mut self.letterboxer)?);
            }
            for lb in boxes {
                let tensors = self.engine.collect()?;
                results.push(self.postprocess(&tensors, &lb)?);
            }
        }
        Ok(results)
    }

    fn postprocess(
        &mut self,
        tensors: &[crate::tensor::Tensor],
        lb: &crate::letterbox::Letterbox,
    ) -> Result<Vec<Detection>, DetectError> {
        let info = self.engine.info();
        let views: Vec<_> = tensors.iter().map(|t| t.view()).collect();
        let mut out = Vec::new();
        self.post
            .run(
                info.layout,
                &views,
                lb,
                &self.labels,
                &self.options,
                &mut out,
            )
            .map_err(|reason| DetectError::Tensor {
                name: info.path.display().to_string(),
                reason,
            })?;
        Ok(out)
    }
}
