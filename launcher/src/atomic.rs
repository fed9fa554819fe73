// SPDX-License-Identifier: MIT OR Apache-2.0
//! Writing output files so that a crash never leaves a half-written one where a good one was:
//! hmg's commands use the library's writer (exclusive random temporary file, devices and FIFOs
//! written through, links followed), with anyhow errors.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Writes `path` through `fill`, all or nothing: see [`hmg_detect::atomic`].
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    hmg_detect::atomic::write_atomic(path, fill)
}

/// A private file in the temporary folder holding `text` (random name, created exclusively, so
/// no other user can plant or predict it); removed when dropped.
pub fn temp_file_with(prefix: &str, text: &str) -> anyhow::Result<tempfile::TempPath> {
    use std::io::Write;
    let mut file = tempfile::Builder::new().prefix(prefix).tempfile()?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    Ok(file.into_temp_path())
}

/// An empty private log file in the temporary folder, for a run whose log is only worth keeping
/// when it fails (then [`tempfile::TempPath::keep`] it, as its path is in the error).
pub fn temp_log(prefix: &str) -> anyhow::Result<tempfile::TempPath> {
    Ok(tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".log")
        .tempfile()?
        .into_temp_path())
}
