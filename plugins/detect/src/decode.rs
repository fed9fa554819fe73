// SPDX-License-Identifier: MIT OR Apache-2.0
//! Tensors → candidate boxes (in model-input pixels), the way ultralytics' postprocess does.
//!
//! ```
//! use hmg_detect::{Decoder, Layout, Tensor};
//! // (1, 4+2 classes, 8 anchors): rows cx, cy, w, h, score0, score1; anchor 0 scores 0.8.
//! let mut data = vec![0.0f32; 6 * 8];
//! for (row, value) in [50.0, 50.0, 20.0, 10.0, 0.1, 0.8].into_iter().enumerate() {
//!     data[row * 8] = value;
//! }
//! let out = Tensor::f32("output0", vec![1, 6, 8], data);
//! let layout = Layout::detect(&[out.shape.clone()]).unwrap();
//! let mut found = Vec::new();
//! Decoder::new().decode_tensors(layout, &[out.view()], (640, 640), 0.25, &|_| true, &mut found).unwrap();
//! assert_eq!(found.len(), 1);
//! assert_eq!((found[0].class_id, found[0].x1, found[0].y1, found[0].x2, found[0].y2), (1, 40.0, 45.0, 60.0, 55.0));
//! ```

use crate::decode_hailo;
use crate::layout::{Layout, hailo_heads};
use crate::tensor::TensorRef;

/// A box before NMS, in model-input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Left edge, model-input pixels.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
    /// Class score in 0..1.
    pub score: f32,
    /// Class number.
    pub class_id: u32,
}

/// Each anchor's best score over the class rows of `scores` (`best.len()` anchors a row) into
/// `best`, which starts at `-inf`: a NaN score never wins, as in ultralytics' `max`.
fn best_scores(scores: &[f32], best: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: simd::avx2() checked that the CPU has AVX2.
        unsafe { best_scores_avx2(scores, best) };
        return;
    }
    best_scores_rows(scores, best);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn best_scores_avx2(scores: &[f32], best: &mut [f32]) {
    best_scores_rows(scores, best);
}

/// Four class rows a pass, so `best` is read and written once per four rows; the comparisons
/// still run row after row for each anchor, which keeps the first maximum.
#[inline(always)]
fn best_scores_rows(scores: &[f32], best: &mut [f32]) {
    #[inline(always)]
    fn max(b: f32, s: f32) -> f32 {
        if s > b { s } else { b }
    }
    let anchors = best.len();
    let mut quads = scores.chunks_exact(4 * anchors);
    for quad in quads.by_ref() {
        let (r0, rest) = quad.split_at(anchors);
        let (r1, rest) = rest.split_at(anchors);
        let (r2, r3) = rest.split_at(anchors);
        for ((((b, &s0), &s1), &s2), &s3) in best.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            *b = max(max(max(max(*b, s0), s1), s2), s3);
        }
    }
    for row in quads.remainder().chunks_exact(anchors) {
        for (b, &s) in best.iter_mut().zip(row) {
            *b = max(*b, s);
        }
    }
}

/// Reusable decoder: keeps its per-anchor scratch between frames.
#[derive(Debug, Default)]
pub struct Decoder {
    best: Vec<f32>,
    scratch: Vec<f32>,
}

