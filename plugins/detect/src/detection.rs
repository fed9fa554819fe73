// SPDX-License-Identifier: MIT OR Apache-2.0
//! Final detections in frame pixels, and the post-processing that makes them.

use std::sync::Arc;

use crate::decode::{Candidate, Decoder};
use crate::labels::label_for;
use crate::layout::Layout;
use crate::letterbox::Letterbox;
use crate::nms::{NmsOptions, nms};
use crate::tensor::TensorRef;

/// A class name, shared by every detection of that class: making a detection allocates
/// nothing. Compares with and reads as a `str`.
///
/// ```
/// let label = hmg_detect::Label::from("dog");
/// assert!(label == "dog" && label.len() == 3 && label.as_str() == "dog");
/// assert_eq!(format!("{label}"), "dog");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(Arc<str>);

impl Label {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Label {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Label {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Label {
    fn from(name: &str) -> Self {
        Self(name.into())
    }
}

impl From<String> for Label {
    fn from(name: String) -> Self {
        Self(name.into())
    }
}

impl PartialEq<str> for Label {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Label {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Label {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

/// One detected object, box in pixels of the frame it was found in.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Class number.
    pub class_id: u32,
    /// Class name (`class-N` when the model names none).
    pub label: Label,
    /// Score in 0..1.
    pub confidence: f32,
    /// Left edge, frame pixels.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl Detection {
    /// Box width in pixels.
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }
    /// Box height in pixels.
    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }

    /// `{"class_id","label","confidence","box":[x1,y1,x2,y2]}`, the record every hmg output
    /// (detlog lines, `hmg batch`) uses; boxes to 1/1000 px, confidence to 6 decimals.
    ///
    /// ```
    /// let d = hmg_detect::Detection { class_id: 2, label: "car".into(), confidence: 0.712_345_67, x1: 1.23456, y1: 2.0, x2: 30.0, y2: 40.0 };
    /// assert_eq!(d.to_json().to_string(), r#"{"box":[1.235,2.0,30.0,40.0],"class_id":2,"confidence":0.712346,"label":"car"}"#);
    /// assert_eq!((d.width(), d.height()), (28.76544, 38.0));
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        let round = |v: f32, scale: f64| (v as f64 * scale).round() / scale;
        let xyxy = [self.x1, self.y1, self.x2, self.y2].map(|v| round(v, 1e3));
        serde_json::json!({
            "class_id": self.class_id,
            "label": self.label.as_str(),
            "confidence": round(self.confidence, 1e6),
            "box": xyxy,
        })
    }
}

/// Thresholds and filters of post-processing (ultralytics' `conf`, `iou`, `max_det`,
/// `agnostic_nms`, `classes`).
#[derive(Debug, Clone, PartialEq)]
pub struct PostprocessOptions {
    /// Keep candidates scoring above this.
    pub conf: f32,
    /// NMS settings (IoU, class-agnostic, max detections).
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
    labels: LabelCache,
    non_finite: u64,
}

/// The labels as shared strings, rebuilt only when the caller's labels change.
#[derive(Debug, Default)]
struct LabelCache {
    names: Vec<Label>,
}

impl LabelCache {
    fn get(&mut self, labels: &[String], id: u32) -> Label {
        let same = self.names.len() == labels.len()
            && self.names.iter().zip(labels).all(|(a, b)| **a == **b);
        if !same {
            self.names = labels.iter().map(|l| Label::from(l.as_str())).collect();
        }
        match self.names.get(id as usize) {
            Some(name) => name.clone(),
            None => label_for(labels, id as usize).into(),
        }
    }
}

impl Postprocessor {
    /// A post-processor with empty scratch buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Boxes dropped so far because a coordinate or the score was NaN or infinite.
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// Detections of one frame's model outputs `tensors` (layout `layout`) letterboxed with `lb`.
    ///
    /// ```
    /// use hmg_detect::{Layout, Letterbox, PostprocessOptions, Postprocessor, Tensor};
    /// // An ultralytics NMS output (1, rows, 6): x1, y1, x2, y2, score, class in input pixels.
    /// let out = Tensor::f32("output0", vec![1, 2, 6], vec![
    ///     100.0, 140.0, 200.0, 240.0, 0.9, 3.0,
    ///     0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    /// ]);
    /// let layout = Layout::detect(&[out.shape.clone()]).unwrap();
    /// let lb = Letterbox::new(1280, 720, 640, 640); // gain 0.5, 140 px pad on top
    /// let mut found = Vec::new();
    /// Postprocessor::new()
    ///     .run(layout, &[out.view()], &lb, &[], &PostprocessOptions::default(), &mut found)
    ///     .unwrap();
    /// assert_eq!(found.len(), 1);
    /// assert_eq!((found[0].x1, found[0].y1, found[0].x2, found[0].y2), (200.0, 0.0, 400.0, 200.0));
    /// assert_eq!(found[0].label, "class-3");
    /// ```
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
        // A model that outputs NaN or infinite boxes would fill NMS with boxes that suppress
        // nothing (every IoU with NaN is false) and JSON with nulls: dropped and counted.
        let before = self.candidates.len();
        self.candidates.retain(|c| {
            c.score.is_finite()
                && c.x1.is_finite()
                && c.y1.is_finite()
                && c.x2.is_finite()
                && c.y2.is_finite()
        });
        self.non_finite += (before - self.candidates.len()) as u64;
        let mut nms_opts = opts.nms;
        if presuppressed && !nms_opts.class_agnostic {
            // The model already ran NMS; only sort and cap.
            nms_opts.iou = f32::INFINITY;
        }
        nms(&mut self.candidates, nms_opts);
        let names = &mut self.labels;
        out.extend(self.candidates.iter().map(|c| {
            let (x1, y1) = lb.to_frame(c.x1, c.y1);
            let (x2, y2) = lb.to_frame(c.x2, c.y2);
            Detection {
                class_id: c.class_id,
                label: names.get(labels, c.class_id),
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

#[cfg(test)]
mod non_finite_tests {
    use super::*;

    #[test]
    fn nan_and_infinite_boxes_are_dropped_before_nms_and_counted() {
        let c = |x1: f32, score: f32| Candidate {
            x1,
            y1: 0.0,
            x2: x1 + 10.0,
            y2: 10.0,
            score,
            class_id: 0,
        };
        // Three hundred NaN boxes would otherwise all survive NMS (a NaN IoU suppresses nothing).
        let mut candidates = vec![c(f32::NAN, 0.9); 300];
        candidates.push(c(0.0, f32::INFINITY));
        candidates.push(c(f32::NEG_INFINITY, 0.8));
        candidates.push(c(5.0, 0.7));
        let mut post = Postprocessor::new();
        let mut out = Vec::new();
        post.run_candidates(
            false,
            &candidates,
            &Letterbox::new(640, 640, 640, 640),
            &["thing".to_string()],
            &PostprocessOptions::default(),
            &mut out,
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].confidence, 0.7);
        assert_eq!(post.non_finite(), 302);
    }
}
