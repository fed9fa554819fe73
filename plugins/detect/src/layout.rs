// SPDX-License-Identifier: MIT OR Apache-2.0
//! Which YOLO output layout a model has, found from its output shapes.
//!
//! ```
//! use hmg_detect::{Layout, hailo_heads};
//! let raw = Layout::detect(&[vec![1, 84, 8400]]).unwrap();
//! assert_eq!(raw, Layout::UltralyticsRaw { classes: 80, anchors: 8400, transposed: false });
//! assert_eq!((raw.name(), raw.classes(), raw.item_len()), ("ultralytics-raw", Some(80), 84 * 8400));
//! assert_eq!(Layout::detect(&[vec![1, 300, 6]]).unwrap().name(), "ultralytics-nms");
//! // Six Hailo heads, in any order: paired by grid, finest first.
//! let heads = [vec![20, 20, 64], vec![80, 80, 2], vec![40, 40, 64], vec![80, 80, 64], vec![40, 40, 2], vec![20, 20, 2]];
//! assert_eq!(Layout::detect(&heads).unwrap(), Layout::HailoRaw { classes: 2 });
//! let pairs = hailo_heads(&heads).unwrap();
//! assert_eq!((pairs[0].width, pairs[0].box_index, pairs[0].class_index), (80, 3, 1));
//! assert_eq!(Layout::detect_named(&["yolov8_nms_postprocess"], &[vec![2, 501]]).unwrap(),
//!            Layout::HailoNms { classes: 2, max_per_class: 100 });
//! assert!(Layout::from_name("hailo-nms", &[vec![1, 84, 8400]]).is_err());
//! ```

use std::fmt;

/// Output layouts hmg decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Ultralytics ONNX without NMS: (1, 4+classes, anchors), rows cx, cy, w, h then class
    /// scores (already sigmoid). `transposed` = (1, anchors, 4+classes).
    UltralyticsRaw {
        /// Number of classes.
        classes: usize,
        /// Number of anchor points (8400 at 640×640).
        anchors: usize,
        /// Anchors first: (1, anchors, 4+classes).
        transposed: bool,
    },
    /// Ultralytics ONNX with NMS / end2end: (1, rows, 6) = x1, y1, x2, y2, score, class.
    UltralyticsNms {
        /// Rows of the output (usually 300).
        rows: usize,
    },
    /// A HEF compiled without NMS: per stride a box tensor (H, W, 64 = 4 sides × 16 DFL bins)
    /// and a class tensor (H, W, classes), NHWC, usually UINT8 with zero point and scale.
    HailoRaw {
        /// Number of classes.
        classes: usize,
    },
    /// HailoRT's NMS output (`HAILO_NMS_BY_CLASS`, float32): per class a count, then count ×
    /// {y_min, x_min, y_max, x_max, score} normalized to the model input; fixed size
    /// `classes × (1 + 5 × max_per_class)` floats.
    HailoNms {
        /// Number of classes.
        classes: usize,
        /// Boxes each class's block can hold.
        max_per_class: usize,
    },
}

/// DFL bins per box side in YOLOv8 heads (`regression_length` in Hailo's NMS config).
pub const DFL_BINS: usize = 16;

/// Every layout name the `layout` property accepts.
pub const LAYOUT_NAMES: [&str; 4] = [
    "ultralytics-raw",
    "ultralytics-nms",
    "hailo-raw",
    "hailo-nms",
];

