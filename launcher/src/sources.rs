// SPDX-License-Identifier: MIT OR Apache-2.0
//! Where frames come from. Every source of `hmg detect` is built here, so tests can swap the
//! cameras for test sources and still exercise the same graph construction.

use std::fmt;
use std::path::PathBuf;

use crate::usage::UsageError;

/// One input of `hmg detect`.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The Raspberry Pi camera (libcamera).
    PiCamera,
    /// `/dev/video<N>` (USB webcams: raw or MJPEG).
    Camera(u32),
    /// A video file.
    File(PathBuf),
    /// A folder of images, in name order.
    Folder(PathBuf),
    /// An RTSP stream.
    Rtsp(String),
}

impl Source {
    /// Reads `--input`: an RTSP URL, a folder or a file (which must exist).
    pub fn from_input(input: &str) -> Result<Self, UsageError> {
        if input.starts_with("rtsp://") || input.starts_with("rtsps://") {
            return Ok(Self::Rtsp(input.to_string()));
        }
        let path = PathBuf::from(input);
        if path.is_dir() {
            return Ok(Self::Folder(path));
        }
        if path.is_file() {
            if path.metadata().is_ok_and(|m| m.len() == 0) {
                return Err(UsageError(format!(
                    "input '{input}' is empty (0 bytes): a copy that did not finish? Give a video file"
                )));
            }
            return Ok(Self::File(path));
        }
        let why = hmg_detect::paths::not_a_file(&path).unwrap_or("cannot be read");
        Err(UsageError(format!(
            "input '{input}' {why}: give a video file, a folder of images or an rtsp:// URL"
        )))
    }

    /// The stream name used in file names, JSON lines and the status line.
    pub fn stream_name(&self, index: usize) -> String {
        match self {
            Self::PiCamera => "picam".into(),
            Self::Camera(n) => format!("cam{n}"),
            Self::File(p) | Self::Folder(p) => {
                let stem = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let clean: String = stem
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                if clean.is_empty() {
                    format!("input{index}")
                } else {
                    clean
                }
            }
            Self::Rtsp(_) => format!("rtsp{index}"),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, Self::PiCamera | Self::Camera(_) | Self::Rtsp(_))
    }

    /// The launch-line fragment that produces raw video (any format our elements take).
    /// Folders are read through numbered links in `scratch` (see [`link_folder`]).
    pub fn launch(&self, scratch: &std::path::Path) -> String {
        match self {
            Self::PiCamera => {
                "libcamerasrc ! video/x-raw,width=1280,height=720,framerate=30/1".into()
            }
            Self::Camera(n) => format!("v4l2src device=/dev/video{n} ! decodebin"),
            Self::File(p) => format!(
                "filesrc location={} ! decodebin",
                quote(&p.display().to_string())
            ),
            // A JPEG folder; detect links the folder first and uses [`folder_launch`] for its kind.
            Self::Folder(_) => folder_launch(scratch, PictureKind::Jpeg),
            Self::Rtsp(url) => format!("rtspsrc location={} latency=200 ! decodebin", quote(url)),
        }
    }
}

/// What a folder of pictures holds: one kind, since multifilesrc gives all files one caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureKind {
    Jpeg,
    Png,
    Bmp,
}

impl PictureKind {
    fn of(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "bmp" => Some(Self::Bmp),
            _ => None,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Bmp => "bmp",
        }
    }

    fn caps(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Bmp => "image/bmp",
        }
    }
}

/// The launch-line source of a folder linked by [`link_folder`].
pub fn folder_launch(scratch: &std::path::Path, kind: PictureKind) -> String {
    format!(
        "multifilesrc location={} index=0 caps={},framerate=30/1 ! decodebin",
        quote(
            &scratch
                .join(format!("%06d.{}", kind.extension()))
                .display()
                .to_string()
        ),
        kind.caps()
    )
}

