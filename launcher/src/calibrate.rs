// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg calibrate`: the calibration set for Hailo's quantizer. Pictures sampled across classes
//! (reproducibly, by `--seed`) go through the offline graph `appsrc ! calibpack`, which applies
//! the same letterbox as `hailoinfer` and writes `calib_set.npy` (N×H×W×3 uint8); a manifest
//! records which pictures were used.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::appsrc::{image_frame, play_frames};
use crate::atomic::write_atomic;
use crate::dataset::{labels, split::rank, verify};
use crate::images::{list_images, read_rgb};
use crate::usage::usage;

/// The tensor's file name inside the output folder.
pub const CALIB_FILE: &str = "calib_set.npy";
/// The manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// Dataset folder or its data.yaml (pictures come from the train split)
    dataset: PathBuf,
    /// Pictures in the set (Hailo recommends 1024 for optimization level 2 and above)
    #[arg(long, default_value_t = 64)]
    num_samples: u32,
    /// Model input size (square; must match the model you compile)
    #[arg(long, default_value_t = 640)]
    imgsz: u32,
    /// Folder for calib_set.npy and manifest.json
    #[arg(long, default_value = "calibration_data")]
    output: PathBuf,
    /// Sampling seed: the same seed picks the same pictures
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// A candidate picture and the classes it shows.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub image: PathBuf,
    pub classes: BTreeSet<u32>,
}

/// Up to `n` pictures: classes take turns, rarest first, each taking its next picture in seeded
/// order; then pictures without objects. The same seed and files give the same choice.
pub fn sample(candidates: &[Candidate], n: usize, seed: u64) -> Vec<usize> {
    let key = |i: &usize| {
        let name = candidates[*i]
            .image
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (rank(seed, &name), name)
    };
    let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    let mut negatives = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        if c.classes.is_empty() {
            negatives.push(i);
        }
        for class in &c.classes {
            by_class.entry(*class).or_default().push(i);
        }
    }
    let mut queues: Vec<(u32, Vec<usize>)> = by_class.into_iter().collect();
    for (_, q) in &mut queues {
        q.sort_by_key(key);
        q.reverse(); // pop() takes from the front of the seeded order
    }
    queues.sort_by_key(|(class, q)| (q.len(), *class));
    negatives.sort_by_key(key);
    negatives.reverse();
    let mut taken = vec![false; candidates.len()];
    let mut chosen = Vec::new();
    while chosen.len() < n {
        let mut progressed = false;
        for (_, q) in &mut queues {
            while let Some(i) = q.pop() {
                if !taken[i] {
                    taken[i] = true;
                    chosen.push(i);
                    progressed = true;
                    break;
                }
            }
            if chosen.len() == n {
                break;
            }
        }
        if !progressed {
            match negatives.pop() {
                Some(i) => {
                    taken[i] = true;
                    chosen.push(i);
                }
                None => break,
            }
        }
    }
    chosen
}

/// What a calibration run wrote.
#[derive(Debug, Clone)]
pub struct CalibrationSet {
    pub tensor: PathBuf,
    pub manifest: PathBuf,
    pub images: Vec<PathBuf>,
    pub class_counts: BTreeMap<String, usize>,
}

