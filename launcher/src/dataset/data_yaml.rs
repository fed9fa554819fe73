// SPDX-License-Identifier: MIT OR Apache-2.0
//! ultralytics' `data.yaml`: reading the keys hmg needs, writing the seed's form (absolute
//! `train`/`val` image folders, `nc`, `names` as a numbered map).

use std::path::{Path, PathBuf};

use anyhow::Context;
use yaml_rust2::{Yaml, YamlLoader};

use crate::atomic::write_atomic;

#[derive(Debug, Clone, PartialEq)]
pub struct DataYaml {
    /// The data.yaml file itself.
    pub file: PathBuf,
    /// Image folders of each split, resolved as ultralytics does (relative to `path:` when given,
    /// else to the yaml's folder).
    pub train: Vec<PathBuf>,
    pub val: Vec<PathBuf>,
    pub names: Vec<String>,
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Class names from a `names:` list or `{0: name}` map.
fn names_of(y: &Yaml) -> Result<Vec<String>, String> {
    match y {
        Yaml::Array(items) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| format!("class name {i:?} is not a string")))
            .collect(),
        Yaml::Hash(map) => {
            let mut pairs = Vec::new();
            for (k, v) in map {
                let id = match k {
                    Yaml::Integer(i) if *i >= 0 => *i as usize,
                    other => return Err(format!("names key {other:?} is not a class number")),
                };
                let name = scalar(v).ok_or_else(|| format!("class {id}'s name is not a string"))?;
                pairs.push((id, name));
            }
            pairs.sort();
            if pairs.iter().enumerate().any(|(i, (id, _))| i != *id) {
                return Err("names must number the classes 0, 1, 2, … without gaps".into());
            }
            Ok(pairs.into_iter().map(|(_, n)| n).collect())
        }
        _ => Err("names must be a list or a {number: name} map".into()),
    }
}

impl DataYaml {
    pub fn read(file: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read '{}'", file.display()))?;
        Self::parse(file, &text)
            .with_context(|| format!("'{}' is not a valid data.yaml", file.display()))
    }

    pub fn parse(file: &Path, text: &str) -> anyhow::Result<Self> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let doc = docs.first().ok_or_else(|| anyhow::anyhow!("it is empty"))?;
        if doc.as_hash().is_none() {
            anyhow::bail!("it is not a map of keys (train, val, names)");
        }
        let yaml_dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let base = match scalar(&doc["path"]) {
            Some(p) => yaml_dir.join(p),
            None => yaml_dir,
        };
        let folders = |key: &str| -> anyhow::Result<Vec<PathBuf>> {
            match &doc[key] {
                Yaml::BadValue | Yaml::Null => Ok(Vec::new()),
                Yaml::Array(items) => items
                    .iter()
                    .map(|i| {
                        scalar(i)
                            .map(|s| base.join(s))
                            .ok_or_else(|| anyhow::anyhow!("{key} lists a non-path {i:?}"))
                    })
                    .collect(),
                other => scalar(other)
                    .map(|s| vec![base.join(s)])
                    .ok_or_else(|| anyhow::anyhow!("{key} is not a path")),
            }
        };
        let names = match &doc["names"] {
            Yaml::BadValue => anyhow::bail!("it has no `names:` (the class names)"),
            y => names_of(y).map_err(anyhow::Error::msg)?,
        };
        if let Some(nc) = doc["nc"].as_i64()
            && nc as usize != names.len()
        {
            anyhow::bail!("nc is {nc} but names lists {} classes", names.len());
        }
        Ok(Self {
            file: file.to_path_buf(),
            train: folders("train")?,
            val: folders("val")?,
            names,
        })
    }

    /// The seed's data.yaml text for `root` (absolute paths to `train/images`, `val/images`).
    pub fn render(root: &Path, names: &[String]) -> String {
        let mut out = String::from("# ultralytics dataset, written by hmg dataset\n");
        out += &format!(
            "train: {}\n",
            quote(&root.join("train/images").display().to_string())
        );
        out += &format!(
            "val: {}\n",
            quote(&root.join("val/images").display().to_string())
        );
        out += &format!("nc: {}\nnames:\n", names.len());
        for (i, n) in names.iter().enumerate() {
            out += &format!("  {i}: {}\n", quote(n));
        }
        out
    }

    /// Writes `<root>/data.yaml` for `names` (atomically) and returns its path.
    pub fn write(root: &Path, names: &[String]) -> anyhow::Result<PathBuf> {
        let root = std::path::absolute(root)
            .with_context(|| format!("cannot resolve '{}'", root.display()))?;
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create '{}'", root.display()))?;
        let file = root.join("data.yaml");
        let text = Self::render(&root, names);
        write_atomic(&file, |w| {
            Ok(std::io::Write::write_all(w, text.as_bytes())?)
        })?;
        Ok(file)
    }
}

