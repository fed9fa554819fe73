// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg serve --host PI` against a real sshd "Pi" whose deployed service really runs with its live
//! view on the Pi's loopback: the link it prints here reaches that page through SSH (the token
//! still required), and a Pi without a live view or without a service gets the command that fixes it.

use std::io::BufRead;
use std::process::{Command, Stdio};

use hmg_e2e::pis::Pis;
use hmg_e2e::rtsp::RtspCamera;
use hmg_e2e::webdriver::http;
use hmg_e2e::*;

#[test]
fn serve_opens_the_pis_live_view_here_through_ssh() {
    let pis = Pis::start("serve", &["pi-a"]);
    let config = pis.config.to_str().unwrap().to_string();
    let hmg = || {
        let mut c = Command::new(profile_dir().join("hmg"));
        c.current_dir(&pis.dirs[0]);
        c
    };
    // No service yet: what to deploy.
    let out = hmg()
        .args(["serve", "--host", "pi-a", "--ssh-config", &config])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("hmg deploy --host pi-a"),
        "{}",
        text(&out)
    );

    let camera = RtspCamera::start_with(free_port(), (320, 240), 2, "ball");
    let remote_port = free_port();
    let out = hmg()
        .args([
            "deploy",
            "--host",
            "pi-a",
            "--ssh-config",
            &config,
            "--service",
        ])
        .args([
            "--detect-args",
            &format!("--input {} --threads 1", camera.url),
        ])
        .args(["--serve", &format!("127.0.0.1:{remote_port}"), "--model"])
        .arg(repo().join("models/yolov12n-coco.onnx"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let model = pis.current(0);
    pis.wait_running(0, &model);

    let mut serve = hmg()
        .args(["serve", "--host", "pi-a", "--ssh-config", &config])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let link = std::io::BufReader::new(serve.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split_once(": http://")
                .map(|(_, u)| format!("http://{u}"))
        })
        .expect("hmg serve prints the link");
    assert!(
        !link.contains(&format!(":{remote_port}/")),
        "a local port: {link}"
    );
    let (base, token) = link.split_once("/?token=").unwrap();
    let agent = http();
    let mut state = agent
        .get(format!("{base}/state"))
        .header("X-Hmg-Token", token)
        .call()
        .unwrap();
    assert_eq!(state.status(), 200);
    let state: serde_json::Value = state.body_mut().read_json().unwrap();
    assert!(state.to_string().contains("frames"), "{state}");
    let refused = agent.get(format!("{base}/state")).call().unwrap();
    assert_eq!(refused.status(), 403);
    let _ = serve.kill();
    let _ = serve.wait();

    // The same service without a live view: deploy it with one.
    let out = hmg()
        .args([
            "deploy",
            "--host",
            "pi-a",
            "--ssh-config",
            &config,
            "--service",
        ])
        .args([
            "--detect-args",
            &format!("--input {} --threads 1", camera.url),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while pis.status(0).is_none_or(|s| !s["live_view"].is_null()) {
        assert!(std::time::Instant::now() < deadline, "{:?}", pis.status(0));
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let out = hmg()
        .args(["serve", "--host", "pi-a", "--ssh-config", &config])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("--serve 127.0.0.1:8080"),
        "{}",
        text(&out)
    );
}
