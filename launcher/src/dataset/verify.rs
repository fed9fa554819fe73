// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg dataset verify`: every check of the seed's verify_annotations.py and what ultralytics
//! would otherwise trip over (or silently drop) during training.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::data_yaml::{DataYaml, labels_dir};
use super::labels::{YoloBox, is_polygon, parse_line, read_text};
use crate::images::{list_images, read_rgb};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub severity: Severity,
    /// Stable identifier, e.g. `missing-label`.
    pub kind: &'static str,
    /// File, relative to the dataset root when inside it.
    pub file: String,
    /// 1-based line in a label file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SplitSummary {
    pub name: String,
    pub images: usize,
    pub label_files: usize,
    pub boxes: usize,
    pub negatives: usize,
    /// Label files a model wrote that no one has reviewed yet.
    pub unreviewed: usize,
}

/// The kind of problem an unreviewed label file is.
pub const UNREVIEWED: &str = "unreviewed";

#[derive(Debug, Clone, Serialize)]
pub struct ClassRow {
    pub id: u32,
    pub name: String,
    /// Per split (same order as `splits`): boxes and images that have the class.
    pub boxes: Vec<usize>,
    pub images: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub root: String,
    pub data_yaml: Option<String>,
    pub names: Vec<String>,
    pub splits: Vec<SplitSummary>,
    pub classes: Vec<ClassRow>,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }
    pub fn warnings(&self) -> usize {
        self.problems.len() - self.errors()
    }

    /// Unreviewed labels as warnings, not errors (`--allow-unreviewed`).
    pub fn allow_unreviewed(&mut self) {
        for p in &mut self.problems {
            if p.kind == UNREVIEWED {
                p.severity = Severity::Warning;
            }
        }
    }
}

/// One split: where its images and labels are.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub name: String,
    pub images: PathBuf,
    pub labels: PathBuf,
}

/// What a path given on the command line holds: a data.yaml, a dataset folder (with data.yaml,
/// `train/images`…, or `images/` itself).
pub fn discover(target: &Path) -> anyhow::Result<(PathBuf, Option<DataYaml>, Vec<Split>)> {
    let split = |name: &str, images: PathBuf| Split {
        name: name.to_string(),
        labels: labels_dir(&images),
        images,
    };
    let from_yaml = |yaml: DataYaml| {
        let mut splits = Vec::new();
        for (key, dirs) in [("train", &yaml.train), ("val", &yaml.val)] {
            for (i, d) in dirs.iter().enumerate() {
                let name = if i == 0 {
                    key.to_string()
                } else {
                    format!("{key}-{i}")
                };
                splits.push(split(&name, d.clone()));
            }
        }
        splits
    };
    if target.is_file() {
        let yaml = DataYaml::read(target)?;
        let root = target.parent().unwrap_or(Path::new(".")).to_path_buf();
        let splits = from_yaml(yaml.clone());
        return Ok((root, Some(yaml), splits));
    }
    if let Some(why) = hmg_detect::paths::not_a_folder(target) {
        anyhow::bail!(
            "'{}' {why} (give a dataset folder or its data.yaml)",
            target.display()
        );
    }
    let root = target.to_path_buf();
    if target.join("data.yaml").is_file() {
        let yaml = DataYaml::read(&target.join("data.yaml"))?;
        let splits = from_yaml(yaml.clone());
        return Ok((root, Some(yaml), splits));
    }
    if target.join("images").is_dir() {
        let name = std::path::absolute(target)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "dataset".into());
        // A split folder (datasets/train): class names from the dataset's data.yaml beside it.
        let parent_yaml = std::path::absolute(target)
            .ok()
            .and_then(|p| p.parent().map(|p| p.join("data.yaml")))
            .filter(|p| p.is_file())
            .map(|p| DataYaml::read(&p))
            .transpose()?;
        return Ok((root, parent_yaml, vec![split(&name, target.join("images"))]));
    }
    let mut splits = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(target)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("images").is_dir())
        .collect();
    entries.sort();
    for dir in entries {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        splits.push(split(&name, dir.join("images")));
    }
    if splits.is_empty() {
        anyhow::bail!(
            "no dataset in '{}': expected data.yaml, images/ or train/images (create one with `hmg dataset init`)",
            target.display()
        );
    }
    Ok((root, None, splits))
}

