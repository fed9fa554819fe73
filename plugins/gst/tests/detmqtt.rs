// SPDX-License-Identifier: MIT OR Apache-2.0
//! detmqtt against a real mosquitto broker started on loopback: topic and schema, the broker
//! stopped mid-stream and restarted (every message arrives afterwards, first arrivals in
//! order), the spool limit, TLS with a throw-away CA and client certificates, credentials.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;
use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};

/// One test at a time: brokers, ports and graphs stay apart.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hmg-detmqtt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A mosquitto process with its own config; killed when dropped.
struct Broker {
    child: Child,
    config: PathBuf,
    ports: Vec<u16>,
}

impl Broker {
    /// `listeners`: extra config lines per listener, e.g. `("", 1883)`.
    fn start(dir: &Path, listeners: &[(&str, u16)], extra: &str) -> Self {
        // Run as ourselves: started as root, mosquitto would switch to its own user and could not
        // read the test's key files.
        let user = Command::new("id").arg("-un").output().unwrap();
        let user = String::from_utf8_lossy(&user.stdout).trim().to_string();
        let mut config = format!(
            "user {user}\npersistence true\npersistence_location {}/\nper_listener_settings false\n{extra}\n",
            dir.display()
        );
        for (lines, port) in listeners {
            config.push_str(&format!("listener {port} 127.0.0.1\n{lines}\n"));
        }
        if !extra.contains("allow_anonymous") {
            config.push_str("allow_anonymous true\n");
        }
        let path = dir.join("mosquitto.conf");
        std::fs::write(&path, config).unwrap();
        let mut broker = Self {
            child: Self::spawn(&path),
            config: path,
            ports: listeners.iter().map(|l| l.1).collect(),
        };
        broker.wait_ready();
        broker
    }

    fn spawn(config: &Path) -> Child {
        Command::new("mosquitto")
            .arg("-c")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (scripts/setup)")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in &self.ports {
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "mosquitto did not listen on {port}"
                );
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("mosquitto exited: {status}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// SIGTERM (mosquitto saves its persistent sessions), then wait.
    fn stop(&mut self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let _ = self.child.wait();
    }

    /// Sends a signal as it is: `9` kills without a word (nothing saved, sockets reset by the
    /// kernel), `19`/`18` freeze and thaw (connections stay open, nothing answers).
    fn signal(&mut self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc_kill(self.child.id() as i32, sig) };
        if sig == 9 {
            let _ = self.child.wait();
        }
    }

