// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg demo`: the default graph on the bundled clip.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::{assets, graph};
use hmg_detect::atomic::Pending;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Model to run (.onnx) [default: the bundled models/yolov12n-coco.onnx]
    #[arg(long)]
    model: Option<PathBuf>,
    /// Video file to run on [default: the bundled media/bikes.mp4]
    #[arg(long)]
    input: Option<PathBuf>,
    /// Folder for demo.mp4 and demo.jsonl
    #[arg(long, default_value = "out")]
    output_dir: PathBuf,
    /// Confidence threshold
    #[arg(long, default_value_t = 0.25, value_parser = crate::usage::threshold)]
    conf: f64,
    /// NMS IoU threshold
    #[arg(long, default_value_t = 0.45, value_parser = crate::usage::threshold)]
    iou: f64,
    /// No progress bar
    #[arg(long)]
    quiet: bool,
}

/// Quotes a path for a launch line.
fn quoted(p: &Path) -> String {
    format!(
        "\"{}\"",
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let model = match &args.model {
        Some(m) => m.clone(),
        None => assets::find(assets::DEFAULT_MODEL)?,
    };
    let input = match &args.input {
        Some(i) => i.clone(),
        None => assets::find(assets::DEMO_CLIP)?,
    };
    if let Some(why) = hmg_detect::paths::not_a_file(&input) {
        anyhow::bail!(
            "input '{}' {why}: give a video file with --input",
            input.display()
        );
    }
    std::fs::create_dir_all(&args.output_dir).with_context(|| {
        format!(
            "cannot create output folder '{}'",
            args.output_dir.display()
        )
    })?;
    let mp4 = args.output_dir.join("demo.mp4");
    let jsonl = args.output_dir.join("demo.jsonl");
    let (mp4_part, jsonl_part) = (Pending::new(&mp4)?, Pending::new(&jsonl)?);
    let description = format!(
        "filesrc location={input} ! decodebin ! videoconvert ! hailoinfer model={model} \
         ! yolonms conf={conf} iou={iou} ! detlog name=log location={jsonl} stream-name=demo \
         ! detoverlay ! videoconvert ! x264enc speed-preset=faster ! mp4mux ! filesink location={mp4}",
        input = quoted(&input),
        model = quoted(&model),
        conf = args.conf,
        iou = args.iou,
        jsonl = quoted(jsonl_part.path()),
        mp4 = quoted(mp4_part.path()),
    );
    graph::init()?;
    println!("hmg demo: {} on {}", model.display(), input.display());
    // On failure the pending files are dropped: nothing half-written stays, earlier results are kept.
    let stats = graph::run(&description, Some("log"), !args.quiet)?;
    mp4_part
        .commit()
        .with_context(|| format!("cannot write '{}'", mp4.display()))?;
    jsonl_part
        .commit()
        .with_context(|| format!("cannot write '{}'", jsonl.display()))?;
    println!(
        "frames: {}  time: {:.2} s  FPS: {:.1}  detections: {}",
        stats.frames,
        stats.elapsed.as_secs_f64(),
        stats.fps(),
        stats.detections
    );
    let mut classes: Vec<_> = stats.per_class.iter().collect();
    classes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let summary: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
    println!(
        "by class: {}",
        if summary.is_empty() {
            "none".into()
        } else {
            summary.join(", ")
        }
    );
    println!("wrote {} and {}", mp4.display(), jsonl.display());
    Ok(())
}
