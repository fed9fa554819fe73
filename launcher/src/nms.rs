// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg nms`: the seed's `nms_postprocess.py` — decode and NMS of a saved raw model output
//! (`.npy`, or `.npz` with one array per output) into `boxes`, `scores`, `class_ids` (`.npz`).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hmg_detect::{
    Detection, Layout, Letterbox, PostprocessOptions, Postprocessor, Tensor, TensorData,
    load_labels,
};
use ndarray::{Array1, Array2, ArrayD};
use ndarray_npy::{NpzWriter, ReadNpyError, ReadNpyExt};

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
    #[arg(long, default_value_t = 0.25, value_parser = crate::usage::threshold_f32)]
    conf: f32,
    /// NMS IoU threshold
    #[arg(long, default_value_t = 0.45, value_parser = crate::usage::threshold_f32)]
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
    /// Zero point and scale of uint8 outputs (HailoRT's quant_info, real = (q - zero_point) ×
    /// scale; `hmg hef info --json` lists them): NAME=ZP,SCALE for one array of an .npz (repeat
    /// per output), or ZP,SCALE for all
    #[arg(long = "quant", value_name = "[NAME=]ZP,SCALE")]
    quant: Vec<String>,
}

/// `--quant` values: (array name or None for all, zero point, scale).
fn parse_quant(values: &[String]) -> anyhow::Result<Vec<(Option<String>, f32, f32)>> {
    values
        .iter()
        .map(|v| {
            let (name, numbers) = match v.rsplit_once('=') {
                Some((n, rest)) => (Some(n.trim().to_string()), rest),
                None => (None, v.as_str()),
            };
            let parsed = numbers.split_once(',').and_then(|(zp, scale)| {
                let zp: f32 = zp.trim().parse().ok()?;
                let scale: f32 = scale.trim().parse().ok()?;
                (zp.is_finite() && scale.is_finite() && scale > 0.0).then_some((zp, scale))
            });
            let (zp, scale) = parsed.ok_or_else(|| {
                usage(format!(
                    "--quant '{v}' is not [NAME=]ZERO_POINT,SCALE with a positive scale (e.g. conv41=68,0.094)"
                ))
            })?;
            Ok((name, zp, scale))
        })
        .collect()
}

