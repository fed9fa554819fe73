// SPDX-License-Identifier: MIT OR Apache-2.0
//! A fleet in miniature: `hmg detect --mqtt` publishes two streams to a real mosquitto broker and
//! `hmg monitor` sees every frame, per device and stream, with the same detections per class as
//! the JSON lines; bad URLs are usage errors, an absent broker a clear failure.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use hmg_e2e::mosquitto::Mosquitto;
use hmg_e2e::*;

fn hmg() -> Command {
    let mut c = Command::new(profile_dir().join("hmg"));
    c.current_dir(repo());
    c
}

/// Detections per label in every .jsonl file of `dir`.
fn classes_in(dir: &std::path::Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "jsonl") {
            for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                for d in v["detections"].as_array().unwrap() {
                    *out.entry(d["label"].as_str().unwrap().to_string())
                        .or_default() += 1;
                }
            }
        }
    }
    out
}

#[test]
fn detect_publishes_and_monitor_sees_every_stream() {
    let dir = temp_dir("mqtt-fleet");
    let broker = Mosquitto::start(&dir, free_port());
    let url = format!(
        "mqtt://127.0.0.1:{}/hmg/{{device}}/{{stream}}/detections",
        broker.port
    );
    let pictures = dir.join("pictures");
    std::fs::create_dir_all(&pictures).unwrap();
    for name in ["person.jpg", "dog.jpg", "eagle.jpg"] {
        std::fs::copy(testdata().join("images").join(name), pictures.join(name)).unwrap();
    }
    let monitor = hmg()
        .args(["monitor", &url, "--duration", "15", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out_dir = dir.join("out");
    let out = hmg()
        .args(["detect", "--model"])
        .arg(repo().join("models/yolov12n-coco.onnx"))
        .arg("--input")
        .arg(&pictures)
        .arg("--input")
        .arg(&pictures)
        .args([
            "--headless",
            "--conf",
            "0.25",
            "--iou",
            "0.45",
            "--snapshot-interval",
            "0",
            "--mqtt",
            &url,
            "--output",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let monitor = monitor.wait_with_output().unwrap();
    assert!(monitor.status.success(), "{}", text(&monitor));
    let report: serde_json::Value = serde_json::from_slice(&monitor.stdout).unwrap();
    let streams = report["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2, "{report}");
    let host = String::from_utf8(Command::new("hostname").output().unwrap().stdout).unwrap();
    let mut per_class: BTreeMap<String, u64> = BTreeMap::new();
    for s in streams {
        assert_eq!(s["device"], host.trim(), "{s}");
        assert_eq!(s["frames"], 3, "one message per picture: {s}");
        for (label, n) in s["per_class"].as_object().unwrap() {
            *per_class.entry(label.clone()).or_default() += n.as_u64().unwrap();
        }
    }
    let run = detect_run_dir(&out_dir);
    let logged = classes_in(&run);
    // Both streams read the same three pictures: twice what ultralytics finds in them (the
    // reference's thresholds are given to detect).
    let want: BTreeMap<String, u64> =
        reference_image_labels(&["person.jpg", "dog.jpg", "eagle.jpg"])
            .into_iter()
            .map(|(label, n)| (label, 2 * n as u64))
            .collect();
    assert_eq!(logged, want);
    assert_eq!(
        per_class, logged,
        "the monitor saw what the JSON lines hold"
    );
}

#[test]
fn bad_mqtt_urls_are_usage_errors_and_an_absent_broker_fails_clearly() {
    let model = repo().join("models/yolov12n-coco.onnx");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--mqtt", "http://broker/x"],
            "write mqtt://host[:port]/topic",
        ),
        (
            &["--mqtt", "mqtt://user:pw@broker/x"],
            "no user name or password",
        ),
        (
            &["--mqtt", "mqtts://a:b@broker/x"],
            "no user name or password",
        ),
    ];
    for (args, message) in cases {
        let out = hmg()
            .args(["detect", "--model"])
            .arg(&model)
            .args(["--input", "media/bikes.mp4", "--headless", "--print"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(message), "{args:?}: {}", text(&out));
    }
    let out = hmg().args(["monitor", "tcp://broker/x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = hmg()
        .args(["monitor", &format!("mqtt://127.0.0.1:{}/x", free_port())])
        .args(["--json", "--duration", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("cannot reach the MQTT broker"),
        "{}",
        text(&out)
    );
}

/// One detmqtt-shaped message with `n` detections (300 is about 22 KB).
fn frame_message(n: usize) -> String {
    let detections: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({"box": [i as f64, 1.5, i as f64 + 20.25, 40.75],
                "class_id": 0, "confidence": 0.5, "label": "person"})
        })
        .collect();
    serde_json::json!({"stream": "cam", "frame": 0, "width": 1280, "height": 720,
        "detections": detections})
    .to_string()
}

fn publish(port: u16, message: &str) {
    publish_to(port, "hmg/pi1/cam/detections", message);
}

fn publish_to(port: u16, topic: &str, message: &str) {
    let out = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(["-t", topic, "-m", message])
        .output()
        .expect("mosquitto_pub (mosquitto-clients) is installed by scripts/setup");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn monitor_reads_large_frames_and_resubscribes_after_a_broker_restart() {
    let dir = temp_dir("mqtt-monitor-large");
    let port = free_port();
    let broker = Mosquitto::start(&dir, port);
    let url = format!("mqtt://127.0.0.1:{port}/hmg/{{device}}/{{stream}}/detections");
    let monitor = hmg()
        .args(["monitor", &url, "--duration", "14", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let large = frame_message(300);
    assert!(large.len() > 20_000, "{}", large.len());
    for _ in 0..3 {
        publish(port, &large);
    }
    std::thread::sleep(std::time::Duration::from_millis(1000));
    // The broker goes away and comes back (a restart loses its sessions).
    drop(broker);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _broker = Mosquitto::start(&dir, port);
    std::thread::sleep(std::time::Duration::from_millis(4000));
    for _ in 0..2 {
        publish(port, &frame_message(2));
    }
    let monitor = monitor.wait_with_output().unwrap();
    assert!(monitor.status.success(), "{}", text(&monitor));
    let report: serde_json::Value = serde_json::from_slice(&monitor.stdout).unwrap();
    let streams = report["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{report}");
    assert_eq!(
        streams[0]["frames"], 5,
        "3 large + 2 after the restart: {report}"
    );
    assert_eq!(streams[0]["detections"], 3 * 300 + 2 * 2, "{report}");
}

#[test]
fn detect_events_reach_the_broker_and_the_monitor_shows_the_counts() {
    let dir = temp_dir("mqtt-events");
    let broker = Mosquitto::start(&dir, free_port());
    let url = format!(
        "mqtt://127.0.0.1:{}/hmg/{{device}}/{{stream}}/events",
        broker.port
    );
    let zones = dir.join("zones.json");
    std::fs::write(
        &zones,
        r#"{"lines": [{"name": "door", "points": [[0.5, 0.0], [0.5, 1.0]]}]}"#,
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = hmg()
        .args(["detect", "--model"])
        .arg(repo().join("models/yolov12n-coco.onnx"))
        .arg("--input")
        .arg(repo().join("media/bikes.mp4"))
        .arg("--zones")
        .arg(&zones)
        .args(["--events", &url, "--homeassistant", "--headless"])
        .args(["--snapshot-interval", "0", "--output"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let run = detect_run_dir(&out_dir);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    let stream = &summary["streams"][0];
    // Every track seen has one new and one end record in the local events log.
    let events = read_json_lines(&run.join("bikes.events.jsonl"));
    let count = |kind: &str| events.iter().filter(|e| e["type"] == kind).count() as u64;
    assert_eq!(count("new"), stream["tracks"].as_u64().unwrap(), "{stream}");
    assert_eq!(count("end"), count("new"));
    // A monitor that comes afterwards still gets the retained counts, equal to detect's.
    let monitor = hmg()
        .args(["monitor", &url, "--duration", "3", "--json"])
        .output()
        .unwrap();
    assert!(monitor.status.success(), "{}", text(&monitor));
    let report: serde_json::Value = serde_json::from_slice(&monitor.stdout).unwrap();
    let seen = &report["streams"][0];
    assert_eq!(seen["stream"], "bikes", "{report}");
    let door = &stream["counts"]["lines"]["door"];
    assert!(
        !door.as_object().unwrap().is_empty(),
        "nobody crossed: {stream}"
    );
    for (label, c) in door.as_object().unwrap() {
        assert_eq!(&seen["counts"]["lines"]["door"][label], c, "{report}");
    }
    // And Home Assistant's configs are retained for each count.
    let ha = Command::new("mosquitto_sub")
        .args([
            "-p",
            &broker.port.to_string(),
            "-t",
            "homeassistant/#",
            "-v",
        ])
        .args(["-W", "2"])
        .output()
        .unwrap();
    let configs = String::from_utf8_lossy(&ha.stdout)
        .lines()
        .filter(|l| l.contains("/config "))
        .count();
    assert_eq!(configs, 2 * door.as_object().unwrap().len());
}

#[test]
fn monitor_serves_the_fleet_as_a_page_behind_its_token() {
    use std::io::BufRead;
    let dir = temp_dir("mqtt-fleet-page");
    let broker = Mosquitto::start(&dir, free_port());
    let url = format!(
        "mqtt://127.0.0.1:{}/hmg/{{device}}/{{stream}}/detections",
        broker.port
    );
    let mut monitor = hmg()
        .args(["monitor", &url, "--duration", "14", "--serve"])
        .args(["--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(monitor.stdout.take().unwrap()).lines();
    let link = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("fleet page: ").map(str::to_string))
        .expect("hmg monitor --serve prints the page's link");
    let (base, token) = link.split_once("/?token=").unwrap();
    // Two devices: three frames of two detections from one, one frame from the other.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    for _ in 0..3 {
        publish_to(broker.port, "hmg/pi1/cam/detections", &frame_message(2));
    }
    publish_to(broker.port, "hmg/pi2/door/detections", &frame_message(5));

    let agent = hmg_e2e::webdriver::http();
    let state = |t: Option<&str>| {
        let mut r = agent.get(format!("{base}/state"));
        if let Some(t) = t {
            r = r.header("X-Hmg-Token", t);
        }
        r.call().unwrap()
    };
    assert_eq!(state(None).status(), 403, "no token, no fleet");
    assert_eq!(state(Some("0123")).status(), 403, "a wrong token neither");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let report = loop {
        let v: serde_json::Value = state(Some(token)).body_mut().read_json().unwrap();
        if v["streams"].as_array().unwrap().len() == 2 && v["streams"][0]["frames"] == 3 {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page never showed both: {v}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let streams = report["streams"].as_array().unwrap();
    assert_eq!(
        (&streams[0]["device"], &streams[0]["stream"]),
        (&"pi1".into(), &"cam".into())
    );
    assert_eq!(streams[0]["detections"], 3 * 2, "{report}");
    assert_eq!(streams[1]["device"], "pi2", "{report}");
    assert_eq!(streams[1]["detections"], 5, "{report}");
    assert!(
        streams[0]["last_seen_s"].as_f64().unwrap() < 10.0,
        "{report}"
    );

    // The page itself, in a real browser: one row per stream with the same figures.
    let browser = hmg_e2e::webdriver::Browser::start(dir.join("profile"));
    browser.goto(&link);
    browser.wait_for("window.hmgFleet && window.hmgFleet.streams.length == 2");
    let rows = browser.script(
        "return [...document.querySelectorAll('#rows tr')].map(tr => [...tr.cells].map(c => c.textContent))",
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, stream) in rows.iter().zip(streams) {
        assert_eq!(row[0], stream["device"], "{rows:?}");
        assert_eq!(row[1], stream["stream"], "{rows:?}");
        assert_eq!(row[3], stream["frames"].to_string().as_str(), "{rows:?}");
        assert_eq!(
            row[4],
            stream["detections"].to_string().as_str(),
            "{rows:?}"
        );
    }
    assert_eq!(rows[0][6], "person 6", "per class on the page: {rows:?}");
    assert_eq!(rows[1][8], "hmg serve --host pi2", "{rows:?}");
    let out = monitor.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
