// SPDX-License-Identifier: MIT OR Apache-2.0
//! Greedy non-maximum suppression, as torchvision's `nms` inside ultralytics.

use crate::decode::Candidate;

/// NMS settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NmsOptions {
    /// Suppress a box whose IoU with a kept box is `> iou`.
    pub iou: f32,
    /// Boxes of different classes suppress each other too.
    pub class_agnostic: bool,
    /// Keep at most this many boxes (highest scores).
    pub max_det: usize,
}

impl Default for NmsOptions {
    fn default() -> Self {
        Self {
            iou: 0.45,
            class_agnostic: false,
            max_det: 300,
        }
    }
}

/// Intersection over union of two boxes (0 when either has no area).
///
/// ```
/// use hmg_detect::{Candidate, nms::iou};
/// let b = |x1: f32| Candidate { x1, y1: 0.0, x2: x1 + 10.0, y2: 10.0, score: 1.0, class_id: 0 };
/// assert_eq!(iou(&b(0.0), &b(5.0)), 1.0 / 3.0);
/// assert_eq!(iou(&b(0.0), &b(20.0)), 0.0);
/// ```
#[inline]
pub fn iou(a: &Candidate, b: &Candidate) -> f32 {
    let iw = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let ih = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let inter = iw * ih;
    let area_a = (a.x2 - a.x1) * (a.y2 - a.y1);
    let area_b = (b.x2 - b.x1) * (b.y2 - b.y1);
    let union = area_a + area_b - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Sorts `cands` by score (highest first) and keeps the NMS survivors, in that order.
///
/// ```
/// use hmg_detect::{Candidate, NmsOptions, nms};
/// let c = |x1: f32, score: f32, class_id: u32| Candidate { x1, y1: 0.0, x2: x1 + 10.0, y2: 10.0, score, class_id };
/// let mut boxes = vec![c(0.0, 0.8, 0), c(1.0, 0.9, 0), c(1.0, 0.7, 1), c(50.0, 0.5, 0)];
/// nms(&mut boxes, NmsOptions::default());
/// let kept: Vec<f32> = boxes.iter().map(|b| b.score).collect();
/// assert_eq!(kept, [0.9, 0.7, 0.5]); // 0.8 overlaps 0.9 of the same class
/// ```
pub fn nms(cands: &mut Vec<Candidate>, opts: NmsOptions) {
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    // ultralytics looks at no more than 30 000 boxes.
    cands.truncate(30_000);
    let mut kept = 0;
    for i in 0..cands.len() {
        if kept >= opts.max_det {
            break;
        }
        let c = cands[i];
        let suppressed = cands[..kept]
            .iter()
            .any(|k| (opts.class_agnostic || k.class_id == c.class_id) && iou(k, &c) > opts.iou);
        if !suppressed {
            cands[kept] = c;
            kept += 1;
        }
    }
    cands.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(x1: f32, y1: f32, x2: f32, y2: f32, score: f32, class_id: u32) -> Candidate {
        Candidate {
            x1,
            y1,
            x2,
            y2,
            score,
            class_id,
        }
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = cand(0.0, 0.0, 10.0, 10.0, 1.0, 0);
        assert_eq!(iou(&a, &a), 1.0);
        assert_eq!(iou(&a, &cand(20.0, 20.0, 30.0, 30.0, 1.0, 0)), 0.0);
        assert!((iou(&a, &cand(5.0, 0.0, 15.0, 10.0, 1.0, 0)) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn suppresses_overlaps_of_same_class_only() {
        let mut c = vec![
            cand(0.0, 0.0, 10.0, 10.0, 0.8, 0),
            cand(1.0, 0.0, 11.0, 10.0, 0.9, 0),
            cand(1.0, 0.0, 11.0, 10.0, 0.7, 1),
            cand(50.0, 50.0, 60.0, 60.0, 0.6, 0),
        ];
        nms(&mut c, NmsOptions::default());
        assert_eq!(
            c.iter().map(|c| c.score).collect::<Vec<_>>(),
            vec![0.9, 0.7, 0.6]
        );
    }

    #[test]
    fn agnostic_and_max_det() {
        let mut c = vec![
            cand(0.0, 0.0, 10.0, 10.0, 0.9, 0),
            cand(1.0, 0.0, 11.0, 10.0, 0.7, 1),
            cand(50.0, 50.0, 60.0, 60.0, 0.6, 2),
        ];
        let mut d = c.clone();
        nms(
            &mut c,
            NmsOptions {
                class_agnostic: true,
                ..Default::default()
            },
        );
        assert_eq!(c.len(), 2);
        nms(
            &mut d,
            NmsOptions {
                max_det: 1,
                ..Default::default()
            },
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].score, 0.9);
    }

    #[test]
    fn threshold_is_strictly_greater() {
        // IoU exactly 0.5 is kept at iou=0.5.
        let mut c = vec![
            cand(0.0, 0.0, 10.0, 10.0, 0.9, 0),
            cand(0.0, 0.0, 10.0, 5.0, 0.8, 0),
        ];
        nms(
            &mut c,
            NmsOptions {
                iou: 0.5,
                ..Default::default()
            },
        );
        assert_eq!(c.len(), 2);
    }
}