/// A YAML double-quoted scalar unless plain is safe for PyYAML (YAML 1.1, what ultralytics
/// uses): a word starting with a letter or `/`, not a 1.1 boolean or null like `yes`, `off`, `null`.
fn quote(s: &str) -> String {
    const SPECIAL: [&str; 12] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "none", "nan", "inf",
    ];
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
        && s.chars().all(|c| c.is_alphanumeric() || "-_./".contains(c))
        && !SPECIAL.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serializes")
    }
}

/// The labels folder of an images folder, as ultralytics finds it (last `images` → `labels`).
pub fn labels_dir(images: &Path) -> PathBuf {
    let parts: Vec<_> = images.components().collect();
    match parts.iter().rposition(|c| c.as_os_str() == "images") {
        Some(i) => {
            let mut out = PathBuf::new();
            for (j, c) in parts.iter().enumerate() {
                out.push(if j == i {
                    std::ffi::OsStr::new("labels")
                } else {
                    c.as_os_str()
                });
            }
            out
        }
        None => images.join("labels"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_seed_form_and_lists() {
        let d = DataYaml::parse(
            Path::new("/d/data.yaml"),
            "train: /abs/train/images\nval: val/images\nnc: 2\nnames:\n  0: drone\n  1: IR-Drone\n",
        )
        .unwrap();
        assert_eq!(d.train, vec![PathBuf::from("/abs/train/images")]);
        assert_eq!(d.val, vec![PathBuf::from("/d/val/images")]);
        assert_eq!(d.names, ["drone", "IR-Drone"]);
        let d = DataYaml::parse(
            Path::new("/d/data.yaml"),
            "path: ../sets\ntrain: [a/images, b/images]\nnames: ['x', y]\n",
        )
        .unwrap();
        assert_eq!(d.train.len(), 2);
        assert_eq!(d.train[1], PathBuf::from("/d/../sets/b/images"));
    }

    #[test]
    fn refuses_inconsistent_files() {
        let p = Path::new("data.yaml");
        assert!(DataYaml::parse(p, "nc: 3\nnames: [a, b]\n").is_err());
        assert!(DataYaml::parse(p, "train: x\n").is_err());
        assert!(DataYaml::parse(p, "names:\n  0: a\n  2: c\n").is_err());
        assert!(DataYaml::parse(p, "[1, 2]").is_err());
    }

    #[test]
    fn rendered_text_reads_back() {
        let names: Vec<String> = ["drone", "IR-Drone", "yes", "a: b", "42", "#x"]
            .map(String::from)
            .to_vec();
        let text = DataYaml::render(Path::new("/data/sets"), &names);
        assert!(
            text.contains("  0: drone\n  1: IR-Drone\n  2: \"yes\"\n"),
            "{text}"
        );
        let back = DataYaml::parse(Path::new("/data/sets/data.yaml"), &text).unwrap();
        assert_eq!(back.names, names);
        assert_eq!(back.val, vec![PathBuf::from("/data/sets/val/images")]);
    }

    #[test]
    fn labels_beside_images() {
        assert_eq!(
            labels_dir(Path::new("/d/train/images")),
            PathBuf::from("/d/train/labels")
        );
        assert_eq!(
            labels_dir(Path::new("/d/images/train")),
            PathBuf::from("/d/labels/train")
        );
    }
}
