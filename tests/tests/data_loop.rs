// SPDX-License-Identifier: MIT OR Apache-2.0
//! The data loop on real data, one step after the other, each handing its files to the next:
//! a young model (the bundled COCO model) keeps the frames of the real clip it is unsure about on
//! a "Pi" → `hmg collect` brings them home → `hmg annotate` in headless Chromium: the Pi's own
//! predictions as suggestions, one picture accepted as suggested, one corrected → `--auto-label`
//! queues the rest → `hmg dataset verify` counts them unreviewed → `hmg pipeline` (one epoch on the
//! CPU, the Dataflow Compiler's TEST DOUBLE) → `hmg deploy --canary` of the new model to two
//! "Pis" whose service runs on a live RTSP camera: a copy damaged on the way fails the canary's
//! soak on pi-a, which is rolled back while pi-b is not touched; the good copy then passes and
//! reaches both.
//!
//! Stand-ins: the Pis are loopback sshd servers (tests/src/pis.rs); the model deployed is the
//! pipeline's ONNX export (a .hef needs a Hailo-8; the seed walk covers the HEF with the HailoRT
//! double); captures are made by running the Pi's `hmg detect --capture` here into its folder.

use std::process::{Output, Stdio};

use hmg_e2e::pis::Pis;
use hmg_e2e::rtsp::RtspCamera;
use hmg_e2e::webdriver::Browser;
use hmg_e2e::*;

const NAMES: &str = "person,bicycle,car";

