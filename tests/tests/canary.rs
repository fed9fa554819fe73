// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg deploy --canary` on two real sshd "Pis" whose service really runs (a systemctl test double
//! that starts the unit's ExecStart: `hmg detect` on a live RTSP camera): a good model passes the
//! canary's soak and reaches the other host; a broken one fails it, the canary is rolled back and
//! runs the previous model again, and the other host is never touched.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hmg_e2e::pis::Pis;
use hmg_e2e::rtsp::RtspCamera;
use hmg_e2e::*;

#[test]
fn a_good_model_passes_the_canary_and_a_broken_one_is_rolled_back() {
    let pis = Pis::start("canary", &["pi-a", "pi-b"]);
    // A camera slower than the model: both hosts' FPS is the camera's, whatever else runs here.
    let camera = RtspCamera::start_with(free_port(), (320, 240), 4, "ball");
    let detect_args = format!("--input {} --threads 1", camera.url);
    let deploy = |model: &Path, extra: &[&str]| -> Output {
        Command::new(profile_dir().join("hmg"))
            .current_dir(&pis.dirs[0])
            .args(["deploy", "--ssh-config"])
            .arg(&pis.config)
            .args(["--host", "pi-a", "--host", "pi-b", "--service"])
            .args(["--detect-args", &detect_args, "--model"])
            .arg(model)
            .args(extra)
            .output()
            .unwrap()
    };

    // v1 everywhere, no canary.
    let v1 = repo().join("models/yolov12n-coco.onnx");
    let out = deploy(&v1, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let v1_name = pis.current(0);
    assert_eq!(pis.current(1), v1_name);
    pis.wait_running(0, &v1_name);
    pis.wait_running(1, &v1_name);

    // v2 (another file, the same network): the canary runs it well, then pi-b gets it.
    let v2 = testdata().join("models/yolov12n.onnx");
    let out = deploy(&v2, &["--canary", "1", "--soak", "15s"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("canary soak passed"), "{}", text(&out));
    let v2_name = pis.current(0);
    assert_ne!(v2_name, v1_name);
    assert_eq!(pis.current(1), v2_name);
    pis.wait_running(1, &v2_name);

    // A broken model: the canary never runs a frame with it, goes back to v2; pi-b is not touched.
    let bytes = std::fs::read(&v2).unwrap();
    let broken = pis.dirs[0].join("broken.onnx");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let started = Instant::now();
    let out = deploy(&broken, &["--canary", "1", "--soak", "15s"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(90));
    let said = text(&out);
    assert!(said.contains("never ran a frame"), "{said}");
    assert!(said.contains("rolled back"), "{said}");
    assert!(said.contains("other 1 host(s) were not touched"), "{said}");
    assert_eq!(pis.current(0), v2_name, "the canary is back on v2");
    let running = pis.wait_running(0, &v2_name);
    assert!(running["streams"][0]["frames"].as_u64().unwrap() > 0);
    assert_eq!(pis.current(1), v2_name);
    let on_b: Vec<String> = std::fs::read_dir(pis.hmg_dir(1).join("models"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !on_b.iter().any(|n| n.starts_with("broken")),
        "the broken model reached pi-b: {on_b:?}"
    );
}
