// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg compile`: ONNX → HEF with Hailo's Dataflow Compiler in the user's SDK venv. Everything
//! that can be checked and written without the proprietary compiler is done first (model facts,
//! calibration set, model script, NMS config, end nodes); then parse → optimize → compile with
//! a line per stage, the log kept, and the HEF versioned as `models/<name>-<date>-<hash>.hef`
//! with `models/<name>.hef` pointing at the newest.

pub mod calibration;
pub mod script;
pub mod sdk;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, anyhow};
use serde_json::{Value, json};

use crate::atomic::write_atomic;
use crate::pydriver::{Ended, Outcome, run_python};
use crate::ultralytics;
use crate::usage::{Interrupted, check_thresholds, usage};
use crate::venvs;
use hmg_detect::sidecar::{CompiledNms, ModelSidecar, file_sha256, sidecar_path};
use script::{ModelFacts, NmsPlace, ScriptOptions};

const DRIVER: &str = include_str!("../../python/hmg_dfc.py");

/// Hailo chips hmg compiles for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HwArch {
    Hailo8,
    Hailo8l,
    Hailo8r,
}

impl HwArch {
    pub fn name(self) -> &'static str {
        match self {
            HwArch::Hailo8 => "hailo8",
            HwArch::Hailo8l => "hailo8l",
            HwArch::Hailo8r => "hailo8r",
        }
    }
}

/// Which tool drives the compiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// hmg's own driver: our model script, NMS config and calibration set
    Dfc,
    /// ultralytics' `format=hailo` export (needs ultralytics ≥ 8.4.97 in the SDK venv, a .pt
    /// and --data)
    Ultralytics,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CompileArgs {
    /// The exported model (hmg export writes exports/best.onnx); a .pt with --via ultralytics
    pub model: PathBuf,
    /// Name (or path) of the result: my_model → models/my_model.hef
    #[arg(long)]
    pub output: PathBuf,
    /// Calibration set: the folder hmg calibrate wrote, or its .npy
    #[arg(long, default_value = "calibration_data")]
    pub calib: PathBuf,
    /// Target chip
    #[arg(long, value_enum, default_value_t = HwArch::Hailo8)]
    pub hw_arch: HwArch,
    /// Quantization effort 0-4 (default: from the calibration set's size — 2 from 1024
    /// pictures, 1 from 256, else 0 as the seed uses with 64; 2+ also wants a GPU)
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=4))]
    pub optimization_level: Option<u8>,
    /// 4-bit weight compression 0-5 (0: none)
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=5))]
    pub compression_level: u8,
    /// Frames per inference on the device, as the seed's batch_size(N): kept beside the HEF,
    /// HailoRT is configured with it when the model is loaded (1: real time)
    #[arg(long, default_value_t = 1)]
    pub batch_size: u32,
    /// Pictures per calibration step while quantizing
    #[arg(long, default_value_t = 8)]
    pub calib_batch_size: u32,
    /// Where NMS runs: on-chip (in the HEF, run by HailoRT) or host (yolonms decodes raw outputs)
    #[arg(long, value_enum, default_value_t = NmsPlace::Host)]
    pub nms: NmsPlace,
    /// On-chip NMS score threshold
    #[arg(long, default_value_t = 0.2)]
    pub nms_score: f64,
    /// On-chip NMS IoU threshold
    #[arg(long, default_value_t = 0.7)]
    pub nms_iou: f64,
    /// Your model script, merged into hmg's: your lines win where both set the same thing
    /// (the seed's optimization_level(N), batch_size(N) and enable_loose_mode are translated)
    #[arg(long)]
    pub model_script: Option<PathBuf>,
    /// The Dataflow Compiler venv (default: $HAILO_SDK_VENV, .venv_hailo_full, …)
    #[arg(long)]
    pub sdk: Option<PathBuf>,
    /// Who drives the compiler
    #[arg(long, value_enum, default_value_t = Via::Dfc)]
    pub via: Via,
    /// data.yaml for --via ultralytics (its calibration pictures)
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Write and check the script, NMS config and end nodes; do not run the compiler
    #[arg(long)]
    pub dry_run: bool,
}

