// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg batch`: detection over a folder of images → one `detections.json` plus annotated copies.
//!
//! Three stages overlap: a thread decodes images, this thread runs the model `batch_size` images
//! at a time, and a thread draws and saves the annotated copies.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use anyhow::Context;
use hmg_detect::draw::{DrawOptions, draw_on_rgb};
use hmg_detect::{Detection, Detector, EngineOptions, FrameRef, PixelFormat};
use image::RgbImage;

use crate::atomic::write_atomic;
use crate::images::{extensions_listed, list_images, read_rgb};
use crate::usage::{check_model_args, usage};

#[derive(clap::Args, Debug)]
pub struct BatchArgs {
    /// Model to run: a .onnx (CPU) or a .hef (Hailo-8, needs a HailoRT build)
    #[arg(long)]
    model: PathBuf,
    /// Folder of images (.jpg, .jpeg, .png, .bmp, .webp, .tif, .tiff; not searched recursively)
    #[arg(long)]
    input: PathBuf,
    /// Folder for detections.json and the annotated images (created when missing)
    #[arg(long, default_value = "out/batch")]
    output: PathBuf,
    /// Images per inference call (ONNX models with a dynamic batch axis, or up to a fixed batch;
    /// frames in flight on a Hailo device)
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Confidence threshold
    #[arg(long, default_value_t = 0.25, value_parser = crate::usage::threshold_f32)]
    conf: f32,
    /// NMS IoU threshold
    #[arg(long, default_value_t = 0.45, value_parser = crate::usage::threshold_f32)]
    iou: f32,
    /// Class names (.txt, data.yaml or JSON); default: the model's own
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Only write detections.json, no annotated images
    #[arg(long)]
    no_images: bool,
    /// onnxruntime threads (0 = all cores)
    #[arg(long, default_value_t = 0, value_parser = crate::usage::threads)]
    threads: u32,
}

/// One image's result.
struct ImageResult {
    file: String,
    size: (u32, u32),
    detections: Vec<Detection>,
}

fn check_args(args: &BatchArgs) -> anyhow::Result<Vec<PathBuf>> {
    check_model_args(
        &args.model,
        args.labels.as_deref(),
        &[("--conf", args.conf.into()), ("--iou", args.iou.into())],
    )?;
    if args.batch_size == 0 {
        return Err(usage("--batch-size must be at least 1"));
    }
    if let Some(why) = hmg_detect::paths::not_a_folder(&args.input) {
        return Err(usage(format!(
            "input folder '{}' {why} (give a folder of images with --input)",
            args.input.display()
        )));
    }
    let images = list_images(&args.input)
        .with_context(|| format!("cannot list '{}'", args.input.display()))?;
    if images.is_empty() {
        return Err(usage(format!(
            "'{}' has no images ({})",
            args.input.display(),
            extensions_listed()
        )));
    }
    let annotated = args.output.join("images");
    if !args.no_images && same_folder(&annotated, &args.input) {
        return Err(usage(format!(
            "--output '{}' would write annotated images over the originals in '{}'; choose another folder",
            args.output.display(),
            args.input.display()
        )));
    }
    Ok(images)
}

