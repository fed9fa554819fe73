// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg annotate`: the seed's annotate_drones.py as a local web page — draw boxes with the mouse,
//! 0–9 picks the class, Space saves and moves on, Backspace removes the last box, Escape quits
//! without saving the current image. With `--model` (or the predictions a Pi saved beside its
//! captures) each picture opens with suggested boxes to accept; `--auto-label` writes them for
//! every unlabelled picture into a review queue walked least certain first.

pub mod review;
mod server;
mod suggest;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::dataset::data_yaml::DataYaml;
use crate::images::list_images;
use crate::usage::usage;

#[derive(clap::Args, Debug)]
pub struct AnnotateArgs {
    /// Folder of pictures to label (.jpg, .jpeg, .png, .bmp, .webp, .tif, .tiff)
    #[arg(long, default_value = "captured_images")]
    images: PathBuf,
    /// Dataset split to write into: <dataset>/images/ gets a copy of each saved picture,
    /// <dataset>/labels/<name>.txt its boxes
    #[arg(long)]
    dataset: PathBuf,
    /// Class names, comma-separated (keys 0–9 pick the first ten); written to the dataset's
    /// data.yaml, so the next time --dataset alone is enough
    #[arg(long, value_delimiter = ',', conflicts_with = "data")]
    classes: Vec<String>,
    /// Take the class names from this data.yaml (default: <dataset>/../data.yaml when present)
    #[arg(long)]
    data: Option<PathBuf>,
    /// Address to listen on; anything but loopback exposes your pictures to the network
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Port (0 = a free one)
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Suggest boxes with this model (.onnx, run here by the ONNX engine): shown dashed with
    /// their confidence, Enter accepts them. Pictures hmg collect brought come with the Pi's own
    /// predictions, which are suggested without a model
    #[arg(long)]
    model: Option<PathBuf>,
    /// Suggestions below this confidence start hidden (the page's slider changes it); also what
    /// --auto-label keeps
    #[arg(long, default_value_t = 0.25, value_parser = crate::usage::threshold_f32)]
    suggest_conf: f32,
    /// First write the suggestions as labels of every unlabelled picture, each marked unreviewed
    /// (<dataset>/unreviewed.json): the page then shows those least certain first, saving one
    /// marks it reviewed, and hmg train refuses unreviewed labels unless --allow-unreviewed
    #[arg(long)]
    auto_label: bool,
    /// With --auto-label: write the labels and the queue, then stop (review later)
    #[arg(long, requires = "auto_label")]
    no_page: bool,
    /// Open the page in the default browser
    #[arg(long)]
    open: bool,
}

/// Class names from --classes, --data, or the dataset's data.yaml.
/// The dataset's data.yaml, beside the split (`datasets/train` → `datasets/data.yaml`).
fn data_yaml_beside(dataset: &Path) -> Option<PathBuf> {
    std::path::absolute(dataset)
        .ok()
        .and_then(|d| d.parent().map(|p| p.join("data.yaml")))
}

/// The class names: `--classes` (remembered in the dataset's data.yaml, which is written when
/// missing), `--data`, the data.yaml beside the split, or asked once on a terminal.
fn class_names(args: &AnnotateArgs) -> anyhow::Result<Vec<String>> {
    let beside = data_yaml_beside(&args.dataset);
    let mut given: Vec<String> = args.classes.iter().map(|c| c.trim().to_string()).collect();
    if given.is_empty()
        && args.data.is_none()
        && !beside.as_ref().is_some_and(|p| p.is_file())
        && std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        eprint!("Class names for this dataset, comma-separated (e.g. drone,bird): ");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        given = line.split(',').map(|c| c.trim().to_string()).collect();
        given.retain(|c| !c.is_empty());
    }
    if !given.is_empty() {
        if given.iter().any(String::is_empty) {
            return Err(usage("--classes has an empty class name"));
        }
        if let Some(bad) = given.iter().find(|n| !hmg_detect::labels::is_valid_name(n)) {
            return Err(usage(format!(
                "--classes: {bad:?} holds a control character (newline, tab, NUL); class names must be plain text"
            )));
        }
        if let Some(yaml) = beside {
            if yaml.is_file() {
                let existing = DataYaml::read(&yaml)?.names;
                if existing != given {
                    return Err(usage(format!(
                        "'{}' already names the classes {}; label with those (leave out --classes), or change them with hmg dataset init --force",
                        yaml.display(),
                        existing.join(", ")
                    )));
                }
            } else if let Some(root) = yaml.parent() {
                let written = DataYaml::write(root, &given)?;
                println!(
                    "wrote {} ({} classes): next time --dataset alone is enough",
                    written.display(),
                    given.len()
                );
            }
        }
        return Ok(given);
    }
    let yaml = match &args.data {
        Some(p) => {
            if let Some(why) = hmg_detect::paths::not_a_file(p) {
                return Err(usage(format!("data.yaml '{}' {why}", p.display())));
            }
            p.clone()
        }
        None => {
            beside.filter(|p| p.is_file()).ok_or_else(|| {
                usage(format!(
                    "no class names: give --classes drone,IR-Drone or --data data.yaml (none found beside '{}')",
                    args.dataset.display()
                ))
            })?
        }
    };
    Ok(DataYaml::read(&yaml)?.names)
}

