// SPDX-License-Identifier: MIT OR Apache-2.0
//! The capture folder: each kept frame as `<stem>.jpg` (full resolution) and `<stem>.json` (its
//! predictions and why it was kept), each written to a temporary name and renamed, the record
//! last, so a record always has its picture. Stems begin with the capture time in milliseconds,
//! so name order is age order; the folder is kept under its size limit, oldest pairs first, the
//! pairs already there when the element starts included.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// One frame to keep: packed RGB and its record.
pub struct Capture {
    pub stem: String,
    pub rgb: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub record: serde_json::Value,
}

/// JPEG quality of captured frames: they become training pictures, so close to the source.
const JPEG_QUALITY: u8 = 95;

pub struct Store {
    dir: PathBuf,
    limit: u64,
    /// Stems oldest first, with the bytes of picture and record together.
    kept: VecDeque<(String, u64)>,
    total: u64,
}

impl Store {
    /// Opens (creating) `dir` and counts the captures already in it.
    pub fn open(dir: &Path, limit: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut stems: Vec<(String, u64)> = Vec::new();
        for entry in std::fs::read_dir(dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Some(stem) = name.strip_suffix(".jpg") {
                let bytes = size_of(&entry.path()) + size_of(&dir.join(format!("{stem}.json")));
                stems.push((stem.to_string(), bytes));
            }
        }
        stems.sort();
        let total = stems.iter().map(|(_, b)| b).sum();
        Ok(Self {
            dir: dir.to_path_buf(),
            limit,
            kept: stems.into(),
            total,
        })
    }

    /// Writes `capture`, then deletes the oldest pairs until the folder fits; returns the
    /// picture's path and how many older captures went. The newest is always kept.
    pub fn add(&mut self, capture: &Capture) -> Result<(PathBuf, usize), String> {
        let picture = self.dir.join(format!("{}.jpg", capture.stem));
        let record = self.dir.join(format!("{}.json", capture.stem));
        hmg_detect::atomic::write_atomic(&picture, |out| {
            image::codecs::jpeg::JpegEncoder::new_with_quality(out, JPEG_QUALITY)
                .encode(
                    &capture.rgb,
                    capture.width,
                    capture.height,
                    image::ExtendedColorType::Rgb8,
                )
                .map_err(std::io::Error::other)
        })
        .map_err(|e| format!("cannot write '{}': {e}", picture.display()))?;
        let mut text = serde_json::to_string_pretty(&capture.record).expect("JSON values print");
        text.push('\n');
        if let Err(e) = hmg_detect::atomic::write_atomic(&record, |out| {
            std::io::Write::write_all(out, text.as_bytes())
        }) {
            let _ = std::fs::remove_file(&picture);
            return Err(format!("cannot write '{}': {e}", record.display()));
        }
        let bytes = size_of(&picture) + size_of(&record);
        self.kept.push_back((capture.stem.clone(), bytes));
        self.total += bytes;
        let mut dropped = 0;
        while self.total > self.limit && self.kept.len() > 1 {
            let (stem, bytes) = self.kept.pop_front().expect("more than one");
            // The record first: a picture without one is not a capture, never the reverse.
            let _ = std::fs::remove_file(self.dir.join(format!("{stem}.json")));
            let _ = std::fs::remove_file(self.dir.join(format!("{stem}.jpg")));
            self.total -= bytes;
            dropped += 1;
        }
        Ok((picture, dropped))
    }
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(stem: &str, seed: u8) -> Capture {
        // Noise does not compress: each picture takes about the same room.
        let mut x = seed as u32 | 1;
        let rgb = (0..64 * 48 * 3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        Capture {
            stem: stem.into(),
            rgb,
            width: 64,
            height: 48,
            record: serde_json::json!({"frame": seed}),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn pairs_are_written_and_the_oldest_go_first_across_restarts() {
        let dir = std::env::temp_dir().join(format!("hmg-capture-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = Store::open(&dir, u64::MAX).unwrap();
        let (path, dropped) = store.add(&capture("1000-cam-000001", 1)).unwrap();
        assert_eq!(dropped, 0);
        let picture = image::open(&path).unwrap();
        assert_eq!((picture.width(), picture.height()), (64, 48));
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("1000-cam-000001.json")).unwrap())
                .unwrap();
        assert_eq!(record["frame"], 1);
        let one = store.total;
        store.add(&capture("1001-cam-000002", 2)).unwrap();
        drop(store);

        // Started again with room for two and a half: the oldest pair goes, by name.
        std::fs::write(dir.join("notes.txt"), b"not ours").unwrap();
        let mut store = Store::open(&dir, one * 5 / 2).unwrap();
        assert_eq!(store.kept.len(), 2);
        let (_, dropped) = store.add(&capture("1002-cam-000003", 3)).unwrap();
        assert_eq!(dropped, 1);
        assert_eq!(
            names(&dir),
            [
                "1001-cam-000002.jpg",
                "1001-cam-000002.json",
                "1002-cam-000003.jpg",
                "1002-cam-000003.json",
                "notes.txt"
            ]
        );
        // A limit smaller than one capture still keeps the newest.
        let mut store = Store::open(&dir, 1).unwrap();
        let (_, dropped) = store.add(&capture("1003-cam-000004", 4)).unwrap();
        assert_eq!(dropped, 2);
        assert_eq!(names(&dir).len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
