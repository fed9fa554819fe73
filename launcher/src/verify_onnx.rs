// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg verify-onnx`: the offline verification graph (`appsrc ! hailoinfer ! yolonms !
//! detverify`) on an exported model — a layout we decode, no detections on blank frames, and
//! with `--data` our graph's mAP on the val split next to ultralytics' own `val`.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use gst::prelude::*;
use hmg_detect::Detector;

use crate::appsrc::{Frame, image_frame, play_frames, rgb_frame};
use crate::compile::calibration;
use crate::dataset::data_yaml::DataYaml;
use crate::images::{list_images, read_rgb};
use crate::parent_check::{Pictures, compare};
use crate::ultralytics::{Outcome, run_driver};
use crate::usage::{Interrupted, check_thresholds, usage};

#[derive(clap::Args, Debug)]
pub struct VerifyOnnxArgs {
    /// The exported model (hmg export writes exports/best.onnx)
    model: PathBuf,
    /// Also measure mAP on the val split of this data.yaml (ours and ultralytics' val)
    #[arg(long)]
    data: Option<PathBuf>,
    /// Confidence above which a detection on a blank frame counts as a false positive
    #[arg(long, default_value_t = 0.25)]
    conf: f32,
    /// False positives allowed over all blank frames
    #[arg(long, default_value_t = 0)]
    max_false_positives: u32,
    /// With --data: skip ultralytics' val (only our graph's figure)
    #[arg(long)]
    no_ultralytics: bool,
    /// The float model this one was quantized from: detections compared picture by picture,
    /// and with --data both mAPs side by side (default: best.onnx beside best.int8.onnx)
    #[arg(long)]
    parent: Option<PathBuf>,
    /// Calibration set whose pictures the comparison with the parent uses when there is no --data
    #[arg(long, default_value = "calibration_data")]
    calib: PathBuf,
}

/// The blank frames: black, ultralytics' pad grey and white, at the model's size and at 720p.
const BLANK_LEVELS: [u8; 3] = [0, 114, 255];

/// `appsrc ! hailoinfer ! yolonms ! detverify ! fakesink` over `frames`; returns detverify
/// after EOS (its result properties).
fn run_check(
    model: &Path,
    nms: &str,
    check: &str,
    frames: impl Iterator<Item = anyhow::Result<Frame>> + Send + 'static,
) -> anyhow::Result<gst::Element> {
    let description = format!(
        "appsrc name=frames ! hailoinfer model=\"{}\" ! yolonms {nms} ! \
         detverify name=check fail=false {check} ! fakesink sync=false",
        model.display()
    );
    let pipeline = play_frames(&description, frames)?;
    pipeline
        .by_name("check")
        .ok_or_else(|| anyhow!("detverify missing"))
}

/// Result of [`verify_onnx`].
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub layout: String,
    pub input: (usize, usize),
    pub blank_frames: u64,
    pub false_positives: u64,
    pub blank_passed: bool,
    /// Our graph's (mAP50, mAP50-95) on the val split, with `--data`.
    pub map: Option<(f64, f64)>,
    /// ultralytics val's (mAP50, mAP50-95) for the same model and data.
    pub ultralytics_map: Option<(f64, f64)>,
}

/// The pictures of `data`'s val split.
pub fn val_images(data: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let yaml = DataYaml::read(data)?;
    let mut images = Vec::new();
    for dir in &yaml.val {
        images.extend(list_images(dir).with_context(|| format!("cannot list {}", dir.display()))?);
    }
    if images.is_empty() {
        return Err(usage(format!(
            "{}: the val split has no images",
            data.display()
        )));
    }
    Ok(images)
}

