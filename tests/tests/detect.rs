// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg detect` as a user runs it: several sources in one graph, headless outputs, recordings,
//! real RTSP cameras on loopback (killed and brought back), and bad arguments.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use hmg_e2e::*;

/// One `hmg detect` at a time: each runs a model per stream on this machine's two cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn hmg() -> Command {
    let mut c = Command::new(profile_dir().join("hmg"));
    c.current_dir(repo());
    c
}

fn model() -> String {
    repo()
        .join("models/yolov12n-coco.onnx")
        .display()
        .to_string()
}

/// (lines, stream names seen, detections per label) of a JSON-lines file.
fn summarize(path: &Path) -> (usize, Vec<String>, BTreeMap<String, usize>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut streams = Vec::new();
    let mut labels = BTreeMap::new();
    let mut n = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        n += 1;
        let s = v["stream"].as_str().unwrap().to_string();
        if !streams.contains(&s) {
            streams.push(s);
        }
        for d in v["detections"].as_array().unwrap() {
            *labels
                .entry(d["label"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    (n, streams, labels)
}

#[test]
fn test_three_streams_in_one_graph_keep_their_own_detections() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("detect-three");
    let (eagle, dog) = (dir.join("eagle"), dir.join("dog"));
    for (folder, images) in [
        (&eagle, vec!["eagle.jpg"]),
        (&dog, vec!["dog.jpg", "person.jpg"]),
    ] {
        std::fs::create_dir_all(folder).unwrap();
        for img in images {
            std::fs::copy(testdata().join("images").join(img), folder.join(img)).unwrap();
        }
    }
    let out = dir.join("out");
    let o = hmg()
        .args([
            "detect",
            "--headless",
            "--snapshot-interval",
            "1",
            // The reference's thresholds, so that its detections are what each stream must see.
            "--conf",
            "0.25",
            "--iou",
            "0.45",
            "--model",
            &model(),
            "--input",
        ])
        .arg(&eagle)
        .arg("--input")
        .arg(&dog)
        .arg("--input")
        .arg(testdata().join("video/bikes.mp4"))
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for needle in [
        "eagle: frames 1",
        "dog: frames 2",
        "bikes: frames 250",
        "latency p50",
        "peak memory",
    ] {
        assert!(t.contains(needle), "{needle}: {t}");
    }
    let run = detect_run_dir(&out);
    let (n, streams, labels) = summarize(&run.join("eagle.jsonl"));
    assert_eq!((n, streams), (1, vec!["eagle".to_string()]));
    assert_eq!(
        labels,
        reference_image_labels(&["eagle.jpg"]),
        "the eagle stream sees what ultralytics sees in its picture, and nothing of the others'"
    );
    let (n, streams, labels) = summarize(&run.join("dog.jsonl"));
    assert_eq!((n, streams), (2, vec!["dog".to_string()]));
    assert_eq!(labels, reference_image_labels(&["dog.jpg", "person.jpg"]));
    let (n, streams, labels) = summarize(&run.join("bikes.jsonl"));
    assert_eq!((n, streams), (250, vec!["bikes".to_string()]));
    // Its own detections, as ultralytics finds them on this clip, and none of the other
    // streams' (a dog, a horse or a bird beyond the reference's count fails here).
    assert_labels_near_reference(
        &labels,
        &reference_video_labels("yolov12n_video_bikes.json"),
    );
    // Snapshots: frames with detections, as PNG, named by stream and frame.
    let snaps: Vec<String> = std::fs::read_dir(run.join("snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        snaps
            .iter()
            .any(|s| s.starts_with("bikes-") && s.ends_with(".png")),
        "{snaps:?}"
    );
    assert!(snaps.contains(&"eagle-000000.png".to_string()), "{snaps:?}");
    let png = std::fs::read(run.join("snapshots/eagle-000000.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(!snaps.iter().any(|s| s.ends_with(".part")));
    // The summary, machine-readable: frames per stream as counted in the JSON lines.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    let frames: Vec<(&str, u64)> = summary["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["frames"].as_u64().unwrap()))
        .collect();
    assert_eq!(frames, [("eagle", 1), ("dog", 2), ("bikes", 250)]);
    assert!(summary["streams"][2]["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_two_rtsp_cameras_record_playable_mp4s() {
    use hmg_e2e::rtsp::RtspCamera;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("detect-cams");
    let out = dir.join("out");
    let cams = [
        RtspCamera::start(free_port()),
        RtspCamera::start(free_port()),
    ];
    let o = hmg()
        .args(["detect", "--headless", "--record", "--duration", "6"])
        .args(["--input", &cams[0].url, "--input", &cams[1].url])
        .args(["--model", &model()])
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let run = detect_run_dir(&out);
    for stream in ["rtsp0", "rtsp1"] {
        let (n, streams, _) = summarize(&run.join(format!("{stream}.jsonl")));
        assert!(n >= 1, "{stream}: {n} lines");
        assert_eq!(streams, vec![stream.to_string()]);
        assert_mp4_playable(&run.join(format!("{stream}.mp4")), &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_real_camera_graphs_build_and_print() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let o = hmg()
        .args([
            "detect",
            "--check",
            "--picamera",
            "--camera",
            "0",
            "--input",
            "rtsp://127.0.0.1:8554/cam",
            "--model",
            &model(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("graph builds: 3 stream(s)"));
    // Several ONNX streams share the cores out instead of each taking all of them.
    let print = |extra: &[&str]| {
        let o = hmg()
            .args(["detect", "--print", "--headless", "--camera", "0"])
            .args(extra)
            .args(["--model", &model()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let line = print(&["--camera", "1"]);
    let cores = std::thread::available_parallelism().unwrap().get();
    let share = format!("threads={}", (cores / 2).max(1));
    assert_eq!(line.matches(&share).count(), 2, "{line}");
    assert!(print(&["--threads", "3"]).contains("threads=3"));
    let o = hmg()
        .args([
            "detect",
            "--print",
            "--headless",
            "--picamera",
            "--model",
            &model(),
        ])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&o.stdout);
    assert!(line.starts_with("gst-launch-1.0 libcamerasrc ! video/x-raw,width=1280,height=720,framerate=30/1 ! videoconvert"), "{line}");
    assert!(
        line.contains("stream-name=picam") && line.contains("fakesink"),
        "{line}"
    );
}

#[test]
fn test_bad_arguments_exit_2_before_anything_starts() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let m = model();
    for (args, needle) in [
        (
            vec!["detect", "--model", "missing.hef", "--picamera"],
            "model 'missing.hef' does not exist",
        ),
        (
            vec!["detect", "--model", m.as_str()],
            "say where frames come from",
        ),
        (
            vec!["detect", "--model", m.as_str(), "--camera", "63"],
            "camera /dev/video63 does not exist",
        ),
        (
            vec!["detect", "--model", m.as_str(), "--input", "nope.mp4"],
            "input 'nope.mp4' does not exist",
        ),
        (
            vec![
                "detect",
                "--model",
                m.as_str(),
                "--picamera",
                "--conf",
                "1.5",
            ],
            "invalid value '1.5' for '--conf <CONF>': 1.5 is not between 0 and 1",
        ),
        (
            vec![
                "detect",
                "--model",
                m.as_str(),
                "--picamera",
                "--labels",
                "nope.txt",
            ],
            "labels file 'nope.txt'",
        ),
    ] {
        let o = hmg().args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let t = text(&o);
        assert!(t.contains(needle), "{args:?}: {t}");
        // One line says what is wrong (clap adds its pointer to --help after a blank line).
        let said: Vec<&str> = t
            .trim()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.contains("try '--help'"))
            .collect();
        assert_eq!(said.len(), 1, "one line: {t}");
    }
}

/// pts (ns) of every line of a detection log.
fn timestamps(path: &Path) -> Vec<u64> {
    read_json_lines(path)
        .iter()
        .map(|l| l["pts_ns"].as_u64().unwrap())
        .collect()
}

/// The longest silence in a stream, and how many frames came after it.
fn longest_gap(pts: &[u64]) -> (f64, usize) {
    let (at, gap) = pts
        .windows(2)
        .enumerate()
        .map(|(k, w)| (k + 1, w[1].saturating_sub(w[0])))
        .max_by_key(|&(_, g)| g)
        .unwrap_or((pts.len(), 0));
    (gap as f64 / 1e9, pts.len() - at)
}

/// `hmg detect --headless` on live inputs, running in the background while a test breaks them.
struct LiveRun {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl LiveRun {
    fn start(dir: &Path, seconds: &str, inputs: &[&str]) -> Self {
        let log = std::fs::File::create(dir.join("hmg.log")).unwrap();
        let mut cmd = hmg();
        cmd.args([
            "detect",
            "--headless",
            "--duration",
            seconds,
            "--model",
            &model(),
        ]);
        for input in inputs {
            cmd.args(["--input", input]);
        }
        let child = cmd
            .arg("--output")
            .arg(dir.join("out"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Waits for the run's end; its console output, after asserting it succeeded.
    fn finish(&mut self) -> String {
        let status = self.child.wait().unwrap();
        let t = std::fs::read_to_string(self.dir.join("hmg.log")).unwrap();
        assert!(status.success(), "{t}");
        t
    }

    fn stream_log(&self, stream: &str) -> std::path::PathBuf {
        detect_run_dir(&self.dir.join("out")).join(format!("{stream}.jsonl"))
    }
}

/// A real RTSP camera is killed mid-run (SIGKILL: no goodbye on the wire) and comes back on the
/// same address: its stream is restarted and delivers again, the other camera never stops.
#[test]
fn test_a_killed_rtsp_camera_restarts_while_the_other_runs() {
    use hmg_e2e::rtsp::RtspCamera;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("detect-rtsp-kill");
    let port = free_port();
    let cam0 = RtspCamera::start(port);
    let cam1 = RtspCamera::start(free_port());
    let mut run = LiveRun::start(&dir, "24", &[&cam0.url, &cam1.url]);
    std::thread::sleep(std::time::Duration::from_secs(8));
    cam0.signal("KILL");
    drop(cam0);
    let outage = std::time::Duration::from_secs(3);
    std::thread::sleep(outage);
    let _cam0 = RtspCamera::start(port);
    let t = run.finish();
    assert!(
        t.contains("rtsp0: source failed") && t.contains("rtsp0: source restarted"),
        "{t}"
    );
    assert!(!t.contains("rtsp1: source failed"), "{t}");
    let (gap0, after0) = longest_gap(&timestamps(&run.stream_log("rtsp0")));
    let (gap1, _) = longest_gap(&timestamps(&run.stream_log("rtsp1")));
    println!("rtsp0: silent {gap0:.1} s, {after0} frames after; rtsp1: longest gap {gap1:.2} s");
    // The killed camera was away for at least the outage and then delivered again (inference
    // on two streams at once, on two cores, keeps only some of its frames); the other one never
    // paused for even a second.
    assert!(
        gap0 >= outage.as_secs_f64() * 0.8,
        "rtsp0's longest gap {gap0} s: {t}"
    );
    assert!(
        after0 >= 10,
        "rtsp0 delivered {after0} frames after coming back: {t}"
    );
    assert!(gap1 < 1.0, "rtsp1 paused {gap1} s: {t}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A camera that freezes (SIGSTOP: the connection stays open, nothing arrives, GStreamer says
/// nothing) is noticed by hmg's watchdog, restarted, and delivers again once it thaws.
#[test]
fn test_a_frozen_rtsp_camera_is_noticed_and_restarted() {
    use hmg_e2e::rtsp::RtspCamera;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("detect-rtsp-freeze");
    let cam = RtspCamera::start(free_port());
    let mut run = LiveRun::start(&dir, "32", &[&cam.url]);
    std::thread::sleep(std::time::Duration::from_secs(7));
    cam.signal("STOP");
    // Longer than the watchdog's 10 s, so that the restart meets a camera still frozen.
    let frozen = std::time::Duration::from_secs(14);
    std::thread::sleep(frozen);
    cam.signal("CONT");
    let t = run.finish();
    assert!(
        t.contains("rtsp0: source failed (no frame for 10 s)")
            && t.contains("rtsp0: source restarted"),
        "{t}"
    );
    let (gap, after) = longest_gap(&timestamps(&run.stream_log("rtsp0")));
    println!("rtsp0: silent {gap:.1} s, {after} frames after");
    assert!(
        gap >= frozen.as_secs_f64() * 0.8,
        "longest gap {gap} s: {t}"
    );
    assert!(after >= 10, "{after} frames after the camera thawed: {t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_a_broken_file_ends_its_stream_only() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("detect-broken");
    let clip = std::fs::read(testdata().join("video/bikes.mp4")).unwrap();
    let broken = dir.join("broken.mp4");
    std::fs::write(&broken, &clip[..clip.len() / 3]).unwrap();
    let eagle = dir.join("eagle");
    std::fs::create_dir_all(&eagle).unwrap();
    std::fs::copy(testdata().join("images/eagle.jpg"), eagle.join("eagle.jpg")).unwrap();
    let out = dir.join("out");
    let o = hmg()
        .args(["detect", "--headless", "--model", &model(), "--input"])
        .arg(&broken)
        .arg("--input")
        .arg(&eagle)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let t = text(&o);
    // The other stream ran to its end; the run says that one failed.
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("1 of 2 stream(s) failed: broken"), "{t}");
    let run = detect_run_dir(&out);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    let error_of = |name: &str| {
        summary["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["error"]
            .clone()
    };
    assert!(error_of("broken").is_string(), "{summary}");
    assert!(error_of("eagle").is_null(), "{summary}");
    let (eagle_lines, _, labels) = summarize(&run.join("eagle.jsonl"));
    assert_eq!(eagle_lines, 1);
    assert_eq!(labels, reference_image_labels(&["eagle.jpg"]));
    // The clip's index (moov) is at its end: a cut copy has no frame anyone can decode, so the
    // stream fails before its first line (`gst-launch-1.0 … ! decodebin` gives none either).
    let (broken_lines, _, _) = summarize(&run.join("broken.jsonl"));
    assert_eq!(broken_lines, 0, "{t}");
    // Every input failing (a text file, the cut mp4): exit 1, each named. (An empty file is
    // refused before anything starts, like a missing one: hostile_input.rs.)
    let text_file = dir.join("notes.mp4");
    std::fs::write(&text_file, "not a video\n").unwrap();
    let o = hmg()
        .args(["detect", "--headless", "--model", &model(), "--input"])
        .arg(&text_file)
        .arg("--input")
        .arg(&broken)
        .arg("--output")
        .arg(dir.join("out-all"))
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("2 of 2 stream(s) failed") && t.contains("notes") && t.contains("broken"),
        "{t}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_a_folder_of_png_pictures_gives_ultralytics_detections() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("detect-png");
    let pictures = dir.join("pictures");
    std::fs::create_dir_all(&pictures).unwrap();
    let names = ["astronaut.png", "camera.png", "coffee.png"]; // name order = frame order
    for n in names {
        std::fs::copy(testdata().join("images").join(n), pictures.join(n)).unwrap();
    }
    let out = dir.join("out");
    let o = hmg()
        .args(["detect", "--headless", "--conf", "0.25", "--iou", "0.45"])
        .args(["--model", &model(), "--input"])
        .arg(&pictures)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let log = std::fs::read_to_string(detect_run_dir(&out).join("pictures.jsonl")).unwrap();
    let frames: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames.len(), names.len(), "{log}");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(testdata().join("reference/yolov12n.json")).unwrap())
            .unwrap();
    // Labels of confident detections (away from the threshold, where rounding may differ).
    let confident = |dets: &serde_json::Value, label: &str, conf: &str| {
        let mut v: Vec<String> = dets
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d[conf].as_f64().unwrap() > 0.3)
            .map(|d| d[label].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let mut total = 0;
    for (frame, name) in frames.iter().zip(names) {
        let want = confident(
            &reference["images"][name]["detections"],
            "class_name",
            "confidence",
        );
        total += want.len();
        assert_eq!(
            confident(&frame["detections"], "label", "confidence"),
            want,
            "{name}: {frame}"
        );
    }
    assert!(total > 0);

    // A folder mixing kinds runs (hmg decodes each picture); only the plain gst-launch-1.0 line
    // that --print shows cannot read it, and says so.
    std::fs::copy(
        testdata().join("images/eagle.jpg"),
        pictures.join("eagle.jpg"),
    )
    .unwrap();
    let o = hmg()
        .args([
            "detect",
            "--headless",
            "--print",
            "--model",
            &model(),
            "--input",
        ])
        .arg(&pictures)
        .arg("--output")
        .arg(dir.join("out-mixed"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("mixes kinds of pictures") && text(&o).contains("reads any mix"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_a_folder_names_each_picture_skips_what_cannot_be_read_and_matches_batch() {
    let dir = temp_dir("detect-folder-files");
    let pictures = dir.join("pictures");
    std::fs::create_dir_all(&pictures).unwrap();
    // Any mix of kinds; a CMYK JPEG and a picture turned by its EXIF orientation (made with
    // Pillow from real pictures); a file that is no picture at all.
    std::fs::copy(
        testdata().join("images/eagle.jpg"),
        pictures.join("eagle.jpg"),
    )
    .unwrap();
    std::fs::copy(
        testdata().join("images/coffee.png"),
        pictures.join("coffee.png"),
    )
    .unwrap();
    let made = ultralytics_python(&dir)
        .arg("-c")
        .arg(
            "import sys\nfrom PIL import Image\nsrc, out = sys.argv[1], sys.argv[2]\n\
             Image.open(src + '/dog.jpg').convert('CMYK').save(out + '/cmyk.jpg', quality=95)\n\
             im = Image.open(src + '/person.jpg')\nexif = im.getexif()\nexif[0x0112] = 6\n\
             im.transpose(Image.Transpose.ROTATE_90).save(out + '/turned.jpg', quality=95, exif=exif)\n",
        )
        .arg(testdata().join("images"))
        .arg(&pictures)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    std::fs::write(pictures.join("broken.jpg"), "not a picture\n").unwrap();
    let out = dir.join("out");
    let o = hmg()
        .args(["detect", "--headless", "--model", &model(), "--input"])
        .arg(&pictures)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "one picture failed: {t}");
    assert!(
        t.contains("skipped broken.jpg") && t.contains("1 picture(s) could not be read"),
        "{t}"
    );
    let run = detect_run_dir(&out);
    let records: Vec<serde_json::Value> = std::fs::read_to_string(run.join("pictures.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let files: Vec<&str> = records
        .iter()
        .map(|r| r["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["cmyk.jpg", "coffee.png", "eagle.jpg", "turned.jpg"],
        "each record names its picture, in name order"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["streams"][0]["skipped"][0]["file"], "broken.jpg");

    // The same pictures through hmg batch: the same boxes (decoding, orientation, CMYK).
    let o = hmg()
        .args([
            "batch",
            "--no-images",
            "--conf",
            "0.35",
            "--iou",
            "0.5",
            "--model",
            &model(),
        ])
        .arg("--input")
        .arg(&pictures)
        .arg("--output")
        .arg(dir.join("batch"))
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("batch/detections.json")).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    for record in &records {
        let file = record["file"].as_str().unwrap();
        let batch = report["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["file"] == file)
            .unwrap_or_else(|| panic!("{file} not in batch's report: {report}"));
        assert_eq!(
            (record["width"].clone(), record["height"].clone()),
            (batch["width"].clone(), batch["height"].clone()),
            "{file}: upright size"
        );
        let ours = record["detections"].as_array().unwrap();
        let theirs = batch["detections"].as_array().unwrap();
        assert!(!ours.is_empty(), "{file}: {record}");
        assert_eq!(ours.len(), theirs.len(), "{file}: {ours:?} vs {theirs:?}");
        for (a, b) in ours.iter().zip(theirs) {
            assert_eq!(a["label"], b["label"], "{file}");
            for (x, y) in a["box"]
                .as_array()
                .unwrap()
                .iter()
                .zip(b["box"].as_array().unwrap())
            {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((x - y).abs() < 1.0, "{file}: {a} vs {b}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_share_model_runs_every_stream_on_one_session_with_the_same_detections() {
    let dir = temp_dir("detect-share-model");
    let pictures = dir.join("pictures");
    std::fs::create_dir_all(&pictures).unwrap();
    for name in ["astronaut.png", "coffee.png", "camera.png"] {
        std::fs::copy(testdata().join("images").join(name), pictures.join(name)).unwrap();
    }
    // The records of every stream of a run, by stream and frame.
    let run = |share: bool, out: &str| {
        let mut c = hmg();
        c.args(["detect", "--headless", "--model", &model(), "--input"])
            .arg(&pictures)
            .arg("--input")
            .arg(&pictures)
            .arg("--output")
            .arg(dir.join(out));
        if share {
            c.arg("--share-model");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let run = detect_run_dir(&dir.join(out));
        let mut lines: Vec<serde_json::Value> = std::fs::read_dir(&run)
            .unwrap()
            .flatten()
            .filter(|e| e.path().to_string_lossy().ends_with(".jsonl"))
            .flat_map(|e| read_json_lines(&e.path()))
            .collect();
        lines.sort_by_key(|l| {
            (
                l["stream"].as_str().unwrap().to_string(),
                l["frame"].as_u64(),
            )
        });
        lines
    };
    let printed = hmg()
        .args([
            "detect",
            "--print",
            "--headless",
            "--share-model",
            "--model",
            &model(),
        ])
        .arg("--input")
        .arg(&pictures)
        .arg("--input")
        .arg(&pictures)
        .output()
        .unwrap();
    assert_eq!(
        text(&printed).matches("session-group=hmg-detect").count(),
        2,
        "{}",
        text(&printed)
    );
    let (own, shared) = (run(false, "own"), run(true, "shared"));
    assert_eq!(own.len(), 6, "two streams of three pictures");
    assert_eq!(shared.len(), own.len());
    for (a, b) in own.iter().zip(&shared) {
        let (da, db) = (
            a["detections"].as_array().unwrap(),
            b["detections"].as_array().unwrap(),
        );
        assert_eq!(da.len(), db.len(), "{a} vs {b}");
        for (x, y) in da.iter().zip(db) {
            assert_eq!(x["label"], y["label"]);
            for (p, q) in x["box"]
                .as_array()
                .unwrap()
                .iter()
                .zip(y["box"].as_array().unwrap())
            {
                assert!(
                    (p.as_f64().unwrap() - q.as_f64().unwrap()).abs() < 0.5,
                    "{x} vs {y}"
                );
            }
        }
    }
    assert!(
        own.iter()
            .any(|l| !l["detections"].as_array().unwrap().is_empty())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