impl Layout {
    /// Stable name used in metadata and the `layout` property.
    pub fn name(&self) -> &'static str {
        match self {
            Self::UltralyticsRaw { .. } => "ultralytics-raw",
            Self::UltralyticsNms { .. } => "ultralytics-nms",
            Self::HailoRaw { .. } => "hailo-raw",
            Self::HailoNms { .. } => "hailo-nms",
        }
    }

    /// Number of classes the output carries, when the layout says.
    pub fn classes(&self) -> Option<usize> {
        match self {
            Self::UltralyticsRaw { classes, .. }
            | Self::HailoRaw { classes }
            | Self::HailoNms { classes, .. } => Some(*classes),
            Self::UltralyticsNms { .. } => None,
        }
    }

    /// Finds the layout from output names and shapes: a single `*nms*` output of shape
    /// (classes, 1 + 5·k) is HailoRT's NMS buffer; everything else goes by shape ([`Self::detect`]).
    pub fn detect_named(names: &[&str], shapes: &[Vec<usize>]) -> Result<Self, String> {
        if let ([name], [shape]) = (names, shapes)
            && name.to_ascii_lowercase().contains("nms")
            && let Ok(layout) = Self::hailo_nms(shape)
        {
            return Ok(layout);
        }
        Self::detect(shapes)
    }

    /// The layout called `name` (see [`LAYOUT_NAMES`]), its sizes read from `shapes`.
    pub fn from_name(name: &str, shapes: &[Vec<usize>]) -> Result<Self, String> {
        let layout = match name {
            "hailo-nms" => match shapes {
                [shape] => Self::hailo_nms(shape)?,
                _ => {
                    return Err(format!(
                        "hailo-nms needs one output, got {}",
                        ShapeList(shapes)
                    ));
                }
            },
            "hailo-raw" => Self::hailo_raw(shapes)?,
            "ultralytics-raw" | "ultralytics-nms" => Self::detect(shapes)?,
            other => {
                return Err(format!(
                    "unknown layout '{other}' (known: {})",
                    LAYOUT_NAMES.join(", ")
                ));
            }
        };
        if layout.name() != name {
            return Err(format!(
                "outputs {} are not {name} but {}",
                ShapeList(shapes),
                layout.name()
            ));
        }
        Ok(layout)
    }

    fn hailo_nms(shape: &[usize]) -> Result<Self, String> {
        let dims: Vec<usize> = shape
            .iter()
            .copied()
            .skip_while(|&d| d == 1 && shape.len() > 2)
            .collect();
        match dims.as_slice() {
            &[classes, cols] if classes > 0 && cols > 1 && (cols - 1) % 5 == 0 => {
                Ok(Self::HailoNms {
                    classes,
                    max_per_class: (cols - 1) / 5,
                })
            }
            _ => Err(format!(
                "a HailoRT NMS output has shape (classes, 1 + 5·boxes), got {}",
                ShapeList(&[shape.to_vec()])
            )),
        }
    }

    fn hailo_raw(shapes: &[Vec<usize>]) -> Result<Self, String> {
        let heads = hailo_heads(shapes)?;
        Ok(Self::HailoRaw {
            classes: heads[0].classes,
        })
    }

    /// Finds the layout of a model's outputs from their shapes.
    pub fn detect(shapes: &[Vec<usize>]) -> Result<Self, String> {
        if shapes.len() >= 2 {
            return Self::hailo_raw(shapes)
                .map_err(|e| format!("{e}; outputs {}", ShapeList(shapes)));
        }
        let [shape] = shapes else {
            return Err(format!(
                "it has {} outputs {}",
                shapes.len(),
                ShapeList(shapes)
            ));
        };
        let &[batch, a, b] = shape.as_slice() else {
            return Err(format!("its output has shape {}", ShapeList(shapes)));
        };
        if batch == 0 {
            return Err(format!(
                "its output has an empty batch {}",
                ShapeList(shapes)
            ));
        }
        if b == 6 && a >= 1 {
            return Ok(Self::UltralyticsNms { rows: a });
        }
        if a >= 5 && b > a {
            return Ok(Self::UltralyticsRaw {
                classes: a - 4,
                anchors: b,
                transposed: false,
            });
        }
        if b >= 5 && a > b {
            return Ok(Self::UltralyticsRaw {
                classes: b - 4,
                anchors: a,
                transposed: true,
            });
        }
        Err(format!("its output has shape {}", ShapeList(shapes)))
    }

    /// This layout with `classes` classes, as a producer that knows the model says: a raw
    /// ultralytics output with more rows than boxes and `classes` scores (a segment or pose
    /// model's first output) reads only those; any other layout must already have that many.
    pub fn with_classes(self, classes: usize) -> Result<Self, String> {
        match self {
            Self::UltralyticsRaw {
                classes: rows,
                anchors,
                transposed: false,
            } if classes > 0 && classes < rows => Ok(Self::UltralyticsRaw {
                classes,
                anchors,
                transposed: false,
            }),
            other => match other.classes() {
                Some(n) if n != classes => Err(format!(
                    "the model has {classes} classes but its {} output carries {n}",
                    other.name()
                )),
                _ => Ok(other),
            },
        }
    }

    /// The layout of an ultralytics export whose `task` metadata is not `detect`, with the
    /// `classes` its names count: segment and pose models are detectors with more rows after
    /// the class scores (mask coefficients, keypoints), read as detectors through their first
    /// output (`Ok(Some(_))`); oriented-box and classification models are refused, with why;
    /// `Ok(None)` for the rest (detect, an unknown task), found by shape.
    pub fn for_ultralytics_task(
        task: &str,
        classes: usize,
        shapes: &[Vec<usize>],
    ) -> Result<Option<Self>, String> {
        match task {
            "segment" | "pose" => match shapes.first().map(Vec::as_slice) {
                Some(&[batch, rows, anchors])
                    if batch > 0 && classes > 0 && rows > 4 + classes && anchors > rows =>
                {
                    Ok(Some(Self::UltralyticsRaw {
                        classes,
                        anchors,
                        transposed: false,
                    }))
                }
                _ => Err(format!(
                    "it is a {task} model whose first output {} is not (1, 4 + {classes} \
                     classes + more rows, N): hmg reads the boxes of {task} models exported \
                     without NMS",
                    ShapeList(shapes)
                )),
            },
            "obb" => Err(
                "it is an oriented bounding box (OBB) model: its boxes are turned by an \
                 angle that upright boxes would drop. Use a detect model"
                    .into(),
            ),
            "classify" => Err(
                "it is a classification model: it names a whole picture and has \
                 no boxes. Use a detect model"
                    .into(),
            ),
            _ => Ok(None),
        }
    }

    /// Why an [`UltralyticsRaw`](Self::UltralyticsRaw) output of a `width`×`height` model is a
    /// YOLOv5/YOLOv7-style anchor-based head rather than an anchor-free one, if it is: three
    /// boxes per grid cell (25 200 rows at 640 where YOLOv8 has 8 400), each with an
    /// objectness column before the classes. Decoding that as YOLOv8 would read the objectness
    /// as a class and give wrong boxes, so callers refuse it with this reason.
    pub fn anchor_based_reason(&self, width: usize, height: usize) -> Option<String> {
        let Self::UltralyticsRaw { anchors, .. } = *self else {
            return None;
        };
        // Strides 8, 16, 32 (P5 models) or 8 to 64 (P6 models such as yolov5s6).
        let cells = |strides: &[usize]| -> usize {
            strides
                .iter()
                .map(|s| width.div_ceil(*s) * height.div_ceil(*s))
                .sum()
        };
        [&[8, 16, 32][..], &[8, 16, 32, 64][..]]
            .into_iter()
            .map(cells)
            .find(|&c| c > 0 && anchors == 3 * c)
            .map(|c| {
                format!(
                    "its output has {anchors} rows, three anchor boxes for each of the {c} grid \
                     cells of a {width}×{height} input: a YOLOv5/YOLOv7 anchor-based head, whose \
                     objectness column hmg would misread as a class. Export an anchor-free model \
                     instead (YOLOv8, YOLO11, or YOLOv5u: `yolo export model=yolov5nu.pt \
                     format=onnx`; `hmg train` makes YOLOv8)"
                )
            })
    }

    /// Elements per batch item this layout reads from its (first) output.
    pub fn item_len(&self) -> usize {
        match *self {
            Self::UltralyticsRaw {
                classes, anchors, ..
            } => (4 + classes) * anchors,
            Self::UltralyticsNms { rows } => rows * 6,
            Self::HailoRaw { .. } => 0,
            Self::HailoNms {
                classes,
                max_per_class,
            } => classes * (1 + 5 * max_per_class),
        }
    }
}

