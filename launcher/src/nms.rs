// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg nms`: the seed's `nms_postprocess.py` — decode and NMS of a saved raw model output
//! (`.npy`, or `.npz` with one array per output) into `boxes`, `scores`, `class_ids` (`.npz`).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hmg_detect::{
    Detection, Layout, Letterbox, PostprocessOptions, Postprocessor, Tensor, load_labels,
};
use ndarray::{Array1, Array2, ArrayD};
use ndarray_npy::{NpzReader, NpzWriter, ReadNpyError, ReadNpyExt, ReadNpzError};

use crate::atomic::write_atomic;
use crate::usage::{check_thresholds, usage};

#[derive(clap::Args, Debug)]
pub struct NmsArgs {
    /// Raw model output: a .npy (one output) or a .npz (one array per output, e.g. six Hailo heads)
    #[arg(long)]
    input: PathBuf,
    /// Where to write boxes (N×4 x1,y1,x2,y2), scores (N) and class_ids (N) as .npz
    #[arg(long, default_value = "detections.npz")]
    output: PathBuf,
    /// Confidence threshold
    #[arg(long, default_value_t = 0.25)]
    conf: f32,
    /// NMS IoU threshold
    #[arg(long, default_value_t = 0.45)]
    iou: f32,
    /// Output layout: auto, ultralytics-raw, ultralytics-nms, hailo-raw or hailo-nms
    #[arg(long, default_value = "auto")]
    layout: String,
    /// Model input size, N or WxH (default: from the output's shape; 640 when it cannot tell)
    #[arg(long, value_name = "N|WxH")]
    imgsz: Option<String>,
    /// Size of the original image, WxH: boxes are mapped back to it through the letterbox
    /// (default: boxes stay in model-input pixels)
    #[arg(long, value_name = "WxH")]
    source_size: Option<String>,
    /// Class names (.txt, data.yaml or JSON) for the printed summary
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Also print every detection as one JSON line
    #[arg(long)]
    json: bool,
}

/// `640` or `640x480` (width × height).
fn parse_size(flag: &str, text: &str) -> anyhow::Result<(usize, usize)> {
    let parse = |s: &str| s.trim().parse::<usize>().ok().filter(|&v| v > 0);
    let size = match text.split_once(['x', 'X']) {
        Some((w, h)) => parse(w).zip(parse(h)),
        None => parse(text).map(|s| (s, s)),
    };
    size.ok_or_else(|| usage(format!("{flag} '{text}' is not a size like 640 or 640x480")))
}