/// What a compile wrote.
#[derive(Debug, Clone, Default)]
pub struct CompileReport {
    /// Files written before the compiler ran (script, NMS config, end nodes).
    pub written: Vec<PathBuf>,
    /// The versioned HEF and the stable name pointing at it (None in a dry run).
    pub hef: Option<PathBuf>,
    pub current: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// What the sidecar beside a new HEF says about it.
struct Beside {
    names: Vec<String>,
    nms: Option<CompiledNms>,
    batch_size: Option<u32>,
}

/// `models/<name>` for a bare name, else the given path's folder.
fn output_paths(output: &Path) -> (PathBuf, String) {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".hef").to_string())
        .unwrap_or_else(|| "model".into());
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("models"),
    };
    (dir, name)
}

/// Class names, input size and end nodes: from hmg export's sidecar, else read from the ONNX.
pub fn model_facts(onnx: &Path) -> anyhow::Result<ModelFacts> {
    let sidecar = onnx.with_extension("json");
    let v: Value = if sidecar.is_file() {
        serde_json::from_str(&std::fs::read_to_string(&sidecar)?)
            .with_context(|| format!("{} is not hmg export's sidecar", sidecar.display()))?
    } else {
        let log = crate::atomic::temp_log("hmg-inspect-")?;
        let args = json!({"onnx": std::path::absolute(onnx)?});
        match ultralytics::run_driver("inspect", &args, &log, |_| {}) {
            Ok(Outcome::Done(v)) => v,
            Ok(Outcome::Interrupted) => return Err(Interrupted("stopped".into()).into()),
            Err(e) => {
                let _ = log.keep();
                return Err(e);
            }
        }
    };
    if v["outputs"] == json!([[1, 300, 6]]) {
        return Err(usage(format!(
            "{} has NMS inside (output 1x300x6); Hailo's parser cuts at the head before it: \
             compile the export made without --nms (hmg export best.pt)",
            onnx.display()
        )));
    }
    let names: Vec<String> = match &v["names"] {
        Value::Array(a) => a
            .iter()
            .filter_map(|n| n.as_str().map(String::from))
            .collect(),
        Value::Object(m) => {
            let mut pairs: Vec<(usize, String)> = m
                .iter()
                .filter_map(|(k, n)| Some((k.parse().ok()?, n.as_str()?.to_string())))
                .collect();
            pairs.sort();
            pairs.into_iter().map(|(_, n)| n).collect()
        }
        _ => Vec::new(),
    };
    let imgsz: Vec<u32> = serde_json::from_value(v["imgsz"].clone()).unwrap_or_default();
    let end_nodes: Vec<String> = serde_json::from_value(v["end_nodes"].clone()).unwrap_or_default();
    if end_nodes.len() != 6 || names.is_empty() || imgsz.len() != 2 {
        return Err(usage(format!(
            "{}: not a YOLOv8-style detector export (found {} head end nodes, {} class names); \
             export it with hmg export",
            onnx.display(),
            end_nodes.len(),
            names.len()
        )));
    }
    Ok(ModelFacts {
        names,
        imgsz: [imgsz[0], imgsz[1]],
        end_nodes,
    })
}

fn write_text(path: &Path, text: &str) -> anyhow::Result<()> {
    write_atomic(path, |out| {
        use std::io::Write;
        out.write_all(text.as_bytes())?;
        Ok(())
    })
}

/// `<dir>/<name>-<yyyymmdd>-<sha256:8>.hef` from `part` with its class names beside it
/// (`….labels.json`), and `<dir>/<name>.hef` pointing at it.
fn version_hef(
    part: &Path,
    dir: &Path,
    name: &str,
    beside: Beside,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let sha256 = file_sha256(part).with_context(|| format!("cannot read {}", part.display()))?;
    let date = crate::stamp::utc("%Y%m%d", "undated");
    let file = format!("{name}-{date}-{}.hef", &sha256[..8]);
    let versioned = dir.join(&file);
    std::fs::rename(part, &versioned)?;
    let sidecar = ModelSidecar {
        model: file.clone(),
        sha256,
        names: beside.names,
        nms: beside.nms,
        batch_size: beside.batch_size,
    };
    write_text(
        &sidecar_path(&versioned),
        &(serde_json::to_string_pretty(&sidecar)? + "\n"),
    )?;
    let current = dir.join(format!("{name}.hef"));
    let link_part = dir.join(format!(".{name}.hef.link"));
    let _ = std::fs::remove_file(&link_part);
    std::os::unix::fs::symlink(&file, &link_part)?;
    std::fs::rename(&link_part, &current)
        .with_context(|| format!("cannot point {} at {file}", current.display()))?;
    Ok((versioned, current))
}

