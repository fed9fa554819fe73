// SPDX-License-Identifier: MIT OR Apache-2.0
//! Decoders for what a Hailo device returns: raw YOLOv8 heads (DFL boxes + class scores, often
//! UINT8) and HailoRT's `HAILO_NMS_BY_CLASS` buffer. Same maths as HailoRT's YOLOv8 post-process
//! and ultralytics' DFL head (HAILO.md §2.1–2.2).

use crate::decode::Candidate;
use crate::layout::{DFL_BINS, HailoHead};
use crate::tensor::{TensorRef, TensorSlice};

/// Whether a class tensor holds probabilities (the Model Zoo applies sigmoid on the chip) or
/// logits: a quantized tensor whose whole range fits 0..1 holds probabilities.
fn holds_logits(t: &TensorRef<'_>) -> bool {
    const SLACK: f32 = 1e-3;
    match t.data {
        TensorSlice::U8(_) => {
            let lo = (0.0 - t.zero_point) * t.scale;
            let hi = (255.0 - t.zero_point) * t.scale;
            lo.min(hi) < -SLACK || lo.max(hi) > 1.0 + SLACK
        }
        TensorSlice::F32(v) => v.iter().any(|&x| !(-SLACK..=1.0 + SLACK).contains(&x)),
    }
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Expected distance of one box side: softmax over its bins, then Σ i·p_i.
#[inline]
fn dfl_side(t: &TensorRef<'_>, start: usize) -> f32 {
    let mut v = [0f32; DFL_BINS];
    for (i, x) in v.iter_mut().enumerate() {
        *x = t.get(start + i);
    }
    let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut sum, mut weighted) = (0f32, 0f32);
    for (i, &x) in v.iter().enumerate() {
        let e = (x - m).exp();
        sum += e;
        weighted += e * i as f32;
    }
    weighted / sum
}

fn check_len(t: &TensorRef<'_>, expected: usize) -> Result<(), String> {
    if t.data.len() < expected {
        return Err(format!(
            "output '{}' has {} values, its shape needs {expected}",
            t.name,
            t.data.len()
        ));
    }
    Ok(())
}