/// One array as float32, whatever float type numpy saved.
fn read_array<R: std::io::Read>(
    mut open: impl FnMut() -> anyhow::Result<R>,
) -> anyhow::Result<ArrayD<f32>> {
    match ArrayD::<f32>::read_npy(open()?) {
        Ok(a) => return Ok(a),
        Err(ReadNpyError::WrongDescriptor(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match ArrayD::<f64>::read_npy(open()?) {
        Ok(a) => Ok(a.mapv(|v| v as f32)),
        Err(ReadNpyError::WrongDescriptor(d)) => Err(anyhow::anyhow!(
            "its dtype is {d}; hmg nms reads float32 or float64 (dequantize uint8 outputs first)"
        )),
        Err(e) => Err(e.into()),
    }
}

/// Every array of the input file as a tensor named after it.
fn read_tensors(path: &Path) -> anyhow::Result<Vec<Tensor>> {
    let bytes = std::fs::read(path)?;
    let is_npz = bytes.starts_with(b"PK");
    let to_tensor = |name: String, a: ArrayD<f32>| {
        let shape = a.shape().to_vec();
        Tensor::f32(name, shape, a.iter().copied().collect())
    };
    if !is_npz {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let array = read_array(|| Ok(Cursor::new(&bytes)))?;
        return Ok(vec![to_tensor(stem.unwrap_or_default(), array)]);
    }
    let mut npz = NpzReader::new(Cursor::new(&bytes))?;
    let names = npz.names()?;
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let array = match npz.by_name::<ndarray::OwnedRepr<f32>, ndarray::IxDyn>(&name) {
            Ok(a) => a,
            Err(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(_))) => npz
                .by_name::<ndarray::OwnedRepr<f64>, ndarray::IxDyn>(&name)
                .map(|a| a.mapv(|v| v as f32))
                .map_err(|e| match e {
                    ReadNpzError::Npy(ReadNpyError::WrongDescriptor(d)) => anyhow::anyhow!(
                        "array '{name}' has dtype {d}; hmg nms reads float32 or float64 (dequantize uint8 outputs first)"
                    ),
                    e => anyhow::anyhow!("array '{name}': {e}"),
                })?,
            Err(e) => return Err(anyhow::anyhow!("array '{name}': {e}")),
        };
        tensors.push(to_tensor(name, array));
    }
    Ok(tensors)
}

/// The model input size the outputs imply, when they do.
fn implied_input(layout: Layout, shapes: &[Vec<usize>]) -> Option<(usize, usize)> {
    match layout {
        Layout::UltralyticsRaw { anchors, .. } => {
            // Square input s: anchors = (s/8)² + (s/16)² + (s/32)².
            let cells = anchors as f64 / (1.0 + 0.25 + 0.0625);
            let s = (cells.sqrt() * 8.0).round() as usize;
            let check = (s / 8).pow(2) + (s / 16).pow(2) + (s / 32).pow(2);
            (s.is_multiple_of(32) && check == anchors).then_some((s, s))
        }
        Layout::HailoRaw { .. } => {
            let heads = hmg_detect::hailo_heads(shapes).ok()?;
            let finest = heads.iter().max_by_key(|h| h.width * h.height)?;
            Some((finest.width * 8, finest.height * 8))
        }
        Layout::UltralyticsNms { .. } | Layout::HailoNms { .. } => None,
    }
}

pub fn run(args: &NmsArgs) -> anyhow::Result<()> {
    if !args.input.is_file() {
        return Err(usage(format!(
            "raw output '{}' does not exist (save one with numpy.save or numpy.savez)",
            args.input.display()
        )));
    }
    check_thresholds(&[("--conf", args.conf.into()), ("--iou", args.iou.into())])?;
    let imgsz = args
        .imgsz
        .as_deref()
        .map(|s| parse_size("--imgsz", s))
        .transpose()?;
    let source = args
        .source_size
        .as_deref()
        .map(|s| parse_size("--source-size", s))
        .transpose()?;
    let labels = match &args.labels {
        Some(p) => load_labels(p)?,
        None => Vec::new(),
    };

    let input = &args.input;
    let tensors = read_tensors(input)
        .with_context(|| format!("cannot read the raw output '{}'", input.display()))?;
    let shapes: Vec<Vec<usize>> = tensors.iter().map(|t| t.shape.clone()).collect();
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let layout = match args.layout.as_str() {
        "auto" => Layout::detect_named(&names, &shapes),
        name => Layout::from_name(name, &shapes),
    }
    .map_err(|e| {
        anyhow::anyhow!(
            "'{}' is not a YOLO output hmg decodes: {e}; pass --layout if it is one",
            input.display()
        )
    })?;
    if let Some(&batch) = shapes.first().and_then(|s| s.first())
        && batch > 1
        && !matches!(layout, Layout::HailoRaw { .. } | Layout::HailoNms { .. })
    {
        return Err(usage(format!(
            "'{}' holds a batch of {batch} outputs; hmg nms takes one image's output",
            input.display()
        )));
    }
    let (iw, ih) = match (imgsz, implied_input(layout, &shapes)) {
        (Some(size), _) | (None, Some(size)) => size,
        (None, None) if matches!(layout, Layout::HailoNms { .. }) => {
            return Err(usage(format!(
                "HailoRT NMS boxes are relative to the model input: give its size with --imgsz (e.g. --imgsz 640) for '{}'",
                input.display()
            )));
        }
        (None, None) => (640, 640),
    };
    let lb = match source {
        Some((sw, sh)) => Letterbox::new(sw, sh, iw, ih),
        None => Letterbox::new(iw, ih, iw, ih),
    };
    let mut options = PostprocessOptions {
        conf: args.conf,
        ..Default::default()
    };
    options.nms.iou = args.iou;
    let views: Vec<_> = tensors.iter().map(Tensor::view).collect();
    let mut dets = Vec::new();
    Postprocessor::new()
        .run(layout, &views, &lb, &labels, &options, &mut dets)
        .map_err(|e| anyhow::anyhow!("cannot decode '{}': {e}", input.display()))?;

    write_atomic(&args.output, |w| write_npz(w, &dets))
        .with_context(|| format!("cannot write '{}'", args.output.display()))?;
    if args.json {
        for d in &dets {
            println!("{}", d.to_json());
        }
    }
    println!(
        "{} detections ({} layout, input {iw}x{ih}) → {}",
        dets.len(),
        layout.name(),
        args.output.display()
    );
    Ok(())
}

fn write_npz<W: std::io::Write + std::io::Seek>(out: W, dets: &[Detection]) -> anyhow::Result<()> {
    let boxes = Array2::from_shape_fn((dets.len(), 4), |(i, j)| {
        let d = &dets[i];
        [d.x1, d.y1, d.x2, d.y2][j]
    });
    let scores: Array1<f32> = dets.iter().map(|d| d.confidence).collect();
    let class_ids: Array1<i64> = dets.iter().map(|d| d.class_id as i64).collect();
    let mut npz = NpzWriter::new(out);
    npz.add_array("boxes", &boxes)?;
    npz.add_array("scores", &scores)?;
    npz.add_array("class_ids", &class_ids)?;
    npz.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_give_the_square_input() {
        let raw = |anchors| Layout::UltralyticsRaw {
            classes: 80,
            anchors,
            transposed: false,
        };
        assert_eq!(implied_input(raw(8400), &[]), Some((640, 640)));
        assert_eq!(implied_input(raw(2100), &[]), Some((320, 320)));
        assert_eq!(implied_input(raw(2000), &[]), None);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("--imgsz", "640").unwrap(), (640, 640));
        assert_eq!(parse_size("--imgsz", "640x480").unwrap(), (640, 480));
        assert!(parse_size("--imgsz", "big").is_err());
        assert!(parse_size("--imgsz", "0x3").is_err());
    }
}