/// Checks, writes the compiler inputs, and (unless a dry run) runs the compiler.
pub fn compile_hef(a: &CompileArgs) -> anyhow::Result<CompileReport> {
    check_thresholds(&[("--nms-score", a.nms_score), ("--nms-iou", a.nms_iou)])?;
    if a.batch_size == 0 || a.calib_batch_size == 0 {
        return Err(usage(
            "--batch-size and --calib-batch-size must be at least 1",
        ));
    }
    if let Some(why) = hmg_detect::paths::not_a_file(&a.model) {
        return Err(usage(format!(
            "'{}' {why} (hmg export writes exports/best.onnx)",
            a.model.display()
        )));
    }
    if a.via == Via::Ultralytics {
        return compile_via_ultralytics(a);
    }
    if a.model.extension().is_none_or(|e| e != "onnx") {
        return Err(usage(format!(
            "'{}' is not an ONNX model; export it first: hmg export best.pt",
            a.model.display()
        )));
    }
    let (dir, name) = output_paths(&a.output);
    let facts = model_facts(&a.model)?;
    let calib = calibration::check(&a.calib, facts.imgsz)?;
    let mut report = CompileReport::default();
    if a.calib_batch_size as usize > calib.count {
        return Err(usage(format!(
            "--calib-batch-size {} is larger than the calibration set ({} pictures)",
            a.calib_batch_size, calib.count
        )));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let script_path = dir.join(format!("{name}.alls"));
    let nms_path = dir.join(format!("{name}.nms.json"));
    let ends_path = dir.join(format!("{name}.end-nodes.txt"));
    let mut options = ScriptOptions {
        optimization_level: a
            .optimization_level
            .unwrap_or_else(|| calibration::level_for(calib.count)),
        compression_level: a.compression_level,
        calib_batch_size: a.calib_batch_size,
        calibset_size: calib.count,
        nms: a.nms,
        nms_config: std::path::absolute(&nms_path)?.display().to_string(),
    };
    let mut inference_batch = a.batch_size;
    let script_text = match &a.model_script {
        Some(user) => {
            let text = std::fs::read_to_string(user)
                .map_err(|e| usage(format!("--model-script {}: {e}", user.display())))?;
            let theirs = script::translate_seed_lines(&text, &options);
            if let Some(b) = theirs.inference_batch {
                inference_batch = b.max(1);
            }
            let ours = script::model_script(&facts, &options, &a.model.display().to_string());
            let user_name = user.file_name().unwrap_or_default().to_string_lossy();
            let (merged, replaced) = script::merge_scripts(&ours, &theirs.text, &user_name);
            for n in theirs.notes.iter().chain(&replaced) {
                eprintln!("model script: {n}");
            }
            if let Some(level) = script::script_optimization_level(&merged) {
                options.optimization_level = level;
            }
            merged
        }
        None => script::model_script(&facts, &options, &a.model.display().to_string()),
    };
    let level = options.optimization_level;
    let why = if a.model_script.is_some() || a.optimization_level.is_some() {
        "as asked".to_string()
    } else {
        format!(
            "from the {} calibration pictures; --optimization-level N to choose",
            calib.count
        )
    };
    eprintln!("optimization level {level} ({why})");
    if let Some(w) = calibration::size_warning(calib.count, level) {
        eprintln!("warning: {w}");
        report.warnings.push(w);
    }
    write_text(&script_path, &script_text)?;
    if a.model_script.is_some() {
        eprintln!("model script (merged), {}:", script_path.display());
        for l in script_text.lines() {
            eprintln!("  {l}");
        }
    }
    report.written.push(script_path.clone());
    if a.nms == NmsPlace::OnChip {
        let config = script::nms_config(&facts, a.nms_score, a.nms_iou);
        write_text(&nms_path, &(serde_json::to_string_pretty(&config)? + "\n"))?;
        report.written.push(nms_path.clone());
    }
    write_text(&ends_path, &(facts.end_nodes.join("\n") + "\n"))?;
    report.written.push(ends_path);
    if a.dry_run {
        return Ok(report);
    }
    let sdk = sdk::find(a.sdk.as_deref())
        .map_err(|looked| anyhow!(sdk::not_found_message(&looked, &report.written)))?;
    eprintln!(
        "Dataflow Compiler {} in {}",
        sdk.version,
        sdk.venv.display()
    );
    let stamp = crate::stamp::utc("%Y%m%d-%H%M%S", "run");
    let build = dir.join(".build").join(&name);
    std::fs::create_dir_all(&build)?;
    let log = dir.join("logs").join(format!("{name}-{stamp}.log"));
    let hef_part = build.join(format!("{name}.hef.part"));
    let args = json!({
        "onnx": std::path::absolute(&a.model)?,
        "net_name": name,
        "hw_arch": a.hw_arch.name(),
        "end_nodes": facts.end_nodes,
        "script": std::path::absolute(&script_path)?,
        "nms_config": if a.nms == NmsPlace::OnChip { Some(std::path::absolute(&nms_path)?) } else { None },
        "calib": std::path::absolute(&calib.path)?,
        "parsed_har": std::path::absolute(build.join("parsed.har"))?,
        "optimized_har": std::path::absolute(build.join("optimized.har"))?,
        "hef_part": std::path::absolute(&hef_part)?,
    });
    let mut cmd = Command::new(venvs::python(&sdk.venv));
    cmd.arg("-c").arg(DRIVER).arg(args.to_string());
    let stages = ["parse", "optimize", "compile"];
    let mut stage_start = Instant::now();
    let mut current: Option<String> = None;
    let ended = run_python(cmd, &log, |event| {
        if event["event"] == "stage" {
            let stage = event["name"].as_str().unwrap_or("?").to_string();
            if let Some(prev) = current.take() {
                eprintln!(
                    "  {prev} done in {:.1} s",
                    stage_start.elapsed().as_secs_f64()
                );
            }
            let n = stages.iter().position(|s| *s == stage).map_or(0, |i| i + 1);
            let what = match stage.as_str() {
                "parse" => "parse ONNX, cut at the six head end nodes".to_string(),
                "optimize" => format!("optimize: quantize with {} pictures", calib.count),
                _ => format!("compile for {}", a.hw_arch.name()),
            };
            eprintln!("[{n}/3] {what}");
            stage_start = Instant::now();
            current = Some(stage);
        }
    })?;
    report.log = Some(log.clone());
    match ended {
        Ended::Finished(Outcome::Done(_)) => {}
        Ended::Finished(Outcome::Interrupted) => {
            return Err(Interrupted(format!("compilation stopped; log: {}", log.display())).into());
        }
        Ended::Refused(e) => {
            let _ = std::fs::remove_file(&hef_part);
            return Err(anyhow!(
                "the Dataflow Compiler stopped at {}: {} (log: {})",
                e["stage"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("no message"),
                log.display()
            ));
        }
        Ended::Failed { status, tail } => {
            let _ = std::fs::remove_file(&hef_part);
            return Err(anyhow!(
                "the Dataflow Compiler failed ({status}); last lines of {}:\n{tail}",
                log.display()
            ));
        }
    }
    if let Some(prev) = current {
        eprintln!(
            "  {prev} done in {:.1} s",
            stage_start.elapsed().as_secs_f64()
        );
    }
    let nms = CompiledNms {
        place: a.nms.name().into(),
        score_threshold: (a.nms == NmsPlace::OnChip).then_some(a.nms_score),
        iou_threshold: (a.nms == NmsPlace::OnChip).then_some(a.nms_iou),
    };
    let facts_beside = Beside {
        names: facts.names.clone(),
        nms: Some(nms),
        batch_size: (inference_batch > 1).then_some(inference_batch),
    };
    let (versioned, current) = version_hef(&hef_part, &dir, &name, facts_beside)?;
    report.hef = Some(versioned);
    report.current = Some(current);
    Ok(report)
}

/// ultralytics' own `format=hailo` export, run in the SDK venv (HAILO.md §4.6).
fn compile_via_ultralytics(a: &CompileArgs) -> anyhow::Result<CompileReport> {
    if a.model.extension().is_none_or(|e| e != "pt") {
        return Err(usage(
            "--via ultralytics exports from the trained weights: give best.pt",
        ));
    }
    let data = a.data.as_ref().ok_or_else(|| {
        usage("--via ultralytics needs --data data.yaml (its calibration pictures)")
    })?;
    let (dir, name) = output_paths(&a.output);
    let sdk = sdk::find(a.sdk.as_deref())
        .map_err(|looked| anyhow!(sdk::not_found_message(&looked, &[])))?;
    let python = venvs::python(&sdk.venv);
    let probe = Command::new(&python)
        .args(["-c", "from ultralytics.engine.exporter import export_formats\nassert 'hailo' in export_formats()['Argument']"])
        .output()?;
    if !probe.status.success() {
        return Err(usage(format!(
            "the SDK venv {} has no ultralytics with format=hailo (8.4.97 or newer): \
             {}/bin/pip install -U ultralytics, or compile with hmg's own driver (without --via)",
            sdk.venv.display(),
            sdk.venv.display()
        )));
    }
    std::fs::create_dir_all(&dir)?;
    let scratch = dir.join(".build").join(format!("{name}-ultralytics"));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let pt = scratch.join(a.model.file_name().unwrap_or_default());
    std::fs::copy(&a.model, &pt)?;
    let log = dir.join("logs").join(format!("{name}-ultralytics.log"));
    let script = "import sys, json\nfrom ultralytics import YOLO\nout = YOLO(sys.argv[1]).export(format='hailo', name=sys.argv[2], data=sys.argv[3])\nprint('@hmg ' + json.dumps({'event': 'done', 'dir': str(out)}))";
    let mut cmd = Command::new(&python);
    cmd.arg("-c")
        .arg(script)
        .arg(std::path::absolute(&pt)?)
        .arg(a.hw_arch.name())
        .arg(std::path::absolute(data)?)
        .env("YOLO_OFFLINE", "1")
        .env("YOLO_AUTOINSTALL", "0");
    eprintln!(
        "ultralytics format=hailo in {} (log: {})",
        sdk.venv.display(),
        log.display()
    );
    let done = match run_python(cmd, &log, |_| {})? {
        Ended::Finished(Outcome::Done(d)) => d,
        Ended::Finished(Outcome::Interrupted) => {
            return Err(Interrupted("export stopped".into()).into());
        }
        Ended::Refused(e) => return Err(anyhow!("ultralytics' Hailo export refused: {e}")),
        Ended::Failed { status, tail } => {
            return Err(anyhow!(
                "ultralytics' Hailo export failed ({status}):\n{tail}"
            ));
        }
    };
    let out_dir = PathBuf::from(done["dir"].as_str().unwrap_or_default());
    let stem = pt
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let hef = out_dir.join(format!("{stem}.hef"));
    if !hef.is_file() {
        return Err(anyhow!(
            "ultralytics reported {} but wrote no {}",
            out_dir.display(),
            hef.display()
        ));
    }
    let part = scratch.join(format!("{name}.hef.part"));
    std::fs::rename(&hef, &part)?;
    let names = hmg_detect::load_labels(data)?;
    let beside = Beside {
        names,
        nms: None,
        batch_size: (a.batch_size > 1).then_some(a.batch_size),
    };
    let (versioned, current) = version_hef(&part, &dir, &name, beside)?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(CompileReport {
        hef: Some(versioned),
        current: Some(current),
        log: Some(log),
        ..CompileReport::default()
    })
}

pub fn run(args: &CompileArgs) -> anyhow::Result<()> {
    let report = compile_hef(args)?;
    for p in &report.written {
        println!("wrote {}", p.display());
    }
    match (&report.hef, &report.current) {
        (Some(hef), Some(current)) => {
            println!(
                "hef:  {} ({} -> {})",
                hef.display(),
                current.display(),
                hef.file_name().unwrap_or_default().to_string_lossy()
            );
            if let Some(log) = &report.log {
                println!("log:  {}", log.display());
            }
            crate::hef::show(current)?;
        }
        _ => println!("dry run: the compiler was not run"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names() {
        assert_eq!(
            output_paths(Path::new("my_model")),
            (PathBuf::from("models"), "my_model".into())
        );
        assert_eq!(
            output_paths(Path::new("out/x.hef")),
            (PathBuf::from("out"), "x".into())
        );
    }
}
