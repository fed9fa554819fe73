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
        check_size(text)?;
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
        if let Some(bad) = names.iter().find(|n| !hmg_detect::labels::is_valid_name(n)) {
            anyhow::bail!(
                "class name {bad:?} holds a control character (newline, tab, NUL); rename it"
            );
        }
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
        out + &render_names(names)
    }

    /// Writes `<root>/data.yaml` for `names` (atomically) and returns its path. An existing file
    /// keeps every key and comment hmg does not own (`path:`, `test:`, `download:`, …): only
    /// `train:`/`val:` (when they do not already name `<root>/{train,val}/images`) and
    /// `nc:`/`names:` (when the names differ) are rewritten.
    pub fn write(root: &Path, names: &[String]) -> anyhow::Result<PathBuf> {
        let root = std::path::absolute(root)
            .with_context(|| format!("cannot resolve '{}'", root.display()))?;
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create '{}'", root.display()))?;
        let file = root.join("data.yaml");
        let text = match std::fs::read_to_string(&file) {
            Ok(old) => match Self::updated(&file, &old, &root, names)? {
                Some(text) => text,
                None => return Ok(file),
            },
            Err(_) => Self::render(&root, names),
        };
        write_atomic(&file, |w| {
            Ok(std::io::Write::write_all(w, text.as_bytes())?)
        })?;
        Ok(file)
    }

    /// `old` with the split folders of `root` and `names`, edited line by line; `None` when it
    /// already says so.
    pub fn updated(
        file: &Path,
        old: &str,
        root: &Path,
        names: &[String],
    ) -> anyhow::Result<Option<String>> {
        let current = Self::parse(file, old)
            .with_context(|| format!("'{}' is not a valid data.yaml", file.display()))?;
        let want = |split: &str| vec![root.join(split).join("images")];
        let same = |have: &[PathBuf], want: &[PathBuf]| {
            have.len() == want.len()
                && have.iter().zip(want).all(|(h, w)| {
                    match (std::fs::canonicalize(h), std::fs::canonicalize(w)) {
                        (Ok(h), Ok(w)) => h == w,
                        _ => std::path::absolute(h).ok() == std::path::absolute(w).ok(),
                    }
                })
        };
        let mut set: Vec<(&str, String)> = Vec::new();
        for (key, have) in [("train", &current.train), ("val", &current.val)] {
            if !same(have, &want(key)) {
                let path = root.join(key).join("images").display().to_string();
                set.push((key, quote(&path)));
            }
        }
        let rename = current.names != names;
        if set.is_empty() && !rename {
            return Ok(None);
        }
        let mut out = String::new();
        let mut lines = old.lines().peekable();
        let mut done: Vec<&str> = Vec::new();
        while let Some(line) = lines.next() {
            let key = top_level_key(line);
            if let Some((k, value)) = key.and_then(|k| set.iter().find(|(s, _)| *s == k)) {
                out += &format!("{k}: {value}\n");
                done.push(k);
                // A block value (a list of folders) goes with its key.
                while lines.peek().is_some_and(|l| is_continuation(l)) {
                    lines.next();
                }
                continue;
            }
            if rename && matches!(key, Some("names") | Some("nc")) {
                if key == Some("names") {
                    out += &render_names(names);
                    done.push("names");
                }
                while lines.peek().is_some_and(|l| is_continuation(l)) {
                    lines.next();
                }
                continue;
            }
            out += line;
            out.push('\n');
        }
        for (k, value) in &set {
            if !done.contains(k) {
                out += &format!("{k}: {value}\n");
            }
        }
        if rename && !done.contains(&"names") {
            out += &render_names(names);
        }
        // The edit must read back as intended before it replaces the user's file.
        let back = Self::parse(file, &out).context("hmg's edit of data.yaml does not read back")?;
        anyhow::ensure!(
            back.names == names
                && same(&back.train, &want("train"))
                && same(&back.val, &want("val")),
            "hmg's edit of '{}' does not read back as intended; edit it by hand",
            file.display()
        );
        Ok(Some(out))
    }
}

/// The most values a data.yaml may stand for, aliases counted as what they repeat: far more than
/// any dataset needs, far less than an alias bomb ("billion laughs") expands to in memory.
const MAX_NODES: u64 = 100_000;
const MAX_BYTES: usize = 4 << 20;

/// Counts the values `text` expands to from the parser's events (which never expand aliases),
/// so that a bomb is refused before the loader builds it.
#[derive(Default)]
struct Expansion {
    total: u64,
    open: Vec<(usize, u64)>,
    sizes: std::collections::HashMap<usize, u64>,
}