/// Samples the train pictures of `dataset` and writes `<output>/calib_set.npy` + manifest.
pub fn calibrate(
    dataset: &Path,
    num_samples: u32,
    imgsz: u32,
    output: &Path,
    seed: u64,
) -> anyhow::Result<CalibrationSet> {
    if num_samples == 0 {
        return Err(usage("--num-samples must be at least 1"));
    }
    if imgsz == 0 || !imgsz.is_multiple_of(32) {
        return Err(usage(format!("--imgsz {imgsz} must be a multiple of 32")));
    }
    let (_, yaml, splits) = verify::discover(dataset).map_err(|e| usage(format!("{e:#}")))?;
    let names = yaml.map(|y| y.names).unwrap_or_default();
    let train: Vec<&verify::Split> = splits
        .iter()
        .filter(|s| s.name.starts_with("train"))
        .collect();
    let chosen_splits = if train.is_empty() {
        splits.iter().collect()
    } else {
        train
    };
    let mut candidates = Vec::new();
    for split in chosen_splits {
        let images = list_images(&split.images)
            .with_context(|| format!("cannot list {}", split.images.display()))?;
        for image in images {
            let label = split
                .labels
                .join(image.file_stem().unwrap_or_default())
                .with_extension("txt");
            let classes = labels::read_lenient(&label)
                .map(|b| b.iter().map(|b| b.class).collect())
                .unwrap_or_default();
            candidates.push(Candidate { image, classes });
        }
    }
    if candidates.is_empty() {
        return Err(usage(format!(
            "'{}' has no pictures to calibrate with (hmg dataset verify shows what it holds)",
            dataset.display()
        )));
    }
    let picked = sample(&candidates, num_samples as usize, seed);
    if picked.len() < num_samples as usize {
        eprintln!(
            "warning: the dataset has {} pictures, fewer than --num-samples {num_samples}; the set has {}",
            candidates.len(),
            picked.len()
        );
    }
    std::fs::create_dir_all(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let tensor = output.join(CALIB_FILE);
    let images: Vec<PathBuf> = picked
        .iter()
        .map(|&i| candidates[i].image.clone())
        .collect();
    let bar = ProgressBar::new(images.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("calibration set [{bar:30.cyan/blue}] {pos}/{len} pictures")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let feed = images.clone();
    let feeder_bar = bar.clone();
    let frames = feed.into_iter().map(move |path| {
        // An unreadable picture stops the run with its name (the seed's silent
        // "Calibration error: Invalid image format" cannot happen).
        let rgb = read_rgb(&path).map_err(|e| {
            anyhow!(
                "cannot read picture {}: {e:#}; remove or replace it and run hmg calibrate again",
                path.display()
            )
        })?;
        feeder_bar.inc(1);
        Ok(image_frame(&rgb))
    });
    let description = format!(
        "appsrc name=frames ! calibpack location=\"{}\" num-samples={} width={imgsz} height={imgsz} ! fakesink sync=false",
        tensor.display(),
        images.len()
    );
    let played = play_frames(&description, frames);
    bar.finish_and_clear();
    played?;
    let mut class_counts: BTreeMap<String, usize> = BTreeMap::new();
    let entries: Vec<serde_json::Value> = picked
        .iter()
        .enumerate()
        .map(|(index, &i)| {
            let c = &candidates[i];
            let class_names: Vec<String> = c
                .classes
                .iter()
                .map(|&k| {
                    names
                        .get(k as usize)
                        .cloned()
                        .unwrap_or_else(|| format!("class-{k}"))
                })
                .collect();
            for n in &class_names {
                *class_counts.entry(n.clone()).or_default() += 1;
            }
            json!({"index": index, "file": c.image.display().to_string(), "classes": class_names})
        })
        .collect();
    let manifest = output.join(MANIFEST_FILE);
    let text = serde_json::to_string_pretty(&json!({
        "created_by": "hmg calibrate",
        "dataset": dataset.display().to_string(),
        "seed": seed,
        "tensor": CALIB_FILE,
        "shape": [images.len(), imgsz, imgsz, 3],
        "dtype": "uint8",
        "preprocessing": "RGB, ultralytics letterbox (centered, pad 114), the same as hailoinfer",
        "class_counts": class_counts,
        "images": entries,
    }))?;
    write_atomic(&manifest, |out| {
        use std::io::Write;
        writeln!(out, "{text}")?;
        Ok(())
    })?;
    Ok(CalibrationSet {
        tensor,
        manifest,
        images,
        class_counts,
    })
}

pub fn run(args: &CalibrateArgs) -> anyhow::Result<()> {
    let set = calibrate(
        &args.dataset,
        args.num_samples,
        args.imgsz,
        &args.output,
        args.seed,
    )?;
    println!(
        "calibration set: {} ({} x {}x{}x3, uint8)",
        set.tensor.display(),
        set.images.len(),
        args.imgsz,
        args.imgsz
    );
    println!("manifest:        {}", set.manifest.display());
    let counts: Vec<String> = set
        .class_counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("pictures per class: {}", counts.join(", "));
    if set.images.len() < 1024 {
        println!(
            "note: Hailo recommends 1024 pictures for optimization level 2 and above; with fewer, \
             compile with --optimization-level 0 or 1, or add --num-samples"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, classes: &[u32]) -> Candidate {
        Candidate {
            image: PathBuf::from(name),
            classes: classes.iter().copied().collect(),
        }
    }

    #[test]
    fn every_class_is_sampled_before_common_ones_repeat() {
        let mut all: Vec<Candidate> = (0..20).map(|i| c(&format!("car{i}.jpg"), &[0])).collect();
        all.push(c("bird.jpg", &[1]));
        all.push(c("boat.jpg", &[2]));
        all.push(c("empty.jpg", &[]));
        let picked = sample(&all, 3, 7);
        let names: BTreeSet<&str> = picked
            .iter()
            .map(|&i| all[i].image.to_str().unwrap())
            .collect();
        assert!(
            names.contains("bird.jpg") && names.contains("boat.jpg"),
            "{names:?}"
        );
        assert_eq!(sample(&all, 3, 7), picked, "same seed, same choice");
        assert_ne!(
            sample(&all, 10, 1),
            sample(&all, 10, 2),
            "seed changes the order"
        );
        assert_eq!(
            sample(&all, 100, 0).len(),
            all.len(),
            "negatives fill up, nothing twice"
        );
    }
}
