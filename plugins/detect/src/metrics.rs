// SPDX-License-Identifier: MIT OR Apache-2.0
//! Detection accuracy against ground truth: mAP50 and mAP50-95 computed the way ultralytics'
//! validator (8.4) does (greedy matching in confidence order at ten IoU thresholds 0.50…0.95,
//! precision envelope, 101-point interpolated AP, mean over the classes that have labels), so our graph's figure can
//! be set next to `yolo val`'s (tests/tests/metrics_parity.rs compares the two on random data).
//!
//! ```
//! use hmg_detect::metrics::{ApAccumulator, Truth};
//! let mut acc = ApAccumulator::new();
//! let truth = [Truth { class_id: 0, bbox: [10.0, 10.0, 50.0, 50.0] }];
//! // One prediction exactly on the labelled box: the best AP there is, 0.995 as in ultralytics
//! // (the envelope drops to 0 at recall 1, the last of the 101 points).
//! acc.add_frame(&[(0, 0.9, [10.0, 10.0, 50.0, 50.0])], &truth);
//! let m = acc.finish();
//! assert!((m.map50 - 0.995).abs() < 1e-9 && (m.map50_95 - 0.995).abs() < 1e-9);
//! ```

/// The ten IoU thresholds of mAP50-95.
pub const IOU_THRESHOLDS: [f32; 10] = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];

/// A labelled box: class and `[x1, y1, x2, y2]` in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    /// Class number.
    pub class_id: u32,
    /// `[x1, y1, x2, y2]`, frame pixels.
    pub bbox: [f32; 4],
}

/// One prediction's match flags at the ten thresholds, with its score and class.
#[derive(Debug, Clone, Copy)]
struct Scored {
    confidence: f32,
    class_id: u32,
    correct: [bool; 10],
}

/// Collects predictions and labels frame by frame; [`ApAccumulator::finish`] gives the metrics.
#[derive(Debug, Default, Clone)]
pub struct ApAccumulator {
    scored: Vec<Scored>,
    labels_per_class: std::collections::BTreeMap<u32, usize>,
    frames: usize,
}

/// Average precision per class (only classes that have labels).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassAp {
    /// Class number.
    pub class_id: u32,
    /// Labelled boxes of this class.
    pub labels: usize,
    /// Predictions of this class.
    pub predictions: usize,
    /// AP at IoU 0.5.
    pub ap50: f64,
    /// AP averaged over IoU 0.50…0.95.
    pub ap50_95: f64,
}

/// The result of [`ApAccumulator::finish`].
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Frames seen.
    pub frames: usize,
    /// Mean AP at IoU 0.5 over classes with labels (0 when there are none).
    pub map50: f64,
    /// Mean AP over IoU 0.50…0.95.
    pub map50_95: f64,
    /// Per class, by class number.
    pub classes: Vec<ClassAp>,
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes.
pub fn box_iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    // ultralytics adds 1e-7 to the union.
    inter / (union + 1e-7)
}