struct Checker<'a> {
    root: &'a Path,
    nc: Option<usize>,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn show(&self, path: &Path) -> String {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        abs.strip_prefix(self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn add(
        &mut self,
        severity: Severity,
        kind: &'static str,
        file: &Path,
        line: Option<usize>,
        message: String,
    ) {
        let file = self.show(file);
        self.problems.push(Problem {
            severity,
            kind,
            file,
            line,
            message,
        });
    }

    /// Checks one label file's lines; returns its valid boxes and whether it has any line at all.
    fn label_file(&mut self, path: &Path) -> (Vec<YoloBox>, bool) {
        let text = match read_text(path) {
            Ok(t) => t,
            Err(e) => {
                self.add(
                    Severity::Error,
                    "unreadable-label",
                    path,
                    None,
                    format!("cannot be read: {e}"),
                );
                return (Vec::new(), true);
            }
        };
        let has_lines = text.lines().any(|l| !l.trim().is_empty());
        let polygons = text.lines().filter(|l| is_polygon(l)).count();
        let rows = text.lines().filter(|l| !l.trim().is_empty()).count();
        if polygons > 0 && polygons < rows {
            // ultralytics refuses the whole file.
            self.add(
                Severity::Error,
                "mixed-rows",
                path,
                None,
                format!(
                    "mixes {polygons} polygon row(s) with {} box row(s); use one kind per file",
                    rows - polygons
                ),
            );
            return (Vec::new(), true);
        }
        if polygons > 0 {
            self.add(
                Severity::Warning,
                "polygon-labels",
                path,
                None,
                format!("{polygons} polygon (segmentation) row(s): detection trains on the box around each"),
            );
        }
        let mut boxes: Vec<YoloBox> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = Some(i + 1);
            if line.trim().is_empty() {
                continue;
            }
            let b = match parse_line(line) {
                Ok(b) => b,
                Err(e) => {
                    self.add(
                        Severity::Error,
                        "malformed-line",
                        path,
                        n,
                        format!("'{}' {e}", line.trim()),
                    );
                    continue;
                }
            };
            if let Some(nc) = self.nc
                && b.class as usize >= nc
            {
                self.add(
                    Severity::Error,
                    "class-out-of-range",
                    path,
                    n,
                    format!(
                        "class {} but data.yaml has {nc} classes (0..{})",
                        b.class,
                        nc.saturating_sub(1)
                    ),
                );
                continue;
            }
            let values = [("cx", b.cx), ("cy", b.cy), ("w", b.w), ("h", b.h)];
            let outside = |tolerance: f64| -> Vec<String> {
                values
                    .iter()
                    .filter(|(_, v)| !(-tolerance..=1.0 + tolerance).contains(v))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect()
            };
            // ultralytics' own check: coordinates up to 1 % past the edge pass (and are clipped
            // in training); size must not be negative.
            let (strict, beyond) = (outside(0.0), outside(EDGE_TOLERANCE));
            if !strict.is_empty() && beyond.is_empty() && b.w >= 0.0 && b.h >= 0.0 {
                self.add(
                    Severity::Warning,
                    "edge-tolerance",
                    path,
                    n,
                    format!(
                        "coordinates just outside [0, 1]: {} (within ultralytics' 1 % tolerance: clipped in training)",
                        strict.join(", ")
                    ),
                );
            } else if !strict.is_empty() {
                let outside = strict;
                self.add(
                    Severity::Error,
                    "outside-image",
                    path,
                    n,
                    format!("coordinates outside [0, 1]: {}", outside.join(", ")),
                );
                continue;
            }
            if b.w <= 0.0 || b.h <= 0.0 {
                self.add(
                    Severity::Error,
                    "zero-area",
                    path,
                    n,
                    format!("box has zero area (w={}, h={})", b.w, b.h),
                );
                continue;
            }
            if let Some(first) = boxes.iter().position(|o| same_box(o, &b)) {
                self.add(
                    Severity::Warning,
                    "duplicate-box",
                    path,
                    n,
                    format!("repeats box {} (ultralytics drops duplicates)", first + 1),
                );
                continue;
            }
            boxes.push(b);
        }
        (boxes, has_lines)
    }
}