    fn restart(&mut self) {
        self.child = Self::spawn(&self.config);
        self.wait_ready();
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A QoS 1 subscriber with a persistent session (it gets what was published while it or the
/// broker was away); messages arrive on the channel as (topic, JSON).
fn subscribe(port: u16, topic: &str, id: &str) -> mpsc::Receiver<(String, serde_json::Value)> {
    let (tx, rx) = mpsc::channel();
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_clean_session(false);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut connection) = Client::new(options, 10);
    client.subscribe(topic, QoS::AtLeastOnce).unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let topic = topic.to_string();
    std::thread::spawn(move || {
        let mut connections = 0;
        for event in connection.iter() {
            match event {
                // A broker that lost its sessions (killed before it saved them) no longer knows
                // the subscription on a reconnection: make it again, as real subscribers do.
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                    connections += 1;
                    if connections > 1 && !ack.session_present {
                        let _ = client.try_subscribe(topic.as_str(), QoS::AtLeastOnce);
                    }
                }
                Ok(Event::Incoming(Incoming::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let json = serde_json::from_slice(&p.payload).expect("JSON payload");
                    if tx.send((p.topic.clone(), json)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                // The broker restarts in one test: keep polling, rumqttc reconnects.
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("subscribed");
    rx
}

type Message = (String, serde_json::Value);

/// Collects messages until `done` says so (or `timeout` passed).
fn collect_until(
    rx: &mpsc::Receiver<Message>,
    timeout: Duration,
    done: impl Fn(&[Message]) -> bool,
) -> Vec<Message> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while !done(&got) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(m) => got.push(m),
            Err(_) => break,
        }
    }
    got
}

/// Collects `n` messages (or what came within `timeout`).
fn collect(rx: &mpsc::Receiver<Message>, n: usize, timeout: Duration) -> Vec<Message> {
    collect_until(rx, timeout, |got| got.len() >= n)
}

/// Collects until `n` distinct frames came; duplicates (QoS 1 resends) kept.
fn collect_distinct(rx: &mpsc::Receiver<Message>, n: usize, timeout: Duration) -> Vec<Message> {
    collect_until(rx, timeout, |got| {
        first_arrivals(&frames_of(got)).len() >= n
    })
}

fn graph(source: &str, detmqtt: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(&format!("{source} ! detmqtt name=mq {detmqtt} ! fakesink"))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap()
}

/// Plays to EOS; returns the warnings the graph posted.
fn play(pipeline: &gst::Pipeline) -> Vec<String> {
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut warnings = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} ({:?})", e.error(), e.debug()),
            gst::MessageView::Warning(w) => {
                warnings.push(format!("{} {}", w.error(), w.debug().unwrap_or_default()))
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    // The sender thread is joined on the way to NULL: what it reported is on the bus by now,
    // even when it came after EOS.
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Warning(w) = msg.view() {
            warnings.push(format!("{} {}", w.error(), w.debug().unwrap_or_default()));
        }
    }
    warnings
}

fn frames_of(messages: &[Message]) -> Vec<u64> {
    messages
        .iter()
        .map(|(_, m)| m["frame"].as_u64().unwrap())
        .collect()
}

/// First arrivals only (QoS 1 may deliver a message twice after a reconnect).
fn first_arrivals(frames: &[u64]) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    frames.iter().copied().filter(|f| seen.insert(*f)).collect()
}

#[test]
fn every_frame_is_a_message_on_its_topic_with_the_detlog_schema() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("schema");
    let port = free_port();
    let _broker = Broker::start(&dir, &[("", port)], "");
    let rx = subscribe(port, "hmg/#", "schema-sub");
    // A real detection: the person picture through the real graph.
    let pipeline = graph(
        &format!(
            "filesrc location={} ! jpegdec ! videoconvert ! imagefreeze num-buffers=5 ! hailoinfer model={} ! yolonms",
            image("person.jpg"),
            model("yolov12n.onnx")
        ),
        &format!(
            "location=mqtt://127.0.0.1:{port}/hmg/{{device}}/{{stream}}/detections device=pi1 stream-name=door spool-dir={}",
            dir.join("spool").display()
        ),
    );
    play(&pipeline);
    let got = collect(&rx, 5, Duration::from_secs(20));
    assert_eq!(frames_of(&got), [0, 1, 2, 3, 4]);
    for (topic, m) in &got {
        assert_eq!(topic, "hmg/pi1/door/detections");
        assert_eq!(m["stream"], "door");
        assert!(m["width"].as_i64().unwrap() > 0 && m["height"].as_i64().unwrap() > 0);
        let dets = m["detections"].as_array().unwrap();
        assert!(!dets.is_empty(), "the person is found: {m}");
        for d in dets {
            assert!(d["label"].is_string() && d["class_id"].is_u64());
            assert_eq!(d["box"].as_array().unwrap().len(), 4);
        }
    }
    let mq = pipeline.by_name("mq").unwrap();
    assert_eq!(mq.property::<u64>("dropped"), 0);
    // Delivered messages leave the spool.
    let left = std::fs::read_dir(dir.join("spool")).unwrap().count();
    assert_eq!(left, 0, "spool emptied");
}

#[test]
fn messages_made_while_the_broker_is_down_arrive_after_it_returns_in_order() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("restart");
    let port = free_port();
    let mut broker = Broker::start(&dir, &[("", port)], "");
    let rx = subscribe(port, "t/#", "restart-sub");
    // 120 frames at 40 fps (3 s): the broker is away for a second in the middle.
    let pipeline = graph(
        "videotestsrc is-live=true num-buffers=120 ! video/x-raw,width=64,height=48,framerate=40/1",
        &format!(
            "location=mqtt://127.0.0.1:{port}/t/{{stream}} stream-name=cam spool-dir={}",
            dir.join("spool").display()
        ),
    );
    let runner = {
        let p = pipeline.clone();
        std::thread::spawn(move || play(&p))
    };
    std::thread::sleep(Duration::from_millis(800));
    broker.stop();
    std::thread::sleep(Duration::from_millis(1200));
    broker.restart();
    let warnings = runner.join().unwrap();
    let got = collect_distinct(&rx, 120, Duration::from_secs(30));
    let frames = frames_of(&got);
    assert_eq!(
        first_arrivals(&frames),
        (0..120).collect::<Vec<u64>>(),
        "every frame, first arrivals in order"
    );
    assert!(
        warnings.iter().any(|w| w.contains("MQTT")),
        "the outage was reported: {warnings:?}"
    );
}

/// 480 frames at 40 fps (12 s) with the broker broken after 1.5 s for `away`: by `break_it`,
/// then `mend`, while the graph still runs. Every frame must arrive, first arrivals in order;
/// returns how long after the mend the frames made until then had all arrived.
fn survives_a_broker_fault(
    name: &str,
    broker_config: &str,
    away: Duration,
    break_it: impl FnOnce(&mut Broker),
    mend: impl FnOnce(&mut Broker),
) -> Duration {
    const FRAMES: u64 = 480;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir(name);
    let port = free_port();
    let mut broker = Broker::start(&dir, &[("", port)], broker_config);
    let rx = subscribe(port, "t/#", &format!("{name}-sub"));
    let pipeline = graph(
        &format!(
            "videotestsrc is-live=true num-buffers={FRAMES} ! video/x-raw,width=64,height=48,framerate=40/1"
        ),
        &format!(
            "location=mqtt://127.0.0.1:{port}/t/{{stream}} stream-name=cam spool-dir={}",
            dir.join("spool").display()
        ),
    );
    let runner = {
        let p = pipeline.clone();
        std::thread::spawn(move || play(&p))
    };
    std::thread::sleep(Duration::from_millis(1500));
    break_it(&mut broker);
    std::thread::sleep(away);
    mend(&mut broker);
    let mended = Instant::now();
    // Frames made up to the mend (40 a second from the start): the backlog to catch up on.
    let backlog = ((1.5 + away.as_secs_f64()) * 40.0) as usize;
    let mut got = Vec::new();
    let mut recovered = None;
    let deadline = mended + Duration::from_secs(60);
    while first_arrivals(&frames_of(&got)).len() < FRAMES as usize {
        let Ok(m) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            break;
        };
        got.push(m);
        if recovered.is_none() && first_arrivals(&frames_of(&got)).len() >= backlog {
            recovered = Some(mended.elapsed());
        }
    }
    let warnings = runner.join().unwrap();
    let frames = frames_of(&got);
    assert_eq!(
        first_arrivals(&frames),
        (0..FRAMES).collect::<Vec<u64>>(),
        "every frame, first arrivals in order ({} messages, warnings {warnings:?})",
        got.len()
    );
    let recovered = recovered.unwrap();
    // The reconnect back-off doubles from 0.25 s: the next try after an outage of `away` comes
    // at most about `away` later; then the backlog drains at the broker's pace.
    assert!(
        recovered <= away * 2 + Duration::from_secs(2),
        "{name}: caught up only {recovered:?} after the broker was back"
    );
    println!(
        "{name}: the {backlog} frames made before the broker was back had all arrived {:.2} s after it; every frame arrived ({} messages for {FRAMES} frames)",
        recovered.as_secs_f64(),
        got.len()
    );
    recovered
}

