// SPDX-License-Identifier: MIT OR Apache-2.0
//! Ground truth for `mode=map`: the images in stream order and their YOLO label files.

use std::path::{Path, PathBuf};

use hmg_detect::metrics::Truth;

const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff"];

/// The images of `source` in stream order: a folder's images sorted by name, or the lines of a
/// text file (relative paths are taken from the file's folder, as ultralytics does).
pub fn image_list(source: &Path) -> Result<Vec<PathBuf>, String> {
    if source.is_dir() {
        let mut images: Vec<PathBuf> = std::fs::read_dir(source)
            .map_err(|e| format!("cannot list {}: {e}", source.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        images.sort();
        return Ok(images);
    }
    let text = std::fs::read_to_string(source)
        .map_err(|e| format!("cannot read the image list {}: {e}", source.display()))?;
    let base = source.parent().unwrap_or(Path::new("."));
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| base.join(l))
        .collect())
}

/// The label file of `image`: `<labels_dir>/<stem>.txt`, or ultralytics' rule (the last
/// `/images/` in the path becomes `/labels/`, the extension `.txt`).
pub fn label_path(image: &Path, labels_dir: Option<&Path>) -> PathBuf {
    let stem = image.file_stem().unwrap_or_default();
    if let Some(dir) = labels_dir {
        return dir.join(stem).with_extension("txt");
    }
    let text = image.to_string_lossy();
    let sep = std::path::MAIN_SEPARATOR;
    let marker = format!("{sep}images{sep}");
    match text.rfind(&marker) {
        Some(at) => {
            let swapped = format!(
                "{}{sep}labels{sep}{}",
                &text[..at],
                &text[at + marker.len()..]
            );
            PathBuf::from(swapped).with_extension("txt")
        }
        None => image.with_extension("txt"),
    }
}

/// The labelled boxes of `label_file` in pixels of a `width`×`height` frame. A missing file
/// means no objects (a background image), as in ultralytics.
pub fn read_truth(label_file: &Path, width: f32, height: f32) -> Result<Vec<Truth>, String> {
    let text = match std::fs::read_to_string(label_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", label_file.display())),
    };
    let mut truths = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let bad = || {
            format!(
                "{}:{}: expected 'class cx cy w h' (normalized), found '{line}'",
                label_file.display(),
                n + 1
            )
        };
        if fields.len() != 5 {
            return Err(bad());
        }
        let class_id: u32 = fields[0].parse().map_err(|_| bad())?;
        let v: Vec<f32> = fields[1..]
            .iter()
            .map(|f| f.parse::<f32>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let (cx, cy, w, h) = (v[0] * width, v[1] * height, v[2] * width, v[3] * height);
        truths.push(Truth {
            class_id,
            bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
        });
    }
    Ok(truths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_ultralytics_rule() {
        assert_eq!(
            label_path(Path::new("/d/images/val/a.jpg"), None),
            PathBuf::from("/d/labels/val/a.txt")
        );
        assert_eq!(
            label_path(Path::new("/d/val/images/b.png"), None),
            PathBuf::from("/d/val/labels/b.txt")
        );
        assert_eq!(
            label_path(Path::new("/x/c.jpg"), Some(Path::new("/l"))),
            PathBuf::from("/l/c.txt")
        );
    }

    #[test]
    fn truth_is_in_pixels_and_bad_lines_name_the_file() {
        let dir = std::env::temp_dir().join(format!("hmg-truth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.txt");
        std::fs::write(&f, "1 0.5 0.5 0.25 0.5\n\n").unwrap();
        let t = read_truth(&f, 200.0, 100.0).unwrap();
        assert_eq!(
            t,
            vec![Truth {
                class_id: 1,
                bbox: [75.0, 25.0, 125.0, 75.0]
            }]
        );
        assert!(
            read_truth(&dir.join("none.txt"), 1.0, 1.0)
                .unwrap()
                .is_empty()
        );
        std::fs::write(&f, "1 0.5 0.5\n").unwrap();
        let e = read_truth(&f, 1.0, 1.0).unwrap_err();
        assert!(e.contains("a.txt:1"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
