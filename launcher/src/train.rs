// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg train`: YOLOv8 training with ultralytics in hmg's venv — the dataset checked first, a
//! progress bar per epoch, ultralytics' own output folder, the seed's guidance at the end,
//! Ctrl-C that stops cleanly and `--resume` that continues.

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::dataset::verify;
use crate::ultralytics::{Outcome, run_driver};
use crate::usage::{Interrupted, usage};

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The dataset's data.yaml (hmg dataset init writes one)
    data: PathBuf,
    /// Epochs to train
    #[arg(long, default_value_t = 200)]
    epochs: u32,
    /// Images per batch (-1: as many as fit in GPU memory)
    #[arg(long, default_value_t = 32, allow_negative_numbers = true)]
    batch: i32,
    /// Training image size (pixels, multiple of 32)
    #[arg(long, default_value_t = 640)]
    imgsz: u32,
    /// Stop after this many epochs without improvement
    #[arg(long, default_value_t = 15)]
    patience: u32,
    /// Run name: results go to <project>/<name> (ultralytics adds 2, 3… if it exists)
    #[arg(long, default_value = "train")]
    name: String,
    /// Folder of runs
    #[arg(long, default_value = "runs/detect")]
    project: PathBuf,
    /// Weights to start from: a published checkpoint (yolov8n.pt, fetched once into hmg's
    /// cache), a checkpoint .pt of yours, or an architecture (yolov8n.yaml: random weights)
    #[arg(long, default_value = "yolov8n.pt")]
    model: String,
    /// cpu, 0 (first GPU), 0,1 …; default: a GPU when there is one, else the CPU
    #[arg(long)]
    device: Option<String>,
    /// Data-loading worker processes (default: ultralytics')
    #[arg(long)]
    workers: Option<u32>,
    /// Continue the run <project>/<name> from its weights/last.pt
    #[arg(long)]
    resume: bool,
    /// Train even on labels a model wrote that no one has reviewed (hmg annotate --auto-label)
    #[arg(long)]
    allow_unreviewed: bool,
    /// Further ultralytics training settings as key=value (lr0=0.01 mosaic=0 …)
    #[arg(value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

/// What to train (the library form of `hmg train`).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub data: PathBuf,
    pub epochs: u32,
    pub batch: i32,
    pub imgsz: u32,
    pub patience: u32,
    pub name: String,
    pub project: PathBuf,
    pub model: String,
    pub device: Option<String>,
    pub workers: Option<u32>,
    pub resume: bool,
    /// Unreviewed labels (hmg annotate --auto-label) are warnings, not errors.
    pub allow_unreviewed: bool,
    /// Extra ultralytics settings, passed as given.
    pub overrides: serde_json::Map<String, Value>,
    /// Show a progress bar and per-epoch lines on stderr.
    pub progress: bool,
}

/// The figures of one epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpochStats {
    pub epoch: u32,
    pub box_loss: f64,
    pub cls_loss: f64,
    pub map50: f64,
    pub map50_95: f64,
}

/// Where the results are and how good they are.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub save_dir: PathBuf,
    pub best: PathBuf,
    pub last: PathBuf,
    pub log: PathBuf,
    pub epochs: u32,
    pub epochs_run: u32,
    pub best_epoch: u32,
    pub stopped_early: bool,
    pub seconds: f64,
    pub precision: f64,
    pub recall: f64,
    pub map50: f64,
    pub map50_95: f64,
    pub history: Vec<EpochStats>,
    /// Plots ultralytics wrote (results.png, confusion_matrix.png, PR curve), those that exist.
    pub plots: Vec<PathBuf>,
}

/// `key=value` words into a settings map (numbers and booleans typed, the rest strings).
pub fn parse_overrides(words: &[String]) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut map = serde_json::Map::new();
    for w in words {
        let (k, v) = w
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| {
                usage(format!(
                    "'{w}' is not a training setting: write key=value, e.g. lr0=0.01"
                ))
            })?;
        if [
            "data", "epochs", "batch", "imgsz", "patience", "name", "project", "model", "device",
            "workers", "resume",
        ]
        .contains(&k)
        {
            return Err(usage(format!("set {k} with --{k}, not {w}")));
        }
        let value = serde_json::from_str::<Value>(v)
            .ok()
            .filter(|v| v.is_number() || v.is_boolean())
            .unwrap_or_else(|| Value::String(v.to_string()));
        map.insert(k.to_string(), value);
    }
    Ok(map)
}

