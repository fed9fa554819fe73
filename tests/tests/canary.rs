// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg deploy --canary` on two real sshd "Pis" whose service really runs (a systemctl test double
//! that starts the unit's ExecStart: `hmg detect` on a live RTSP camera): a good model passes the
//! canary's soak and reaches the other host; a broken one fails it, the canary is rolled back and
//! runs the previous model again, and the other host is never touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hmg_e2e::rtsp::RtspCamera;
use hmg_e2e::sshd::{Sshd, setup};
use hmg_e2e::*;

/// Ends the services the double started when the test ends, passed or not.
struct Services(Vec<PathBuf>);

impl Drop for Services {
    fn drop(&mut self) {
        for dir in &self.0 {
            let pidfile = dir.join("pi/.systemctl-double/hmg-detect.service.pid");
            if let Ok(pid) = std::fs::read_to_string(&pidfile) {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", pid.trim())])
                    .status();
            }
        }
    }
}

/// The status file the service's hmg detect rewrites.
fn status(dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read(dir.join("pi/hmg/out/detect/status.json")).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Waits until `dir`'s service runs `model` (a file name in models/) and has passed frames.
fn wait_running(dir: &Path, model: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(s) = status(dir)
            && s["model"].as_str().is_some_and(|m| m.ends_with(model))
            && s["streams"][0]["frames"].as_u64().unwrap_or(0) > 0
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{} never ran {model}: {:?}\n{}",
            dir.display(),
            status(dir),
            std::fs::read_to_string(dir.join("pi/.systemctl-double/hmg-detect.service.log"))
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn current(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("pi/hmg/models/CURRENT"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn a_good_model_passes_the_canary_and_a_broken_one_is_rolled_back() {
    let (dir_a, dir_b) = (setup("canary-a"), setup("canary-b"));
    std::fs::copy(dir_a.join("client_key.pub"), dir_b.join("authorized_keys")).unwrap();
    for d in [&dir_a, &dir_b] {
        std::fs::copy(
            repo().join("tests/support/systemctl-runs-units"),
            d.join("fakebin/systemctl"),
        )
        .unwrap();
    }
    let _services = Services(vec![dir_a.clone(), dir_b.clone()]);
    let (a, b) = (Sshd::start_in_home(&dir_a), Sshd::start_in_home(&dir_b));
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let mut config = String::new();
    for (name, sshd) in [("pi-a", &a), ("pi-b", &b)] {
        config.push_str(&format!(
            "Host {name}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {k}/client_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}/known_hosts\n  StrictHostKeyChecking accept-new\n",
            sshd.port,
            user.trim(),
            k = dir_a.display(),
            known = sshd.dir.display(),
        ));
    }
    let config_file = dir_a.join("fleet.conf");
    std::fs::write(&config_file, config).unwrap();
    // A camera slower than the model: both hosts' FPS is the camera's, whatever else runs here.
    let camera = RtspCamera::start_with(free_port(), (320, 240), 2, "ball");
    let detect_args = format!("--input {} --threads 1", camera.url);
    let deploy = |model: &Path, extra: &[&str]| -> Output {
        Command::new(profile_dir().join("hmg"))
            .current_dir(&dir_a)
            .args(["deploy", "--ssh-config"])
            .arg(&config_file)
            .args(["--host", "pi-a", "--host", "pi-b", "--service"])
            .args(["--detect-args", &detect_args, "--model"])
            .arg(model)
            .args(extra)
            .output()
            .unwrap()
    };
    let name_on_pi = |dir: &Path| current(dir);

    // v1 everywhere, no canary.
    let v1 = repo().join("models/yolov12n-coco.onnx");
    let out = deploy(&v1, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let v1_name = name_on_pi(&dir_a);
    assert_eq!(name_on_pi(&dir_b), v1_name);
    wait_running(&dir_a, &v1_name);
    wait_running(&dir_b, &v1_name);

    // v2 (another file, the same network): the canary runs it well, then pi-b gets it.
    let v2 = testdata().join("models/yolov12n.onnx");
    let out = deploy(&v2, &["--canary", "1", "--soak", "15s"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("canary soak passed"), "{}", text(&out));
    let v2_name = name_on_pi(&dir_a);
    assert_ne!(v2_name, v1_name);
    assert_eq!(name_on_pi(&dir_b), v2_name);
    wait_running(&dir_b, &v2_name);

    // A broken model: the canary never runs a frame with it, goes back to v2; pi-b is not touched.
    let bytes = std::fs::read(&v2).unwrap();
    let broken = dir_a.join("broken.onnx");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let started = Instant::now();
    let out = deploy(&broken, &["--canary", "1", "--soak", "15s"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(60));
    let said = text(&out);
    assert!(said.contains("never ran a frame"), "{said}");
    assert!(said.contains("rolled back"), "{said}");
    assert!(said.contains("other 1 host(s) were not touched"), "{said}");
    assert_eq!(name_on_pi(&dir_a), v2_name, "the canary is back on v2");
    let running = wait_running(&dir_a, &v2_name);
    assert!(running["streams"][0]["frames"].as_u64().unwrap() > 0);
    assert_eq!(name_on_pi(&dir_b), v2_name);
    let on_b: Vec<String> = std::fs::read_dir(dir_b.join("pi/hmg/models"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !on_b.iter().any(|n| n.starts_with("broken")),
        "the broken model reached pi-b: {on_b:?}"
    );
}