impl Decoder {
    /// A decoder with empty scratch buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the candidates of one frame's outputs `tensors` (first batch item), for a model
    /// whose input is `input` = (width, height) pixels. Malformed outputs are an error.
    pub fn decode_tensors(
        &mut self,
        layout: Layout,
        tensors: &[TensorRef<'_>],
        input: (usize, usize),
        conf: f32,
        keep_class: &dyn Fn(u32) -> bool,
        out: &mut Vec<Candidate>,
    ) -> Result<(), String> {
        match layout {
            Layout::HailoRaw { .. } => {
                let shapes: Vec<&[usize]> = tensors.iter().map(|t| t.shape).collect();
                let heads = hailo_heads(&shapes)?;
                decode_hailo::decode_raw(&heads, tensors, input, conf, keep_class, out)
            }
            Layout::HailoNms {
                classes,
                max_per_class,
            } => {
                let t = tensors.first().ok_or("the model produced no output")?;
                decode_hailo::decode_nms(classes, max_per_class, t, input, conf, keep_class, out)
            }
            Layout::UltralyticsRaw { .. } | Layout::UltralyticsNms { .. } => {
                let t = tensors.first().ok_or("the model produced no output")?;
                let mut scratch = std::mem::take(&mut self.scratch);
                let data = t.to_f32(&mut scratch);
                let result = match data.get(..layout.item_len()) {
                    Some(item) => {
                        self.decode(layout, item, conf, keep_class, out);
                        Ok(())
                    }
                    None => Err(format!(
                        "output '{}' has {} values, layout {} needs {}",
                        t.name,
                        data.len(),
                        layout.name(),
                        layout.item_len()
                    )),
                };
                self.scratch = scratch;
                result
            }
        }
    }

    /// Appends every candidate whose best class score is `> conf` (ultralytics keeps `> conf`)
    /// and whose class passes `keep_class`. `data` is one batch item of `layout`.
    pub fn decode(
        &mut self,
        layout: Layout,
        data: &[f32],
        conf: f32,
        keep_class: impl Fn(u32) -> bool,
        out: &mut Vec<Candidate>,
    ) {
        if data.len() < layout.item_len() {
            return;
        }
        let keep_class = &keep_class;
        match layout {
            Layout::UltralyticsRaw {
                classes,
                anchors,
                transposed: false,
            } => {
                // Pass 1: each anchor's best score, class-major over contiguous rows (a plain
                // vector max). Pass 2: the class of the few anchors above `conf`, first maximum
                // wins like torch.max.
                self.best.clear();
                self.best.resize(anchors, f32::NEG_INFINITY);
                let scores = &data[4 * anchors..(4 + classes) * anchors];
                best_scores(scores, &mut self.best);
                for (j, &score) in self.best.iter().enumerate() {
                    if !(score > conf) {
                        continue;
                    }
                    let class_id = scores[j..]
                        .iter()
                        .step_by(anchors)
                        .position(|&s| s == score)
                        .unwrap_or(0) as u32;
                    if keep_class(class_id) {
                        let (cx, cy, w, h) = (
                            data[j],
                            data[anchors + j],
                            data[2 * anchors + j],
                            data[3 * anchors + j],
                        );
                        out.push(xywh_candidate(cx, cy, w, h, score, class_id));
                    }
                }
            }
            Layout::UltralyticsRaw {
                classes,
                anchors,
                transposed: true,
            } => {
                let stride = 4 + classes;
                for row in data[..anchors * stride].chunks_exact(stride) {
                    let (mut score, mut class_id) = (f32::NEG_INFINITY, 0u32);
                    for (c, &s) in row[4..].iter().enumerate() {
                        if s > score {
                            score = s;
                            class_id = c as u32;
                        }
                    }
                    if score > conf && keep_class(class_id) {
                        out.push(xywh_candidate(
                            row[0], row[1], row[2], row[3], score, class_id,
                        ));
                    }
                }
            }
            Layout::HailoRaw { .. } | Layout::HailoNms { .. } => {
                debug_assert!(false, "multi-tensor layouts go through decode_tensors");
            }
            Layout::UltralyticsNms { rows } => {
                for row in data[..rows * 6].chunks_exact(6) {
                    let (score, class) = (row[4], row[5]);
                    if !(score > conf)
                        || !class.is_finite()
                        || class < 0.0
                        || class > u32::MAX as f32
                    {
                        continue;
                    }
                    let class_id = class.round() as u32;
                    if keep_class(class_id) {
                        out.push(Candidate {
                            x1: row[0],
                            y1: row[1],
                            x2: row[2],
                            y2: row[3],
                            score,
                            class_id,
                        });
                    }
                }
            }
        }
    }
}

#[inline]
fn xywh_candidate(cx: f32, cy: f32, w: f32, h: f32, score: f32, class_id: u32) -> Candidate {
    let (dw, dh) = (w / 2.0, h / 2.0);
    Candidate {
        x1: cx - dw,
        y1: cy - dh,
        x2: cx + dw,
        y2: cy + dh,
        score,
        class_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(anchors: &[([f32; 4], [f32; 3])]) -> Vec<f32> {
        let n = anchors.len();
        let mut d = vec![0.0; 7 * n];
        for (j, (b, s)) in anchors.iter().enumerate() {
            for k in 0..4 {
                d[k * n + j] = b[k];
            }
            for c in 0..3 {
                d[(4 + c) * n + j] = s[c];
            }
        }
        d
    }

    #[test]
    fn raw_layout_keeps_scores_above_conf_with_best_class() {
        let d = raw(&[
            ([100.0, 50.0, 20.0, 10.0], [0.1, 0.9, 0.3]),
            ([10.0, 10.0, 4.0, 4.0], [0.25, 0.2, 0.1]),
        ]);
        let layout = Layout::UltralyticsRaw {
            classes: 3,
            anchors: 2,
            transposed: false,
        };
        let mut out = Vec::new();
        Decoder::new().decode(layout, &d, 0.25, |_| true, &mut out);
        assert_eq!(
            out,
            vec![Candidate {
                x1: 90.0,
                y1: 45.0,
                x2: 110.0,
                y2: 55.0,
                score: 0.9,
                class_id: 1
            }]
        );
    }

    #[test]
    fn ties_go_to_the_first_class_and_nan_scores_are_ignored() {
        let d = raw(&[
            ([10.0, 10.0, 4.0, 4.0], [0.5, 0.7, 0.7]),
            ([20.0, 20.0, 4.0, 4.0], [f32::NAN, 0.6, 0.1]),
            ([30.0, 30.0, 4.0, 4.0], [f32::NAN, f32::NAN, f32::NAN]),
        ]);
        let layout = Layout::UltralyticsRaw {
            classes: 3,
            anchors: 3,
            transposed: false,
        };
        let mut out = Vec::new();
        Decoder::new().decode(layout, &d, 0.25, |_| true, &mut out);
        let got: Vec<(u32, f32)> = out.iter().map(|c| (c.class_id, c.score)).collect();
        assert_eq!(got, [(1, 0.7), (1, 0.6)]);
    }

    #[test]
    fn transposed_layout_equals_channels_first() {
        let anchors = [
            ([100.0, 50.0, 20.0, 10.0], [0.1, 0.9, 0.3]),
            ([30.0, 40.0, 8.0, 6.0], [0.7, 0.2, 0.1]),
        ];
        let d = raw(&anchors);
        let t: Vec<f32> = (0..2)
            .flat_map(|j| (0..7).map(move |k| (k, j)))
            .map(|(k, j)| d[k * 2 + j])
            .collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut dec = Decoder::new();
        dec.decode(
            Layout::UltralyticsRaw {
                classes: 3,
                anchors: 2,
                transposed: false,
            },
            &d,
            0.25,
            |_| true,
            &mut a,
        );
        dec.decode(
            Layout::UltralyticsRaw {
                classes: 3,
                anchors: 2,
                transposed: true,
            },
            &t,
            0.25,
            |_| true,
            &mut b,
        );
        assert_eq!(a.len(), 2);
        assert_eq!(a, b);
    }

    #[test]
    fn nms_layout_filters_conf_and_class() {
        let d = [
            1.0, 2.0, 3.0, 4.0, 0.9, 2.0, 5.0, 6.0, 7.0, 8.0, 0.2, 1.0, 1.0, 1.0, 2.0, 2.0, 0.8,
            1.0,
        ];
        let mut out = Vec::new();
        Decoder::new().decode(
            Layout::UltralyticsNms { rows: 3 },
            &d,
            0.25,
            |c| c == 2,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].class_id, 2);
    }

    #[test]
    fn short_data_yields_nothing() {
        let mut out = Vec::new();
        Decoder::new().decode(
            Layout::UltralyticsNms { rows: 3 },
            &[0.0; 5],
            0.25,
            |_| true,
            &mut out,
        );
        assert!(out.is_empty());
    }
}
