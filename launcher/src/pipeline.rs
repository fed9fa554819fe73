// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg pipeline`: the seed's `run_pipeline.sh` as one resumable command. verify → split (if
//! needed) → train → export → verify-onnx → calibrate → quantize (with `--quantize`) → compile;
//! each stage records a stamp of
//! its inputs (files by size and time, models by content, the options) and is skipped when they
//! have not changed and its outputs are still there, so a run after a failure starts where it
//! stopped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;
use crate::calibrate::{CALIB_FILE, calibrate};
use crate::compile::script::NmsPlace;
use crate::compile::{CompileArgs, HwArch, Via, compile_hef};
use crate::dataset::data_yaml::DataYaml;
use crate::dataset::{split, verify};
use crate::export::export_onnx_for_hailo;
use crate::quantize::{Method, QuantizeArgs, quantize};
use crate::train::{TrainOptions, train_yolov8};
use crate::usage::usage;
use crate::verify_onnx::verify_onnx;

pub const STAGES: [&str; 8] = [
    "verify",
    "split",
    "train",
    "export",
    "verify-onnx",
    "calibrate",
    "quantize",
    "compile",
];

#[derive(clap::Args, Debug)]
pub struct PipelineArgs {
    /// Dataset folder (train/ and val/ with images/ and labels/, and data.yaml)
    dataset: PathBuf,
    /// Model name: runs/detect/<name>, exports/<name>, calibration_data/<name>, models/<name>.hef
    name: String,
    /// Start at this stage even if its inputs are unchanged (and redo the later ones)
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(STAGES))]
    from: Option<String>,
    /// Stop after this stage
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(STAGES))]
    until: Option<String>,
    /// Train even on labels a model wrote that no one has reviewed (hmg annotate --auto-label)
    #[arg(long)]
    allow_unreviewed: bool,
    /// Training epochs
    #[arg(long, default_value_t = 200)]
    epochs: u32,
    /// Image size for training, export, calibration and compilation
    #[arg(long, default_value_t = 640)]
    imgsz: u32,
    /// Training batch size
    #[arg(long, default_value_t = 32)]
    batch: i32,
    /// Weights to train from (as hmg train: yolov8n.pt, a checkpoint .pt, or an architecture)
    #[arg(long, default_value = "yolov8n.pt")]
    model: String,
    /// Training device (cpu, 0, …)
    #[arg(long)]
    device: Option<String>,
    /// Data-loading workers for training
    #[arg(long)]
    workers: Option<u32>,
    /// Validation share when the dataset needs splitting
    #[arg(long, default_value_t = 0.2)]
    val: f64,
    /// Seed of the split and of the calibration sample
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Calibration pictures
    #[arg(long, default_value_t = 64)]
    num_samples: u32,
    /// Also make an int8 ONNX for the CPU (exports/<name>/best.int8.onnx) from the same
    /// calibration set, refused when its mAP50 drops more than --max-map50-drop points
    #[arg(long)]
    quantize: bool,
    /// With --quantize: the mAP50 loss (points) the int8 model may have
    #[arg(long, default_value_t = 1.0, value_parser = crate::quantize::points)]
    max_map50_drop: f64,
    /// Target chip
    #[arg(long, value_enum, default_value_t = HwArch::Hailo8)]
    hw_arch: HwArch,
    /// Quantization effort 0-4 (default: from the calibration set's size, as hmg compile)
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=4))]
    optimization_level: Option<u8>,
    /// Where NMS runs in the HEF
    #[arg(long, value_enum, default_value_t = NmsPlace::Host)]
    nms: NmsPlace,
    /// The Dataflow Compiler venv
    #[arg(long)]
    sdk: Option<PathBuf>,
}

/// One stage's line in the summary.
#[derive(Debug, Clone)]
pub struct StageResult {
    pub stage: &'static str,
    pub status: &'static str,
    pub seconds: f64,
    pub detail: String,
}

/// sha256 of a file's bytes.
fn file_hash(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut file, &mut h)?;
    Ok(format!("{:x}", h.finalize()))
}

/// Every file under `root` by relative path, size and modification time (like make: pictures
/// are not re-read to see whether they changed).
fn tree_fingerprint(root: &Path) -> anyhow::Result<String> {
    let mut entries = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let e = e?;
            let p = e.path();
            let meta = e.metadata()?;
            if meta.is_dir() {
                stack.push(p);
            } else if p.extension().is_none_or(|x| x != "cache") {
                let mtime = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                entries.push(format!("{rel}\t{}\t{mtime}", meta.len()));
            }
        }
    }
    entries.sort();
    Ok(format!(
        "{:x}",
        Sha256::digest(entries.join("\n").as_bytes())
    ))
}

struct Stamps {
    dir: PathBuf,
}

impl Stamps {
    fn path(&self, stage: &str) -> PathBuf {
        self.dir.join(format!("{stage}.json"))
    }