#[test]
fn a_broker_killed_with_sigkill_loses_nothing() {
    // A broker killed keeps only what it saved: it saves every second here (the subscriber's
    // session included), as a broker meant to survive crashes is set up.
    survives_a_broker_fault(
        "sigkill",
        "autosave_interval 1",
        Duration::from_millis(1500),
        |b| b.signal(9),
        |b| b.restart(),
    );
}

/// The half-open case: the broker frozen (SIGSTOP) keeps every connection open and answers
/// nothing, as a network path that silently drops traffic does.
#[test]
fn a_frozen_broker_loses_nothing_and_is_caught_up_after_it_thaws() {
    survives_a_broker_fault(
        "sigstop",
        "",
        Duration::from_secs(8),
        |b| b.signal(19),
        |b| b.signal(18),
    );
}

#[test]
fn a_full_spool_drops_the_oldest_and_counts_them_and_keeps_the_rest_for_later() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("full");
    let port = free_port(); // nothing listens there yet
    let spool = dir.join("spool");
    let pipeline = graph(
        "videotestsrc num-buffers=30 ! video/x-raw,width=64,height=48",
        &format!(
            "location=mqtt://127.0.0.1:{port}/t/cam spool-dir={} spool-max-messages=10",
            spool.display()
        ),
    );
    let warnings = play(&pipeline);
    let mq = pipeline.by_name("mq").unwrap();
    assert_eq!(mq.property::<u64>("dropped"), 20);
    assert!(
        warnings.iter().any(|w| w.contains("spool is full")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("unreachable")),
        "{warnings:?}"
    );
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 10);

    // The next run, with the broker up, sends the ten kept messages first.
    let _broker = Broker::start(&dir, &[("", port)], "");
    let rx = subscribe(port, "t/#", "full-sub");
    let pipeline = graph(
        "videotestsrc num-buffers=2 ! video/x-raw,width=64,height=48",
        &format!(
            "location=mqtt://127.0.0.1:{port}/t/cam spool-dir={}",
            spool.display()
        ),
    );
    play(&pipeline);
    let got = collect(&rx, 12, Duration::from_secs(20));
    assert_eq!(
        frames_of(&got),
        [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 0, 1],
        "the last ten of the first run, then the second run"
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is installed (scripts/setup)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away CA, a server certificate for 127.0.0.1/localhost and a client certificate.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=hmg test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    for name in ["server", "client"] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
    // PKCS#8, which native-tls takes.
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "client.key",
            "-out",
            "client.p8",
        ],
    );
}