/// One stride of a Hailo raw output: which tensors hold its boxes and classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HailoHead {
    /// Index of the (H, W, 64) box tensor.
    pub box_index: usize,
    /// Index of the (H, W, classes) class tensor.
    pub class_index: usize,
    /// Grid height.
    pub height: usize,
    /// Grid width.
    pub width: usize,
    /// Number of classes.
    pub classes: usize,
}

/// Pairs Hailo raw outputs by grid size: (H, W, 64) boxes with (H, W, classes) scores, finest
/// grid first. Tensors go by H, W, C, never by order (HailoRT's order varies between HEFs).
pub fn hailo_heads<S: AsRef<[usize]>>(shapes: &[S]) -> Result<Vec<HailoHead>, String> {
    let mut hwc = Vec::with_capacity(shapes.len());
    for s in shapes {
        match *s.as_ref() {
            [h, w, c] | [1, h, w, c] if h > 0 && w > 0 && c > 0 => hwc.push((h, w, c)),
            _ => {
                return Err(format!(
                    "Hailo raw outputs are NHWC, got {}",
                    ShapeList(&[s.as_ref().to_vec()])
                ));
            }
        }
    }
    if hwc.len() < 2 || hwc.len() % 2 != 0 {
        return Err(format!(
            "Hailo raw outputs come in box/class pairs, got {}",
            hwc.len()
        ));
    }
    let mut heads: Vec<HailoHead> = Vec::new();
    let mut used = vec![false; hwc.len()];
    for i in 0..hwc.len() {
        if used[i] {
            continue;
        }
        let (h, w, c) = hwc[i];
        let Some(j) = (i + 1..hwc.len()).find(|&j| !used[j] && hwc[j].0 == h && hwc[j].1 == w)
        else {
            return Err(format!(
                "output {i} ({h}x{w}x{c}) has no partner of the same grid size"
            ));
        };
        used[i] = true;
        used[j] = true;
        let cj = hwc[j].2;
        // Box = the 64-channel one; when both have 64 (64 classes), the first is the box.
        let (box_index, class_index, classes) = if c == 4 * DFL_BINS {
            (i, j, cj)
        } else if cj == 4 * DFL_BINS {
            (j, i, c)
        } else {
            return Err(format!(
                "grid {h}x{w}: neither output has {} box channels ({c} and {cj})",
                4 * DFL_BINS
            ));
        };
        heads.push(HailoHead {
            box_index,
            class_index,
            height: h,
            width: w,
            classes,
        });
    }
    if heads.iter().any(|hd| hd.classes != heads[0].classes) {
        return Err("Hailo raw class outputs disagree on the number of classes".into());
    }
    heads.sort_by(|a, b| b.height.cmp(&a.height).then(b.width.cmp(&a.width)));
    Ok(heads)
}