#[test]
fn from_the_pis_doubts_to_a_better_model_on_every_pi() {
    let pis = Pis::start("data-loop", &["pi-a", "pi-b"]);
    let work = temp_dir("data-loop-desk");
    let hmg = |args: &[&str]| -> Output {
        let out = hmg_command(&work).args(args).output().unwrap();
        assert!(out.status.success(), "hmg {args:?}:\n{}", text(&out));
        out
    };
    let ssh_config = pis.config.to_str().unwrap().to_string();

    // 1. The young model on pi-a keeps what it is unsure of.
    let pi_out = pis.hmg_dir(0).join("out/detect");
    let out = hmg_command(&repo())
        .args(["detect", "--model", "models/yolov12n-coco.onnx"])
        .args(["--input", "media/bikes.mp4", "--headless", "--capture"])
        .args(["--capture-rate", "60", "--output"])
        .arg(&pi_out)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let on_pi = std::fs::read_dir(pi_out.join("captures")).unwrap().count();
    assert!(on_pi >= 8, "{on_pi} files captured");

    // 2. Home.
    hmg(&[
        "collect",
        "--host",
        "pi-a",
        "--ssh-config",
        &ssh_config,
        "--into",
        "captured",
    ]);
    let captured = work.join("captured/pi-a");
    let pictures: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(&captured)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".jpg"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(pictures.len() * 2, on_pi, "every pair came");
    assert_eq!(
        std::fs::read_dir(pi_out.join("captures")).unwrap().count(),
        0,
        "and left the Pi"
    );

    // 3. Labels: two pictures by hand in the browser, with the Pi's predictions as suggestions.
    hmg(&["dataset", "init", "datasets", "--names", NAMES]);
    let mut child = hmg_command(&work)
        .args([
            "annotate",
            "--images",
            "captured/pi-a",
            "--dataset",
            "datasets/train",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (url, _) = annotator_url(&mut child);
    let browser = Browser::start(work.join("profile"));
    browser.goto(&url);
    let ready = |name: &str| {
        format!(
            "window.hmgReady && document.getElementById('file').textContent.startsWith('{name}') && window.hmgSuggestions"
        )
    };
    let shown = |b: &Browser| {
        b.script("return window.hmgSuggestions.length")
            .as_u64()
            .unwrap()
    };
    browser.wait_for(&ready(&pictures[0]));
    let first = shown(&browser);
    browser.key("\u{E007}"); // Enter: as the Pi saw it
    browser.key(" ");
    browser.wait_for(&ready(&pictures[1]));
    let second = shown(&browser);
    assert!(second > 0, "the second capture has suggestions");
    browser.key("\u{E007}");
    browser.key("\u{E003}"); // one box was wrong: Backspace
    browser.key(" ");
    browser.wait_for("window.hmgReady");
    browser.key("\u{E00C}");
    browser.wait_for("window.hmgClosed === true");
    assert!(annotator_exit(&mut child).success());
    let lines = |name: &str| {
        let stem = name.trim_end_matches(".jpg");
        label_lines(&work.join(format!("datasets/train/labels/{stem}.txt"))).len() as u64
    };
    assert_eq!(lines(&pictures[0]), first);
    assert_eq!(lines(&pictures[1]), second - 1);

    // 4. The rest from the Pi's predictions, unreviewed; verify counts them, train would refuse.
    hmg(&[
        "annotate",
        "--images",
        "captured/pi-a",
        "--dataset",
        "datasets/train",
        "--auto-label",
        "--no-page",
    ]);
    let verify = hmg_command(&work)
        .args(["dataset", "verify", "datasets"])
        .output()
        .unwrap();
    assert!(!verify.status.success());
    assert!(
        text(&verify).contains(&format!(
            "unreviewed (labels a model wrote): train {}",
            pictures.len() - 2
        )),
        "{}",
        text(&verify)
    );

    // 5. A new model: the whole pipeline, short, the compiler a double.
    let sdk = fake_sdk(&work);
    let checkpoint = pretrained_checkpoint();
    let out = hmg(&[
        "pipeline",
        "datasets",
        "loop",
        "--allow-unreviewed",
        "--model",
        checkpoint.to_str().unwrap(),
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "8",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--num-samples",
        "4",
        "--optimization-level",
        "0",
        "--sdk",
        sdk.to_str().unwrap(),
    ]);
    assert!(work.join("models/loop.hef").is_file(), "{}", text(&out));
    let onnx = work.join("exports/loop/best.onnx");
    assert!(onnx.is_file());

    // 6. Every Pi runs the young model; the new one goes to pi-a first, then to pi-b.
    let camera = RtspCamera::start_with(free_port(), (320, 240), 4, "ball");
    let detect_args = format!("--input {} --threads 1", camera.url);
    // The roll-out to both Pis, whatever its outcome.
    let roll_out = |model: &str, extra: &[&str]| -> Output {
        hmg_command(&work)
            .args([
                "deploy",
                "--ssh-config",
                &ssh_config,
                "--host",
                "pi-a",
                "--host",
                "pi-b",
            ])
            .args(["--service", "--detect-args", &detect_args, "--model", model])
            .args(extra)
            .output()
            .unwrap()
    };
    let deploy = |model: &str, extra: &[&str]| {
        let out = roll_out(model, extra);
        assert!(out.status.success(), "hmg deploy {model}:\n{}", text(&out));
        out
    };
    let young = repo().join("models/yolov12n-coco.onnx");
    deploy(young.to_str().unwrap(), &[]);
    let young_name = pis.current(0);
    pis.wait_running(0, &young_name);
    pis.wait_running(1, &young_name);
    // A copy cut short on the way: pi-a never runs a frame with it and goes back to the young
    // model; pi-b never sees it.
    let bytes = std::fs::read(&onnx).unwrap();
    let damaged = work.join("damaged.onnx");
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
    let out = roll_out(
        damaged.to_str().unwrap(),
        &["--canary", "1", "--soak", "15s"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("rolled back") && said.contains("other 1 host(s) were not touched"),
        "{said}"
    );
    assert_eq!(
        pis.current(0),
        young_name,
        "pi-a is back on the young model"
    );
    pis.wait_running(0, &young_name);
    assert_eq!(pis.current(1), young_name);

    let out = deploy(onnx.to_str().unwrap(), &["--canary", "1", "--soak", "15s"]);
    assert!(text(&out).contains("canary soak passed"), "{}", text(&out));
    let new_name = pis.current(0);
    assert!(new_name.starts_with("best-"), "{new_name}");
    assert_eq!(pis.current(1), new_name);
    pis.wait_running(1, &new_name);
}
