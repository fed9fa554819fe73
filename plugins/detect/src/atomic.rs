// SPDX-License-Identifier: MIT OR Apache-2.0
//! Writing an output file so that a crash, a full disk or a planted link never costs a good file.
//!
//! The bytes go to a new temporary file in the target's folder, created exclusively under a
//! random name (so never through a link someone planted, never a name another process can
//! guess), flushed to disk, then renamed over the target. Targets that are not regular files are
//! treated as a user expects: a device or FIFO (`--output /dev/null`) is written straight
//! through and never replaced by a file; a folder is an error; a symlink is followed, so the
//! link stays and the file it names is replaced.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `path` through `fill`, all or nothing (see the module), flushed to the disk before it
/// replaces the target. On any error the target is left as it was and no temporary file remains.
pub fn write_atomic<E: From<io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
) -> Result<(), E> {
    write(path, fill, true)
}

/// [`write_atomic`] without waiting for the disk: for writers at frame rate whose reader checks
/// each file (the MQTT spool), where an fsync a frame would cost an SD card too much.
pub fn write_atomic_unsynced<E: From<io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
) -> Result<(), E> {
    write(path, fill, false)
}

fn write<E: From<io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
    sync: bool,
) -> Result<(), E> {
    let (target, existing) = resolve(path)?;
    if let Some(meta) = &existing {
        let kind = meta.file_type();
        if kind.is_dir() {
            return Err(named(
                path,
                io::Error::new(io::ErrorKind::IsADirectory, "is a folder: give a file name"),
            )
            .into());
        }
        if kind.is_char_device() || kind.is_block_device() || kind.is_fifo() || kind.is_socket() {
            // Streams: nothing to replace, and replacing /dev/null with a file would break it.
            let file = OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(|e| named(path, e))?;
            let mut out = BufWriter::new(file);
            fill(&mut out)?;
            out.flush().map_err(|e| named(path, e))?;
            return Ok(());
        }
    }
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    // A new file is created as any other output would be (0666 less the umask); a replaced one
    // keeps its mode.
    let mode = existing.as_ref().map_or(0o666, |m| m.permissions().mode());
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(&folder)
        .map_err(|e| named(&folder, e))?;
    let (file, temp_path) = temp.into_parts();
    let mut out = BufWriter::new(file);
    fill(&mut out)?;
    let file = out.into_inner().map_err(|e| named(path, e.into_error()))?;
    if sync {
        file.sync_all().map_err(|e| named(path, e))?;
    }
    if existing.is_some() {
        // The umask applied at creation; the replaced file's exact mode is what users expect.
        let _ = file.set_permissions(std::fs::Permissions::from_mode(mode));
    }
    drop(file);
    temp_path
        .persist(&target)
        .map_err(|e| named(path, e.error))?;
    Ok(())
}

/// A file another writer fills (a GStreamer sink, curl, a copy) before it replaces its target:
/// the same exclusive, randomly named temporary file in the target's folder as [`write_atomic`].
/// Dropped without [`Pending::commit`], it is removed and the target left as it was.
pub struct Pending {
    target: PathBuf,
    temp: tempfile::TempPath,
}

impl Pending {
    /// Creates the (empty) temporary file for `path`, which must be a regular file or absent.
    pub fn new(path: &Path) -> io::Result<Self> {
        let (target, existing) = resolve(path)?;
        if existing.is_some_and(|m| !m.file_type().is_file()) {
            return Err(named(
                path,
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "is not a regular file: give the name of a file to write",
                ),
            ));
        }
        let folder = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(&folder)
            .map_err(|e| named(&folder, e))?
            .into_temp_path();
        Ok(Self { target, temp })
    }

    /// Where the other writer writes.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// Flushes the written file to disk and renames it over the target.
    pub fn commit(self) -> io::Result<()> {
        File::open(&self.temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| named(&self.target, e))?;
        let target = self.target;
        self.temp
            .persist(&target)
            .map_err(|e| named(&target, e.error))
    }
}

/// The file `path` names (through any links) and, when it exists, its metadata.
fn resolve(path: &Path) -> io::Result<(PathBuf, Option<std::fs::Metadata>)> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(real) => {
                let meta = std::fs::metadata(&real).map_err(|e| named(path, e))?;
                Ok((real, Some(meta)))
            }
            Err(e) => Err(named(
                path,
                io::Error::new(
                    e.kind(),
                    format!(
                        "is a link to a missing or unreachable file ({e}): remove the link or give another name"
                    ),
                ),
            )),
        },
        Ok(meta) => Ok((path.to_path_buf(), Some(meta))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((path.to_path_buf(), None)),
        Err(e) => Err(named(path, e)),
    }
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("'{}': {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hmg-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_bytes(path: &Path, bytes: &[u8]) -> io::Result<()> {
        write_atomic(path, |w| w.write_all(bytes))
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".part"))
            .collect()
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_part() {
        let dir = scratch("fail");
        let path = dir.join("out.json");
        write_bytes(&path, b"good").unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"good");
        assert!(leftovers(&dir).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_planted_part_link_is_never_written_through() {
        let dir = scratch("planted");
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let path = dir.join("out.json");
        // The name the first version of this writer used, planted as a link to another file.
        std::os::unix::fs::symlink(&victim, dir.join("out.json.part")).unwrap();
        write_bytes(&path, b"result").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&path).unwrap(), b"result");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_and_fifos_are_written_through_not_replaced() {
        let dir = scratch("fifo");
        // A node of /dev/null's device in the test's folder (root only): a regression must not
        // replace the machine's own /dev/null.
        let null = dir.join("null");
        let made = std::process::Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .output()
            .unwrap();
        if made.status.success() {
            write_bytes(&null, b"gone").unwrap();
            let meta = std::fs::symlink_metadata(&null).unwrap();
            assert!(meta.file_type().is_char_device(), "still a device");
        }
        let fifo = dir.join("pipe");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_bytes(&fifo, b"streamed").unwrap();
        assert_eq!(reader.join().unwrap(), b"streamed");
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pending_file_replaces_its_target_only_when_committed() {
        let dir = scratch("pending");
        let path = dir.join("clip.mp4");
        std::fs::write(&path, b"earlier").unwrap();
        let pending = Pending::new(&path).unwrap();
        std::fs::write(pending.path(), b"half").unwrap();
        drop(pending);
        assert_eq!(std::fs::read(&path).unwrap(), b"earlier");
        let pending = Pending::new(&path).unwrap();
        assert_ne!(
            pending.path(),
            Pending::new(&path).unwrap().path(),
            "random names"
        );
        std::fs::write(pending.path(), b"whole").unwrap();
        pending.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert!(leftovers(&dir).is_empty());
        assert!(Pending::new(Path::new("/dev/null")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_link_target_is_replaced_and_the_link_kept_and_a_folder_refused() {
        let dir = scratch("link");
        let real = dir.join("real.json");
        std::fs::write(&real, b"old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_bytes(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        assert_eq!(
            std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let err = write_bytes(&dir, b"x").unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");
        std::os::unix::fs::symlink(dir.join("missing"), dir.join("dangling")).unwrap();
        let err = write_bytes(&dir.join("dangling"), b"x").unwrap_err();
        assert!(err.to_string().contains("link to a missing"), "{err}");
        assert!(leftovers(&dir).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
