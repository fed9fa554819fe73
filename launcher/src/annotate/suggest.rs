// SPDX-License-Identifier: MIT OR Apache-2.0
//! Boxes proposed for a picture, for a person to accept, fix or drop: the predictions a Pi saved
//! with it (`hmg detect --capture` writes `<stem>.json` beside each picture), else those of
//! `--model` run here (the ONNX engine). Classes are matched by name to the dataset's, so a model
//! trained on other class numbers still suggests the right ones; boxes of classes the dataset does
//! not have are left out and counted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use hmg_detect::{Detector, EngineOptions, FrameRef, PixelFormat};

/// The weakest suggestion kept: the page's slider hides up to its own threshold.
pub const FLOOR: f32 = 0.1;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Suggestion {
    pub class: u32,
    pub confidence: f32,
    /// Normalized centre and size, as in a YOLO label file.
    pub cx: f64,
    pub cy: f64,
    pub w: f64,
    pub h: f64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Suggestions {
    /// "capture" (the Pi's predictions), "model", or "none".
    pub source: &'static str,
    pub boxes: Vec<Suggestion>,
    /// Boxes whose class the dataset does not have.
    pub other_classes: usize,
}

pub struct Suggester {
    detector: Option<Mutex<Detector>>,
    model: Option<PathBuf>,
    names: Vec<String>,
    cache: Mutex<HashMap<PathBuf, Suggestions>>,
}

/// One prediction: label, class number, confidence, box in pixels.
type Prediction = (String, u32, f32, [f64; 4]);

impl Suggester {
    pub fn new(model: Option<&Path>, names: Vec<String>) -> anyhow::Result<Self> {
        let detector = model
            .map(|m| {
                Detector::open_with(m, &EngineOptions::default())
                    .map(|d| d.conf(FLOOR))
                    .with_context(|| format!("cannot open the model '{}'", m.display()))
            })
            .transpose()?;
        Ok(Self {
            detector: detector.map(Mutex::new),
            model: model.map(Path::to_path_buf),
            names,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The suggestions for `picture` (computed once).
    pub fn for_picture(&self, picture: &Path) -> anyhow::Result<Suggestions> {
        if let Some(s) = self.cache.lock().unwrap().get(picture) {
            return Ok(s.clone());
        }
        let found = match capture_record(picture) {
            Some((size, predictions)) => self.convert("capture", size, predictions),
            None => match &self.detector {
                Some(detector) => {
                    let rgb = crate::images::read_rgb(picture)
                        .with_context(|| format!("cannot read '{}'", picture.display()))?;
                    let (w, h) = rgb.dimensions();
                    let frame = FrameRef::packed(PixelFormat::Rgb, w as usize, h as usize, &rgb)?;
                    let detections =
                        detector.lock().unwrap().detect(&frame).with_context(|| {
                            format!(
                                "the model '{}' failed on '{}'",
                                self.model.as_deref().unwrap_or(Path::new("")).display(),
                                picture.display()
                            )
                        })?;
                    let predictions = detections
                        .iter()
                        .map(|d| {
                            let b = [d.x1, d.y1, d.x2, d.y2].map(f64::from);
                            (d.label.as_str().to_string(), d.class_id, d.confidence, b)
                        })
                        .collect();
                    self.convert("model", (w as f64, h as f64), predictions)
                }
                None => Suggestions {
                    source: "none",
                    ..Default::default()
                },
            },
        };
        self.cache
            .lock()
            .unwrap()
            .insert(picture.to_path_buf(), found.clone());
        Ok(found)
    }

    /// Predictions in pixels of a `size` picture as normalized suggestions of the dataset's classes.
    fn convert(
        &self,
        source: &'static str,
        (w, h): (f64, f64),
        predictions: Vec<Prediction>,
    ) -> Suggestions {
        let mut out = Suggestions {
            source,
            ..Default::default()
        };
        for (label, class_id, confidence, [x1, y1, x2, y2]) in predictions {
            if confidence < FLOOR || w <= 0.0 || h <= 0.0 {
                continue;
            }
            let Some(class) = self.class_of(&label, class_id) else {
                out.other_classes += 1;
                continue;
            };
            let (x1, x2) = (x1.clamp(0.0, w), x2.clamp(0.0, w));
            let (y1, y2) = (y1.clamp(0.0, h), y2.clamp(0.0, h));
            if x2 <= x1 || y2 <= y1 {
                continue;
            }
            out.boxes.push(Suggestion {
                class,
                confidence,
                cx: (x1 + x2) / 2.0 / w,
                cy: (y1 + y2) / 2.0 / h,
                w: (x2 - x1) / w,
                h: (y2 - y1) / h,
            });
        }
        out.boxes
            .sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        out
    }

    /// The dataset's class for a predicted label: by name; a model without names (`class-N`)
    /// by number.
    fn class_of(&self, label: &str, class_id: u32) -> Option<u32> {
        if let Some(i) = self.names.iter().position(|n| n == label) {
            return Some(i as u32);
        }
        let unnamed = label.strip_prefix("class-") == Some(class_id.to_string().as_str());
        (unnamed && (class_id as usize) < self.names.len()).then_some(class_id)
    }
}

/// The predictions `hmg detect --capture` saved beside `picture` (`<stem>.json`, schema
/// `hmg-capture/…`), with the frame size they are in.
fn capture_record(picture: &Path) -> Option<((f64, f64), Vec<Prediction>)> {
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(picture.with_extension("json")).ok()?).ok()?;
    if !record["schema"]
        .as_str()
        .is_some_and(|s| s.starts_with("hmg-capture/"))
    {
        return None;
    }
    let size = (record["width"].as_f64()?, record["height"].as_f64()?);
    // Near misses (scored just below the Pi's threshold) are suggestions too: often the very
    // object the model is learning; the slider hides them like any weak suggestion.
    let near = record["near_misses"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let predictions = record["detections"]
        .as_array()?
        .iter()
        .chain(near)
        .filter_map(|d| {
            let b: Vec<f64> = d["box"]
                .as_array()?
                .iter()
                .filter_map(|v| v.as_f64())
                .collect();
            let [x1, y1, x2, y2] = b[..] else { return None };
            Some((
                d["label"].as_str()?.to_string(),
                d["class_id"].as_u64()? as u32,
                d["confidence"].as_f64()? as f32,
                [x1, y1, x2, y2],
            ))
        })
        .collect();
    Some((size, predictions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_by_name_and_unknown_ones_are_counted() {
        let s = Suggester::new(None, vec!["drone".into(), "person".into()]).unwrap();
        let found = s.convert(
            "capture",
            (200.0, 100.0),
            vec![
                ("person".into(), 0, 0.9, [10.0, 10.0, 50.0, 90.0]),
                ("car".into(), 2, 0.8, [0.0, 0.0, 10.0, 10.0]),
                ("class-0".into(), 0, 0.5, [-20.0, 0.0, 100.0, 100.0]),
                ("drone".into(), 0, 0.05, [0.0, 0.0, 10.0, 10.0]),
            ],
        );
        assert_eq!(found.other_classes, 1);
        assert_eq!(found.boxes.len(), 2);
        assert_eq!(found.boxes[0].class, 1);
        assert_eq!((found.boxes[0].cx, found.boxes[0].w), (0.15, 0.2));
        // An unnamed class by number, clipped to the picture.
        assert_eq!(found.boxes[1].class, 0);
        assert_eq!((found.boxes[1].cx, found.boxes[1].w), (0.25, 0.5));
    }
}
