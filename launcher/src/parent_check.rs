// SPDX-License-Identifier: MIT OR Apache-2.0
//! A quantized model against its float parent: the same pictures through both, detections
//! matched per picture (same class, IoU ≥ 0.5), and with a data.yaml both models' mAP on the
//! val split side by side.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::Context;
use hmg_detect::metrics::box_iou;
use hmg_detect::{Detection, Detector, FrameRef, PixelFormat};
use image::RgbImage;

use crate::compile::calibration::CalibrationInfo;
use crate::images::read_rgb;
use crate::verify_onnx::{val_images, val_map};

/// Detections above this count in the agreement (hmg detect's default confidence).
pub const AGREEMENT_CONF: f32 = 0.25;
/// Same object: same class and at least this IoU.
const SAME_OBJECT_IOU: f32 = 0.5;

/// How far a model's detections follow its parent's on the same pictures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agreement {
    pub pictures: usize,
    /// Pictures where every detection of each model has its match in the other's.
    pub identical_pictures: usize,
    pub parent_detections: usize,
    pub detections: usize,
    /// One-to-one matches (a parent detection matches at most one of the model's).
    pub matched: usize,
}

impl Agreement {
    /// Matched share of all detections of both (1 when neither detects anything).
    pub fn f1(&self) -> f64 {
        let total = self.parent_detections + self.detections;
        if total == 0 {
            1.0
        } else {
            2.0 * self.matched as f64 / total as f64
        }
    }

    fn add(&mut self, parent: &[Detection], model: &[Detection]) {
        let mut taken = vec![false; parent.len()];
        let mut matched = 0;
        let bbox = |d: &Detection| [d.x1, d.y1, d.x2, d.y2];
        for d in model {
            let best = parent
                .iter()
                .enumerate()
                .filter(|(i, p)| !taken[*i] && p.class_id == d.class_id)
                .map(|(i, p)| (i, box_iou(&bbox(p), &bbox(d))))
                .filter(|(_, iou)| *iou >= SAME_OBJECT_IOU)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, _)) = best {
                taken[i] = true;
                matched += 1;
            }
        }
        self.pictures += 1;
        self.parent_detections += parent.len();
        self.detections += model.len();
        self.matched += matched;
        if matched == parent.len() && matched == model.len() {
            self.identical_pictures += 1;
        }
    }
}

/// The figures of one comparison.
#[derive(Debug, Clone)]
pub struct ParentReport {
    pub agreement: Agreement,
    /// Where the pictures came from (the val split, or the calibration set).
    pub pictures_from: String,
    /// (parent, model) (mAP50, mAP50-95) on the val split, with a data.yaml.
    pub map: Option<((f64, f64), (f64, f64))>,
}

impl ParentReport {
    /// The parent's mAP50 minus the model's, in points (percent), with a data.yaml.
    pub fn map50_drop_points(&self) -> Option<f64> {
        self.map.map(|(p, m)| (p.0 - m.0) * 100.0)
    }

    /// The lines `hmg quantize` and `hmg verify-onnx --parent` print.
    pub fn lines(&self) -> Vec<String> {
        let a = &self.agreement;
        let mut lines = vec![format!(
            "agreement ({}, conf {AGREEMENT_CONF}): {} of {} parent detections found, {} of {} \
             detections matched (F1 {:.3}); {} of {} pictures identical",
            self.pictures_from,
            a.matched,
            a.parent_detections,
            a.matched,
            a.detections,
            a.f1(),
            a.identical_pictures,
            a.pictures,
        )];
        if let Some(((p50, p5095), (m50, m5095))) = self.map {
            lines.push(format!(
                "mAP (val): float parent mAP50 {p50:.4}  mAP50-95 {p5095:.4}"
            ));
            lines.push(format!(
                "           this model   mAP50 {m50:.4}  mAP50-95 {m5095:.4}  (mAP50 {:+.2} points)",
                (m50 - p50) * 100.0
            ));
        }
        lines
    }
}

