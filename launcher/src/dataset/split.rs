// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg dataset split`: train/val split, stratified by class, reproducible from a seed.
//!
//! Each labelled image is keyed by its rarest class (or as a negative sample) and placed by a
//! hash of (seed, file name): the same seed gives the same split on any machine, and adding
//! pictures later moves none of the existing ones between splits unless the quota shifts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::labels::read_lenient;
use crate::images::list_images;

/// One labelled image and where it is now.
#[derive(Debug, Clone)]
struct Item {
    image: PathBuf,
    label: PathBuf,
    in_val: bool,
    stratum: Option<u32>,
    rank: u64,
}

/// FNV-1a 64 over the seed and the file name: a stable order with no RNG state to keep.
pub fn rank(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.to_le_bytes().iter().chain(name.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[derive(Debug, Default, PartialEq)]
pub struct SplitOutcome {
    pub train: usize,
    pub val: usize,
    pub moved: usize,
    /// Images left where they are because they have no label file yet.
    pub unlabelled: usize,
}

/// Re-splits `<root>/{train,val}/{images,labels}` so that `val_fraction` of each class stratum
/// is in val. Files are moved with rename (label first, then image).
pub fn split(root: &Path, val_fraction: f64, seed: u64) -> anyhow::Result<SplitOutcome> {
    let mut items = Vec::new();
    let mut outcome = SplitOutcome::default();
    let mut names = BTreeMap::new();
    for (split, in_val) in [("train", false), ("val", true)] {
        let images = root.join(split).join("images");
        for image in
            list_images(&images).with_context(|| format!("cannot list '{}'", images.display()))?
        {
            let file = image
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let stem = image
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if let Some(other) = names.insert(stem.clone(), split) {
                anyhow::bail!(
                    "'{stem}' is in both {other} and {split}: rename or remove one, then split again"
                );
            }
            let label = root.join(split).join("labels").join(format!("{stem}.txt"));
            if !label.is_file() {
                outcome.unlabelled += 1;
                continue;
            }
            let classes: Vec<u32> = read_lenient(&label)
                .with_context(|| format!("cannot read '{}'", label.display()))?
                .iter()
                .map(|b| b.class)
                .collect();
            items.push((
                Item {
                    image,
                    label,
                    in_val,
                    stratum: None,
                    rank: rank(seed, &file),
                },
                classes,
            ));
        }
    }
    // Images per class, to find each image's rarest class.
    let mut frequency: BTreeMap<u32, usize> = BTreeMap::new();
    for (_, classes) in &items {
        let mut unique = classes.clone();
        unique.sort();
        unique.dedup();
        for k in unique {
            *frequency.entry(k).or_default() += 1;
        }
    }
    let mut strata: BTreeMap<Option<u32>, Vec<Item>> = BTreeMap::new();
    for (mut item, classes) in items {
        item.stratum = classes.iter().copied().min_by_key(|k| (frequency[k], *k));
        strata.entry(item.stratum).or_default().push(item);
    }
    let mut plan = Vec::new();
    for (_, mut group) in strata {
        group.sort_by_key(|i| i.rank);
        let n_val = (group.len() as f64 * val_fraction).round() as usize;
        for (i, item) in group.into_iter().enumerate() {
            plan.push((item, i < n_val));
        }
    }
    for dir in ["train/images", "train/labels", "val/images", "val/labels"] {
        std::fs::create_dir_all(root.join(dir))
            .with_context(|| format!("cannot create '{}'", root.join(dir).display()))?;
    }
    for (item, to_val) in plan {
        if to_val {
            outcome.val += 1;
        } else {
            outcome.train += 1;
        }
        if item.in_val == to_val {
            continue;
        }
        let target = root.join(if to_val { "val" } else { "train" });
        for (from, sub) in [(&item.label, "labels"), (&item.image, "images")] {
            let to = target.join(sub).join(from.file_name().unwrap_or_default());
            std::fs::rename(from, &to).with_context(|| {
                format!("cannot move '{}' to '{}'", from.display(), to.display())
            })?;
        }
        outcome.moved += 1;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::rank;

    #[test]
    fn rank_depends_on_seed_and_name_only() {
        assert_eq!(rank(0, "a.jpg"), rank(0, "a.jpg"));
        assert_ne!(rank(0, "a.jpg"), rank(1, "a.jpg"));
        assert_ne!(rank(0, "a.jpg"), rank(0, "b.jpg"));
    }
}
