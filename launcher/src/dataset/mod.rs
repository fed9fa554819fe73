// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg dataset verify | split | init`: YOLO datasets as ultralytics reads them
//! (`<root>/{train,val}/{images,labels}` and `<root>/data.yaml`).

pub mod data_yaml;
pub mod labels;
pub mod split;
pub mod verify;

use std::path::{Path, PathBuf};

use data_yaml::DataYaml;

use crate::usage::usage;

#[derive(clap::Args, Debug)]
pub struct DatasetArgs {
    #[command(subcommand)]
    command: DatasetCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DatasetCommand {
    /// Check images and labels: missing or malformed labels, coordinates outside [0, 1], class ids,
    /// zero-area and duplicate boxes, corrupt images, orphan labels, class balance
    Verify {
        /// Dataset folder (with data.yaml, train/images…, or images/) or its data.yaml
        dataset: PathBuf,
        /// Print JSON instead of the table
        #[arg(long)]
        json: bool,
    },
    /// Split labelled images into train/ and val/ (stratified by class, reproducible) and write
    /// data.yaml
    Split {
        /// Dataset folder holding train/ (and maybe val/)
        dataset: PathBuf,
        /// Share of each class's images that goes to val
        #[arg(long, default_value_t = 0.2)]
        val: f64,
        /// Seed of the split (same seed, same split)
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Class names, comma-separated, when the dataset has no data.yaml yet
        #[arg(long, value_delimiter = ',')]
        names: Vec<String>,
    },
    /// Create train/ and val/ folders and data.yaml with absolute paths and the class names
    Init {
        /// Dataset folder to create
        dataset: PathBuf,
        /// Class names, comma-separated, e.g. drone,IR-Drone
        #[arg(long, value_delimiter = ',', required = true)]
        names: Vec<String>,
        /// Replace an existing data.yaml whose class names differ
        #[arg(long)]
        force: bool,
    },
}

fn check_names(names: &[String]) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = names.iter().map(|n| n.trim().to_string()).collect();
    if names.iter().any(String::is_empty) {
        return Err(usage("--names has an empty class name"));
    }
    if let Some(bad) = names.iter().find(|n| !hmg_detect::labels::is_valid_name(n)) {
        return Err(usage(format!(
            "--names: {bad:?} holds a control character (newline, tab, NUL); class names must be plain text"
        )));
    }
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(usage(format!("--names lists '{n}' twice")));
        }
    }
    Ok(names)
}

pub fn run(args: &DatasetArgs) -> anyhow::Result<()> {
    match &args.command {
        DatasetCommand::Verify { dataset, json } => run_verify(dataset, *json),
        DatasetCommand::Split {
            dataset,
            val,
            seed,
            names,
        } => run_split(dataset, *val, *seed, names),
        DatasetCommand::Init {
            dataset,
            names,
            force,
        } => run_init(dataset, names, *force),
    }
}

fn run_verify(dataset: &Path, json: bool) -> anyhow::Result<()> {
    if !dataset.exists() {
        return Err(usage(format!(
            "'{}' does not exist (give a dataset folder or its data.yaml)",
            dataset.display()
        )));
    }
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("checking images {bar:40} {pos}/{len}")
            .expect("valid template"),
    );
    let report = verify::verify(dataset, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", verify::render(&report));
    }
    if report.errors() > 0 {
        anyhow::bail!(
            "{} error(s) in {}: fix them before training",
            report.errors(),
            dataset.display()
        );
    }
    Ok(())
}

fn run_split(dataset: &Path, val: f64, seed: u64, names: &[String]) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&val) {
        return Err(usage(format!("--val {val} must be at least 0 and below 1")));
    }
    if !dataset.join("train").is_dir() && !dataset.join("val").is_dir() {
        return Err(usage(format!(
            "'{}' has no train/ or val/ folder (create it with `hmg dataset init {} --names …`)",
            dataset.display(),
            dataset.display()
        )));
    }
    let yaml_path = dataset.join("data.yaml");
    let names = if !names.is_empty() {
        check_names(names)?
    } else if yaml_path.is_file() {
        DataYaml::read(&yaml_path)?.names
    } else {
        return Err(usage(format!(
            "'{}' has no data.yaml: give the class names with --names a,b",
            dataset.display()
        )));
    };
    let outcome = split::split(dataset, val, seed)?;
    let yaml = DataYaml::write(dataset, &names)?;
    println!(
        "train {} images, val {} images ({} moved); wrote {}",
        outcome.train,
        outcome.val,
        outcome.moved,
        yaml.display()
    );
    if outcome.unlabelled > 0 {
        println!(
            "note: {} image(s) without a label file stayed where they are (label them, or run `hmg dataset verify`)",
            outcome.unlabelled
        );
    }
    Ok(())
}

fn run_init(dataset: &Path, names: &[String], force: bool) -> anyhow::Result<()> {
    let names = check_names(names)?;
    let yaml_path = dataset.join("data.yaml");
    if yaml_path.is_file() && !force {
        let existing = DataYaml::read(&yaml_path)?;
        if existing.names != names {
            return Err(usage(format!(
                "'{}' already names the classes {}; pass --force to replace them",
                yaml_path.display(),
                existing.names.join(", ")
            )));
        }
    }
    for dir in ["train/images", "train/labels", "val/images", "val/labels"] {
        let d = dataset.join(dir);
        std::fs::create_dir_all(&d)
            .map_err(|e| anyhow::anyhow!("cannot create '{}': {e}", d.display()))?;
    }
    let yaml = DataYaml::write(dataset, &names)?;
    println!(
        "wrote {} ({} classes); label pictures with: hmg annotate --images captured_images/ --dataset {}",
        yaml.display(),
        names.len(),
        dataset.join("train").display()
    );
    Ok(())
}
