// SPDX-License-Identifier: MIT OR Apache-2.0
//! The seed's walk as one test: the `sh seed-walk` block of docs/guide-pi.md, run as written, one
//! line after the other in one folder, as a user of the seed walks it, with every seam between the
//! steps asserted (class names, input size, thresholds, the files each step hands on).
//!
//! Where the test stands in for what it cannot have, it says so here, and changes no more than
//! this in the guide's lines:
//! - the pictures: synthetic circles (named "drone") and squares ("bird") in captured_images/;
//!   most were labelled in earlier sessions (their labels are in the dataset already), the last
//!   three are labelled now in headless Chromium, with the mouse and keys;
//! - `hmg train`: the pretrained yolov8n.pt is a real pretrained YOLOv8n (scripts/fetch-test-weights)
//!   served by a local stand-in for ultralytics' asset release, and the run gets CPU-sized settings
//!   (3 epochs at 96 px); `hmg calibrate` gets the same size;
//! - the Dataflow Compiler and the Hailo-8: their TEST DOUBLES (tests/dfc-double,
//!   tests/hailort-double). The HailoRT double answers each input frame with what the exported
//!   model computes for exactly those bytes (tests/hailort-double/record-outputs), recorded from a
//!   first run of the same command on the Pi; the second run is strict (an unrecorded frame fails);
//! - the Pi: a loopback sshd whose sessions have no hmg until `hmg deploy` installs the package of
//!   this build (`--bundle`); its camera: a clip of synthetic pictures the model never saw.
//!
//! Runs after the HailoRT build (scripts/test): the package and the Pi's hmg are that build.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hmg_e2e::debian::{Installed, assert_hmg_not_installed, build_deb};
use hmg_e2e::sshd::{Sshd, setup};
use hmg_e2e::webdriver::Browser;
use hmg_e2e::*;
use serde_json::Value;

const PI_MARKER: &str = "# then on the Pi";
/// The seed's steps, in the order the walk must take them.
const STEPS: [&str; 10] = [
    "hmg dataset init",
    "hmg annotate",
    "hmg dataset verify",
    "hmg train",
    "hmg export",
    "hmg verify-onnx",
    "hmg calibrate",
    "hmg compile",
    "hmg deploy",
    "hmg detect --headless",
];
const NAMES: [&str; 2] = ["drone", "bird"];
const PICTURES: usize = 80;
/// Pictures the browser labels (the rest were labelled before).
const IN_BROWSER: usize = 3;
const IMGSZ: &str = "96";
/// The short CPU run the test gives `hmg train` (the guide's line trains with the defaults).
const SHORT_RUN: &str = " --epochs 3 --imgsz 96 --batch 16 --device cpu --workers 0 mosaic=0";

