// SPDX-License-Identifier: MIT OR Apache-2.0
//! Writing a finished clip: its H.264 samples into an mp4 (`appsrc ! mp4mux`), and its
//! best snapshot as a JPEG, each to a temporary name first and renamed when complete; then the
//! clips folder is kept under its size limit, oldest first.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use gst::prelude::*;

use super::recorder::FinishedClip;

/// A frame kept for an event's snapshot: packed RGB, shared by the tracks seen best in it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub confidence: f32,
    pub width: u32,
    pub height: u32,
    pub rgb: std::sync::Arc<Vec<u8>>,
}

/// `<stamp>-<class>-<track>`, with the class made file-name safe.
pub fn clip_stem(stamp: &str, label: &str, track_id: u64) -> String {
    let label: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{stamp}-{label}-{track_id}")
}

/// A temporary name beside `path`, hidden, that the cleanup and readers ignore.
fn part_name(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{}.part", name.unwrap_or_default()))
}

/// Writes `clip` as `<dir>/<stem>.mp4` (timestamps from 0); returns the path.
pub fn write_mp4(
    dir: &Path,
    stem: &str,
    caps: &gst::Caps,
    clip: &FinishedClip<gst::Buffer>,
) -> anyhow::Result<PathBuf> {
    let first = clip
        .samples
        .first()
        .ok_or_else(|| anyhow!("the clip has no frame"))?
        .pts_ns;
    let path = dir.join(format!("{stem}.mp4"));
    let part = part_name(&path);
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder()
        .caps(caps)
        .format(gst::Format::Time)
        .build();
    let mux = gst::ElementFactory::make("mp4mux").build()?;
    let sink = gst::ElementFactory::make("filesink")
        .property("location", part.display().to_string())
        .build()?;
    pipeline.add_many([src.upcast_ref(), &mux, &sink])?;
    // Linked by name: left to choose, the muxer may offer its audio pad first.
    let video = mux
        .request_pad_simple("video_%u")
        .context("mp4mux has no video input")?;
    src.static_pad("src")
        .context("appsrc has no output")?
        .link(&video)?;
    mux.link(&sink)?;
    pipeline
        .set_state(gst::State::Playing)
        .context("cannot start the clip writer")?;
    for s in &clip.samples {
        let mut buf = s.data.copy();
        {
            let b = buf.make_mut();
            let pts = gst::ClockTime::from_nseconds(s.pts_ns - first);
            b.set_pts(pts);
            // Frames arrive in decode order with B-frames off (tune=zerolatency): DTS = PTS.
            b.set_dts(pts);
        }
        src.push_buffer(buf)
            .map_err(|e| anyhow!("clip writer: {e:?}"))?;
    }
    src.end_of_stream()
        .map_err(|e| anyhow!("clip writer: {e:?}"))?;
    let bus = pipeline.bus().context("pipeline without bus")?;
    let outcome = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(60)) else {
            break Err(anyhow!("the clip writer did not finish within 60 s"));
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => break Err(anyhow!("{}", e.error())),
            _ => {}
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    if let Err(e) = outcome {
        let _ = std::fs::remove_file(&part);
        return Err(e.context(format!("cannot write clip '{}'", path.display())));
    }
    std::fs::rename(&part, &path)
        .with_context(|| format!("cannot write clip '{}'", path.display()))?;
    Ok(path)
}

/// Writes `snapshot` as `<dir>/<stem>.jpg`.
pub fn write_snapshot(dir: &Path, stem: &str, snapshot: &Snapshot) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{stem}.jpg"));
    hmg_detect::atomic::write_atomic(&path, |out| {
        let mut out = std::io::BufWriter::new(out);
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode(
                snapshot.rgb.as_slice(),
                snapshot.width,
                snapshot.height,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(std::io::Error::other)?;
        std::io::Write::flush(&mut out)
    })
    .with_context(|| format!("cannot write snapshot '{}'", path.display()))?;
    Ok(path)
}

/// Deletes the oldest clips (and their snapshots) until `dir` holds at most `limit` bytes of them;
/// returns how many files went.
pub fn keep_under(dir: &Path, limit: u64) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            let p = e.path();
            let ours = p.extension().is_some_and(|x| x == "mp4" || x == "jpg");
            ours && !e.file_name().to_string_lossy().starts_with('.')
        })
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((meta.modified().ok()?, meta.len(), e.path()))
        })
        .collect();
    let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
    // Oldest first; at the same time, by name (a clip before its snapshot).
    files.sort();
    let mut removed = 0;
    for (_, len, path) in files {
        if total <= limit {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_file_name_safe() {
        assert_eq!(
            clip_stem("20261204-010203", "traffic light/2", 7),
            "20261204-010203-traffic_light_2-7"
        );
    }

    #[test]
    fn the_oldest_go_first_until_the_folder_fits() {
        let dir = std::env::temp_dir().join(format!("hmg-clips-keep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, name) in ["a.mp4", "a.jpg", "b.mp4", "c.mp4"].iter().enumerate() {
            let p = dir.join(name);
            std::fs::write(&p, vec![0u8; 1000]).unwrap();
            let t =
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        std::fs::write(dir.join("notes.txt"), vec![0u8; 5000]).unwrap();
        assert_eq!(keep_under(&dir, 2000), 2);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["b.mp4", "c.mp4", "notes.txt"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