struct ShapeList<'a>(&'a [Vec<usize>]);

impl fmt::Display for ShapeList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| {
                format!(
                    "({})",
                    s.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        write!(f, "[{}]", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_producer_s_class_count_narrows_a_raw_output_and_must_match_the_others() {
        let seg = Layout::detect(&[vec![1, 42, 8400]]).unwrap();
        assert_eq!(
            seg.with_classes(6),
            Ok(Layout::UltralyticsRaw {
                classes: 6,
                anchors: 8400,
                transposed: false
            })
        );
        assert_eq!(seg.with_classes(38), Ok(seg));
        assert!(seg.with_classes(39).is_err());
        let nms = Layout::HailoNms {
            classes: 80,
            max_per_class: 100,
        };
        assert_eq!(nms.with_classes(80), Ok(nms));
        assert!(nms.with_classes(6).unwrap_err().contains("6 classes"));
        let nms = Layout::UltralyticsNms { rows: 300 };
        assert_eq!(nms.with_classes(80), Ok(nms));
    }

    #[test]
    fn segment_and_pose_models_are_read_as_detectors_obb_and_classify_refused() {
        let seg = [vec![1, 42, 8400], vec![1, 32, 160, 160]];
        assert_eq!(
            Layout::for_ultralytics_task("segment", 6, &seg),
            Ok(Some(Layout::UltralyticsRaw {
                classes: 6,
                anchors: 8400,
                transposed: false
            }))
        );
        // yolov8n-pose: one class, 17 keypoints × 3 after it.
        assert_eq!(
            Layout::for_ultralytics_task("pose", 1, &[vec![1, 56, 8400]]),
            Ok(Some(Layout::UltralyticsRaw {
                classes: 1,
                anchors: 8400,
                transposed: false
            }))
        );
        for (task, shapes) in [
            ("segment", vec![vec![1, 300, 38]]),
            ("segment", vec![vec![1, 10, 8400]]),
            ("pose", vec![]),
        ] {
            let err = Layout::for_ultralytics_task(task, 6, &shapes).unwrap_err();
            assert!(err.contains(task) && err.contains("without NMS"), "{err}");
        }
        for (task, words) in [("obb", "oriented"), ("classify", "classification")] {
            let err = Layout::for_ultralytics_task(task, 6, &[vec![1, 11, 21504]]).unwrap_err();
            assert!(err.contains(words), "{err}");
        }
        for task in ["detect", "something-new"] {
            assert_eq!(Layout::for_ultralytics_task(task, 80, &[]), Ok(None));
        }
    }

    #[test]
    fn anchor_based_heads_are_told_apart_from_anchor_free_ones() {
        let reason =
            |shape: Vec<usize>, w, h| Layout::detect(&[shape]).unwrap().anchor_based_reason(w, h);
        // YOLOv5s at 640 and 320, a rectangular 384×640 one, yolov5s6 (P6) at 1280.
        for (shape, w, h) in [
            (vec![1, 25200, 85], 640, 640),
            (vec![1, 6300, 85], 320, 320),
            (vec![1, 15120, 85], 640, 384),
            (vec![1, 102000, 85], 1280, 1280),
        ] {
            let why = reason(shape.clone(), w, h).unwrap_or_else(|| panic!("{shape:?}"));
            assert!(
                why.contains("YOLOv5/YOLOv7") && why.contains("yolov5nu"),
                "{why}"
            );
        }
        // The anchor-free heads of the same sizes, either way round.
        for (shape, w, h) in [
            (vec![1, 84, 8400], 640, 640),
            (vec![1, 8400, 85], 640, 640),
            (vec![1, 84, 2100], 320, 320),
            (vec![1, 84, 5040], 640, 384),
            (vec![1, 84, 34000], 1280, 1280),
        ] {
            assert_eq!(reason(shape.clone(), w, h), None, "{shape:?}");
        }
        assert_eq!(
            Layout::UltralyticsNms { rows: 25200 }.anchor_based_reason(640, 640),
            None
        );
    }

    #[test]
    fn detects_known_layouts() {
        assert_eq!(
            Layout::detect(&[vec![1, 84, 8400]]),
            Ok(Layout::UltralyticsRaw {
                classes: 80,
                anchors: 8400,
                transposed: false
            })
        );
        assert_eq!(
            Layout::detect(&[vec![1, 2100, 22]]),
            Ok(Layout::UltralyticsRaw {
                classes: 18,
                anchors: 2100,
                transposed: true
            })
        );
        assert_eq!(
            Layout::detect(&[vec![1, 300, 6]]),
            Ok(Layout::UltralyticsNms { rows: 300 })
        );
        let hailo = [
            vec![20, 20, 64],
            vec![1, 80, 80, 80],
            vec![20, 20, 80],
            vec![40, 40, 64],
            vec![80, 80, 64],
            vec![40, 40, 80],
        ];
        assert_eq!(Layout::detect(&hailo), Ok(Layout::HailoRaw { classes: 80 }));
        let heads = hailo_heads(&hailo).unwrap();
        assert_eq!(
            heads
                .iter()
                .map(|h| (h.box_index, h.class_index, h.height))
                .collect::<Vec<_>>(),
            vec![(4, 1, 80), (3, 5, 40), (0, 2, 20)]
        );
        assert_eq!(
            Layout::detect_named(&["yolov8n/yolov8_nms_postprocess"], &[vec![80, 501]]),
            Ok(Layout::HailoNms {
                classes: 80,
                max_per_class: 100
            })
        );
        assert_eq!(
            Layout::from_name("hailo-nms", &[vec![1, 18, 501]]),
            Ok(Layout::HailoNms {
                classes: 18,
                max_per_class: 100
            })
        );
    }

    #[test]
    fn explicit_names_must_fit_the_shapes() {
        assert!(Layout::from_name("hailo-raw", &[vec![1, 84, 8400]]).is_err());
        assert!(Layout::from_name("ultralytics-nms", &[vec![1, 84, 8400]]).is_err());
        assert!(
            Layout::from_name("yolov5", &[vec![1, 84, 8400]])
                .unwrap_err()
                .contains("known: ultralytics-raw")
        );
        assert!(Layout::from_name("hailo-nms", &[vec![80, 500]]).is_err());
    }

    #[test]
    fn rejects_unknown_layouts() {
        assert!(Layout::detect(&[vec![1, 1000]]).is_err());
        assert!(Layout::detect(&[vec![1, 84, 8400], vec![1, 32, 160, 160]]).is_err());
        assert!(Layout::detect(&[vec![1, 3, 4]]).is_err());
        assert!(Layout::detect(&[]).is_err());
        assert!(Layout::detect(&[vec![0, 84, 8400]]).is_err());
        assert!(Layout::detect(&[vec![40, 40, 64], vec![20, 20, 18]]).is_err());
        assert!(Layout::detect(&[vec![40, 40, 60], vec![40, 40, 18]]).is_err());
        assert!(
            Layout::detect(&[
                vec![40, 40, 64],
                vec![40, 40, 18],
                vec![20, 20, 64],
                vec![20, 20, 17]
            ])
            .is_err()
        );
    }
}