#[test]
fn tls_with_a_throwaway_ca_and_client_certificates() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("tls");
    make_certificates(&dir);
    let (tls_port, plain_port) = (free_port(), free_port());
    let tls = format!(
        "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\nrequire_certificate true",
        dir.display()
    );
    let _broker = Broker::start(&dir, &[(&tls, tls_port), ("", plain_port)], "");
    let rx = subscribe(plain_port, "tls/#", "tls-sub");
    let d = dir.display();
    let pipeline = graph(
        "videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48",
        &format!(
            "location=mqtts://localhost:{tls_port}/tls/cam ca-file={d}/ca.pem cert-file={d}/client.pem key-file={d}/client.p8 spool-dir={d}/spool"
        ),
    );
    play(&pipeline);
    assert_eq!(
        frames_of(&collect(&rx, 3, Duration::from_secs(20))),
        [0, 1, 2]
    );

    // Without the client certificate the broker refuses: nothing arrives, all stays spooled
    // (three live seconds of video, so the refusal is reported while the graph runs).
    let pipeline = graph(
        "videotestsrc is-live=true num-buffers=60 ! video/x-raw,width=64,height=48,framerate=20/1",
        &format!(
            "location=mqtts://localhost:{tls_port}/tls/cam ca-file={d}/ca.pem spool-dir={d}/spool2"
        ),
    );
    let warnings = play(&pipeline);
    assert!(collect(&rx, 1, Duration::from_secs(2)).is_empty());
    assert!(
        warnings.iter().any(|w| w.contains("unreachable")),
        "{warnings:?}"
    );
    assert_eq!(std::fs::read_dir(dir.join("spool2")).unwrap().count(), 60);
}

