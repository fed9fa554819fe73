// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg export`: a trained `.pt` to ONNX for our graph and for Hailo's compiler, with a sidecar
//! that records class names, input size, layout and the six raw-head end nodes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};

use crate::atomic::write_atomic;
use crate::ultralytics::{Outcome, run_driver};
use crate::usage::{Interrupted, usage};

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Trained weights (runs/detect/<name>/weights/best.pt)
    weights: PathBuf,
    /// Put NMS inside the model: <stem>_nms.onnx with output (1, 300, 6) instead of the raw
    /// predictions (1, 4 + classes, N) that yolonms decodes
    #[arg(long)]
    nms: bool,
    /// Input size of the exported model (pixels, square; default: the size it was trained at)
    #[arg(long)]
    imgsz: Option<u32>,
    /// ONNX opset (11 is what Hailo's parser expects)
    #[arg(long, default_value_t = 11)]
    opset: u32,
    /// Folder for the .onnx and its .json sidecar
    #[arg(long, default_value = "exports")]
    output_dir: PathBuf,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub onnx: PathBuf,
    pub sidecar: PathBuf,
    /// Class names in class order.
    pub names: Vec<String>,
    /// Input `[height, width]`.
    pub imgsz: [u32; 2],
    /// Layout name as `yolodecode layout=` knows it.
    pub layout: String,
    pub outputs: Vec<Vec<i64>>,
    /// The six raw-head convolutions Hailo's parser ends at (box, class per stride 8, 16, 32).
    pub end_nodes: Vec<String>,
}

/// Exports `weights` to `<output_dir>/<stem>.onnx` (`<stem>_nms.onnx` with `nms`), at `imgsz`
/// or, without it, at the size the weights were trained at (as ultralytics' own export does).
pub fn export_onnx_for_hailo(
    weights: &Path,
    nms: bool,
    imgsz: Option<u32>,
    opset: u32,
    output_dir: &Path,
) -> anyhow::Result<ExportReport> {
    if let Some(why) = hmg_detect::paths::not_a_file(weights) {
        return Err(usage(format!(
            "'{}' {why}: give trained weights (runs/detect/<name>/weights/best.pt)",
            weights.display()
        )));
    }
    if weights.extension().is_none_or(|e| e != "pt") {
        return Err(usage(format!(
            "'{}' is not a PyTorch checkpoint (.pt); hmg export turns training weights into ONNX",
            weights.display()
        )));
    }
    if let Some(imgsz) = imgsz.filter(|s| *s == 0 || !s.is_multiple_of(32)) {
        return Err(usage(format!("--imgsz {imgsz} must be a multiple of 32")));
    }
    if !(11..=21).contains(&opset) {
        return Err(usage(format!("--opset {opset}: use 11 (Hailo) up to 21")));
    }
    std::fs::create_dir_all(output_dir)
        .with_context(|| format!("cannot create {}", output_dir.display()))?;
    let args = json!({
        "weights": std::path::absolute(weights)?,
        "nms": nms,
        "imgsz": imgsz,
        "opset": opset,
        "output_dir": std::path::absolute(output_dir)?,
    });
    let log = output_dir.join(format!(
        "{}{}-export.log",
        weights.file_stem().unwrap_or_default().to_string_lossy(),
        if nms { "_nms" } else { "" }
    ));
    let done = match run_driver("export", &args, &log, |_| {})
        .map_err(|e| e.context(format!("exporting {} failed", weights.display())))?
    {
        Outcome::Done(done) => done,
        Outcome::Interrupted => return Err(Interrupted("export stopped".into()).into()),
    };
    let onnx = PathBuf::from(done["onnx"].as_str().unwrap_or_default());
    let names: Vec<String> = match &done["names"] {
        Value::Object(map) => {
            let mut pairs: Vec<(usize, String)> = map
                .iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_string())))
                .collect();
            pairs.sort();
            pairs.into_iter().map(|(_, n)| n).collect()
        }
        _ => Vec::new(),
    };
    let outputs: Vec<Vec<i64>> =
        serde_json::from_value(done["outputs"].clone()).unwrap_or_default();
    let end_nodes: Vec<String> =
        serde_json::from_value(done["end_nodes"].clone()).unwrap_or_default();
    // The exported graph's own input size (the trained one when none was asked for).
    let imgsz: [u32; 2] = serde_json::from_value(done["imgsz"].clone())
        .context("the export driver did not report the model's input size")?;
    let layout = if nms {
        "ultralytics-nms"
    } else {
        "ultralytics-raw"
    }
    .to_string();
    let sidecar = onnx.with_extension("json");
    let report = ExportReport {
        sidecar: sidecar.clone(),
        onnx,
        names,
        imgsz,
        layout,
        outputs,
        end_nodes,
    };
    let text = serde_json::to_string_pretty(&json!({
        "model": report.onnx.file_name().map(|n| n.to_string_lossy().into_owned()),
        "source": weights.display().to_string(),
        "names": report.names,
        "imgsz": report.imgsz,
        "layout": report.layout,
        "outputs": report.outputs,
        "end_nodes": report.end_nodes,
        "opset": opset,
        "ultralytics": done["ultralytics"],
    }))?;
    write_atomic(&sidecar, |out| {
        use std::io::Write;
        writeln!(out, "{text}")?;
        Ok(())
    })?;
    Ok(report)
}

pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let r = export_onnx_for_hailo(
        &args.weights,
        args.nms,
        args.imgsz,
        args.opset,
        &args.output_dir,
    )?;
    println!(
        "onnx:    {} (input {}x{}{}, outputs {:?}, layout {})",
        r.onnx.display(),
        r.imgsz[1],
        r.imgsz[0],
        if args.imgsz.is_none() {
            ": the size it was trained at"
        } else {
            ""
        },
        r.outputs,
        r.layout
    );
    println!("sidecar: {}", r.sidecar.display());
    println!("classes: {}", r.names.join(", "));
    println!("end nodes for Hailo's parser (--end-node-names):");
    for n in &r.end_nodes {
        println!("  {n}");
    }
    println!("next: hmg verify-onnx {}", r.onnx.display());
    if r.imgsz != [640, 640] {
        // hmg calibrate cannot read the size from a dataset; its default is 640.
        println!(
            "      hmg calibrate DATASET --imgsz {} (the calibration set must match this input)",
            r.imgsz[1]
        );
    }
    Ok(())
}
