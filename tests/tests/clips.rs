// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg detect --clips` on the real clip: one mp4 and one JPEG per tracked object of the chosen
//! classes, each clip decodable from its first frame, as long as the track lived plus the pre-roll
//! and the post-roll (within a keyframe interval), and the folder kept under its size limit.

use std::path::Path;

use hmg_e2e::*;

/// Frames of `mp4` that decode (qtdemux ! avdec_h264), each written as a raw file and counted.
fn decoded_frames(mp4: &Path, scratch: &Path) -> usize {
    let frames = scratch.join(mp4.file_stem().unwrap());
    std::fs::create_dir_all(&frames).unwrap();
    let out = gst_command("gst-launch-1.0", scratch)
        .args(["-q", "filesrc"])
        .arg(format!("location={}", mp4.display()))
        .args(["!", "qtdemux", "!", "avdec_h264", "!", "multifilesink"])
        .arg(format!("location={}/%05d.raw", frames.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}: {}", mp4.display(), text(&out));
    let n = std::fs::read_dir(&frames).unwrap().count();
    std::fs::remove_dir_all(&frames).unwrap();
    n
}

fn detect_with_clips(dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let out_dir = dir.join("out");
    let out = std::process::Command::new(profile_dir().join("hmg"))
        .current_dir(repo())
        .args(["detect", "--model", "models/yolov12n-coco.onnx"])
        .args([
            "--input",
            "media/bikes.mp4",
            "--headless",
            "--snapshot-interval",
            "0",
        ])
        .args(["--clips", "--clip-classes", "person,bicycle"])
        .args(extra)
        .arg("--output")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    detect_run_dir(&out_dir)
}

#[test]
fn every_tracked_person_and_bicycle_gets_a_playable_clip_of_its_life() {
    let dir = temp_dir("clips");
    let (pre, post): (f64, f64) = (1.0, 1.0);
    let run = detect_with_clips(&dir, &["--clip-pre", "1", "--clip-post", "1"]);
    let events = read_json_lines(&run.join("bikes.events.jsonl"));
    // The clip's length is its track's, from the new and end records; the frame rate and the
    // clip's length from the log of every frame.
    let frames = read_json_lines(&run.join("bikes.jsonl"));
    let frame_s =
        frames[1]["pts_ns"].as_f64().unwrap() / 1e9 - frames[0]["pts_ns"].as_f64().unwrap() / 1e9;
    let video_end = frames.last().unwrap()["pts_ns"].as_f64().unwrap() / 1e9 + frame_s;
    // x264 is told one keyframe every 30 frames.
    let keyframe_s = 30.0 * frame_s;
    let clips = run.join("clips");
    let mut checked = 0;
    for end in events.iter().filter(|e| e["type"] == "end") {
        let id = end["track_id"].as_u64().unwrap();
        let new = events
            .iter()
            .find(|e| e["type"] == "new" && e["track_id"] == id)
            .unwrap();
        let label = new["label"].as_str().unwrap();
        let suffix = format!("-{}-{id}.mp4", label.replace(' ', "_"));
        let mp4 = std::fs::read_dir(&clips)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(&suffix));
        if !["person", "bicycle"].contains(&label) {
            assert!(mp4.is_none(), "a clip for a {label}");
            continue;
        }
        let mp4 = mp4.unwrap_or_else(|| panic!("no clip for {label} {id} in {}", clips.display()));
        let (first, last) = (
            new["first_time"].as_f64().unwrap(),
            end["last_time"].as_f64().unwrap(),
        );
        let shortest = first.min(pre) + (last - first) + post.min(video_end - last - frame_s);
        let longest = first.min(pre + keyframe_s) + (last - first) + post + frame_s;
        let length = decoded_frames(&mp4, &dir) as f64 * frame_s;
        assert!(
            length >= shortest - frame_s / 2.0 && length <= longest + frame_s / 2.0,
            "{}: {length:.2} s, not within {shortest:.2}..{longest:.2}",
            mp4.display()
        );
        // The best view of it, as a JPEG of the frame size.
        let jpg = mp4.with_extension("jpg");
        let picture = image::open(&jpg).unwrap_or_else(|e| panic!("{}: {e}", jpg.display()));
        assert_eq!(
            (picture.width() as u64, picture.height() as u64),
            (
                frames[0]["width"].as_u64().unwrap(),
                frames[0]["height"].as_u64().unwrap()
            )
        );
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} clips checked");
    // Nothing half-written is left.
    assert!(
        std::fs::read_dir(&clips)
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with('.'))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_clips_folder_stays_under_its_limit_oldest_first() {
    let dir = temp_dir("clips-limit");
    let run = detect_with_clips(&dir, &["--clips-max-mb", "2"]);
    let clips = run.join("clips");
    let total: u64 = std::fs::read_dir(&clips)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(total <= 2_000_000, "{total} bytes");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    let written = summary["clips"]["written"].as_u64().unwrap();
    let left = std::fs::read_dir(&clips)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "mp4"))
        .count() as u64;
    // More were written than the limit holds: the oldest went.
    assert!(left < written, "{left} left of {written}");
    let _ = std::fs::remove_dir_all(&dir);
}