/// Our graph's (mAP50, mAP50-95) of `model` on `data`'s val split, with yolo val's settings.
pub fn val_map(model: &Path, data: &Path) -> anyhow::Result<(f64, f64)> {
    let images = val_images(data)?;
    let absolute: Vec<String> = images
        .iter()
        .map(|p| std::path::absolute(p).map(|p| p.display().to_string()))
        .collect::<Result<_, _>>()?;
    let list = crate::atomic::temp_file_with("hmg-verify-val-", &(absolute.join("\n") + "\n"))?;
    let frames = images.into_iter().map(|path| {
        let rgb = read_rgb(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(image_frame(&rgb))
    });
    // yolo val's settings: every box above 0.001, NMS IoU 0.7, up to 300 per image.
    let result = run_check(
        model,
        "conf=0.001 iou=0.7 max-det=300",
        &format!("mode=map images=\"{}\"", list.display()),
        frames,
    );
    drop(list);
    let check = result?;
    Ok((
        check.property::<f64>("map50"),
        check.property::<f64>("map50-95"),
    ))
}

/// Runs every check; `Err` only when a check could not run (a model that fails to load is
/// such a case: its error says why).
pub fn verify_onnx(
    model: &Path,
    data: Option<&Path>,
    conf: f32,
    max_false_positives: u32,
    ultralytics_val: bool,
) -> anyhow::Result<VerifyReport> {
    let detector = Detector::open(model).map_err(|e| {
        anyhow!(
            "{}: {e}; hmg decodes ultralytics ONNX exports with or without NMS ((1, 4+classes, N) or \
             (1, 300, 6)) and Hailo's raw or NMS outputs — export with hmg export",
            model.display()
        )
    })?;
    let info = detector.info().clone();
    drop(detector);
    let (iw, ih) = (info.input_width as u32, info.input_height as u32);
    let mut blanks = Vec::new();
    for (w, h) in [(iw, ih), (1280, 720)] {
        for level in BLANK_LEVELS {
            blanks.push((w, h, level));
        }
    }
    let frames = blanks
        .into_iter()
        .map(|(w, h, level)| Ok(rgb_frame(w, h, |_, _| [level; 3])));
    let check = run_check(
        model,
        &format!("conf={conf}"),
        &format!("mode=blank max-false-positives={max_false_positives}"),
        frames,
    )?;
    let mut report = VerifyReport {
        layout: info.layout.name().to_string(),
        input: (info.input_width, info.input_height),
        blank_frames: check.property::<u64>("frames"),
        false_positives: check.property::<u64>("false-positives"),
        blank_passed: check.property::<bool>("passed"),
        map: None,
        ultralytics_map: None,
    };
    if let Some(data) = data {
        report.map = Some(val_map(model, data)?);
        if ultralytics_val {
            let args = serde_json::json!({
                "model": std::path::absolute(model)?,
                "data": std::path::absolute(data)?,
                "imgsz": info.input_width.max(info.input_height),
            });
            let log = crate::atomic::temp_log("hmg-verify-val-")?;
            match run_driver("val", &args, &log, |_| {}) {
                Ok(Outcome::Done(done)) => {
                    report.ultralytics_map = Some((
                        done["map50"].as_f64().unwrap_or(0.0),
                        done["map50_95"].as_f64().unwrap_or(0.0),
                    ));
                }
                Ok(Outcome::Interrupted) => {
                    return Err(Interrupted("verification stopped".into()).into());
                }
                Err(e) => {
                    let _ = log.keep();
                    return Err(e);
                }
            }
        }
    }
    Ok(report)
}

pub fn run(args: &VerifyOnnxArgs) -> anyhow::Result<()> {
    if let Some(why) = hmg_detect::paths::not_a_file(&args.model) {
        return Err(usage(format!(
            "model '{}' {why} (hmg export writes exports/best.onnx)",
            args.model.display()
        )));
    }
    if let Some(d) = &args.data
        && let Some(why) = hmg_detect::paths::not_a_file(d)
    {
        return Err(usage(format!("--data '{}' {why}", d.display())));
    }
    check_thresholds(&[("--conf", args.conf.into())])?;
    let r = verify_onnx(
        &args.model,
        args.data.as_deref(),
        args.conf,
        args.max_false_positives,
        !args.no_ultralytics,
    )
    .map_err(|e| anyhow!("FAIL: {e:#}"))?;
    println!(
        "layout:   {} (input {}x{}): decoded by yolonms",
        r.layout, r.input.0, r.input.1
    );
    println!(
        "blank:    {} detection(s) above conf {} on {} black/grey/white frames (allowed {}): {}",
        r.false_positives,
        args.conf,
        r.blank_frames,
        args.max_false_positives,
        if r.blank_passed {
            "ok"
        } else {
            "FALSE POSITIVES"
        }
    );
    if let Some((m50, m5095)) = r.map {
        println!("mAP (val): hmg graph mAP50 {m50:.4}  mAP50-95 {m5095:.4}");
        if let Some((u50, u5095)) = r.ultralytics_map {
            println!("           ultralytics val mAP50 {u50:.4}  mAP50-95 {u5095:.4}");
        }
    }
    let parent = args
        .parent
        .clone()
        .or_else(|| crate::parent_check::parent_beside(&args.model));
    if let Some(parent) = parent {
        if let Some(why) = hmg_detect::paths::not_a_file(&parent) {
            return Err(usage(format!("--parent '{}' {why}", parent.display())));
        }
        println!("parent:   {}", parent.display());
        let calib = calibration::check(&args.calib, [r.input.1 as u32, r.input.0 as u32]);
        let pictures = match (&args.data, &calib) {
            (Some(data), _) => Some(Pictures::Val(data)),
            (None, Ok(calib)) => Some(Pictures::Calibration(calib)),
            (None, Err(e)) => {
                println!("          not compared: no --data, and {e}");
                None
            }
        };
        if let Some(pictures) = pictures {
            for line in compare(&parent, &args.model, pictures, r.map)?.lines() {
                println!("{line}");
            }
        }
    }
    if r.blank_passed {
        println!(
            "PASS: {} is ready to calibrate and compile",
            args.model.display()
        );
        Ok(())
    } else {
        Err(anyhow!(
            "FAIL: {} detects objects on blank frames; train with background images (images \
             with empty label files) and export again",
            args.model.display()
        ))
    }
}