/// Where the compared pictures come from.
pub enum Pictures<'a> {
    /// The val split of a data.yaml (mAP is measured too).
    Val(&'a Path),
    /// The letterboxed pictures of a checked calibration set (agreement only).
    Calibration(&'a CalibrationInfo),
}

/// Compares `model` with `parent` on `pictures`; `model_map` is the model's val mAP when the
/// caller has measured it already.
pub fn compare(
    parent: &Path,
    model: &Path,
    pictures: Pictures<'_>,
    model_map: Option<(f64, f64)>,
) -> anyhow::Result<ParentReport> {
    let open = |p: &Path| {
        Detector::open(p)
            .map(|d| d.conf(AGREEMENT_CONF))
            .with_context(|| format!("cannot load {}", p.display()))
    };
    let (mut parent_detector, mut detector) = (open(parent)?, open(model)?);
    let mut agreement = Agreement::default();
    let mut add = |rgb: &RgbImage| -> anyhow::Result<()> {
        let frame = FrameRef::packed(
            PixelFormat::Rgb,
            rgb.width() as usize,
            rgb.height() as usize,
            rgb.as_raw(),
        )?;
        agreement.add(&parent_detector.detect(&frame)?, &detector.detect(&frame)?);
        Ok(())
    };
    let (pictures_from, map) = match pictures {
        Pictures::Val(data) => {
            let images = val_images(data)?;
            for path in &images {
                add(&read_rgb(path).with_context(|| format!("cannot read {}", path.display()))?)?;
            }
            let model_map = match model_map {
                Some(known) => known,
                None => val_map(model, data)?,
            };
            let map = (val_map(parent, data)?, model_map);
            (format!("{} val pictures", images.len()), Some(map))
        }
        Pictures::Calibration(calib) => {
            for_each_calibration_picture(calib, &mut add)?;
            (format!("{} calibration pictures", calib.count), None)
        }
    };
    Ok(ParentReport {
        agreement,
        pictures_from,
        map,
    })
}

/// Calls `f` with each picture of a checked calibration set, one at a time.
fn for_each_calibration_picture(
    calib: &CalibrationInfo,
    mut f: impl FnMut(&RgbImage) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let npy = &calib.path;
    let mut file =
        std::fs::File::open(npy).with_context(|| format!("cannot open {}", npy.display()))?;
    file.seek(SeekFrom::Start(calib.data_offset as u64))?;
    let [h, w] = calib.size;
    let mut rgb = RgbImage::new(w as u32, h as u32);
    for _ in 0..calib.count {
        file.read_exact(&mut rgb)
            .with_context(|| format!("{} is cut short", npy.display()))?;
        f(&rgb)?;
    }
    Ok(())
}

/// `best.int8.onnx` → `best.onnx` beside it, when that file exists.
pub fn parent_beside(model: &Path) -> Option<PathBuf> {
    let name = model.file_name()?.to_str()?;
    let stem = name.strip_suffix(".int8.onnx")?;
    let parent = model.with_file_name(format!("{stem}.onnx"));
    parent.is_file().then_some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class_id: u32, x: f32) -> Detection {
        Detection {
            class_id,
            label: "x".into(),
            confidence: 0.9,
            x1: x,
            y1: 0.0,
            x2: x + 10.0,
            y2: 10.0,
        }
    }

    #[test]
    fn matches_one_to_one_by_class_and_iou() {
        let mut a = Agreement::default();
        a.add(&[det(0, 0.0), det(1, 0.0)], &[det(0, 1.0), det(0, 0.5)]);
        // One match (the class-0 box; the second class-0 box finds it taken), class 1 missed.
        assert_eq!((a.matched, a.identical_pictures), (1, 0));
        a.add(&[det(2, 0.0)], &[det(2, 4.0)]); // IoU 6/14 < 0.5
        assert_eq!(a.matched, 1);
        a.add(&[], &[]);
        assert_eq!((a.pictures, a.identical_pictures), (3, 1));
        assert!((a.f1() - 2.0 / 6.0).abs() < 1e-12); // 2 × 1 match / (3 + 3)
    }

    #[test]
    fn parent_is_the_float_file_beside() {
        let dir = std::env::temp_dir().join(format!("hmg-parent-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let int8 = dir.join("best.int8.onnx");
        assert_eq!(parent_beside(&int8), None);
        std::fs::write(dir.join("best.onnx"), b"x").unwrap();
        assert_eq!(parent_beside(&int8), Some(dir.join("best.onnx")));
        assert_eq!(parent_beside(&dir.join("best.onnx")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