/// Our dataset verifier over `data`: errors stop here, before any long work.
fn check_dataset(data: &Path, allow_unreviewed: bool) -> anyhow::Result<()> {
    if let Some(why) = hmg_detect::paths::not_a_file(data) {
        return Err(usage(format!(
            "'{}' {why}: give the dataset's data.yaml (hmg dataset init DIR writes one)",
            data.display()
        )));
    }
    let mut report =
        verify::verify(data, |_, _| {}).map_err(|e| usage(format!("{}: {e:#}", data.display())))?;
    if allow_unreviewed {
        report.allow_unreviewed();
    }
    if report.errors() > 0 {
        let mut lines: Vec<String> = report
            .problems
            .iter()
            .filter(|p| matches!(p.severity, verify::Severity::Error))
            .take(5)
            .map(|p| format!("  {}: {}", p.file, p.message))
            .collect();
        if report.errors() > 5 {
            lines.push(format!("  … and {} more", report.errors() - 5));
        }
        return Err(usage(format!(
            "the dataset of {} has {} error(s); fix them first (hmg dataset verify {} lists them all):\n{}",
            data.display(),
            report.errors(),
            data.display(),
            lines.join("\n")
        )));
    }
    if report.warnings() > 0 {
        eprintln!(
            "dataset: {} warning(s) (hmg dataset verify {} lists them)",
            report.warnings(),
            data.display()
        );
    }
    Ok(())
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Trains; returns where the weights and plots are, or [`Interrupted`] after Ctrl-C.
pub fn train_yolov8(opts: &TrainOptions) -> anyhow::Result<TrainReport> {
    check_dataset(&opts.data, opts.allow_unreviewed)?;
    let project = std::path::absolute(&opts.project)
        .with_context(|| format!("bad --project {}", opts.project.display()))?;
    let resume_from = project.join(&opts.name).join("weights/last.pt");
    if opts.resume && !resume_from.is_file() {
        return Err(usage(format!(
            "nothing to resume: {} does not exist (run without --resume to start, or give the run's --name)",
            resume_from.display()
        )));
    }
    // Before any work: the weights to start from are here (or fetched), or hmg says where to
    // put them.
    let model = if opts.resume {
        opts.model.clone()
    } else {
        crate::weights::resolve(&opts.model)?
    };
    let data = std::path::absolute(&opts.data)?;
    let args = json!({
        "data": data,
        "epochs": opts.epochs,
        "batch": opts.batch,
        "imgsz": opts.imgsz,
        "patience": opts.patience,
        "project": project,
        "name": opts.name,
        "model": model,
        "device": opts.device,
        "workers": opts.workers.unwrap_or(8),
        "resume": if opts.resume { Some(&resume_from) } else { None },
        "overrides": opts.overrides,
    });
    let log = project.join(format!(".hmg-train-{}.log", std::process::id()));
    let bar = if opts.progress {
        ProgressBar::new(opts.epochs as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:28.cyan/blue}] {pos}/{len} epochs  {msg}  ({elapsed}, ETA {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix("training");
    let mut history = Vec::new();
    let mut last_map = String::new();
    let outcome = run_driver("train", &args, &log, |event| {
        match event["event"].as_str() {
            Some("ready") => bar.set_message("starting…"),
            Some("batch") => {
                bar.set_length(event["epochs"].as_u64().unwrap_or(opts.epochs as u64));
                bar.set_message(format!(
                    "epoch {} box {:.3} cls {:.3}{last_map}",
                    event["epoch"],
                    f(&event["box_loss"]),
                    f(&event["cls_loss"])
                ));
            }
            Some("epoch") => {
                let stats = EpochStats {
                    epoch: event["epoch"].as_u64().unwrap_or(0) as u32,
                    box_loss: f(&event["box_loss"]),
                    cls_loss: f(&event["cls_loss"]),
                    map50: f(&event["map50"]),
                    map50_95: f(&event["map50_95"]),
                };
                last_map = format!("  mAP50 {:.3} mAP50-95 {:.3}", stats.map50, stats.map50_95);
                let line = format!(
                    "epoch {}/{}: box_loss {:.4} cls_loss {:.4} mAP50 {:.4} mAP50-95 {:.4}",
                    stats.epoch,
                    event["epochs"],
                    stats.box_loss,
                    stats.cls_loss,
                    stats.map50,
                    stats.map50_95
                );
                if opts.progress && bar.is_hidden() {
                    eprintln!("{line}");
                } else {
                    bar.println(line);
                }
                bar.set_position(stats.epoch as u64);
                history.push(stats);
            }
            _ => {}
        }
    });
    bar.finish_and_clear();
    let outcome = outcome.map_err(|e| {
        e.context(format!(
            "training on {} failed (ultralytics' log: {})",
            opts.data.display(),
            log.display()
        ))
    })?;
    let done = match outcome {
        Outcome::Done(done) => done,
        Outcome::Interrupted => {
            let run = project.join(&opts.name);
            let at = history
                .last()
                .map(|s| format!("after epoch {}", s.epoch))
                .unwrap_or_else(|| "before the first epoch ended".into());
            return Err(Interrupted(format!(
                "training stopped {at}; continue with: hmg train {} --name {} --project {} --resume \
                 (from {}; log: {})",
                opts.data.display(),
                opts.name,
                opts.project.display(),
                run.join("weights/last.pt").display(),
                log.display()
            ))
            .into());
        }
    };
    let save_dir = PathBuf::from(done["save_dir"].as_str().unwrap_or_default());
    let kept_log = save_dir.join("hmg-train.log");
    let log = match std::fs::rename(&log, &kept_log) {
        Ok(()) => kept_log,
        Err(_) => log,
    };
    let metrics = &done["metrics"];
    let plots = [
        "results.png",
        "confusion_matrix.png",
        "BoxPR_curve.png",
        "PR_curve.png",
    ]
    .iter()
    .map(|p| save_dir.join(p))
    .filter(|p| p.is_file())
    .collect();
    Ok(TrainReport {
        best: PathBuf::from(done["best"].as_str().unwrap_or_default()),
        last: PathBuf::from(done["last"].as_str().unwrap_or_default()),
        save_dir,
        log,
        epochs: done["epochs"].as_u64().unwrap_or(0) as u32,
        epochs_run: done["epochs_run"].as_u64().unwrap_or(0) as u32,
        best_epoch: done["best_epoch"].as_u64().unwrap_or(0) as u32,
        stopped_early: done["stopped_early"].as_bool().unwrap_or(false),
        seconds: f(&done["seconds"]),
        precision: f(&metrics["metrics/precision(B)"]),
        recall: f(&metrics["metrics/recall(B)"]),
        map50: f(&metrics["metrics/mAP50(B)"]),
        map50_95: f(&metrics["metrics/mAP50-95(B)"]),
        history,
        plots,
    })
}

/// The seed's reading of the figures: what is good, and what to do when it is not.
pub fn guidance(r: &TrainReport, device_is_cpu: bool) -> Vec<String> {
    let mut tips = Vec::new();
    if r.map50 >= 0.8 && r.map50_95 >= 0.5 {
        tips.push(format!(
            "good: mAP50 {:.3} > 0.8 and mAP50-95 {:.3} > 0.5; next: hmg export {}",
            r.map50,
            r.map50_95,
            r.best.display()
        ));
    } else {
        tips.push(format!(
            "low accuracy (aim for mAP50 > 0.8, mAP50-95 > 0.5; here {:.3} and {:.3}): label more \
             images per class (hmg dataset verify shows the counts), add background images with \
             empty label files, train longer (--epochs), check val_batch0_pred.jpg against the \
             labels, or try a larger model (--model yolov8s.yaml)",
            r.map50, r.map50_95
        ));
    }
    if overfitting(&r.save_dir.join("results.csv")) {
        tips.push(
            "overfitting: validation loss rose while training loss fell; add more varied images, \
             keep augmentation on, or stop earlier (--patience)"
                .into(),
        );
    }
    if r.stopped_early {
        tips.push(format!(
            "stopped early at epoch {} of {}: no improvement for --patience epochs (best epoch {})",
            r.epochs_run, r.epochs, r.best_epoch
        ));
    }
    let per_epoch = r.seconds / r.epochs_run.max(1) as f64;
    if per_epoch > 60.0 {
        tips.push(format!(
            "slow: {per_epoch:.0} s per epoch{}; a smaller --imgsz or --batch also helps",
            if device_is_cpu {
                " on the CPU; a GPU (--device 0) is 10-50x faster"
            } else {
                ""
            }
        ));
    }
    tips
}

/// Validation loss (box + cls) at its minimum at least three epochs before the end and 10 %
/// higher now, while training loss kept falling.
fn overfitting(results_csv: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(results_csv) else {
        return false;
    };
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return false;
    };
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(vb), Some(vc), Some(tb), Some(tc)) = (
        col("val/box_loss"),
        col("val/cls_loss"),
        col("train/box_loss"),
        col("train/cls_loss"),
    ) else {
        return false;
    };
    let rows: Vec<(f64, f64)> = lines
        .filter_map(|l| {
            let v: Vec<f64> = l
                .split(',')
                .map(|x| x.trim().parse().unwrap_or(f64::NAN))
                .collect();
            Some((v.get(vb)? + v.get(vc)?, v.get(tb)? + v.get(tc)?))
        })
        .filter(|(v, t)| v.is_finite() && t.is_finite())
        .collect();
    let n = rows.len();
    if n < 6 {
        return false;
    }
    let (min_at, min_val) = rows
        .iter()
        .enumerate()
        .map(|(i, (v, _))| (i, *v))
        .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
    n - 1 - min_at >= 3 && rows[n - 1].0 > min_val * 1.1 && rows[n - 1].1 < rows[min_at].1
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let opts = TrainOptions {
        data: args.data.clone(),
        epochs: args.epochs,
        batch: args.batch,
        imgsz: args.imgsz,
        patience: args.patience,
        name: args.name.clone(),
        project: args.project.clone(),
        model: args.model.clone(),
        device: args.device.clone(),
        workers: args.workers,
        resume: args.resume,
        allow_unreviewed: args.allow_unreviewed,
        overrides: parse_overrides(&args.overrides)?,
        progress: true,
    };
    if args.epochs == 0 {
        return Err(usage("--epochs must be at least 1"));
    }
    let report = train_yolov8(&opts)?;
    println!(
        "trained {} of {} epochs in {:.0} s (best epoch {})",
        report.epochs_run, report.epochs, report.seconds, report.best_epoch
    );
    println!(
        "precision {:.3}  recall {:.3}  mAP50 {:.3}  mAP50-95 {:.3}",
        report.precision, report.recall, report.map50, report.map50_95
    );
    println!("weights: {}", report.best.display());
    println!("         {}", report.last.display());
    println!("results: {}", report.save_dir.display());
    for p in &report.plots {
        println!("         {}", p.display());
    }
    println!("log:     {}", report.log.display());
    let cpu = args.device.as_deref().is_none_or(|d| d == "cpu");
    for tip in guidance(&report, cpu) {
        println!("- {tip}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_typed_and_reserved_keys_refused() {
        let m = parse_overrides(&[
            "lr0=0.01".into(),
            "mosaic=0".into(),
            "cos_lr=true".into(),
            "optimizer=SGD".into(),
        ])
        .unwrap();
        assert_eq!(m["lr0"], json!(0.01));
        assert_eq!(m["mosaic"], json!(0));
        assert_eq!(m["cos_lr"], json!(true));
        assert_eq!(m["optimizer"], json!("SGD"));
        assert!(parse_overrides(&["epochs=3".into()]).is_err());
        assert!(parse_overrides(&["lr0".into()]).is_err());
        assert!(parse_overrides(&["=1".into()]).is_err());
    }

    #[test]
    fn overfitting_is_seen_in_results_csv() {
        let dir = std::env::temp_dir().join(format!("hmg-overfit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("results.csv");
        let mut text =
            String::from("epoch,train/box_loss,train/cls_loss,val/box_loss,val/cls_loss\n");
        // Validation falls to epoch 3, then rises by 40 % while training keeps falling.
        for (e, v) in [(1, 3.0), (2, 2.5), (3, 2.0), (4, 2.2), (5, 2.5), (6, 2.8)] {
            text.push_str(&format!(
                "{e},{},{},{},{}\n",
                3.0 - e as f64 * 0.3,
                1.0,
                v,
                0.0
            ));
        }
        std::fs::write(&csv, &text).unwrap();
        assert!(overfitting(&csv));
        let healthy = text
            .replace(",2.2,", ",1.9,")
            .replace(",2.5,0", ",1.8,0")
            .replace(",2.8,", ",1.7,");
        std::fs::write(&csv, healthy).unwrap();
        assert!(!overfitting(&csv));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