#[test]
fn credentials_come_from_a_file_and_bad_settings_fail_at_start() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("auth");
    let passwords = dir.join("passwd");
    let out = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwords)
        .args(["pi", "s3cret"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let _broker = Broker::start(
        &dir,
        &[("", port)],
        &format!(
            "allow_anonymous false\npassword_file {}",
            passwords.display()
        ),
    );
    let creds = dir.join("creds");
    std::fs::write(&creds, "pi\ns3cret\n").unwrap();
    // The test's own subscriber logs in too.
    let (tx, rx) = mpsc::channel();
    let mut options = MqttOptions::new("auth-sub", "127.0.0.1", port);
    options.set_credentials("pi", "s3cret");
    let (client, mut connection) = Client::new(options, 10);
    client.subscribe("a/#", QoS::AtLeastOnce).unwrap();
    std::thread::spawn(move || {
        let _client = client;
        for event in connection.iter().flatten() {
            if let Event::Incoming(Incoming::SubAck(_)) = event {
                let _ = tx.send(None);
            } else if let Event::Incoming(Incoming::Publish(p)) = event {
                let _ = tx.send(Some(p.payload.to_vec()));
            }
        }
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        None,
        "subscribed"
    );
    let pipeline = graph(
        "videotestsrc num-buffers=2 ! video/x-raw,width=64,height=48",
        &format!(
            "location=mqtt://127.0.0.1:{port}/a/cam credentials-file={} spool-dir={}",
            creds.display(),
            dir.join("spool").display()
        ),
    );
    play(&pipeline);
    for _ in 0..2 {
        assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap().is_some());
    }

    // Settings that cannot work stop the graph at start with a message that says why.
    for (props, message) in [
        (
            "location=mqtt://user:pw@127.0.0.1/a",
            "no user name or password in the location",
        ),
        ("location=http://127.0.0.1/a", "not an MQTT address"),
        ("location=mqtt://127.0.0.1/a/#", "cannot be published to"),
        (
            "location=mqtt://127.0.0.1/a cert-file=/x.pem",
            "cert-file and key-file go together",
        ),
        (
            "location=mqtts://127.0.0.1/a ca-file=/nonexistent/ca.pem",
            "/nonexistent/ca.pem",
        ),
        (
            "location=mqtt://127.0.0.1/a credentials-file=/nonexistent/creds",
            "/nonexistent/creds",
        ),
    ] {
        let pipeline = graph("videotestsrc num-buffers=1", props);
        let err = run_to_end(&pipeline).expect_err(props);
        let _ = pipeline.set_state(gst::State::Null);
        assert!(err.contains(message), "{props}: {err}");
    }
}

#[test]
fn messages_that_can_never_be_delivered_are_set_aside_not_retried_forever() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("undeliverable");
    let port = free_port();
    // The broker closes the connection of a client that sends a packet over 20 kB.
    let _broker = Broker::start(&dir, &[("", port)], "max_packet_size 20000");
    let rx = subscribe(port, "t/#", "aside-sub");
    // A spool left by earlier runs: a record, an empty file, a foreign file, a record too large
    // for this broker, another record.
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let record = |frame: u64, pad: usize| {
        serde_json::json!({"stream": "cam", "frame": frame, "pts_ns": 0, "width": 64,
            "height": 48, "detections": [], "note": "x".repeat(pad)})
        .to_string()
    };
    let file = |seq: u64| spool.join(format!("{seq:020}.msg"));
    std::fs::write(file(1), record(1001, 0)).unwrap();
    std::fs::write(file(2), "").unwrap();
    std::fs::write(file(3), [0xffu8, 0xfe, 0x00, 0x41]).unwrap();
    std::fs::write(file(4), record(1004, 50_000)).unwrap();
    std::fs::write(file(5), record(1005, 0)).unwrap();
    let pipeline = graph(
        "videotestsrc is-live=true num-buffers=60 ! video/x-raw,width=64,height=48,framerate=10/1",
        &format!(
            "location=mqtt://127.0.0.1:{port}/t/cam spool-dir={}",
            spool.display()
        ),
    );
    let warnings = play(&pipeline);
    let got = collect_distinct(&rx, 62, Duration::from_secs(30));
    let frames = first_arrivals(&frames_of(&got));
    assert_eq!(
        frames[..2],
        [1001, 1005],
        "the good records of the spool first, in order: {frames:?}"
    );
    assert_eq!(
        frames[2..],
        (0..60).collect::<Vec<u64>>()[..],
        "then the run's"
    );
    let mq = pipeline.by_name("mq").unwrap();
    assert_eq!(mq.property::<u64>("undeliverable"), 3, "{warnings:?}");
    let aside: Vec<String> = std::fs::read_dir(spool.join("undeliverable"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(aside.len(), 3, "{aside:?}");
    assert!(
        warnings.iter().any(|w| w.contains("set aside")),
        "{warnings:?}"
    );
}

/// The fields Home Assistant documents for an MQTT sensor (integrations/sensor.mqtt), and those
/// of its `device` map: a discovery config with any other key is not a valid sensor.
const HA_SENSOR_FIELDS: &[&str] = &[
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "default_entity_id",
    "device",
    "device_class",
    "enabled_by_default",
    "encoding",
    "entity_category",
    "entity_picture",
    "expire_after",
    "force_update",
    "icon",
    "json_attributes_template",
    "json_attributes_topic",
    "last_reset_value_template",
    "name",
    "object_id",
    "options",
    "payload_available",
    "payload_not_available",
    "platform",
    "qos",
    "state_class",
    "state_topic",
    "suggested_display_precision",
    "unique_id",
    "unit_of_measurement",
    "value_template",
];
const HA_DEVICE_FIELDS: &[&str] = &[
    "configuration_url",
    "connections",
    "hw_version",
    "identifiers",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "serial_number",
    "suggested_area",
    "sw_version",
    "via_device",
];

/// Everything retained under `topic` now, as a fresh subscriber gets it.
fn retained(port: u16, topic: &str, id: &str) -> Vec<Message> {
    let rx = subscribe(port, topic, id);
    // Retained messages come right after the subscription; wait until they stop.
    let mut got = Vec::new();
    while let Ok(m) = rx.recv_timeout(Duration::from_secs(2)) {
        got.push(m);
    }
    got
}

#[test]
fn track_events_counts_and_home_assistant_sensors_on_real_video() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("events");
    let port = free_port();
    let _broker = Broker::start(&dir, &[("", port)], "");
    let events_rx = subscribe(port, "hmg/pi1/door/events", "events-sub");
    let zones = dir.join("zones.json");
    std::fs::write(
        &zones,
        r#"{"lines": [{"name": "middle", "points": [[0.5, 0.0], [0.5, 1.0]]}],
            "zones": [{"name": "left", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}]}"#,
    )
    .unwrap();
    let (frames_log, events_log) = (dir.join("frames.jsonl"), dir.join("events.jsonl"));
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let pipeline = graph(
        &format!(
            "filesrc location={} ! decodebin ! videoconvert ! hailoinfer model={} ! yolonms conf=0.1 ! dettrack ! detzone config={} ! detlog location={} ! detlog events=true stream-name=door location={}",
            repo.join("media/bikes.mp4").display(),
            repo.join("models/yolov12n-coco.onnx").display(),
            zones.display(),
            frames_log.display(),
            events_log.display(),
        ),
        &format!(
            "location=mqtt://127.0.0.1:{port}/hmg/{{device}}/{{stream}}/events device=pi1 stream-name=door events=true discovery-prefix=homeassistant spool-dir={}",
            dir.join("spool").display()
        ),
    );
    play(&pipeline);

    // What the per-frame log says of each track: frames, best confidence, crossings.
    let frames: Vec<serde_json::Value> = std::fs::read_to_string(&frames_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    #[derive(Default, Debug)]
    struct Seen {
        frames: u64,
        best: f64,
        crossings: Vec<(String, String)>,
        zones: std::collections::BTreeSet<String>,
    }
    let mut tracks: std::collections::BTreeMap<u64, Seen> = Default::default();
    let mut line_counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for f in &frames {
        for d in f["detections"].as_array().unwrap() {
            let Some(id) = d["track"]["id"].as_u64() else {
                continue;
            };
            let t = tracks.entry(id).or_default();
            t.frames += 1;
            t.best = t.best.max(d["confidence"].as_f64().unwrap());
        }
        for e in f["events"].as_array().into_iter().flatten() {
            let t = tracks.get_mut(&e["track_id"].as_u64().unwrap()).unwrap();
            match e["kind"].as_str().unwrap() {
                "line-crossed" => {
                    let dir = e["direction"].as_str().unwrap().to_string();
                    *line_counts
                        .entry((e["label"].as_str().unwrap().to_string(), dir.clone()))
                        .or_default() += 1;
                    t.crossings
                        .push((e["name"].as_str().unwrap().to_string(), dir));
                }
                "zone-entered" => {
                    t.zones.insert(e["name"].as_str().unwrap().to_string());
                }
                _ => {}
            }
        }
    }
    assert!(tracks.len() > 5, "a real clip has tracks: {}", tracks.len());
    assert!(!line_counts.is_empty(), "someone crosses the middle line");

    // The event records over MQTT: one new and one end per track, the end telling its story.
    let got = collect_until(&events_rx, Duration::from_secs(30), |got| {
        got.iter().filter(|(_, m)| m["type"] == "end").count() >= tracks.len()
    });
    let mut unique = Vec::new();
    for (_, m) in &got {
        if !unique.contains(m) {
            unique.push(m.clone());
        }
    }
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        unique.iter().filter(|m| m["type"] == kind).collect()
    };
    assert_eq!(of("new").len(), tracks.len());
    assert_eq!(of("end").len(), tracks.len());
    for end in of("end") {
        assert_eq!(end["schema"], "hmg-event/1");
        assert_eq!(end["stream"], "door");
        let id = end["track_id"].as_u64().unwrap();
        let seen = &tracks[&id];
        assert_eq!(end["id"], format!("door-{id}"));
        assert_eq!(end["frames"].as_u64().unwrap(), seen.frames, "track {id}");
        assert!((end["best_confidence"].as_f64().unwrap() - seen.best).abs() < 1e-3);
        let crossings: Vec<(String, String)> = end["crossings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["line"].as_str().unwrap().to_string(),
                    c["direction"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(crossings, seen.crossings, "track {id}");
        let visited: std::collections::BTreeSet<String> = end["zones_visited"]
            .as_array()
            .unwrap()
            .iter()
            .map(|z| z["zone"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(visited, seen.zones, "track {id}");
    }
    // Each crossing made an update at once.
    let crossed = tracks.values().filter(|t| !t.crossings.is_empty()).count();
    assert!(of("update").len() >= crossed);
    // detlog events=true writes the same records.
    let logged: Vec<serde_json::Value> = std::fs::read_to_string(&events_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(logged, unique);

    // The counts, retained: what a subscriber that comes later gets.
    let counts = retained(port, "hmg/pi1/door/counts/#", "counts-sub");
    for ((label, direction), n) in &line_counts {
        let (_, state) = counts
            .iter()
            .find(|(t, _)| *t == format!("hmg/pi1/door/counts/lines/middle/{label}"))
            .unwrap_or_else(|| panic!("no retained count for {label}: {counts:?}"));
        assert_eq!(
            state[direction.as_str()].as_u64(),
            Some(*n),
            "{label} {direction}"
        );
    }

    // Home Assistant: a valid sensor config per count, reading a retained state.
    let configs = retained(port, "homeassistant/#", "ha-sub");
    assert_eq!(configs.len(), 2 * counts.len(), "{configs:?}");
    let mut unique_ids = std::collections::HashSet::new();
    for (topic, config) in &configs {
        let levels: Vec<&str> = topic.split('/').collect();
        assert_eq!(levels.len(), 5, "{topic}");
        assert_eq!(
            (levels[0], levels[1], levels[4]),
            ("homeassistant", "sensor", "config")
        );
        for id in &levels[2..4] {
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "{topic}"
            );
        }
        for key in config.as_object().unwrap().keys() {
            assert!(HA_SENSOR_FIELDS.contains(&key.as_str()), "{key} in {topic}");
        }
        for key in config["device"].as_object().unwrap().keys() {
            assert!(HA_DEVICE_FIELDS.contains(&key.as_str()), "device {key}");
        }
        assert!(config["device"]["identifiers"].is_array());
        assert!(unique_ids.insert(config["unique_id"].as_str().unwrap().to_string()));
        assert!(
            ["measurement", "total", "total_increasing"]
                .contains(&config["state_class"].as_str().unwrap())
        );
        let state_topic = config["state_topic"].as_str().unwrap();
        let (_, state) = counts
            .iter()
            .find(|(t, _)| t == state_topic)
            .unwrap_or_else(|| panic!("{state_topic} is not retained"));
        let key = config["value_template"]
            .as_str()
            .unwrap()
            .strip_prefix("{{ value_json.")
            .and_then(|k| k.strip_suffix(" }}"))
            .unwrap();
        assert!(state[key].is_u64(), "{key} not in {state}");
    }
}
