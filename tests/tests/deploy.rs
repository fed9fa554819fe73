// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg deploy` against a real OpenSSH server started by the test on loopback: key login, deploy,
//! redeploy, rollback, a changed host key, a password-only server, hostile file names, dry run.
//! On the "Pi" side, `systemctl` is a test double (a script on the session's PATH that records its
//! calls): there is no systemd user session here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hmg_e2e::sshd::{Sshd, setup};
use hmg_e2e::*;

fn deploy(config: &Path, dir: &Path, extra: &[&str]) -> Output {
    Command::new(profile_dir().join("hmg"))
        .current_dir(repo())
        .args(["deploy", "--host", "pi", "--ssh-config"])
        .arg(config)
        .arg("--remote-dir")
        .arg(dir.join("pi/hmg"))
        .args(extra)
        .output()
        .unwrap()
}

fn model_copy(dir: &Path, name: &str, extra: &[u8]) -> String {
    let path = dir.join(name);
    let mut bytes = std::fs::read(repo().join("models/yolov12n-coco.onnx")).unwrap();
    bytes.extend_from_slice(extra);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

fn current(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join("pi/hmg/models").join(file))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn test_deploy_redeploy_rollback_and_service() {
    let dir = setup("deploy");
    let sshd = Sshd::start(&dir, "host_key", false);
    let config = sshd.client_config();
    let v1 = model_copy(&dir, "drones.onnx", b"");
    let v2 = model_copy(&dir, "drones.onnx.v2", b"");
    let v2 = {
        let p = dir.join("v2");
        std::fs::create_dir_all(&p).unwrap();
        let target = p.join("drones.onnx");
        std::fs::rename(&v2, &target).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&target)
            .unwrap();
        std::io::Write::write_all(&mut f, b"\0").unwrap();
        target.display().to_string()
    };

    let out = deploy(
        &config,
        &dir,
        &["--model", &v1, "--service", "--serve", "0.0.0.0:8080"],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for needle in [
        "live view link: ssh pi",
        "checking pi",
        "GStreamer   gst-launch-1.0 version 1.",
        "is current on pi",
        "hmg doctor on the Pi: the service has what it needs",
        "hmg-detect.service (re)started",
        "watch detections: ssh pi",
    ] {
        assert!(t.contains(needle), "{needle}: {t}");
    }
    let first = current(&dir, "CURRENT");
    assert!(
        first.starts_with("drones-") && first.ends_with(".onnx"),
        "{first}"
    );
    assert_eq!(
        std::fs::read(dir.join("pi/hmg/models").join(&first)).unwrap(),
        std::fs::read(&v1).unwrap()
    );
    assert!(dir.join("pi/hmg/graphs/pi-camera.gst").is_file());
    let unit =
        std::fs::read_to_string(dir.join("pi/.config/systemd/user/hmg-detect.service")).unwrap();
    assert!(
        unit.contains("Restart=always")
            && unit.contains("--headless --picamera --serve --bind 0.0.0.0:8080"),
        "{unit}"
    );
    let calls = std::fs::read_to_string(dir.join("systemctl.log")).unwrap();
    assert!(calls.contains("systemctl --user daemon-reload\nsystemctl --user enable hmg-detect.service\nsystemctl --user restart hmg-detect.service"), "{calls}");

    let reference = Command::new(profile_dir().join("hmg"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        t.contains(&format!("hmg         {}", text(&reference).trim())),
        "the Pi's hmg is probed: {t}"
    );

    // The plugin gone from the Pi: doctor there says so and the service is not enabled.
    std::fs::rename(dir.join("pi-plugins"), dir.join("pi-plugins.away")).unwrap();
    let out = deploy(&config, &dir, &["--service"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("not enabled") && t.contains("plugin for gst-launch-1.0"),
        "{t}"
    );
    std::fs::rename(dir.join("pi-plugins.away"), dir.join("pi-plugins")).unwrap();

    // A second version: new versioned file, the first one kept as PREVIOUS.
    let out = deploy(&config, &dir, &["--model", &v2]);
    assert!(out.status.success(), "{}", text(&out));
    let second = current(&dir, "CURRENT");
    assert_ne!(second, first);
    assert_eq!(current(&dir, "PREVIOUS"), first);
    assert!(dir.join("pi/hmg/models").join(&first).is_file());

    // Rollback swaps them back and restarts the service.
    let out = deploy(&config, &dir, &["--rollback", "--service"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("rolled back: {first} is current")),
        "{}",
        text(&out)
    );
    assert_eq!(
        (current(&dir, "CURRENT"), current(&dir, "PREVIOUS")),
        (first.clone(), second)
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("pi/hmg/models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".upload") || n.ends_with(".tmp") || n.ends_with(".old"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // --dry-run shows every step and changes nothing.
    let before = current(&dir, "CURRENT");
    let out = deploy(&config, &dir, &["--model", &v2, "--dry-run", "--service"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).matches("would run: ssh").count() >= 5,
        "{}",
        text(&out)
    );
    assert_eq!(current(&dir, "CURRENT"), before);
    assert!(
        !text(&out)
            .lines()
            .any(|l| l.starts_with("hmg-detect.service (re)started")),
        "a dry run does not claim what it did not do: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("would be done: model:"),
        "{}",
        text(&out)
    );
    // A dry run needs no key (it connects nowhere), and a --remote-dir with a newline is refused.
    let out = Command::new(profile_dir().join("hmg"))
        .current_dir(&dir)
        .env("HOME", dir.join("empty-home"))
        .args([
            "deploy",
            "--host",
            "pi@raspberrypi.local",
            "--model",
            &v2,
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = Command::new(profile_dir().join("hmg"))
        .args(["deploy", "--host", "pi", "--ssh-config"])
        .arg(&config)
        .args(["--model", &v2, "--remote-dir", "hmg\nrm -rf x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("control characters"), "{}", text(&out));
}

#[test]
fn test_hostile_file_names_stay_file_names() {
    let dir = setup("deploy-hostile");
    let sshd = Sshd::start(&dir, "host_key", false);
    let config = sshd.client_config();
    let model = model_copy(&dir, "m'; touch PWNED; echo '$(touch PWNED2).onnx", b"");
    let out = deploy(&config, &dir, &["--model", &model]);
    assert!(out.status.success(), "{}", text(&out));
    let name = current(&dir, "CURRENT");
    assert!(
        name.starts_with("m'; touch PWNED; echo '$(touch PWNED2)-"),
        "{name}"
    );
    assert!(dir.join("pi/hmg/models").join(&name).is_file());
    for home in [
        dir.join("pi"),
        PathBuf::from(std::env::var("HOME").unwrap_or_default()),
        repo(),
    ] {
        assert!(
            !home.join("PWNED").exists() && !home.join("PWNED2").exists(),
            "{}",
            home.display()
        );
    }
}

#[test]
fn test_changed_host_key_and_password_only_servers_are_refused() {
    let dir = setup("deploy-refused");
    let model = model_copy(&dir, "drones.onnx", b"");
    {
        let sshd = Sshd::start(&dir, "host_key", false);
        let config = sshd.client_config();
        let out = deploy(&config, &dir, &["--model", &model]);
        assert!(out.status.success(), "{}", text(&out));
        // Same address and port, another host key: a reinstalled Pi, or an attacker.
        let port = sshd.port;
        drop(sshd);
        let mut other = Sshd::start(&dir, "other_host_key", false);
        if other.port != port {
            // Put the known key under the new port, so the client sees a *changed* key.
            let known = std::fs::read_to_string(dir.join("known_hosts")).unwrap();
            std::fs::write(
                dir.join("known_hosts"),
                known.replace(&format!("]:{port} "), &format!("]:{} ", other.port)),
            )
            .unwrap();
        }
        let config = other.client_config();
        std::fs::remove_dir_all(dir.join("pi/hmg")).unwrap();
        let out = deploy(&config, &dir, &["--model", &model]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("has CHANGED"), "{}", text(&out));
        assert!(!dir.join("pi/hmg").exists(), "nothing was copied");
        let _ = &mut other;
    }
    let sshd = Sshd::start(&dir, "host_key", true);
    let config = sshd.client_config();
    let out = deploy(&config, &dir, &["--model", &model]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("refused key login") && text(&out).contains("ssh-copy-id pi"),
        "{}",
        text(&out)
    );
}

#[test]
fn test_deploy_checks_the_target_and_its_arguments() {
    let dir = setup("deploy-checks");
    let sshd = Sshd::start(&dir, "host_key", false);
    let config = sshd.client_config();
    // A .hef where HailoRT is missing: refused with the fix, unless --force.
    let hef = dir.join("m.hef");
    std::fs::copy(repo().join("tests/fixtures/hailo/nudenet320.hef"), &hef).unwrap();
    let hef = hef.display().to_string();
    let out = deploy(&config, &dir, &["--model", &hef]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("sudo apt install hailo-all"),
        "{}",
        text(&out)
    );
    assert!(current(&dir, "CURRENT").is_empty());
    let built_with_hailort = text(
        &Command::new(profile_dir().join("hmg"))
            .arg("--version")
            .output()
            .unwrap(),
    )
    .contains("(HailoRT backend)");
    assert_eq!(
        text(&out).contains("is built without HailoRT and cannot run a .hef"),
        !built_with_hailort,
        "{}",
        text(&out)
    );
    let out = deploy(&config, &dir, &["--model", &hef, "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no class names beside"),
        "{}",
        text(&out)
    );
    // With the class names hmg compile writes beside a HEF: they travel with it, renamed to
    // the model's versioned stem, so the Pi's engine finds them.
    let sidecar = hmg_detect::sidecar::ModelSidecar {
        model: "m.hef".into(),
        sha256: hmg_detect::sidecar::file_sha256(Path::new(&hef)).unwrap(),
        names: vec!["bird".into(), "cat".into()],
        nms: None,
        batch_size: None,
    };
    std::fs::write(
        dir.join("m.labels.json"),
        serde_json::to_string(&sidecar).unwrap(),
    )
    .unwrap();
    let out = deploy(&config, &dir, &["--model", &hef, "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    let deployed = dir.join("pi/hmg/models").join(current(&dir, "CURRENT"));
    assert_eq!(
        hmg_detect::sidecar::names_beside(&deployed).unwrap(),
        ["bird", "cat"]
    );
    // A bundle: refused for the wrong architecture, installed (executable) with --force.
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    for f in ["hmg", "libgsthmg.so"] {
        std::fs::copy(profile_dir().join(f), bundle.join(f)).unwrap();
    }
    let b = bundle.display().to_string();
    let out = deploy(&config, &dir, &["--bundle", &b]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the bundle must be built for it"),
        "{}",
        text(&out)
    );
    let out = deploy(&config, &dir, &["--bundle", &b, "--force", "--service"]);
    assert!(out.status.success(), "{}", text(&out));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("pi/hmg/bin/hmg"))
        .unwrap()
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "bin/hmg is executable");
    assert!(dir.join("pi/hmg/lib/gstreamer-1.0/libgsthmg.so").is_file());
    let unit =
        std::fs::read_to_string(dir.join("pi/.config/systemd/user/hmg-detect.service")).unwrap();
    assert!(
        unit.contains("/pi/hmg/bin/hmg") && unit.contains("GST_PLUGIN_PATH="),
        "{unit}"
    );
    // Without any key (no agent, no ~/.ssh keys or config): how to make one, and stop.
    let empty_home = dir.join("empty-home");
    std::fs::create_dir_all(&empty_home).unwrap();
    let out = Command::new(profile_dir().join("hmg"))
        .args(["deploy", "--host", "pi@raspberrypi.local", "--model", &hef])
        .env("HOME", &empty_home)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("ssh-keygen -t ed25519")
            && text(&out).contains("ssh-copy-id pi@raspberrypi.local"),
        "{}",
        text(&out)
    );
    // No hmg on the Pi: a service is refused (it would restart forever), a model alone is
    // copied with a warning; both say how to install hmg there.
    std::fs::remove_file(dir.join("fakebin/hmg")).unwrap();
    std::fs::remove_file(dir.join("pi/hmg/bin/hmg")).unwrap(); // the bundle installed above
    let onnx = model_copy(&dir, "m.onnx", b"");
    let out = deploy(&config, &dir, &["--model", &onnx, "--service"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("hmg is not installed on the Pi, so the service would fail")
            && text(&out).contains("--bundle hmg_<version>_arm64.deb"),
        "{}",
        text(&out)
    );
    let out = deploy(&config, &dir, &["--model", &onnx]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("warning: hmg is not installed on the Pi yet"),
        "{}",
        text(&out)
    );
    // A package for another architecture is refused before anything is copied.
    let stage = dir.join("pkg/stage");
    std::fs::create_dir_all(stage.join("DEBIAN")).unwrap();
    std::fs::write(
        stage.join("DEBIAN/control"),
        "Package: hmg\nVersion: 0.1.0\nArchitecture: otherarch\nMaintainer: test <t@invalid>\nDescription: test\n",
    )
    .unwrap();
    let fake_deb = dir.join("pkg/hmg_0.1.0_otherarch.deb");
    let built = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&stage)
        .arg(&fake_deb)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built));
    let b = fake_deb.display().to_string();
    let out = deploy(&config, &dir, &["--bundle", &b]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the package is for otherarch but the Pi is"),
        "{}",
        text(&out)
    );
    assert!(!dir.join("pi/hmg/packages").exists(), "nothing copied");

    // Bad arguments: exit 2 before connecting.
    for (args, message) in [
        (vec!["--model", "missing.hef"], "does not exist"),
        (
            vec!["--bundle", "/nonexistent"],
            "a folder holding hmg and libgsthmg.so",
        ),
        (vec![], "nothing to deploy"),
    ] {
        let out = deploy(&config, &dir, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(message), "{args:?}: {}", text(&out));
    }
}

/// A client config naming two real sshd "Pis" and one host where nothing listens.
fn fleet_config(a: &Sshd, b: &Sshd, key_dir: &Path) -> PathBuf {
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let mut text = String::new();
    for (name, port, known) in [
        ("pi-a", a.port, &a.dir),
        ("pi-b", b.port, &b.dir),
        ("pi-down", free_port(), &a.dir),
    ] {
        text.push_str(&format!(
            "Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User {}\n  IdentityFile {k}/client_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}/known_hosts\n  StrictHostKeyChecking accept-new\n  ConnectTimeout 5\n",
            user.trim(),
            k = key_dir.display(),
            known = known.display(),
        ));
    }
    let path = key_dir.join("fleet.conf");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn test_several_hosts_in_parallel_one_failing_and_rollback_per_host() {
    let (dir_a, dir_b) = (setup("fleet-a"), setup("fleet-b"));
    // One client key for the whole fleet.
    std::fs::copy(dir_a.join("client_key.pub"), dir_b.join("authorized_keys")).unwrap();
    let (a, b) = (Sshd::start_in_home(&dir_a), Sshd::start_in_home(&dir_b));
    let config = fleet_config(&a, &b, &dir_a);
    let fleet = |extra: &[&str]| {
        Command::new(profile_dir().join("hmg"))
            .current_dir(&dir_a)
            .args(["deploy", "--ssh-config"])
            .arg(&config)
            .args(extra)
            .output()
            .unwrap()
    };
    let v1 = model_copy(&dir_a, "drones.onnx", b"");
    let hosts = dir_a.join("hosts.txt");
    std::fs::write(&hosts, "# the fleet\npi-b\npi-down   # unplugged\n").unwrap();

    let out = fleet(&[
        "--host",
        "pi-a",
        "--hosts",
        hosts.to_str().unwrap(),
        "--model",
        &v1,
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "one host failed: {t}");
    assert!(t.contains("deploying to 3 hosts"), "{t}");
    let table: Vec<&str> = t.lines().skip_while(|l| !l.starts_with("host ")).collect();
    assert!(table.len() >= 4, "{t}");
    assert!(
        table[1].starts_with("pi-a") && table[1].contains(" ok "),
        "{t}"
    );
    assert!(
        table[2].starts_with("pi-b") && table[2].contains(" ok "),
        "{t}"
    );
    assert!(
        table[3].starts_with("pi-down") && table[3].contains("FAILED"),
        "{t}"
    );
    assert!(t.contains("1 of 3 hosts failed"), "{t}");
    // Nothing listens on pi-down's port: ssh's "Connection refused" says SSH is off or blocked.
    let down_log = std::fs::read_dir(dir_a.join("out/deploy"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("pi-down"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .unwrap_or_default();
    assert!(
        format!("{t}{down_log}").contains("SSH is off or blocked")
            && format!("{t}{down_log}").contains("raspi-config"),
        "{t}\n{down_log}"
    );
    // Both reachable Pis have the model; each host has its own log.
    let first = current(&dir_a, "CURRENT");
    assert!(first.starts_with("drones-"), "{first}");
    assert_eq!(current(&dir_b, "CURRENT"), first);
    let logs: Vec<PathBuf> = std::fs::read_dir(dir_a.join("out/deploy"))
        .unwrap()
        .flatten()
        .flat_map(|run| {
            std::fs::read_dir(run.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
        })
        .collect();
    assert_eq!(logs.len(), 3, "{logs:?}");

    // A second model on both, then a rollback on pi-b only.
    let v2 = model_copy(&dir_a, "drones2.onnx", b"\0");
    let out = fleet(&["--host", "pi-a", "--host", "pi-b", "--model", &v2]);
    assert!(out.status.success(), "{}", text(&out));
    let second = current(&dir_a, "CURRENT");
    assert_ne!(second, first);
    let out = fleet(&["--host", "pi-b", "--rollback"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(current(&dir_b, "CURRENT"), first, "pi-b rolled back");
    assert_eq!(current(&dir_a, "CURRENT"), second, "pi-a untouched");

    // No host at all, or an empty hosts file: usage errors.
    let empty = dir_a.join("empty.txt");
    std::fs::write(&empty, "# nobody\n").unwrap();
    for extra in [
        &["--model", &v1][..],
        &["--hosts", empty.to_str().unwrap(), "--model", &v1],
    ] {
        let out = fleet(extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", text(&out));
    }
}