/// How far past the image's edge ultralytics' label check lets a coordinate go.
const EDGE_TOLERANCE: f64 = 0.01;

/// ultralytics drops images with a side under this many pixels.
const MIN_IMAGE_SIDE: u32 = 10;

/// How a .jpg/.jpeg ends. ultralytics' `verify_image_label` checks that the file's last two bytes
/// are the end marker and rewrites it otherwise, which fails (and drops the picture) when the
/// scans are cut short.
#[derive(Debug, PartialEq)]
enum JpegEnding {
    /// Ends with its end marker, or is not a JPEG (or cannot be read: the decode reports that).
    Whole,
    /// The end marker, then more bytes.
    DataAfterEnd,
    /// No end marker after the last scan began.
    CutShort,
}

fn jpeg_ending(image: &Path) -> JpegEnding {
    let jpeg = image
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg"));
    let Some(bytes) = jpeg.then(|| std::fs::read(image).ok()).flatten() else {
        return JpegEnding::Whole;
    };
    jpeg_ending_of(&bytes)
}

fn jpeg_ending_of(bytes: &[u8]) -> JpegEnding {
    if bytes.ends_with(&[0xFF, 0xD9]) {
        return JpegEnding::Whole;
    }
    // Inside a scan every 0xFF byte is followed by 0 or a restart marker, so the first end
    // marker after the last scan's start is the picture's own (an EXIF thumbnail's comes
    // before the first scan).
    let marker = |m: u8| move |w: &[u8]| w == [0xFF, m];
    let Some(last_scan) = bytes.windows(2).rposition(marker(0xDA)) else {
        return JpegEnding::CutShort;
    };
    if bytes[last_scan..].windows(2).any(marker(0xD9)) {
        JpegEnding::DataAfterEnd
    } else {
        JpegEnding::CutShort
    }
}

fn same_box(a: &YoloBox, b: &YoloBox) -> bool {
    a.class == b.class
        && [(a.cx, b.cx), (a.cy, b.cy), (a.w, b.w), (a.h, b.h)]
            .iter()
            .all(|(x, y)| (x - y).abs() < 1e-6)
}