fn same_folder(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn run(args: &BatchArgs) -> anyhow::Result<()> {
    let images = check_args(args)?;
    let options = EngineOptions {
        threads: args.threads as usize,
        batch_size: args.batch_size,
        ..Default::default()
    };
    let mut detector = Detector::open_with(&args.model, &options)?
        .conf(args.conf)
        .iou(args.iou);
    if let Some(path) = &args.labels {
        detector = detector.labels(hmg_detect::load_labels(path)?);
    }
    let batch = detector.batch_size();
    if batch < args.batch_size {
        eprintln!(
            "note: '{}' has a fixed batch of {batch}; running {batch} image(s) per call",
            args.model.display()
        );
    }
    let annotated_dir = args.output.join("images");
    std::fs::create_dir_all(if args.no_images {
        &args.output
    } else {
        &annotated_dir
    })
    .with_context(|| format!("cannot create '{}'", annotated_dir.display()))?;

    let progress = indicatif::ProgressBar::new(images.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} images  {per_sec}  eta {eta}",
        )
        .expect("valid template"),
    );
    let started = Instant::now();
    let (decoded_tx, decoded_rx) = sync_channel(batch * 2);
    let decoder = std::thread::spawn(move || decode_all(images, decoded_tx));
    let (save_tx, save_rx) = sync_channel::<(PathBuf, RgbImage, Vec<Detection>)>(batch * 2);
    let saver = (!args.no_images).then(|| {
        let dir = annotated_dir.clone();
        std::thread::spawn(move || save_all(&dir, save_rx))
    });

    let mut results = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut infer_s = 0.0;
    let mut pending: Vec<(PathBuf, RgbImage)> = Vec::with_capacity(batch);
    let mut decoded = decoded_rx.iter().peekable();
    while let Some((path, image)) = decoded.next() {
        match image {
            Ok(image) => pending.push((path, image)),
            Err(e) => {
                progress.suspend(|| eprintln!("warning: skipping '{}': {e:#}", path.display()));
                failed.push((file_name(&path), format!("{e:#}")));
                progress.inc(1);
            }
        }
        if pending.len() < batch && decoded.peek().is_some() {
            continue;
        }
        let frames = pending
            .iter()
            .map(|(_, img)| {
                FrameRef::packed(
                    PixelFormat::Rgb,
                    img.width() as usize,
                    img.height() as usize,
                    img,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let t = Instant::now();
        let all = detector
            .detect_batch(&frames)
            .with_context(|| format!("inference on '{}' failed", args.model.display()))?;
        infer_s += t.elapsed().as_secs_f64();
        drop(frames);
        for ((path, image), detections) in pending.drain(..).zip(all) {
            results.push(ImageResult {
                file: file_name(&path),
                size: image.dimensions(),
                detections: detections.clone(),
            });
            if saver.is_some() && save_tx.send((path, image, detections)).is_err() {
                break;
            }
            progress.inc(1);
        }
    }
    drop(save_tx);
    progress.finish_and_clear();
    decoder.join().expect("decoder thread");
    if let Some(saver) = saver {
        saver.join().expect("saver thread")?;
    }
    let elapsed = started.elapsed().as_secs_f64();

    let json_path = args.output.join("detections.json");
    let report = report_json(args, batch, &results, &failed, elapsed, infer_s);
    write_atomic(&json_path, |w| {
        serde_json::to_writer_pretty(&mut *w, &report)?;
        Ok(std::io::Write::write_all(w, b"\n")?)
    })?;

    let n = results.len();
    let dets: usize = results.iter().map(|r| r.detections.len()).sum();
    println!(
        "{n} images, {dets} detections in {elapsed:.1} s ({:.1} images/s; inference {:.1} ms/image)",
        n as f64 / elapsed.max(1e-9),
        1000.0 * infer_s / n.max(1) as f64
    );
    println!("wrote {}", json_path.display());
    if !args.no_images {
        println!("annotated images in {}", annotated_dir.display());
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} images could not be read (listed under \"failed\" in {})",
            failed.len(),
            n + failed.len(),
            json_path.display()
        );
    }
    Ok(())
}

fn decode_all(images: Vec<PathBuf>, tx: SyncSender<(PathBuf, anyhow::Result<RgbImage>)>) {
    for path in images {
        let image = read_rgb(&path);
        if tx.send((path, image)).is_err() {
            return;
        }
    }
}

fn save_all(dir: &Path, rx: Receiver<(PathBuf, RgbImage, Vec<Detection>)>) -> anyhow::Result<()> {
    let opts = DrawOptions::default();
    for (path, mut image, detections) in rx {
        let (w, h) = (image.width() as usize, image.height() as usize);
        draw_on_rgb(&mut image, w, h, &detections, &opts);
        let out = dir.join(file_name(&path));
        let format = image::ImageFormat::from_path(&out).unwrap_or(image::ImageFormat::Png);
        write_atomic(&out, |w| {
            if format == image::ImageFormat::Jpeg {
                image.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                    w, 90,
                ))?;
            } else {
                image.write_to(w, format)?;
            }
            Ok(())
        })
        .with_context(|| format!("cannot save the annotated image '{}'", out.display()))?;
    }
    Ok(())
}

fn report_json(
    args: &BatchArgs,
    batch: usize,
    results: &[ImageResult],
    failed: &[(String, String)],
    elapsed_s: f64,
    infer_s: f64,
) -> serde_json::Value {
    let images: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "file": r.file,
                "width": r.size.0,
                "height": r.size.1,
                "detections": r.detections.iter().map(Detection::to_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    let failed: Vec<serde_json::Value> = failed
        .iter()
        .map(|(file, error)| serde_json::json!({ "file": file, "error": error }))
        .collect();
    serde_json::json!({
        "model": args.model.display().to_string(),
        "input": args.input.display().to_string(),
        "conf": args.conf,
        "iou": args.iou,
        "batch_size": batch,
        "images": images,
        "failed": failed,
        "seconds": (elapsed_s * 1000.0).round() / 1000.0,
        "inference_seconds": (infer_s * 1000.0).round() / 1000.0,
    })
}