/// Links a folder's pictures (.jpg, .jpeg, .png or .bmp, one kind per folder), in name order, as
/// `scratch/000000.<ext>`, … (multifilesrc reads numbered names only). Returns the kind.
pub fn link_folder(
    folder: &std::path::Path,
    scratch: &std::path::Path,
) -> anyhow::Result<PictureKind> {
    let mut images: Vec<(PathBuf, PictureKind)> = std::fs::read_dir(folder)
        .map_err(|e| anyhow::anyhow!("cannot read folder '{}': {e}", folder.display()))?
        .flatten()
        .map(|e| e.path())
        .filter_map(|p| PictureKind::of(&p).map(|k| (p, k)))
        .collect();
    images.sort_by(|a, b| a.0.cmp(&b.0));
    let Some(&(_, kind)) = images.first() else {
        return Err(UsageError(format!(
            "folder '{}' has no pictures the plain gst-launch-1.0 line (multifilesrc) reads (.jpg, .jpeg, .png, .bmp); hmg detect itself (without --print) also reads .webp and .tif",
            folder.display()
        ))
        .into());
    };
    if let Some((other, _)) = images.iter().find(|(_, k)| *k != kind) {
        return Err(UsageError(format!(
            "folder '{}' mixes kinds of pictures ({} and {}): the plain gst-launch-1.0 line (multifilesrc) reads one kind per folder; hmg detect itself (without --print) reads any mix",
            folder.display(),
            images[0].0.display(),
            other.display()
        ))
        .into());
    }
    std::fs::create_dir_all(scratch)?;
    for (i, (img, _)) in images.iter().enumerate() {
        let target = std::fs::canonicalize(img)?;
        std::os::unix::fs::symlink(
            &target,
            scratch.join(format!("{i:06}.{}", kind.extension())),
        )?;
    }
    Ok(kind)
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PiCamera => write!(f, "Pi camera"),
            Self::Camera(n) => write!(f, "/dev/video{n}"),
            Self::File(p) | Self::Folder(p) => write!(f, "{}", p.display()),
            Self::Rtsp(u) => write!(f, "{}", mask_secrets(u)),
        }
    }
}

/// `text` with the password of every `scheme://user:password@host` in it replaced by `***`: what
/// hmg prints or logs (and the journal keeps) must not carry camera or broker passwords.
pub fn mask_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the first '/', whitespace or quote; credentials end at its last '@'.
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@').and_then(|a| {
            let user_info = &authority[..a];
            user_info.find(':').map(|c| (c, a))
        }) {
            Some((colon, a)) => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[a..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Quotes a launch-line value when it needs it.
pub fn quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:,+=@%~".contains(c))
    {
        return value.to_string();
    }
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_secrets("rtsp://admin:s3cr:et@10.0.0.5:554/stream1"),
            "rtsp://admin:***@10.0.0.5:554/stream1"
        );
        assert_eq!(
            mask_secrets("rtspsrc location=\"rtsp://u:p@cam/s\" ! x mqtt://a:b@h:1883/t"),
            "rtspsrc location=\"rtsp://u:***@cam/s\" ! x mqtt://a:***@h:1883/t"
        );
        for plain in ["rtsp://cam:554/s", "rtsp://user@cam/s", "no url here"] {
            assert_eq!(mask_secrets(plain), plain);
        }
        let src = Source::Rtsp("rtsp://admin:hunter2@cam/s".into());
        assert!(!src.to_string().contains("hunter2"));
    }

    #[test]
    fn real_sources_have_the_expected_launch_lines() {
        let s = std::path::Path::new("/tmp/x");
        assert_eq!(
            Source::PiCamera.launch(s),
            "libcamerasrc ! video/x-raw,width=1280,height=720,framerate=30/1"
        );
        assert_eq!(
            Source::Camera(2).launch(s),
            "v4l2src device=/dev/video2 ! decodebin"
        );
        assert_eq!(
            Source::Rtsp("rtsp://cam:554/s 1".into()).launch(s),
            "rtspsrc location=\"rtsp://cam:554/s 1\" latency=200 ! decodebin"
        );
        assert_eq!(
            Source::File("my clip.mp4".into()).launch(s),
            "filesrc location=\"my clip.mp4\" ! decodebin"
        );
        assert_eq!(Source::Camera(1).stream_name(0), "cam1");
        assert_eq!(
            Source::File("dir/front door.mp4".into()).stream_name(3),
            "front_door"
        );
    }

    #[test]
    fn inputs_are_checked_before_anything_starts() {
        assert!(matches!(
            Source::from_input("rtsp://x/y"),
            Ok(Source::Rtsp(_))
        ));
        assert!(
            Source::from_input("no/such/file.mp4")
                .unwrap_err()
                .0
                .contains("does not exist")
        );
        let empty = std::env::temp_dir().join(format!("hmg-empty-{}.mp4", std::process::id()));
        std::fs::write(&empty, b"").unwrap();
        let e = Source::from_input(empty.to_str().unwrap()).unwrap_err().0;
        assert!(e.contains("is empty (0 bytes)"), "{e}");
        std::fs::remove_file(&empty).unwrap();
    }
}