impl yaml_rust2::parser::EventReceiver for Expansion {
    fn on_event(&mut self, ev: yaml_rust2::parser::Event) {
        use yaml_rust2::parser::Event;
        match ev {
            Event::Scalar(_, _, anchor, _) => {
                self.total = self.total.saturating_add(1);
                if anchor > 0 {
                    self.sizes.insert(anchor, 1);
                }
            }
            Event::Alias(id) => {
                let size = self.sizes.get(&id).copied().unwrap_or(1);
                self.total = self.total.saturating_add(size);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.total = self.total.saturating_add(1);
                self.open.push((anchor, self.total));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start)) = self.open.pop()
                    && anchor > 0
                {
                    self.sizes.insert(anchor, self.total - start + 1);
                }
            }
            _ => {}
        }
    }
}

fn check_size(text: &str) -> anyhow::Result<()> {
    if text.len() > MAX_BYTES {
        anyhow::bail!(
            "it is {} bytes; a data.yaml is a few lines (paths and class names)",
            text.len()
        );
    }
    let mut count = Expansion::default();
    // Syntax errors are left to the loader, which says where.
    let _ = yaml_rust2::parser::Parser::new_from_str(text).load(&mut count, true);
    if count.total > MAX_NODES {
        anyhow::bail!(
            "it expands to more than {MAX_NODES} values (YAML aliases repeating each other?); a data.yaml needs paths and class names only"
        );
    }
    Ok(())
}

/// `nc:` and the numbered `names:` map.
fn render_names(names: &[String]) -> String {
    let mut out = format!("nc: {}\nnames:\n", names.len());
    for (i, n) in names.iter().enumerate() {
        out += &format!("  {i}: {}\n", quote(n));
    }
    out
}

/// The key of a top-level `key: …` line (not indented, not a comment or list item).
fn top_level_key(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t', '#', '-']) {
        return None;
    }
    let (key, _) = line.split_once(':')?;
    let key = key.trim();
    (!key.is_empty() && !key.contains(' ')).then_some(key)
}

/// A line that belongs to the value of the key above it (indented, or a `- item`).
fn is_continuation(line: &str) -> bool {
    line.starts_with([' ', '\t', '-']) && !line.trim().is_empty()
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
    fn writing_keeps_the_keys_and_comments_hmg_does_not_own() {
        let root = std::env::temp_dir().join(format!("hmg-data-yaml-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let names: Vec<String> = ["drone", "bird"].map(String::from).to_vec();
        let file = root.join("data.yaml");
        let mine = "# my drones, v3\npath: .\ntrain: train/images  # 80%\nval:\n  - val/images\ntest: test/images\ndownload: https://example.com/set.zip\nnames: [drone, bird]\n";
        std::fs::write(&file, mine).unwrap();
        // Already right: untouched, byte for byte.
        DataYaml::write(&root, &names).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), mine);
        // Other folders and names: those keys change, every other line stays.
        let other = mine.replace("val:\n  - val/images", "val:\n  - old/val");
        std::fs::write(&file, &other).unwrap();
        let renamed: Vec<String> = ["drone", "bird", "plane"].map(String::from).to_vec();
        DataYaml::write(&root, &renamed).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        for kept in [
            "# my drones, v3\n",
            "path: .\n",
            "train: train/images  # 80%\n",
            "test: test/images\n",
            "download: https://example.com/set.zip\n",
        ] {
            assert!(text.contains(kept), "{kept}: {text}");
        }
        assert!(!text.contains("old/val"), "{text}");
        let back = DataYaml::read(&file).unwrap();
        assert_eq!(back.names, renamed);
        assert_eq!(back.val, vec![root.join("val/images")]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_is_built() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..9 {
            let prev = (b'a' + level - 1) as char;
            let this = (b'a' + level) as char;
            bomb += &format!(
                "{this}: &{this} [{}]\n",
                vec![format!("*{prev}"); 10].join(", ")
            );
        }
        bomb += "names: [drone]\n";
        let err = DataYaml::parse(Path::new("data.yaml"), &bomb).unwrap_err();
        assert!(
            format!("{err:#}").contains("expands to more than"),
            "{err:#}"
        );
        // Aliases in moderation are fine.
        let ok = "base: &b /data\ntrain: *b\nval: *b\nnames: [drone]\n";
        assert_eq!(
            DataYaml::parse(Path::new("/d/data.yaml"), ok)
                .unwrap()
                .names,
            ["drone"]
        );
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
