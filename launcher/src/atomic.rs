// SPDX-License-Identifier: MIT OR Apache-2.0
//! Writing output files so that a crash never leaves a half-written one where a good one was.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Writes `path` through `fill` into `<path>.part`, then renames it over `path`.
/// On any error the part file is removed and `path` is left as it was.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let part = part_path(path);
    let result = (|| {
        let file =
            File::create(&part).with_context(|| format!("cannot create '{}'", part.display()))?;
        let mut out = BufWriter::new(file);
        fill(&mut out)?;
        out.flush()
            .with_context(|| format!("cannot write '{}'", part.display()))?;
        std::fs::rename(&part, path)
            .with_context(|| format!("cannot rename '{}' to '{}'", part.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_part() {
        let dir = std::env::temp_dir().join(format!("hmg-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.json");
        write_atomic(&path, |w| Ok(w.write_all(b"good")?)).unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            anyhow::bail!("disk full")
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"good");
        assert!(!part_path(&path).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
