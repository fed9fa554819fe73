// SPDX-License-Identifier: MIT OR Apache-2.0
//! Which YOLO output layout a model has, found from its output shapes.

use std::fmt;

/// Output layouts hmg decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Ultralytics ONNX without NMS: (1, 4+classes, anchors), rows cx, cy, w, h then class
    /// scores (already sigmoid). `transposed` = (1, anchors, 4+classes).
    UltralyticsRaw { classes: usize, anchors: usize, transposed: bool },
    /// Ultralytics ONNX with NMS / end2end: (1, rows, 6) = x1, y1, x2, y2, score, class.
    UltralyticsNms { rows: usize },
}

impl Layout {
    /// Stable name used in metadata and the `layout` property.
    pub fn name(&self) -> &'static str {
        match self {
            Self::UltralyticsRaw { .. } => "ultralytics-raw",
            Self::UltralyticsNms { .. } => "ultralytics-nms",
        }
    }

    /// Number of classes the output carries, when the layout says.
    pub fn classes(&self) -> Option<usize> {
        match self {
            Self::UltralyticsRaw { classes, .. } => Some(*classes),
            Self::UltralyticsNms { .. } => None,
        }
    }

    /// Finds the layout of a model's outputs from their shapes.
    pub fn detect(shapes: &[Vec<usize>]) -> Result<Self, String> {
        let [shape] = shapes else {
            return Err(format!("it has {} outputs {}", shapes.len(), ShapeList(shapes)));
        };
        let &[batch, a, b] = shape.as_slice() else {
            return Err(format!("its output has shape {}", ShapeList(shapes)));
        };
        if batch == 0 {
            return Err(format!("its output has an empty batch {}", ShapeList(shapes)));
        }
        if b == 6 && a >= 1 {
            return Ok(Self::UltralyticsNms { rows: a });
        }
        if a >= 5 && b > a {
            return Ok(Self::UltralyticsRaw { classes: a - 4, anchors: b, transposed: false });
        }
        if b >= 5 && a > b {
            return Ok(Self::UltralyticsRaw { classes: b - 4, anchors: a, transposed: true });
        }
        Err(format!("its output has shape {}", ShapeList(shapes)))
    }

    /// Elements per batch item this layout reads.
    pub fn item_len(&self) -> usize {
        match *self {
            Self::UltralyticsRaw { classes, anchors, .. } => (4 + classes) * anchors,
            Self::UltralyticsNms { rows } => rows * 6,
        }
    }
}

struct ShapeList<'a>(&'a [Vec<usize>]);

impl fmt::Display for ShapeList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| format!("({})", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")))
            .collect();
        write!(f, "[{}]", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_known_layouts() {
        assert_eq!(
            Layout::detect(&[vec![1, 84, 8400]]),
            Ok(Layout::UltralyticsRaw { classes: 80, anchors: 8400, transposed: false })
        );
        assert_eq!(
            Layout::detect(&[vec![1, 2100, 22]]),
            Ok(Layout::UltralyticsRaw { classes: 18, anchors: 2100, transposed: true })
        );
        assert_eq!(Layout::detect(&[vec![1, 300, 6]]), Ok(Layout::UltralyticsNms { rows: 300 }));
    }

    #[test]
    fn rejects_unknown_layouts() {
        assert!(Layout::detect(&[vec![1, 1000]]).is_err());
        assert!(Layout::detect(&[vec![1, 84, 8400], vec![1, 32, 160, 160]]).is_err());
        assert!(Layout::detect(&[vec![1, 3, 4]]).is_err());
        assert!(Layout::detect(&[]).is_err());
        assert!(Layout::detect(&[vec![0, 84, 8400]]).is_err());
    }
}
