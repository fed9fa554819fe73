// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg quantize`: a float ONNX export to an int8 (QDQ) model for the CPU, calibrated on the
//! set `hmg calibrate` makes for Hailo's compiler, then checked against its float parent; a
//! model that loses more mAP50 than allowed is refused and not written.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use hmg_detect::Detector;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::compile::calibration;
use crate::parent_check::{ParentReport, Pictures, compare};
use crate::ultralytics::{Outcome, run_driver};
use crate::usage::{Interrupted, usage};

/// How onnxruntime picks each tensor's int8 range from the calibration pictures.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The smallest and largest value seen (fast; the usual choice for YOLO)
    Minmax,
    /// The range that keeps the histogram's information (KL divergence; slower)
    Entropy,
    /// The 99.999th percentile, which ignores rare outliers (slower)
    Percentile,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Self::Minmax => "minmax",
            Self::Entropy => "entropy",
            Self::Percentile => "percentile",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct QuantizeArgs {
    /// The float model (hmg export writes exports/best.onnx)
    pub model: PathBuf,
    /// Calibration set: the folder hmg calibrate wrote or its calib_set.npy
    #[arg(long, default_value = "calibration_data")]
    pub calib: PathBuf,
    /// Where the int8 model goes (default: <model>.int8.onnx beside the model)
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// One scale per output channel of each weight (per tensor by default)
    #[arg(long)]
    pub per_channel: bool,
    /// How each activation's range is chosen
    #[arg(long, value_enum, default_value_t = Method::Minmax)]
    pub method: Method,
    /// Quantize the head's decode too (box decode, sigmoid, final concat); by default it stays
    /// in float: one int8 scale cannot hold pixel boxes and 0..1 scores at once
    #[arg(long)]
    pub int8_head: bool,
    /// Measure mAP of both models on this data.yaml's val split (and compare detections there)
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// With --data: refuse the int8 model when its mAP50 is more than this many points below
    /// the float model's
    #[arg(long, default_value_t = 1.0, value_parser = points)]
    pub max_map50_drop: f64,
}

/// An mAP difference in points (0..=100).
pub fn points(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not a number of mAP points between 0 and 100"
        )),
    }
}

/// What a quantization wrote and measured.
#[derive(Debug, Clone)]
pub struct QuantizeReport {
    pub output: PathBuf,
    pub pictures: usize,
    /// The head nodes kept in float.
    pub float_nodes: usize,
    pub comparison: ParentReport,
}

/// `best.onnx` → `best.int8.onnx`.
pub fn default_output(model: &Path) -> PathBuf {
    let stem = model.file_stem().unwrap_or_default().to_string_lossy();
    model.with_file_name(format!("{stem}.int8.onnx"))
}

/// Quantizes, compares with the parent, and writes the model only when it passes.
pub fn quantize(args: &QuantizeArgs) -> anyhow::Result<QuantizeReport> {
    let model = &args.model;
    if let Some(why) = hmg_detect::paths::not_a_file(model) {
        return Err(usage(format!(
            "model '{}' {why} (hmg export writes exports/best.onnx)",
            model.display()
        )));
    }
    if let Some(d) = &args.data
        && let Some(why) = hmg_detect::paths::not_a_file(d)
    {
        return Err(usage(format!("--data '{}' {why}", d.display())));
    }
    let info = Detector::open(model)
        .map_err(|e| {
            usage(format!(
                "{}: {e}; give a float ONNX from hmg export",
                model.display()
            ))
        })?
        .info()
        .clone();
    let calib = calibration::check(
        &args.calib,
        [info.input_height as u32, info.input_width as u32],
    )?;
    let output = args.output.clone().unwrap_or_else(|| default_output(model));
    if output.extension().is_none_or(|e| e != "onnx") {
        return Err(usage(format!(
            "--output '{}' must end in .onnx",
            output.display()
        )));
    }
    if std::path::absolute(&output)? == std::path::absolute(model)? {
        return Err(usage("--output would overwrite the float model"));
    }
    let dir = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The engine knows a model by its extension: the unfinished file ends in .onnx too.
    let pending = tempfile::Builder::new()
        .prefix(".hmg-quantize-")
        .suffix(".onnx")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?
        .into_temp_path();
    let driver_args = json!({
        "model": std::path::absolute(model)?,
        "calib": std::path::absolute(&calib.path)?,
        "output": std::path::absolute(&pending)?,
        "per_channel": args.per_channel,
        "method": args.method.name(),
        "float_head": !args.int8_head,
    });
    let log = output.with_file_name(format!(
        "{}-quantize.log",
        output.file_stem().unwrap_or_default().to_string_lossy()
    ));
    let bar = ProgressBar::new(calib.count as u64).with_style(
        ProgressStyle::with_template("calibrating {bar:30} {pos}/{len} pictures {elapsed}")
            .expect("valid template"),
    );
    let outcome = run_driver("quantize", &driver_args, &log, |event| {
        if event["event"] == "picture" {
            bar.set_position(event["done"].as_u64().unwrap_or(0));
        }
    });
    bar.finish_and_clear();
    let done =
        match outcome.map_err(|e| e.context(format!("quantizing {} failed", model.display())))? {
            Outcome::Done(done) => done,
            Outcome::Interrupted => return Err(Interrupted("quantization stopped".into()).into()),
        };
    let float_nodes = done["float_nodes"].as_array().map_or(0, Vec::len);
    if !args.int8_head && float_nodes == 0 {
        eprintln!(
            "warning: {} has no YOLOv8-style head (cv2/cv3 convolutions): everything is int8",
            model.display()
        );
    }
    let pictures = match &args.data {
        Some(data) => Pictures::Val(data),
        None => Pictures::Calibration(&calib),
    };
    let comparison = compare(model, &pending, pictures, None)?;
    if let Some(drop) = comparison.map50_drop_points()
        && drop > args.max_map50_drop
    {
        return Err(anyhow!(
            "REFUSED: the int8 model's mAP50 is {drop:.2} points below the float model's (allowed \
             {}); nothing written. Try --per-channel, --method percentile, a larger calibration \
             set (hmg calibrate --num-samples 256), or allow more with --max-map50-drop.\n{}",
            args.max_map50_drop,
            comparison.lines().join("\n")
        ));
    }
    std::fs::File::open(&pending)
        .and_then(|f| f.sync_all())
        .and_then(|()| pending.persist(&output).map_err(|e| e.error))
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(QuantizeReport {
        output,
        pictures: calib.count,
        float_nodes,
        comparison,
    })
}

pub fn run(args: &QuantizeArgs) -> anyhow::Result<()> {
    let r = quantize(args)?;
    println!(
        "int8:     {} ({} calibration pictures, {}, {}; {} head nodes kept in float)",
        r.output.display(),
        r.pictures,
        args.method.name(),
        if args.per_channel {
            "per channel"
        } else {
            "per tensor"
        },
        r.float_nodes
    );
    for line in r.comparison.lines() {
        println!("{line}");
    }
    if r.comparison.map.is_none() {
        println!(
            "note:     no --data: mAP was not measured (give the dataset's data.yaml to check it)"
        );
    }
    println!(
        "PASS: hmg detect and hailoinfer run {} as they run the float model",
        r.output.display()
    );
    Ok(())
}