/// The guide's walk: the lines before the Pi marker, and those after it.
fn walk() -> (Vec<String>, Vec<String>) {
    let guide = std::fs::read_to_string(repo().join("docs/guide-pi.md")).unwrap();
    let block = guide
        .split("```sh seed-walk\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("docs/guide-pi.md has a ```sh seed-walk block");
    let (host, pi) = block
        .split_once(PI_MARKER)
        .expect("the walk says where the Pi's part starts");
    let lines = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split(" #").next().unwrap().trim().to_string())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    };
    let (host, pi) = (lines(host), lines(pi.split_once('\n').unwrap().1));
    // Every step of the seed, in its order.
    let all: Vec<&String> = host.iter().chain(&pi).collect();
    let mut at = 0;
    for step in STEPS {
        at += all[at..]
            .iter()
            .position(|l| l.contains(step))
            .unwrap_or_else(|| panic!("the walk lacks `{step}` after line {at}: {all:?}"));
    }
    (host, pi)
}

struct Folder {
    dir: PathBuf,
    path: String,
    cache: PathBuf,
    weights_url: String,
    sdk: PathBuf,
}

/// `bash -c line` in the user's folder: our hmg first on PATH, the test doubles' places.
fn bash(folder: &Folder, line: &str) -> Command {
    let mut c = Command::new("bash");
    c.current_dir(&folder.dir)
        .env(
            "ORT_DYLIB_PATH",
            repo().join(".local/onnxruntime/libonnxruntime.so"),
        )
        .env("XDG_CACHE_HOME", &folder.cache)
        .env("HMG_ULTRALYTICS_VENV", ultralytics_venv())
        .env("HMG_WEIGHTS_URL", &folder.weights_url)
        .env("HAILO_SDK_VENV", &folder.sdk)
        .env("PATH", &folder.path)
        .env("GST_REGISTRY", folder.dir.join("registry.bin"))
        .args(["-euo", "pipefail", "-c", line]);
    c
}

fn run(folder: &Folder, line: &str) -> String {
    let out = bash(folder, line).output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "`{line}` failed:\n{t}");
    t
}

/// The pictures of the walk and their true labels; `labelled` of them already in the dataset.
fn pictures(dir: &Path, labelled: usize) -> PathBuf {
    let truth = dir.join("truth");
    synthetic_shapes(&truth.join("images"), &truth.join("labels"), PICTURES, 21);
    let captured = dir.join("captured_images");
    std::fs::create_dir_all(&captured).unwrap();
    for i in 0..PICTURES {
        let name = format!("{i:03}");
        std::fs::copy(
            truth.join(format!("images/{name}.png")),
            captured.join(format!("{name}.png")),
        )
        .unwrap();
    }
    let train = dir.join("datasets/my_data/train");
    for i in 0..labelled {
        let name = format!("{i:03}");
        std::fs::copy(
            truth.join(format!("images/{name}.png")),
            train.join(format!("images/{name}.png")),
        )
        .unwrap();
        std::fs::copy(
            truth.join(format!("labels/{name}.txt")),
            train.join(format!("labels/{name}.txt")),
        )
        .unwrap();
    }
    truth
}

/// Runs the guide's annotate line and labels the pictures it offers in headless Chromium, with
/// the boxes of the true labels drawn by mouse and the class picked by its key.
fn annotate_in_browser(folder: &Folder, line: &str, truth: &Path) {
    let mut child = bash(folder, line)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(folder.dir.join("annotate.err")).unwrap())
        .spawn()
        .unwrap();
    let (url, printed) = annotator_url(&mut child);
    assert!(
        printed.contains(&format!(
            "annotating {PICTURES} pictures ({} already labelled)",
            PICTURES - IN_BROWSER
        )),
        "{printed}"
    );
    let browser = Browser::start(folder.dir.join("profile"));
    browser.goto(&url);
    for i in PICTURES - IN_BROWSER..PICTURES {
        let name = format!("{i:03}");
        browser.wait_for(&format!(
            "window.hmgReady && document.getElementById('file').textContent.startsWith('{name}.png')"
        ));
        let v = browser.script("return window.hmgView;");
        let f = |k: &str| v[k].as_f64().unwrap();
        let (scale, ox, oy, left, top) = (f("scale"), f("ox"), f("oy"), f("left"), f("top"));
        let at = |x: f64, y: f64| (left + ox + x * scale, top + oy + y * scale);
        let (w, h) = image::image_dimensions(truth.join(format!("images/{name}.png"))).unwrap();
        let (w, h) = (w as f64, h as f64);
        for object in label_lines(&truth.join(format!("labels/{name}.txt"))) {
            browser.key(&format!("{}", object[0] as usize));
            let (cx, cy, bw, bh) = (object[1] * w, object[2] * h, object[3] * w, object[4] * h);
            browser.drag(
                at(cx - bw / 2.0, cy - bh / 2.0),
                at(cx + bw / 2.0, cy + bh / 2.0),
            );
        }
        browser.key(" "); // Space: save, next
    }
    browser.wait_for("document.getElementById('progress').textContent.includes('80 labelled')");
    browser.key("\u{E00C}"); // Escape: done
    browser.wait_for("window.hmgClosed === true");
    let status = annotator_exit(&mut child);
    assert!(status.success(), "{status}");
}

/// A clip of `count` synthetic pictures the model never saw (one a frame), for the Pi's camera.
fn clip(dir: &Path, count: usize) -> PathBuf {
    let frames = dir.join("clip-frames");
    synthetic_shapes(&frames, &dir.join("clip-labels"), count, 99);
    let clip = dir.join("clip.mp4");
    let out = gst_command("gst-launch-1.0", dir)
        .arg("-q")
        .args(
            format!(
                "multifilesrc location={}/%03d.png index=0 caps=image/png,framerate=4/1 ! pngdec ! \
                 videoconvert ! video/x-raw,format=I420 ! x264enc ! mp4mux ! filesink location={}",
                frames.display(),
                clip.display()
            )
            .split_whitespace(),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    clip
}

/// Every frame's detections from the `<stream>.jsonl` of a detect run in `out`.
fn detections(out: &Path, stream: &str) -> Vec<Vec<Value>> {
    let run = detect_run_dirs(out)
        .pop()
        .unwrap_or_else(|| panic!("no run in {}", out.display()));
    let jsonl = std::fs::read_to_string(run.join(format!("{stream}.jsonl")))
        .unwrap_or_else(|e| panic!("{}: {e}", run.display()));
    jsonl
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["detections"].as_array().cloned().unwrap_or_default()
        })
        .collect()
}

fn iou(a: &[f64], b: &[f64]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: &[f64]| (r[2] - r[0]) * (r[3] - r[1]);
    w * h / (area(a) + area(b) - w * h)
}

fn boxed(d: &Value) -> (String, f64, Vec<f64>) {
    (
        d["label"].as_str().unwrap().to_string(),
        d["confidence"].as_f64().unwrap(),
        d["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect(),
    )
}

/// How many detections of `a` clear of the threshold have one of the same class, place and score
/// in `b`, in the same frame (quantized class scores move by about 1/255), of how many.
fn agreement(a: &[Vec<Value>], b: &[Vec<Value>], conf: f64) -> (usize, usize) {
    assert_eq!(a.len(), b.len(), "frames");
    let (mut found, mut total) = (0, 0);
    for (da, db) in a.iter().zip(b) {
        for d in da {
            let (label, score, bx) = boxed(d);
            if score < conf + 0.02 {
                continue;
            }
            total += 1;
            found += usize::from(
                db.iter()
                    .map(boxed)
                    .any(|(l, s, b)| l == label && (s - score).abs() < 0.02 && iou(&bx, &b) > 0.9),
            );
        }
    }
    (found, total)
}

/// hmg's detections on the Pi equal ultralytics' on the same UINT8 heads: frame by frame the same
/// count, and each the same class, score (to 1e-3) and box (IoU > 0.99).
fn assert_same_detections(ours: &[Vec<Value>], theirs: &[Vec<Value>], names: &[&str]) {
    assert_eq!(ours.len(), theirs.len(), "frames");
    for (frame, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(a.len(), b.len(), "frame {frame}: {a:?} against {b:?}");
        for d in a {
            let (label, score, bx) = boxed(d);
            let found = b.iter().any(|r| {
                let class = names[r["class_id"].as_u64().unwrap() as usize];
                let rb: Vec<f64> = r["box"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                class == label
                    && (r["confidence"].as_f64().unwrap() - score).abs() < 1e-3
                    && iou(&bx, &rb) > 0.99
            });
            assert!(found, "frame {frame}: {d} not in ultralytics' {b:?}");
        }
    }
}

/// Width and height of `stream`'s frames, from its detlog.
fn frame_size(out: &Path, stream: &str) -> (u64, u64) {
    let run = detect_run_dirs(out).pop().unwrap();
    let text = std::fs::read_to_string(run.join(format!("{stream}.jsonl"))).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    (
        first["width"].as_u64().unwrap(),
        first["height"].as_u64().unwrap(),
    )
}

fn flag(line: &str, name: &str) -> f64 {
    let mut words = line.split_whitespace();
    words.find(|w| *w == name);
    words
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("`{line}` has no {name} N"))
}

#[test]
fn test_the_seed_walk_runs_as_the_guide_writes_it() {
    let (host, pi_lines) = walk();
    assert_hmg_not_installed();
    let dir = temp_dir("seed-walk");

    // The Pi: no hmg in its sessions; HailoRT there is the double.
    let pi = setup("seed-walk-pi");
    std::fs::remove_file(pi.join("fakebin/hmg")).unwrap();
    std::fs::remove_dir_all(pi.join("pi-plugins")).unwrap();
    std::fs::write(
        pi.join("pi-env"),
        format!(
            "HMG_HAILORT_LIBRARY={}\n",
            hailort_double::library().display()
        ),
    )
    .unwrap();
    let sshd = Sshd::start_in_home(&pi);
    let deb = build_deb(&dir.join("package"));

    let assets = dir.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    std::fs::copy(pretrained_checkpoint(), assets.join("yolov8n.pt")).unwrap();
    let server = AssetServer::start(&assets);
    // The seed's own model script (the seed's wiki, section 4.4).
    std::fs::write(
        dir.join("hailo_optimization.mscript"),
        "# Enable loose mode - suppresses shape warnings\nenable_loose_mode\n\n\
         # Optimization level (0=fast, 2=best accuracy)\noptimization_level(0)\n\n\
         # Batch size (1 for real-time inference)\nbatch_size(1)\n",
    )
    .unwrap();
    let folder = Folder {
        path: format!(
            "{}:{}",
            profile_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
        cache: dir.join("cache"),
        weights_url: format!("http://127.0.0.1:{}", server.1),
        sdk: fake_sdk(&dir),
        dir: dir.clone(),
    };

    let mut truth = None;
    let mut outputs = Vec::new();
    let _installed = Installed;
    for line in &host {
        let step = STEPS
            .iter()
            .find(|s| line.starts_with(*s))
            .copied()
            .unwrap_or("");
        let t = match step {
            "hmg annotate" => {
                let truth_dir = pictures(&dir, PICTURES - IN_BROWSER);
                annotate_in_browser(&folder, line, &truth_dir);
                truth = Some(truth_dir);
                String::new()
            }
            "hmg train" => run(&folder, &format!("{line}{SHORT_RUN}")),
            "hmg calibrate" => run(&folder, &format!("{line} --imgsz {IMGSZ}")),
            "hmg deploy" => {
                for stand_in in ["--host pi@raspberrypi.local", "hmg_0.1.0_arm64.deb"] {
                    assert!(line.contains(stand_in), "{line}");
                }
                let line = line
                    .replace(
                        "--host pi@raspberrypi.local",
                        &format!("--host pi --ssh-config {}", sshd.client_config().display()),
                    )
                    .replace("hmg_0.1.0_arm64.deb", &deb.display().to_string());
                run(&folder, &line)
            }
            _ => run(&folder, line),
        };
        outputs.push((step, t));
    }
    drop(server);
    let said = |step: &str| -> &str {
        &outputs
            .iter()
            .find(|(s, _)| *s == step)
            .unwrap_or_else(|| panic!("no {step}"))
            .1
    };

    // Seams on this side.
    let data = std::fs::read_to_string(dir.join("datasets/my_data/data.yaml")).unwrap();
    assert!(
        data.contains("0: drone") && data.contains("1: bird"),
        "{data}"
    );
    let truth = truth.unwrap();
    for i in PICTURES - IN_BROWSER..PICTURES {
        let name = format!("{i:03}");
        let split = ["train", "val"]
            .into_iter()
            .find(|s| {
                dir.join(format!("datasets/my_data/{s}/labels/{name}.txt"))
                    .exists()
            })
            .unwrap_or_else(|| panic!("{name}: labelled in the browser, not in the dataset"));
        let got = label_lines(&dir.join(format!("datasets/my_data/{split}/labels/{name}.txt")));
        let want = label_lines(&truth.join(format!("labels/{name}.txt")));
        assert_eq!(got.len(), want.len(), "{name}: {got:?} vs {want:?}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g[0], w[0], "{name}: class");
            for (a, b) in g[1..].iter().zip(&w[1..]) {
                assert!((a - b).abs() < 0.02, "{name}: {got:?} vs {want:?}");
            }
        }
    }
    assert!(
        said("hmg train").contains("fetching the pretrained weights yolov8n.pt"),
        "{}",
        said("hmg train")
    );
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(dir.join("exports/best.json")).unwrap()).unwrap();
    assert_eq!(sidecar["names"], serde_json::json!(NAMES));
    assert_eq!(
        sidecar["imgsz"],
        serde_json::json!([96, 96]),
        "export takes the trained size"
    );
    let compiled = said("hmg compile");
    for needle in ["enable_loose_mode", "optimization level 0"] {
        assert!(compiled.contains(needle), "{needle}: {compiled}");
    }

    // Seams on the Pi: the package installed, the model with its names, the service.
    let deployed = said("hmg deploy");
    for needle in [
        "hmg         not installed",
        "package: hmg_",
        "hmg-detect.service (re)started",
    ] {
        assert!(deployed.contains(needle), "{needle}: {deployed}");
    }
    let models = pi.join("pi/hmg/models");
    let hefs: Vec<PathBuf> = std::fs::read_dir(&models)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "hef"))
        .collect();
    assert!(!hefs.is_empty(), "no HEF on the Pi");
    let labels: Vec<PathBuf> = std::fs::read_dir(&models)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".labels.json"))
        .collect();
    assert_eq!(labels.len(), 1, "{labels:?}");
    let beside: Value = serde_json::from_slice(&std::fs::read(&labels[0]).unwrap()).unwrap();
    assert_eq!(beside["names"], serde_json::json!(NAMES));
    assert_eq!(beside["nms"]["place"], "host");

    // The live step on the Pi, on a clip for its camera: first run to learn the frames hmg feeds
    // the device, then recorded, then the strict run whose detections are checked.
    let clip = clip(&dir, 24);
    std::fs::copy(&clip, pi.join("pi/hmg/clip.mp4")).unwrap();
    let record = |inputs: &Path, extra: &[String]| {
        for hef in &hefs {
            let out = ultralytics_python(&dir)
                .arg(repo().join("tests/hailort-double/record-outputs"))
                .arg("--onnx")
                .arg(dir.join("exports/best.onnx"))
                .arg("--hef")
                .arg(hef)
                .arg("--calib")
                .arg(dir.join("calibration_data/calib_set.npy"))
                .arg("--inputs")
                .arg(inputs)
                .arg("--out")
                .arg(format!("{}.double", hef.display()))
                .args(extra)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out));
        }
    };
    let on_pi = |env: &str, line: &str| {
        let out = Command::new("ssh")
            .arg("-F")
            .arg(sshd.client_config())
            .arg("pi")
            .arg(format!("{env} {line} --input clip.mp4"))
            .output()
            .unwrap();
        let t = text(&out);
        assert!(out.status.success(), "on the Pi: `{line}`: {t}");
        t
    };
    record(&dir.join("calibration_data/calib_set.npy"), &[]);
    let frames = dir.join("frames.bin");
    let detect = pi_lines
        .iter()
        .find(|l| l.contains("hmg detect"))
        .unwrap()
        .clone();
    on_pi(
        &format!("export HAILORT_DOUBLE_DUMP={};", frames.display()),
        &detect,
    );
    let (frame_w, frame_h) = frame_size(&pi.join("pi/hmg/out/detect"), "clip");
    std::fs::remove_dir_all(pi.join("pi/hmg/out")).unwrap();
    let conf = flag(&detect, "--conf");
    // The exact reference: ultralytics' decoding of the very UINT8 heads the double answers with.
    let quantized_reference = dir.join("quantized-reference.json");
    record(
        &frames,
        &[
            "--detections".into(),
            quantized_reference.display().to_string(),
            "--frame".into(),
            frame_w.to_string(),
            frame_h.to_string(),
            "--conf".into(),
            conf.to_string(),
            "--iou".into(),
            flag(&detect, "--iou").to_string(),
        ],
    );
    on_pi("export HAILORT_DOUBLE_STRICT=1;", &detect);
    let on_device = detections(&pi.join("pi/hmg/out/detect"), "clip");
    assert_eq!(on_device.len(), 24, "one record a frame");
    let found: BTreeSet<String> = on_device.iter().flatten().map(|d| boxed(d).0).collect();
    assert!(
        !found.is_empty() && found.iter().all(|n| NAMES.contains(&n.as_str())),
        "the dataset's names on the Pi: {found:?}"
    );
    for d in on_device.iter().flatten() {
        assert!(boxed(d).1 >= conf - 1e-6, "--conf {conf}: {d}");
    }
    // The same line with the exported ONNX on this machine: the same detections.
    let local = dir.join("local");
    run(
        &folder,
        &format!(
            "{} --model exports/best.onnx --input {} --output {}",
            detect.trim_start_matches("cd hmg && "),
            clip.display(),
            local.display()
        ),
    );
    let reference = detections(&local, "clip");
    assert!(
        reference.iter().flatten().count() >= 10,
        "too few detections to compare: {reference:?}"
    );
    eprintln!(
        "seed walk: {} detections on the Pi (HEF), {} on this machine (ONNX), names {found:?}",
        on_device.iter().flatten().count(),
        reference.iter().flatten().count()
    );
    // On the same quantized outputs, hmg's HEF path and ultralytics agree exactly.
    let quantized: Vec<Vec<Value>> =
        serde_json::from_slice(&std::fs::read(&quantized_reference).unwrap()).unwrap();
    assert_same_detections(&on_device, &quantized, &NAMES);
    // Against the float model, quantization may move a box side by a DFL bin (a side's
    // distribution with two peaks) or flip a near-tie between classes; the walk's model (3 epochs
    // at 96 px) has several. Most confident detections must still agree: a broken quantization
    // (a wrong scale or zero point) loses nearly all of them. The figures are printed.
    let (agree, total) = agreement(&reference, &on_device, conf);
    let (back, total_back) = agreement(&on_device, &reference, conf);
    eprintln!(
        "seed walk: float ONNX in HEF {agree}/{total}, HEF in float ONNX {back}/{total_back}"
    );
    assert!(agree * 4 >= total * 3, "ONNX in HEF: {agree} of {total}");
    assert!(
        back * 4 >= total_back * 3,
        "HEF in ONNX: {back} of {total_back}"
    );
    if std::env::var_os("HMG_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
