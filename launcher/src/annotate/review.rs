// SPDX-License-Identifier: MIT OR Apache-2.0
//! The review queue: label files a model wrote (`hmg annotate --auto-label`) that no person has
//! looked at yet, kept as `<split>/unreviewed.json` beside `images/` and `labels/`. The labels
//! themselves stay plain YOLO files; the queue only names them, with the weakest confidence of
//! each, so the annotator can show the least certain first and `hmg dataset verify` / `hmg train`
//! can refuse them until a person has saved them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub const FILE: &str = "unreviewed.json";

#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Queue {
    /// Picture file name → the lowest confidence among its boxes (`None`: the model found none).
    pub pictures: BTreeMap<String, Option<f32>>,
}

impl Queue {
    /// The queue of the split folder whose pictures are in `split/images`.
    pub fn path(split: &Path) -> PathBuf {
        split.join(FILE)
    }

    /// The queue of `split` (none written yet: empty).
    pub fn read(split: &Path) -> anyhow::Result<Self> {
        let path = Self::path(split);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "'{}' is not a review queue hmg wrote; move it away and run hmg annotate --auto-label again",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read '{}'", path.display())),
        }
    }

    /// Saves the queue (an empty one removes the file).
    pub fn write(&self, split: &Path) -> anyhow::Result<()> {
        let path = Self::path(split);
        if self.pictures.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("cannot remove '{}'", path.display()))
                }
                _ => Ok(()),
            };
        }
        crate::atomic::write_atomic(&path, |w| {
            serde_json::to_writer_pretty(&mut *w, self)?;
            Ok(std::io::Write::write_all(w, b"\n")?)
        })
    }

    /// The queued names, least certain first (pictures where the model found nothing last).
    pub fn order(&self) -> Vec<String> {
        let mut names: Vec<(&String, &Option<f32>)> = self.pictures.iter().collect();
        names.sort_by(|a, b| match (a.1, b.1) {
            (Some(x), Some(y)) => x.total_cmp(y).then(a.0.cmp(b.0)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.0.cmp(b.0),
        });
        names.into_iter().map(|(n, _)| n.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_certain_come_first_and_an_empty_queue_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("hmg-review-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut q = Queue::default();
        q.pictures.insert("b.jpg".into(), Some(0.8));
        q.pictures.insert("a.jpg".into(), None);
        q.pictures.insert("c.jpg".into(), Some(0.3));
        q.write(&dir).unwrap();
        let back = Queue::read(&dir).unwrap();
        assert_eq!(back, q);
        assert_eq!(back.order(), ["c.jpg", "b.jpg", "a.jpg"]);
        Queue::default().write(&dir).unwrap();
        assert!(!Queue::path(&dir).exists());
        assert_eq!(Queue::read(&dir).unwrap(), Queue::default());
        std::fs::write(Queue::path(&dir), b"[1, 2]").unwrap();
        assert!(format!("{:#}", Queue::read(&dir).unwrap_err()).contains("not a review queue"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