impl ApAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one frame: predictions as `(class, confidence, [x1, y1, x2, y2])`, and its labels.
    pub fn add_frame(&mut self, predictions: &[(u32, f32, [f32; 4])], truths: &[Truth]) {
        self.frames += 1;
        for t in truths {
            *self.labels_per_class.entry(t.class_id).or_default() += 1;
        }
        // ultralytics matches predictions in descending confidence order.
        let mut order: Vec<usize> = (0..predictions.len()).collect();
        order.sort_by(|&a, &b| predictions[b].1.total_cmp(&predictions[a].1));
        let preds: Vec<&(u32, f32, [f32; 4])> = order.iter().map(|&i| &predictions[i]).collect();
        // IoU of every (label, prediction) pair of the same class; other pairs are 0.
        let iou: Vec<Vec<f32>> = truths
            .iter()
            .map(|t| {
                preds
                    .iter()
                    .map(|(c, _, b)| {
                        if *c == t.class_id {
                            box_iou(&t.bbox, b)
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        // ultralytics 8.4's `match_predictions` (COCO's greedy rule): in descending confidence,
        // each prediction takes the unclaimed label it overlaps most, at each threshold.
        let mut correct = vec![[false; 10]; preds.len()];
        let mut claimed = vec![[false; 10]; truths.len()];
        for (p, flags) in correct.iter_mut().enumerate() {
            for (k, &threshold) in IOU_THRESHOLDS.iter().enumerate() {
                let mut best: Option<(usize, f32)> = None;
                for (l, row) in iou.iter().enumerate() {
                    let v = if claimed[l][k] { 0.0 } else { row[p] };
                    if best.is_none_or(|(_, b)| v > b) {
                        best = Some((l, v));
                    }
                }
                if let Some((l, v)) = best
                    && v >= threshold
                {
                    flags[k] = true;
                    claimed[l][k] = true;
                }
            }
        }
        for ((class_id, confidence, _), correct) in preds.iter().zip(correct) {
            self.scored.push(Scored {
                confidence: *confidence,
                class_id: *class_id,
                correct,
            });
        }
    }

    /// mAP50, mAP50-95 and per-class AP over every frame added.
    pub fn finish(&self) -> Metrics {
        let mut order: Vec<&Scored> = self.scored.iter().collect();
        // Highest confidence first; a stable sort keeps arrival order among equal scores.
        order.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        let mut classes = Vec::new();
        for (&class_id, &labels) in &self.labels_per_class {
            let preds: Vec<&Scored> = order
                .iter()
                .copied()
                .filter(|s| s.class_id == class_id)
                .collect();
            let mut ap = [0.0f64; 10];
            if !preds.is_empty() && labels > 0 {
                for (k, slot) in ap.iter_mut().enumerate() {
                    let mut tp = 0.0f64;
                    let mut fp = 0.0f64;
                    let mut recall = Vec::with_capacity(preds.len());
                    let mut precision = Vec::with_capacity(preds.len());
                    for s in &preds {
                        if s.correct[k] {
                            tp += 1.0;
                        } else {
                            fp += 1.0;
                        }
                        recall.push(tp / (labels as f64 + 1e-16));
                        precision.push(tp / (tp + fp));
                    }
                    *slot = average_precision(&recall, &precision);
                }
            }
            classes.push(ClassAp {
                class_id,
                labels,
                predictions: preds.len(),
                ap50: ap[0],
                ap50_95: ap.iter().sum::<f64>() / ap.len() as f64,
            });
        }
        let mean = |f: fn(&ClassAp) -> f64| {
            if classes.is_empty() {
                0.0
            } else {
                classes.iter().map(f).sum::<f64>() / classes.len() as f64
            }
        };
        Metrics {
            frames: self.frames,
            map50: mean(|c| c.ap50),
            map50_95: mean(|c| c.ap50_95),
            classes,
        }
    }
}

/// Area under the precision envelope, sampled at 101 recall points and integrated with the
/// trapezoid rule (ultralytics 8.4's `compute_ap`: precision drops to 0 just after the last
/// recall reached, as in COCO, instead of sloping down to recall 1).
fn average_precision(recall: &[f64], precision: &[f64]) -> f64 {
    let mut mrec = Vec::with_capacity(recall.len() + 3);
    mrec.push(0.0);
    mrec.extend_from_slice(recall);
    mrec.push(recall.last().copied().unwrap_or(1.0));
    mrec.push(1.0);
    let mut mpre = Vec::with_capacity(precision.len() + 3);
    mpre.push(1.0);
    mpre.extend_from_slice(precision);
    mpre.push(0.0);
    mpre.push(0.0);
    for i in (0..mpre.len() - 1).rev() {
        mpre[i] = mpre[i].max(mpre[i + 1]);
    }
    let xs: Vec<f64> = (0..101).map(|i| i as f64 / 100.0).collect();
    let ys: Vec<f64> = xs.iter().map(|&x| interp(x, &mrec, &mpre)).collect();
    xs.windows(2)
        .zip(ys.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
        .sum()
}

/// numpy's `interp`: piecewise linear through (xp, fp), xp non-decreasing, clamped at the ends;
/// at a run of equal xp the last point of the run wins (numpy's binary search goes right).
fn interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    let last = xp.len() - 1;
    if x < xp[0] {
        return fp[0];
    }
    if x >= xp[last] {
        return fp[last];
    }
    // Largest j with xp[j] <= x; then xp[j] <= x < xp[j + 1].
    let j = xp.partition_point(|&v| v <= x) - 1;
    let (x0, x1) = (xp[j], xp[j + 1]);
    fp[j] + (fp[j + 1] - fp[j]) * (x - x0) / (x1 - x0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(class_id: u32, bbox: [f32; 4]) -> Truth {
        Truth { class_id, bbox }
    }

    #[test]
    fn no_predictions_give_zero() {
        let mut acc = ApAccumulator::new();
        acc.add_frame(&[], &[truth(0, [0.0, 0.0, 10.0, 10.0])]);
        let m = acc.finish();
        assert_eq!(m.map50, 0.0);
        assert_eq!(m.classes[0].labels, 1);
    }

    #[test]
    fn a_false_positive_ranked_first_halves_precision_at_full_recall() {
        let mut acc = ApAccumulator::new();
        acc.add_frame(
            &[
                (0, 0.9, [100.0, 100.0, 120.0, 120.0]),
                (0, 0.8, [0.0, 0.0, 10.0, 10.0]),
            ],
            &[truth(0, [0.0, 0.0, 10.0, 10.0])],
        );
        let m = acc.finish();
        // Precision envelope 0.5 over recall 0..1, 0 at the last point: 0.99 · 0.5 + 0.0025.
        assert!((m.map50 - 0.4975).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn wrong_class_does_not_match_and_loose_box_fails_high_thresholds() {
        let mut acc = ApAccumulator::new();
        // IoU 0.64 with the label: a match at 0.50..0.60, not above.
        acc.add_frame(
            &[
                (1, 0.9, [0.0, 0.0, 10.0, 10.0]),
                (0, 0.7, [0.0, 0.0, 10.0, 6.4]),
            ],
            &[truth(0, [0.0, 0.0, 10.0, 10.0])],
        );
        let m = acc.finish();
        let c0 = &m.classes[0];
        assert_eq!(
            m.classes.len(),
            1,
            "class 1 has no labels, so it is not averaged"
        );
        assert!((c0.ap50 - 0.995).abs() < 1e-9);
        assert!((c0.ap50_95 - 0.2985).abs() < 1e-9, "{c0:?}");
    }

    #[test]
    fn one_prediction_matches_one_label() {
        let mut acc = ApAccumulator::new();
        acc.add_frame(
            &[(0, 0.9, [0.0, 0.0, 10.0, 10.0])],
            &[
                truth(0, [0.0, 0.0, 10.0, 10.0]),
                truth(0, [0.0, 0.0, 10.0, 10.0]),
            ],
        );
        let m = acc.finish();
        // Recall 0.5 at precision 1, then precision 0: 0.49 + half of the step at 0.5.
        assert!((m.map50 - 0.495).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn interp_matches_numpy() {
        let xp = [0.0, 0.5, 0.5, 1.0];
        let fp = [1.0, 1.0, 0.2, 0.0];
        assert_eq!(interp(0.5, &xp, &fp), 0.2);
        assert!((interp(0.75, &xp, &fp) - 0.1).abs() < 1e-12);
        assert_eq!(interp(0.0, &xp, &fp), 1.0);
        assert_eq!(interp(1.0, &xp, &fp), 0.0);
    }
}