/// Runs every check; `progress` is called once per image decoded.
pub fn verify(target: &Path, mut progress: impl FnMut(usize, usize)) -> anyhow::Result<Report> {
    let (root, yaml, splits) = discover(target)?;
    let names = yaml.as_ref().map(|y| y.names.clone()).unwrap_or_default();
    let abs_root = std::path::absolute(&root).unwrap_or_else(|_| root.clone());
    let mut c = Checker {
        root: &abs_root,
        nc: yaml.as_ref().map(|y| y.names.len()),
        problems: Vec::new(),
    };
    if yaml.is_none() {
        c.add(
            Severity::Warning,
            "no-data-yaml",
            &root.join("data.yaml"),
            None,
            "missing: class names unknown, class ids not checked (write one with `hmg dataset init`)".into(),
        );
    }
    let listed: Vec<Vec<PathBuf>> = splits
        .iter()
        .map(|s| list_images(&s.images).unwrap_or_default())
        .collect();
    let total: usize = listed.iter().map(Vec::len).sum();
    let mut done = 0;
    let mut summaries = Vec::new();
    // class → per split (boxes, images)
    let mut per_class: BTreeMap<u32, Vec<(usize, usize)>> = BTreeMap::new();
    let mut seen_in: HashMap<String, String> = HashMap::new();
    for (si, (split, images)) in splits.iter().zip(&listed).enumerate() {
        let mut sum = SplitSummary {
            name: split.name.clone(),
            images: images.len(),
            ..Default::default()
        };
        if let Some(why) = hmg_detect::paths::not_a_folder(&split.images) {
            c.add(
                Severity::Error,
                "missing-folder",
                &split.images,
                None,
                format!("the {} images folder {why}", split.name),
            );
        }
        let mut stems = std::collections::HashSet::new();
        let mut first_of_stem: std::collections::HashMap<String, PathBuf> = Default::default();
        for image in images {
            let stem = image
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            stems.insert(stem.clone());
            // ultralytics pairs pictures and labels by stem: dog.jpg and dog.png share dog.txt.
            if let Some(first) = first_of_stem.get(&stem) {
                c.add(
                    Severity::Error,
                    "same-stem",
                    image,
                    None,
                    format!(
                        "shares the label file {stem}.txt with {}: rename one of them",
                        first.file_name().unwrap_or_default().to_string_lossy()
                    ),
                );
            } else {
                first_of_stem.insert(stem.clone(), image.clone());
            }
            if let Some(other) = seen_in.insert(stem.clone(), split.name.clone())
                && other != split.name
            {
                c.add(
                    Severity::Warning,
                    "in-two-splits",
                    image,
                    None,
                    format!("also in {other}: validation would score images trained on"),
                );
            }
            match read_rgb(image) {
                Err(e) => c.add(
                    Severity::Error,
                    "corrupt-image",
                    image,
                    None,
                    format!("cannot be decoded: {e}"),
                ),
                Ok(img) if img.width().min(img.height()) < MIN_IMAGE_SIDE => c.add(
                    Severity::Error,
                    "image-too-small",
                    image,
                    None,
                    format!(
                        "is {}×{} pixels; ultralytics drops images with a side under {MIN_IMAGE_SIDE}",
                        img.width(),
                        img.height()
                    ),
                ),
                Ok(_) => match jpeg_ending(image) {
                    JpegEnding::CutShort => c.add(
                        Severity::Error,
                        "truncated-jpeg",
                        image,
                        None,
                        "is cut short (no end marker after its last scan; the missing part \
                         decodes as grey): ultralytics drops it. Copy the picture again"
                            .into(),
                    ),
                    JpegEnding::DataAfterEnd => c.add(
                        Severity::Warning,
                        "data-after-jpeg",
                        image,
                        None,
                        "has data after its end marker: ultralytics rewrites the file in place \
                         when it trains (\"corrupt JPEG restored\")"
                            .into(),
                    ),
                    JpegEnding::Whole => {}
                },
            }
            done += 1;
            progress(done, total);
            let label = split.labels.join(format!("{stem}.txt"));
            if !label.is_file() {
                c.add(
                    Severity::Error,
                    "missing-label",
                    image,
                    None,
                    format!(
                        "has no label file {} (an image without objects needs an empty one)",
                        c.show(&label)
                    ),
                );
                continue;
            }
            sum.label_files += 1;
            let (boxes, has_lines) = c.label_file(&label);
            sum.boxes += boxes.len();
            if !has_lines {
                sum.negatives += 1;
            }
            let mut classes_here: Vec<u32> = boxes.iter().map(|b| b.class).collect();
            for &k in &classes_here {
                per_class
                    .entry(k)
                    .or_insert_with(|| vec![(0, 0); splits.len()])[si]
                    .0 += 1;
            }
            classes_here.sort();
            classes_here.dedup();
            for k in classes_here {
                per_class
                    .entry(k)
                    .or_insert_with(|| vec![(0, 0); splits.len()])[si]
                    .1 += 1;
            }
        }
        let mut orphans: Vec<PathBuf> = std::fs::read_dir(&split.labels)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "txt"))
                    .filter(|p| {
                        !stems.contains(
                            &p.file_stem()
                                .unwrap_or_default()
                                .to_string_lossy()
                                .into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        orphans.sort();
        for o in orphans {
            c.add(
                Severity::Warning,
                "orphan-label",
                &o,
                None,
                "has no image (ultralytics ignores it)".into(),
            );
        }
        if images.is_empty() && split.images.is_dir() {
            c.add(
                Severity::Warning,
                "empty-split",
                &split.images,
                None,
                format!(
                    "the {} split has no images (fill it with `hmg dataset split`)",
                    split.name
                ),
            );
        }
        // Labels a model wrote (hmg annotate --auto-label) that no one has saved since.
        if let Some(split_dir) = split.images.parent() {
            let queue = crate::annotate::review::Queue::read(split_dir)?;
            for name in queue.order() {
                let image = split.images.join(&name);
                let stem = image.file_stem().unwrap_or_default().to_string_lossy();
                if image.is_file() && split.labels.join(format!("{stem}.txt")).is_file() {
                    sum.unreviewed += 1;
                    c.add(
                        Severity::Error,
                        UNREVIEWED,
                        &image,
                        None,
                        format!(
                            "labels a model wrote, not reviewed: check them with `hmg annotate --images {} --dataset {}` (or train with --allow-unreviewed)",
                            split.images.display(),
                            split_dir.display()
                        ),
                    );
                }
            }
        }
        if sum.negatives > 0 {
            c.add(
                Severity::Warning,
                "empty-annotations",
                &split.labels,
                None,
                format!(
                    "{} of {} labelled images have no boxes (negative samples: fine when intended)",
                    sum.negatives, sum.label_files
                ),
            );
        }
        summaries.push(sum);
    }
    for (id, name) in names.iter().enumerate() {
        per_class
            .entry(id as u32)
            .or_insert_with(|| vec![(0, 0); splits.len()]);
        let counts = &per_class[&(id as u32)];
        for (s, (boxes, _)) in splits.iter().zip(counts) {
            if *boxes == 0 {
                c.add(
                    Severity::Warning,
                    "class-without-boxes",
                    &s.labels,
                    None,
                    format!("class {id} ({name}) has no boxes in {}", s.name),
                );
            }
        }
    }
    let classes = per_class
        .into_iter()
        .map(|(id, counts)| ClassRow {
            id,
            name: names.get(id as usize).cloned().unwrap_or_default(),
            boxes: counts.iter().map(|c| c.0).collect(),
            images: counts.iter().map(|c| c.1).collect(),
        })
        .collect();
    let mut problems = c.problems;
    problems.sort_by(|a, b| (a.severity, &a.file, a.line).cmp(&(b.severity, &b.file, b.line)));
    Ok(Report {
        root: root.display().to_string(),
        data_yaml: yaml.map(|y| y.file.display().to_string()),
        names,
        splits: summaries,
        classes,
        problems,
    })
}

/// The human-readable report.
/// Problems of one kind shown in the text report before it says how many more there are.
const LINES_PER_KIND: usize = 20;

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "dataset {}", r.root);
    if !r.names.is_empty() {
        let _ = writeln!(out, "classes ({}): {}", r.names.len(), r.names.join(", "));
    }
    let _ = writeln!(
        out,
        "\n{:<12} {:>7} {:>7} {:>7} {:>9}",
        "split", "images", "labels", "boxes", "negatives"
    );
    for s in &r.splits {
        let _ = writeln!(
            out,
            "{:<12} {:>7} {:>7} {:>7} {:>9}",
            s.name, s.images, s.label_files, s.boxes, s.negatives
        );
    }
    let unreviewed: Vec<String> = r
        .splits
        .iter()
        .filter(|s| s.unreviewed > 0)
        .map(|s| format!("{} {}", s.name, s.unreviewed))
        .collect();
    if !unreviewed.is_empty() {
        let _ = writeln!(
            out,
            "unreviewed (labels a model wrote): {}",
            unreviewed.join(", ")
        );
    }
    if !r.classes.is_empty() {
        let _ = write!(out, "\n{:<24}", "class");
        for s in &r.splits {
            let _ = write!(out, " {:>18}", format!("{} boxes (images)", s.name));
        }
        out.push('\n');
        for c in &r.classes {
            let _ = write!(out, "{:<24}", format!("{} {}", c.id, c.name).trim_end());
            for (b, i) in c.boxes.iter().zip(&c.images) {
                let _ = write!(out, " {:>18}", format!("{b} ({i})"));
            }
            out.push('\n');
        }
    }
    for (severity, title) in [(Severity::Error, "errors"), (Severity::Warning, "warnings")] {
        let list: Vec<&Problem> = r
            .problems
            .iter()
            .filter(|p| p.severity == severity)
            .collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} ({}):", list.len());
        // A few lines of each kind, then how many more: a broken 10 000-picture dataset must
        // not scroll its summary away (--json lists every one).
        let mut shown: std::collections::HashMap<&str, usize> = Default::default();
        for p in &list {
            let n = shown.entry(p.kind).or_default();
            *n += 1;
            if *n > LINES_PER_KIND {
                continue;
            }
            let at = match p.line {
                Some(l) => format!("{}:{l}", p.file),
                None => p.file.clone(),
            };
            let _ = writeln!(out, "  {at}: {} [{}]", p.message, p.kind);
        }
        let mut more: Vec<(&str, usize)> = shown
            .into_iter()
            .filter(|(_, n)| *n > LINES_PER_KIND)
            .map(|(k, n)| (k, n - LINES_PER_KIND))
            .collect();
        more.sort();
        for (kind, n) in more {
            let _ = writeln!(
                out,
                "  … and {n} more [{kind}] (hmg dataset verify --json lists all)"
            );
        }
    }
    let _ = writeln!(
        out,
        "\nresult: {} error(s), {} warning(s)",
        r.errors(),
        r.warnings()
    );
    out
}