/// Gives each uint8 tensor its zero point and scale, or says which `--quant` it needs.
fn apply_quant(tensors: &mut [Tensor], quant: &[(Option<String>, f32, f32)]) -> anyhow::Result<()> {
    for t in tensors
        .iter_mut()
        .filter(|t| matches!(t.data, hmg_detect::TensorData::U8(_)))
    {
        // HailoRT names outputs net/conv41; numpy.savez keys cannot hold '/', so either form.
        let short = t
            .name
            .rsplit(['/', '_'])
            .next()
            .unwrap_or(&t.name)
            .to_string();
        let found = quant
            .iter()
            .find(|(n, _, _)| {
                n.as_deref().is_some_and(|n| {
                    n == t.name
                        || n.replace('/', "_") == t.name
                        || n.rsplit('/').next() == Some(&short)
                })
            })
            .or_else(|| quant.iter().find(|(n, _, _)| n.is_none()));
        let &(_, zp, scale) = found.ok_or_else(|| {
            usage(format!(
                "array '{}' is uint8 (a quantized output): give its zero point and scale with --quant {}=ZP,SCALE (hmg hef info --json lists them as quant_info)",
                t.name, t.name
            ))
        })?;
        t.zero_point = zp;
        t.scale = scale;
    }
    Ok(())
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

/// One array: float32 (whatever float type numpy saved) or the uint8 of a quantized output.
fn read_array<R: std::io::Read>(
    mut open: impl FnMut() -> anyhow::Result<R>,
) -> anyhow::Result<(Vec<usize>, TensorData)> {
    match ArrayD::<f32>::read_npy(open()?) {
        Ok(a) => {
            return Ok((
                a.shape().to_vec(),
                TensorData::F32(a.iter().copied().collect()),
            ));
        }
        Err(ReadNpyError::WrongDescriptor(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match ArrayD::<u8>::read_npy(open()?) {
        Ok(a) => {
            return Ok((
                a.shape().to_vec(),
                TensorData::U8(a.iter().copied().collect()),
            ));
        }
        Err(ReadNpyError::WrongDescriptor(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match ArrayD::<f64>::read_npy(open()?) {
        Ok(a) => Ok((
            a.shape().to_vec(),
            TensorData::F32(a.iter().map(|&v| v as f32).collect()),
        )),
        Err(ReadNpyError::WrongDescriptor(d)) => Err(anyhow::anyhow!(
            "its dtype is {d}; hmg nms reads float32, float64 or uint8 (with --quant)"
        )),
        Err(e) => Err(e.into()),
    }
}

/// Every array of the input file as a tensor named after it.
fn read_tensors(path: &Path) -> anyhow::Result<Vec<Tensor>> {
    let bytes = std::fs::read(path)?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    tensors_from_bytes(&bytes, &stem.unwrap_or_default())
}

/// A model's raw outputs are a few MiB (a 1280 px YOLOv8 with 80 classes: 34 MiB of float32).
const MAX_UNPACKED_NPZ: u64 = 1 << 30;

/// The arrays of an `.npy` (one, named `stem`) or `.npz` file held in memory (uint8 ones with
/// zero point 0 and scale 1 until [`apply_quant`]).
pub fn tensors_from_bytes(bytes: &[u8], stem: &str) -> anyhow::Result<Vec<Tensor>> {
    if !bytes.starts_with(b"PK") {
        return Ok(vec![npy_tensor(stem, bytes)?]);
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))?;
    let mut tensors = Vec::with_capacity(archive.len());
    // numpy.savez stores members as they are, savez_compressed deflates them: a budget for what
    // all members may unpack to keeps a zip bomb from filling memory.
    let mut budget = MAX_UNPACKED_NPZ;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let name = entry.name();
        let name = name.strip_suffix(".npy").unwrap_or(name).to_string();
        let mut member = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&mut entry, budget + 1),
            &mut member,
        )
        .with_context(|| format!("array '{name}' cannot be read"))?;
        budget = budget.checked_sub(member.len() as u64).ok_or_else(|| {
            anyhow::anyhow!(
                "its arrays unpack to more than {} MiB: not a model output",
                MAX_UNPACKED_NPZ >> 20
            )
        })?;
        tensors.push(npy_tensor(&name, &member).with_context(|| format!("array '{name}'"))?);
    }
    Ok(tensors)
}

/// One `.npy` array, after checking that its header and data fit in the bytes at hand (a
/// damaged or hostile header must be an error, not a huge allocation).
fn npy_tensor(name: &str, bytes: &[u8]) -> anyhow::Result<Tensor> {
    check_npy_sizes(bytes)?;
    let (shape, data) = read_array(|| Ok(Cursor::new(bytes)))?;
    Ok(Tensor {
        name: name.to_string(),
        shape,
        data,
        zero_point: 0.0,
        scale: 1.0,
    })
}

fn check_npy_sizes(bytes: &[u8]) -> anyhow::Result<()> {
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        anyhow::bail!("it is not a .npy array (no \\x93NUMPY magic)");
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => anyhow::bail!("it has .npy format version {v}, which numpy does not write"),
    };
    let data = bytes.len().saturating_sub(start).checked_sub(header_len).ok_or_else(|| {
        anyhow::anyhow!(
            "its header claims {header_len} bytes but the file is only {} bytes: truncated or damaged",
            bytes.len()
        )
    })?;
    let header = String::from_utf8_lossy(&bytes[start..start + header_len]);
    // 'shape': (1, 84, 8400) and 'descr': '<f4' → the data must hold their product.
    let shape = header
        .split_once("'shape':")
        .and_then(|(_, rest)| rest.split_once('(')?.1.split_once(')'))
        .map(|(dims, _)| {
            dims.split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(|d| d.trim_end_matches('L').parse::<usize>().ok())
                .collect::<Option<Vec<usize>>>()
        });
    let item = header
        .split_once("'descr':")
        .and_then(|(_, rest)| {
            let digits: String = rest
                .trim_start()
                .trim_start_matches(['\'', '"'])
                .chars()
                .skip(2)
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<usize>().ok()
        })
        .unwrap_or(1);
    if let Some(Some(dims)) = shape {
        let needed = dims
            .iter()
            .try_fold(item, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| anyhow::anyhow!("its shape {dims:?} is impossibly large"))?;
        if needed > data {
            anyhow::bail!(
                "its shape {dims:?} needs {needed} bytes of data but the file holds {data}: truncated or damaged"
            );
        }
    }
    Ok(())
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
    if let Some(why) = hmg_detect::paths::not_a_file(&args.input) {
        return Err(usage(format!(
            "raw output '{}' {why}: give the .npy or .npz numpy.save or numpy.savez wrote",
            args.input.display()
        )));
    }
    // The detections would replace the model outputs they come from.
    if std::fs::canonicalize(&args.output).ok() == std::fs::canonicalize(&args.input).ok() {
        return Err(usage(format!(
            "--output '{}' is the input: give another file for the detections",
            args.output.display()
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
    let quant = parse_quant(&args.quant)?;
    let mut tensors = read_tensors(input)
        .with_context(|| format!("cannot read the raw output '{}'", input.display()))?;
    apply_quant(&mut tensors, &quant)?;
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
    fn lying_npy_headers_are_errors_not_allocations() {
        // Found by the raw_outputs fuzz target: a 21-byte file whose header claims 4 GiB made
        // ndarray-npy allocate 4 GiB before reading (an out-of-memory abort).
        let crash = b"\x93NUMPY\x03\x00s\xff\xff\xff\x86\x00\x00-\x00\x00\x00\x00!";
        let err = tensors_from_bytes(crash, "x").unwrap_err().to_string();
        assert!(err.contains("truncated or damaged"), "{err}");
        // A header that promises more values than the file holds.
        let mut lie = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }";
        let header = format!("{header:<117}\n");
        lie.extend_from_slice(&(header.len() as u16).to_le_bytes());
        lie.extend_from_slice(header.as_bytes());
        lie.extend_from_slice(&[0; 16]);
        let err = tensors_from_bytes(&lie, "x").unwrap_err().to_string();
        assert!(err.contains("needs 40000000000 bytes"), "{err}");
        let good = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/nms/nudenet320-person-raw.npy"
        ))
        .unwrap();
        assert_eq!(
            tensors_from_bytes(&good, "raw").unwrap()[0].shape,
            [1, 22, 2100]
        );
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("--imgsz", "640").unwrap(), (640, 640));
        assert_eq!(parse_size("--imgsz", "640x480").unwrap(), (640, 480));
        assert!(parse_size("--imgsz", "big").is_err());
        assert!(parse_size("--imgsz", "0x3").is_err());
    }
}