    /// True when `stage` ran with these inputs and its outputs are all still there.
    fn fresh(&self, stage: &str, inputs: &str) -> bool {
        let Ok(text) = std::fs::read_to_string(self.path(stage)) else {
            return false;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            return false;
        };
        v["inputs"] == inputs
            && v["outputs"].as_array().is_some_and(|o| {
                o.iter()
                    .all(|p| p.as_str().is_some_and(|p| Path::new(p).exists()))
            })
    }

    fn record(&self, stage: &str, inputs: &str, outputs: &[PathBuf]) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let text = json!({"inputs": inputs, "outputs": outputs}).to_string();
        write_atomic(&self.path(stage), |out| {
            use std::io::Write;
            writeln!(out, "{text}")?;
            Ok(())
        })
    }
}

fn inputs_of(parts: &[String]) -> String {
    format!("{:x}", Sha256::digest(parts.join("\u{1f}").as_bytes()))
}

/// Whether the dataset has val pictures already (else the split stage makes them).
fn needs_split(root: &Path) -> bool {
    let Ok((_, _, splits)) = verify::discover(root) else {
        return true;
    };
    !splits.iter().any(|s| {
        s.name.starts_with("val")
            && crate::images::list_images(&s.images).is_ok_and(|i| !i.is_empty())
    })
}

/// Runs the stages; returns the summary (also on failure, with the failing stage marked).
pub fn run_pipeline(a: &PipelineArgs) -> (Vec<StageResult>, anyhow::Result<()>) {
    let mut results = Vec::new();
    let result = stages(a, &mut results);
    (results, result)
}