/// Candidates from raw heads; boxes in model-input pixels of an `input_w`×`input_h` input.
pub(crate) fn decode_raw(
    heads: &[HailoHead],
    tensors: &[TensorRef<'_>],
    (input_w, input_h): (usize, usize),
    conf: f32,
    keep_class: &dyn Fn(u32) -> bool,
    out: &mut Vec<Candidate>,
) -> Result<(), String> {
    for head in heads {
        let (boxes, scores) = (&tensors[head.box_index], &tensors[head.class_index]);
        let (h, w, nc) = (head.height, head.width, head.classes);
        if input_w % w != 0 || input_h % h != 0 || input_w / w != input_h / h {
            return Err(format!(
                "grid {h}x{w} of '{}' does not tile the {input_w}x{input_h} model input",
                boxes.name
            ));
        }
        let stride = (input_w / w) as f32;
        check_len(boxes, h * w * 4 * DFL_BINS)?;
        check_len(scores, h * w * nc)?;
        let logits = holds_logits(scores);
        let threshold = if logits {
            (conf / (1.0 - conf)).ln()
        } else {
            conf
        };
        // Most cells hold nothing: on UINT8 scores, skip blocks of cells whose largest byte
        // cannot pass (a max over contiguous bytes vectorises); the exact test decides the rest.
        let skip_below = match scores.data {
            TensorSlice::U8(q) if scores.scale > 0.0 => {
                let limit = (threshold / scores.scale + scores.zero_point - 0.5).floor();
                Some((q, limit.clamp(0.0, 256.0) as u16))
            }
            _ => None,
        };
        const BLOCK: usize = 16;
        let mut cell = 0;
        while cell < h * w {
            if let Some((q, limit)) = skip_below {
                let end = (cell + BLOCK).min(h * w);
                let max = q[cell * nc..end * nc].iter().fold(0u8, |m, &b| m.max(b));
                if (max as u16) < limit {
                    cell = end;
                    continue;
                }
            }
            let this = cell;
            cell += 1;
            let cell = this;
            let row = cell * nc;
            let (best, class_id) = best_class(scores, row, nc);
            if !(best > threshold) || !keep_class(class_id) {
                continue;
            }
            let score = if logits { sigmoid(best) } else { best };
            let base = cell * 4 * DFL_BINS;
            let [l, t, r, b] = [0, 1, 2, 3].map(|side| dfl_side(boxes, base + side * DFL_BINS));
            let (cx, cy) = ((cell % w) as f32 + 0.5, (cell / w) as f32 + 0.5);
            out.push(Candidate {
                x1: (cx - l) * stride,
                y1: (cy - t) * stride,
                x2: (cx + r) * stride,
                y2: (cy + b) * stride,
                score,
                class_id,
            });
        }
    }
    Ok(())
}

/// Best class of one cell (first maximum wins), compared in the quantized domain when it can be.
#[inline]
fn best_class(scores: &TensorRef<'_>, row: usize, nc: usize) -> (f32, u32) {
    match scores.data {
        TensorSlice::U8(q) => {
            let cells = &q[row..row + nc];
            let (mut best, mut class_id) = (cells[0], 0u32);
            for (c, &v) in cells.iter().enumerate().skip(1) {
                // A negative scale would flip the order; HailoRT never emits one, but be exact.
                if (scores.scale >= 0.0 && v > best) || (scores.scale < 0.0 && v < best) {
                    best = v;
                    class_id = c as u32;
                }
            }
            ((best as f32 - scores.zero_point) * scores.scale, class_id)
        }
        TensorSlice::F32(v) => {
            let (mut best, mut class_id) = (f32::NEG_INFINITY, 0u32);
            for (c, &s) in v[row..row + nc].iter().enumerate() {
                if s > best {
                    best = s;
                    class_id = c as u32;
                }
            }
            (best, class_id)
        }
    }
}

/// Candidates from a `HAILO_NMS_BY_CLASS` buffer. The buffer comes from a library we do not
/// control: every count is checked against the buffer and the declared maximum.
pub(crate) fn decode_nms(
    classes: usize,
    max_per_class: usize,
    tensor: &TensorRef<'_>,
    (input_w, input_h): (usize, usize),
    conf: f32,
    keep_class: &dyn Fn(u32) -> bool,
    out: &mut Vec<Candidate>,
) -> Result<(), String> {
    let TensorSlice::F32(data) = tensor.data else {
        return Err(format!(
            "HailoRT NMS output '{}' must be float32",
            tensor.name
        ));
    };
    let (fw, fh) = (input_w as f32, input_h as f32);
    let mut pos = 0;
    for class_id in 0..classes as u32 {
        let count = *data
            .get(pos)
            .ok_or_else(|| format!("NMS buffer '{}' ends before class {class_id}", tensor.name))?;
        if !(count >= 0.0 && count <= max_per_class as f32 && count.fract() == 0.0) {
            return Err(format!(
                "NMS buffer '{}': class {class_id} claims {count} boxes (at most {max_per_class})",
                tensor.name
            ));
        }
        let count = count as usize;
        pos += 1;
        let boxes = data.get(pos..pos + 5 * count).ok_or_else(|| {
            format!(
                "NMS buffer '{}' ends inside class {class_id}'s boxes",
                tensor.name
            )
        })?;
        pos += 5 * count;
        if !keep_class(class_id) {
            continue;
        }
        for b in boxes.chunks_exact(5) {
            let &[y_min, x_min, y_max, x_max, score] = b else {
                unreachable!()
            };
            if !(score > conf) {
                continue;
            }
            // Normalized to the model input and not clipped by HailoRT.
            out.push(Candidate {
                x1: x_min.clamp(0.0, 1.0) * fw,
                y1: y_min.clamp(0.0, 1.0) * fh,
                x2: x_max.clamp(0.0, 1.0) * fw,
                y2: y_max.clamp(0.0, 1.0) * fh,
                score,
                class_id,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::hailo_heads;

    fn tensor<'a>(
        name: &'a str,
        shape: &'a [usize],
        data: TensorSlice<'a>,
        zp: f32,
        scale: f32,
    ) -> TensorRef<'a> {
        TensorRef {
            name,
            shape,
            data,
            zero_point: zp,
            scale,
        }
    }

    #[test]
    fn one_cell_decodes_to_its_box() {
        // 2x2 grid on a 64x64 input (stride 32); cell (row 1, col 0) has class 1 at 0.9 and
        // bins peaked at 1, 2, 3, 0 for left, top, right, bottom.
        let mut boxes = vec![0f32; 4 * 64];
        let cell = 2;
        for (side, bin) in [1usize, 2, 3, 0].iter().enumerate() {
            boxes[cell * 64 + side * 16 + bin] = 30.0;
        }
        let mut scores = vec![0.01f32; 4 * 2];
        scores[cell * 2 + 1] = 0.9;
        let (bs, ss) = ([2, 2, 64], [2, 2, 2]);
        let ts = [
            tensor("b", &bs, TensorSlice::F32(&boxes), 0.0, 1.0),
            tensor("s", &ss, TensorSlice::F32(&scores), 0.0, 1.0),
        ];
        let heads = hailo_heads(&[bs.to_vec(), ss.to_vec()]).unwrap();
        let mut out = Vec::new();
        decode_raw(&heads, &ts, (64, 64), 0.25, &|_| true, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let c = out[0];
        assert_eq!((c.class_id, c.score), (1, 0.9));
        // cx = 0.5, cy = 1.5 cells; distances ~1, 2, 3, 0 cells.
        for (got, want) in [(c.x1, -16.0), (c.y1, -16.0), (c.x2, 112.0), (c.y2, 48.0)] {
            assert!((got - want).abs() < 1e-3, "{got} vs {want}");
        }
    }

    #[test]
    fn quantized_logits_are_recognised() {
        let q = [0u8, 255];
        let probs = tensor("p", &[2], TensorSlice::U8(&q), 0.0, 1.0 / 255.0);
        let logits = tensor("l", &[2], TensorSlice::U8(&q), 128.0, 0.1);
        assert!(!holds_logits(&probs));
        assert!(holds_logits(&logits));
    }

    /// A HailoRT NMS buffer from per-class box lists: each class's count, then its boxes
    /// (y_min, x_min, y_max, x_max, score), classes one after the other with no padding to the
    /// maximum (HailoRT's `HAILO_NMS_BY_CLASS` host layout); zeros fill the rest.
    fn nms_buffer(per_class: &[Vec<[f32; 5]>], max_per_class: usize) -> Vec<f32> {
        let mut buf: Vec<f32> = Vec::new();
        for boxes in per_class {
            buf.push(boxes.len() as f32);
            buf.extend(boxes.iter().flatten());
        }
        buf.resize(per_class.len() * (1 + 5 * max_per_class), 0.0);
        buf
    }

    /// Several non-empty classes with several boxes each: a reader that lost its place between
    /// classes (padding each to the maximum, say) reads the wrong counts here.
    #[test]
    fn nms_buffer_with_several_classes_of_several_boxes_each() {
        let per_class = vec![
            vec![[0.1, 0.2, 0.3, 0.4, 0.9], [0.5, 0.5, 0.9, 0.7, 0.3]],
            vec![],
            vec![
                [0.0, 0.0, 0.5, 0.5, 0.6],
                [0.2, 0.1, 0.4, 0.3, 0.2], // below conf: dropped
                [0.6, 0.6, 1.2, 0.8, 0.7], // past the edge: clipped
            ],
            vec![[0.3, 0.3, 0.6, 0.6, 0.8]],
        ];
        let (max, (w, h), conf) = (3, (200, 100), 0.25);
        let buf = nms_buffer(&per_class, max);
        let shape = [per_class.len(), 1 + 5 * max];
        let t = tensor("nms", &shape, TensorSlice::F32(&buf), 0.0, 1.0);
        let expected = |keep: &dyn Fn(u32) -> bool| -> Vec<Candidate> {
            let mut want = Vec::new();
            for (c, boxes) in per_class.iter().enumerate() {
                for &[y1, x1, y2, x2, score] in boxes {
                    if score > conf && keep(c as u32) {
                        want.push(Candidate {
                            x1: x1.clamp(0.0, 1.0) * w as f32,
                            y1: y1.clamp(0.0, 1.0) * h as f32,
                            x2: x2.clamp(0.0, 1.0) * w as f32,
                            y2: y2.clamp(0.0, 1.0) * h as f32,
                            score,
                            class_id: c as u32,
                        });
                    }
                }
            }
            want
        };
        let mut out = Vec::new();
        decode_nms(4, max, &t, (w, h), conf, &|_| true, &mut out).unwrap();
        assert_eq!(out, expected(&|_| true));
        assert_eq!(out.len(), 5, "boxes of three classes, one under conf");
        // A class filter skips a class's boxes without losing its place in the buffer.
        let keep = |c: u32| c != 0;
        out.clear();
        decode_nms(4, max, &t, (w, h), conf, &keep, &mut out).unwrap();
        assert_eq!(out, expected(&keep));
    }

    #[test]
    fn nms_buffer_is_read_and_checked() {
        // 2 classes, up to 2 boxes each: class 0 has one box, class 1 none.
        let buf = [
            1.0, 0.125, 0.25, 0.5, 0.75, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let shape = [2, 11];
        let t = tensor("nms", &shape, TensorSlice::F32(&buf), 0.0, 1.0);
        let mut out = Vec::new();
        decode_nms(2, 2, &t, (100, 200), 0.25, &|_| true, &mut out).unwrap();
        assert_eq!(
            out,
            vec![Candidate {
                x1: 25.0,
                y1: 25.0,
                x2: 75.0,
                y2: 100.0,
                score: 0.8,
                class_id: 0
            }]
        );
        let mut bad = buf;
        bad[0] = 3.0;
        let t = tensor("nms", &shape, TensorSlice::F32(&bad), 0.0, 1.0);
        assert!(
            decode_nms(2, 2, &t, (100, 200), 0.25, &|_| true, &mut out)
                .unwrap_err()
                .contains("claims 3 boxes")
        );
        let t = tensor("nms", &shape, TensorSlice::F32(&buf[..4]), 0.0, 1.0);
        assert!(decode_nms(2, 2, &t, (100, 200), 0.25, &|_| true, &mut out).is_err());
        let nan = [f32::NAN; 22];
        let t = tensor("nms", &shape, TensorSlice::F32(&nan), 0.0, 1.0);
        assert!(decode_nms(2, 2, &t, (100, 200), 0.25, &|_| true, &mut out).is_err());
    }
}
