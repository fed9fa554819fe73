// SPDX-License-Identifier: MIT OR Apache-2.0
//! Final detections in frame pixels, and the post-processing that makes them.

use crate::decode::{Candidate, Decoder};
use crate::labels::label_for;
use crate::layout::Layout;
use crate::letterbox::Letterbox;
use crate::nms::{NmsOptions, nms};
use crate::tensor::TensorRef;

/// One detected object, box in pixels of the frame it was found in.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub class_id: u32,
    pub label: String,
    pub confidence: f32,
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl Detection {
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }
    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }

    /// `{"class_id","label","confidence","box":[x1,y1,x2,y2]}`, the record every hmg output
    /// (detlog lines, `hmg batch`) uses; boxes to 1/1000 px, confidence to 6 decimals.
    pub fn to_json(&self) -> serde_json::Value {
        let round = |v: f32, scale: f64| (v as f64 * scale).round() / scale;
        let xyxy = [self.x1, self.y1, self.x2, self.y2].map(|v| round(v, 1e3));
        serde_json::json!({
            "class_id": self.class_id,
            "label": self.label,
            "confidence": round(self.confidence, 1e6),
            "box": xyxy,
        })
    }
}

/// Thresholds and filters of post-processing (ultralytics' `conf`, `iou`, `max_det`,
/// `agnostic_nms`, `classes`).
#[derive(Debug, Clone, PartialEq)]
pub struct PostprocessOptions {
    pub conf: f32,
    pub nms: NmsOptions,
    /// Keep only these class ids (`None` = all).
    pub classes: Option<Vec<u32>>,
}

impl Default for PostprocessOptions {
    fn default() -> Self {
        Self {
            conf: 0.25,
            nms: NmsOptions::default(),
            classes: None,
        }
    }
}

/// Decode → NMS → back to frame pixels, with scratch kept between frames.
#[derive(Debug, Default)]
pub struct Postprocessor {
    decoder: Decoder,
    candidates: Vec<Candidate>,
}

impl Postprocessor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Detections of one frame's model outputs `tensors` (layout `layout`) letterboxed with `lb`.
    pub fn run(
        &mut self,
        layout: Layout,
        tensors: &[TensorRef<'_>],
        lb: &Letterbox,
        labels: &[String],
        opts: &PostprocessOptions,
        out: &mut Vec<Detection>,
    ) -> Result<(), String> {
        self.candidates.clear();
        let classes = opts.classes.as_deref();
        let input = (lb.dst_width, lb.dst_height);
        let keep = |c: u32| classes.is_none_or(|k| k.contains(&c));
        self.decoder.decode_tensors(
            layout,
            tensors,
            input,
            opts.conf,
            &keep,
            &mut self.candidates,
        )?;
        let presuppressed = matches!(
            layout,
            Layout::UltralyticsNms { .. } | Layout::HailoNms { .. }
        );
        self.finish(presuppressed, lb, labels, opts, out);
        Ok(())
    }

    /// NMS over already decoded `candidates` (what `yolodecode` attached), then frame pixels.
    /// `presuppressed`: the model (or device) already ran NMS; only sort and cap.
    pub fn run_candidates(
        &mut self,
        presuppressed: bool,
        candidates: &[Candidate],
        lb: &Letterbox,
        labels: &[String],
        opts: &PostprocessOptions,
        out: &mut Vec<Detection>,
    ) {
        self.candidates.clear();
        let classes = opts.classes.as_deref();
        self.candidates.extend(
            candidates
                .iter()
                .filter(|c| c.score > opts.conf && classes.is_none_or(|k| k.contains(&c.class_id))),
        );
        self.finish(presuppressed, lb, labels, opts, out);
    }

    fn finish(
        &mut self,
        presuppressed: bool,
        lb: &Letterbox,
        labels: &[String],
        opts: &PostprocessOptions,
        out: &mut Vec<Detection>,
    ) {
        let mut nms_opts = opts.nms;
        if presuppressed && !nms_opts.class_agnostic {
            // The model already ran NMS; only sort and cap.
            nms_opts.iou = f32::INFINITY;
        }
        nms(&mut self.candidates, nms_opts);
        out.extend(self.candidates.iter().map(|c| {
            let (x1, y1) = lb.to_frame(c.x1, c.y1);
            let (x2, y2) = lb.to_frame(c.x2, c.y2);
            Detection {
                class_id: c.class_id,
                label: label_for(labels, c.class_id as usize),
                confidence: c.score,
                x1,
                y1,
                x2,
                y2,
            }
        }));
    }

    /// Candidates only (no NMS), for `yolodecode`.
    pub fn decode_only(
        &mut self,
        layout: Layout,
        tensors: &[TensorRef<'_>],
        input: (usize, usize),
        conf: f32,
        out: &mut Vec<Candidate>,
    ) -> Result<(), String> {
        self.decoder
            .decode_tensors(layout, tensors, input, conf, &|_| true, out)
    }
}