fn stages(a: &PipelineArgs, results: &mut Vec<StageResult>) -> anyhow::Result<()> {
    let root = &a.dataset;
    if let Some(why) = hmg_detect::paths::not_a_folder(root) {
        return Err(usage(format!("dataset folder '{}' {why}", root.display())));
    }
    let stamps = Stamps {
        dir: PathBuf::from(".hmg/pipeline").join(&a.name),
    };
    let from = a
        .from
        .as_deref()
        .and_then(|f| STAGES.iter().position(|s| *s == f));
    let until = a
        .until
        .as_deref()
        .and_then(|u| STAGES.iter().position(|s| *s == u));
    let data_yaml = root.join("data.yaml");
    let run_dir = PathBuf::from("runs/detect").join(&a.name);
    let best = run_dir.join("weights/best.pt");
    let export_dir = PathBuf::from("exports").join(&a.name);
    let onnx = export_dir.join("best.onnx");
    let calib_dir = PathBuf::from("calibration_data").join(&a.name);
    let hef = PathBuf::from("models").join(format!("{}.hef", a.name));
    let int8 = export_dir.join("best.int8.onnx");

    for (index, stage) in STAGES.iter().copied().enumerate() {
        if until.is_some_and(|u| index > u) {
            break;
        }
        if stage == "quantize" && !a.quantize {
            continue;
        }
        let started = Instant::now();
        // Inputs are read just before the stage, from the files as they are now.
        let inputs = match stage {
            "verify" | "split" => {
                inputs_of(&[tree_fingerprint(root)?, format!("{} {}", a.val, a.seed)])
            }
            "train" => inputs_of(&[
                tree_fingerprint(root)?,
                format!(
                    "{} {} {} {} {:?}",
                    a.epochs, a.imgsz, a.batch, a.model, a.device
                ),
            ]),
            "export" => inputs_of(&[file_hash(&best)?, a.imgsz.to_string()]),
            "verify-onnx" => inputs_of(&[file_hash(&onnx)?, tree_fingerprint(root)?]),
            "calibrate" => inputs_of(&[
                tree_fingerprint(root)?,
                format!("{} {} {}", a.num_samples, a.imgsz, a.seed),
            ]),
            "quantize" => inputs_of(&[
                file_hash(&onnx)?,
                file_hash(&calib_dir.join(CALIB_FILE))?,
                tree_fingerprint(root)?,
                a.max_map50_drop.to_string(),
            ]),
            _ => inputs_of(&[
                file_hash(&onnx)?,
                file_hash(&calib_dir.join(CALIB_FILE))?,
                format!(
                    "{} {:?} {:?} {:?}",
                    a.hw_arch.name(),
                    a.optimization_level,
                    a.nms,
                    a.sdk
                ),
            ]),
        };
        let forced = from.is_some_and(|f| index >= f);
        if !forced && stamps.fresh(stage, &inputs) {
            results.push(StageResult {
                stage,
                status: "skipped",
                seconds: 0.0,
                detail: "inputs unchanged".into(),
            });
            eprintln!("== {stage}: skipped (inputs unchanged)");
            continue;
        }
        eprintln!("== {stage}");
        let outcome: anyhow::Result<(Vec<PathBuf>, String)> = (|| match stage {
            "verify" => {
                let mut report = verify::verify(root, |_, _| {})?;
                if a.allow_unreviewed {
                    report.allow_unreviewed();
                }
                if report.errors() > 0 {
                    return Err(anyhow!(
                        "{} error(s) in the dataset (hmg dataset verify {} lists them)",
                        report.errors(),
                        root.display()
                    ));
                }
                Ok((vec![], format!("{} warning(s)", report.warnings())))
            }
            "split" => {
                if !needs_split(root) {
                    return Ok((vec![], "val split present".into()));
                }
                let names = DataYaml::read(&data_yaml)
                    .map_err(|e| {
                        anyhow!(
                            "{e:#}; name the classes first: hmg dataset init {} --names a,b",
                            root.display()
                        )
                    })?
                    .names;
                let out = split::split(root, a.val, a.seed)?;
                DataYaml::write(root, &names)?;
                Ok((
                    vec![data_yaml.clone()],
                    format!("{} train, {} val", out.train, out.val),
                ))
            }
            "train" => {
                let mut overrides = serde_json::Map::new();
                overrides.insert("exist_ok".into(), Value::Bool(true));
                let report = train_yolov8(&TrainOptions {
                    data: data_yaml.clone(),
                    epochs: a.epochs,
                    batch: a.batch,
                    imgsz: a.imgsz,
                    patience: 15,
                    name: a.name.clone(),
                    project: PathBuf::from("runs/detect"),
                    model: a.model.clone(),
                    device: a.device.clone(),
                    workers: a.workers,
                    resume: false,
                    allow_unreviewed: a.allow_unreviewed,
                    overrides,
                    progress: true,
                })?;
                Ok((
                    vec![best.clone()],
                    format!("mAP50 {:.3} mAP50-95 {:.3}", report.map50, report.map50_95),
                ))
            }
            "export" => {
                let r = export_onnx_for_hailo(&best, false, Some(a.imgsz), 11, &export_dir)?;
                Ok((
                    vec![r.onnx.clone(), r.sidecar],
                    r.onnx.display().to_string(),
                ))
            }
            "verify-onnx" => {
                let r = verify_onnx(&onnx, Some(&data_yaml), 0.25, 0, true)?;
                if !r.blank_passed {
                    return Err(anyhow!(
                        "{} detection(s) on blank frames: train with background images",
                        r.false_positives
                    ));
                }
                let (m50, _) = r.map.unwrap_or_default();
                Ok((vec![], format!("blank frames clean, mAP50 {m50:.3}")))
            }
            "calibrate" => {
                let set = calibrate(root, a.num_samples, a.imgsz, &calib_dir, a.seed)?;
                Ok((
                    vec![set.tensor.clone(), set.manifest],
                    format!("{} pictures", set.images.len()),
                ))
            }
            "quantize" => {
                let r = quantize(&QuantizeArgs {
                    model: onnx.clone(),
                    calib: calib_dir.clone(),
                    output: Some(int8.clone()),
                    per_channel: false,
                    method: Method::Minmax,
                    int8_head: false,
                    data: Some(data_yaml.clone()),
                    max_map50_drop: a.max_map50_drop,
                })?;
                let detail = match r.comparison.map50_drop_points() {
                    Some(drop) => format!("{}, mAP50 {:+.2} points", int8.display(), -drop),
                    None => int8.display().to_string(),
                };
                Ok((vec![int8.clone()], detail))
            }
            _ => {
                let report = compile_hef(&CompileArgs {
                    model: onnx.clone(),
                    output: PathBuf::from(&a.name),
                    calib: calib_dir.clone(),
                    hw_arch: a.hw_arch,
                    optimization_level: a.optimization_level,
                    compression_level: 0,
                    batch_size: 1,
                    calib_batch_size: 8.min(a.num_samples),
                    nms: a.nms,
                    nms_score: 0.2,
                    nms_iou: 0.7,
                    model_script: None,
                    sdk: a.sdk.clone(),
                    via: Via::Dfc,
                    data: None,
                    dry_run: false,
                })?;
                let versioned = report.hef.unwrap_or_default();
                Ok((
                    vec![hef.clone(), versioned.clone()],
                    versioned.display().to_string(),
                ))
            }
        })();
        let seconds = started.elapsed().as_secs_f64();
        match outcome {
            Ok((outputs, detail)) => {
                stamps.record(stage, &inputs, &outputs)?;
                results.push(StageResult {
                    stage,
                    status: "ran",
                    seconds,
                    detail,
                });
            }
            Err(e) => {
                let _ = std::fs::remove_file(stamps.path(stage));
                results.push(StageResult {
                    stage,
                    status: "FAILED",
                    seconds,
                    detail: format!("{e:#}")
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                });
                return Err(e.context(format!(
                    "stage {stage} failed; fix it and run the same command again (finished stages are skipped)"
                )));
            }
        }
    }
    Ok(())
}

fn print_summary(results: &[StageResult]) {
    println!("\n{:<12} {:<8} {:>8}  detail", "stage", "result", "seconds");
    for r in results {
        println!(
            "{:<12} {:<8} {:>8.1}  {}",
            r.stage, r.status, r.seconds, r.detail
        );
    }
}

pub fn run(args: &PipelineArgs) -> anyhow::Result<()> {
    let (results, outcome) = run_pipeline(args);
    print_summary(&results);
    outcome
}