/// The pictures to label: regular files inside `dir` (symlinks that lead outside are skipped).
fn pictures(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot open '{}'", dir.display()))?;
    Ok(list_images(dir)?
        .into_iter()
        .filter(|p| p.canonicalize().is_ok_and(|c| c.starts_with(&root)))
        .collect())
}

/// Labels are paired with pictures by stem (ultralytics' rule), so `dog.jpg` and `dog.png`, here
/// or already in the dataset, would write one `labels/dog.txt`: saving one would overwrite the
/// other's boxes.
fn refuse_shared_stems(pictures: &[PathBuf], dataset_images: &Path) -> anyhow::Result<()> {
    let mut by_stem: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    let already = list_images(dataset_images).unwrap_or_default();
    for p in pictures.iter().chain(&already) {
        let stem = p
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let names = by_stem.entry(stem).or_default();
        // The dataset's copy of a picture from the images folder is the same picture.
        if !names.iter().any(|n| n.file_name() == p.file_name()) {
            names.push(p.clone());
        }
    }
    let clashes: Vec<String> = by_stem
        .iter()
        .filter(|(_, paths)| paths.len() > 1)
        .map(|(stem, paths)| {
            let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            format!("{} would share labels/{stem}.txt", list.join(" and "))
        })
        .collect();
    if clashes.is_empty() {
        return Ok(());
    }
    Err(usage(format!(
        "pictures with the same name but another extension: {}; rename one of each (e.g. dog-2.png) and start again",
        clashes.join("; ")
    )))
}

pub fn run(args: &AnnotateArgs) -> anyhow::Result<()> {
    if let Some(why) = hmg_detect::paths::not_a_folder(&args.images) {
        return Err(usage(format!(
            "images folder '{}' {why} (put your pictures there, or give their folder with --images)",
            args.images.display()
        )));
    }
    let names = class_names(args)?;
    let pictures = pictures(&args.images)?;
    if pictures.is_empty() {
        return Err(usage(format!(
            "'{}' has no pictures ({})",
            args.images.display(),
            crate::images::extensions_listed()
        )));
    }
    refuse_shared_stems(&pictures, &args.dataset.join("images"))?;
    for sub in ["images", "labels"] {
        let d = args.dataset.join(sub);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create '{}'", d.display()))?;
    }
    let ip: std::net::IpAddr = args
        .bind
        .parse()
        .map_err(|_| usage(format!("--bind '{}' is not an IP address", args.bind)))?;
    let suggester = suggest::Suggester::new(args.model.as_deref(), names.clone())?;
    let mut session = server::Session::new(
        pictures,
        args.dataset.clone(),
        names,
        crate::web::token()?,
        suggester,
        args.suggest_conf,
    )?;
    if args.auto_label {
        auto_label(&session, args)?;
        session.queue_first();
        if args.no_page {
            return Ok(());
        }
    }
    let server = tiny_http::Server::http((ip, args.port))
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.bind, args.port))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| anyhow::anyhow!("the server has no IP address"))?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let url = format!("http://{host}:{}/?token={}", addr.port(), session.token);
    let awaiting = match session.unreviewed() {
        0 => String::new(),
        n => format!(", {n} awaiting review"),
    };
    println!(
        "annotating {} pictures ({} already labelled{awaiting}) into {}",
        session.count(),
        session.labelled(),
        args.dataset.display()
    );
    if !ip.is_loopback() {
        println!(
            "warning: listening on {ip}: anyone who can reach this machine and has the link sees your pictures"
        );
    }
    println!("open {url}");
    println!("(Escape in the page, or Ctrl-C here, stops)");
    if args.open {
        let opened = std::process::Command::new("xdg-open")
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if opened.is_err() {
            println!("note: no browser could be opened here; open the link above yourself");
        }
    }
    let session = server::serve(&server, session);
    println!(
        "stopped: {} of {} pictures labelled in {}",
        session.labelled(),
        session.count(),
        args.dataset.display()
    );
    Ok(())
}

/// `--auto-label`: the suggestions of every unlabelled picture written as its labels, queued
/// for review.
fn auto_label(session: &server::Session, args: &AnnotateArgs) -> anyhow::Result<()> {
    let todo: Vec<PathBuf> = session
        .pictures()
        .iter()
        .filter(|p| !session.is_labelled(p))
        .cloned()
        .collect();
    let progress = indicatif::ProgressBar::new(todo.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "auto-label {bar:40} {pos}/{len} pictures  eta {eta}",
        )
        .expect("valid template"),
    );
    let (mut written, mut boxes, mut without, mut failed) = (0, 0, 0, Vec::new());
    for picture in &todo {
        match session.auto_label(picture) {
            Ok(Some(n)) => {
                written += 1;
                boxes += n;
            }
            Ok(None) => without += 1,
            Err(e) => failed.push(format!("{e:#}")),
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    println!(
        "auto-labelled {written} picture(s) with {boxes} box(es) at confidence {} or more, unreviewed until saved in the page ({})",
        args.suggest_conf,
        review::Queue::path(&args.dataset).display()
    );
    if without > 0 {
        println!(
            "{without} picture(s) had nothing to suggest from (give --model, or collect them with their predictions)"
        );
    }
    for f in failed.iter().take(5) {
        eprintln!("warning: {f}");
    }
    if !failed.is_empty() && written == 0 {
        anyhow::bail!("no picture could be auto-labelled: {}", failed[0]);
    }
    Ok(())
}
