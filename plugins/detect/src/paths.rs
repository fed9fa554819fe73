// SPDX-License-Identifier: MIT OR Apache-2.0
//! Why a path given by a user cannot be used, in words that follow its quoted name: "does not
//! exist" is only said of what does not exist (a folder given for a file is named as a folder).

use std::io::ErrorKind;
use std::path::Path;

/// What is wrong with `path` where a readable regular file (or a link to one) is needed.
pub fn not_a_file(path: &Path) -> Option<&'static str> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => None,
        Ok(m) if m.is_dir() => Some("is a folder, not a file"),
        Ok(_) => Some("is not a regular file (a device, pipe or socket)"),
        Err(e) => Some(missing_or_unreadable(path, e.kind())),
    }
}

/// What is wrong with `path` where a folder is needed.
pub fn not_a_folder(path: &Path) -> Option<&'static str> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => None,
        Ok(m) if m.is_file() => Some("is a file, not a folder"),
        Ok(_) => Some("is not a folder (a device, pipe or socket)"),
        Err(e) => Some(missing_or_unreadable(path, e.kind())),
    }
}

fn missing_or_unreadable(path: &Path, kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound if path.symlink_metadata().is_ok() => {
            "is a link to something that does not exist"
        }
        ErrorKind::NotFound => "does not exist",
        ErrorKind::PermissionDenied => "cannot be reached (permission denied)",
        ErrorKind::NotADirectory => {
            "does not exist (a file stands where a folder of its path should be)"
        }
        _ => "cannot be reached",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wrong_kind_is_named_as_what_it_is() {
        let dir = std::env::temp_dir().join(format!("hmg-paths-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("model.onnx");
        std::fs::write(&file, b"x").unwrap();
        let dangling = dir.join("dangling.onnx");
        let _ = std::fs::remove_file(&dangling);
        std::os::unix::fs::symlink(dir.join("gone"), &dangling).unwrap();

        assert_eq!(not_a_file(&file), None);
        assert_eq!(not_a_folder(&dir), None);
        assert_eq!(not_a_file(&dir), Some("is a folder, not a file"));
        assert_eq!(not_a_folder(&file), Some("is a file, not a folder"));
        assert_eq!(not_a_file(&dir.join("nope")), Some("does not exist"));
        assert_eq!(
            not_a_file(&dangling),
            Some("is a link to something that does not exist")
        );
        assert!(
            not_a_file(&file.join("below"))
                .unwrap()
                .starts_with("does not exist")
        );
        assert_eq!(
            not_a_file(Path::new("/dev/null")),
            Some("is not a regular file (a device, pipe or socket)")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