#[cfg(test)]
mod render_tests {
    use super::*;

    /// An EXIF thumbnail's end marker (before the first scan) does not make a cut-short
    /// picture whole; one after the last scan, followed by more bytes, is data after the end.
    #[test]
    fn a_jpeg_is_cut_short_only_without_an_end_after_its_last_scan() {
        let thumbnail: &[u8] = &[0xFF, 0xE1, 0, 6, 0xFF, 0xD8, 0xFF, 0xD9];
        let scan = |n: u8| vec![0xFF, 0xDA, 0, 2, n, 0xFF, 0x00, n];
        let picture = [&[0xFF, 0xD8][..], thumbnail, &scan(1), &scan(2)].concat();
        let end: &[u8] = &[0xFF, 0xD9];
        let whole = [&picture[..], end].concat();
        assert_eq!(jpeg_ending_of(&whole), JpegEnding::Whole);
        assert_eq!(jpeg_ending_of(&picture), JpegEnding::CutShort);
        assert_eq!(jpeg_ending_of(&picture[..9]), JpegEnding::CutShort);
        let after = [&whole[..], b"trailer"].concat();
        assert_eq!(jpeg_ending_of(&after), JpegEnding::DataAfterEnd);
        assert_eq!(jpeg_ending_of(b""), JpegEnding::CutShort);
    }

    #[test]
    fn many_problems_of_a_kind_are_summarised() {
        let problem = |i: usize, kind: &'static str| Problem {
            severity: Severity::Error,
            kind,
            file: format!("train/images/{i:05}.jpg"),
            line: None,
            message: "no label file".into(),
        };
        let mut problems: Vec<Problem> = (0..1000).map(|i| problem(i, "missing-label")).collect();
        problems.push(problem(0, "corrupt-image"));
        let report = Report {
            root: "ds".into(),
            data_yaml: None,
            names: vec![],
            splits: vec![],
            classes: vec![],
            problems,
        };
        let text = render(&report);
        assert_eq!(
            text.matches("[missing-label]").count(),
            LINES_PER_KIND + 1,
            "{text}"
        );
        assert!(text.contains("… and 980 more [missing-label]"), "{text}");
        assert!(text.contains("[corrupt-image]"), "{text}");
        assert!(text.contains("errors (1001)"), "{text}");
    }
}
