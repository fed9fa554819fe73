// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg collect` from a real sshd "Pi" whose captures `hmg detect --capture` made on the real clip:
//! a copy corrupted on the way is refused by its checksum and left on the Pi, the rest arrive
//! byte for byte; the next run fetches only what is missing and removes what is safely here;
//! files that are not captures are never touched.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use hmg_e2e::sshd::{Sshd, setup};
use hmg_e2e::*;

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// File name → sha256 of every file in `dir`.
fn sums(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                sha256(&e.path()),
            )
        })
        .collect()
}

#[test]
fn collect_verifies_resumes_and_removes_only_what_arrived() {
    let dir = setup("collect");
    let sshd = Sshd::start_in_home(&dir);
    let config = sshd.client_config();
    // The Pi's service writes under ~/hmg/out/detect: captures from the real clip.
    let out = Command::new(profile_dir().join("hmg"))
        .current_dir(repo())
        .args(["detect", "--model", "models/yolov12n-coco.onnx"])
        .args(["--input", "media/bikes.mp4", "--headless", "--capture"])
        .args(["--capture-rate", "30", "--output"])
        .arg(dir.join("pi/hmg/out/detect"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let remote = dir.join("pi/hmg/out/detect/captures");
    let originals = sums(&remote);
    let pairs = originals.keys().filter(|n| n.ends_with(".json")).count();
    assert!(pairs >= 2, "{originals:?}");
    // Not captures: a stray record, a picture without its record, a half-written file.
    for stray in ["notes.json", "1796376889751-cam-000001.jpg", ".tmpAbC123"] {
        std::fs::write(remote.join(stray), b"not a capture").unwrap();
    }
    let into = dir.join("captured");
    let collect = |extra: &[&str]| -> Output {
        Command::new(profile_dir().join("hmg"))
            .current_dir(&dir)
            .args(["collect", "--host", "pi", "--ssh-config"])
            .arg(&config)
            .arg("--into")
            .arg(&into)
            .args(extra)
            .output()
            .unwrap()
    };

    let out = collect(&["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("would copy {pairs} capture(s)")),
        "{}",
        text(&out)
    );
    let out = collect(&["--dry-run", "--since", "0s"]);
    assert!(
        text(&out).contains("would copy 0 capture(s)"),
        "{}",
        text(&out)
    );
    assert!(!into.join("pi").exists(), "a dry run copies nothing");

    // A tar on the Pi that flips a byte of the first file on the way.
    let tar = dir.join("fakebin/tar");
    std::fs::write(
        &tar,
        "#!/bin/sh\n/bin/tar \"$@\" | python3 -c 'import sys; d=bytearray(sys.stdin.buffer.read()); d[1024]^=1; sys.stdout.buffer.write(d)'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tar, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = collect(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("1 failed their checksum"),
        "{}",
        text(&out)
    );
    let here = into.join("pi");
    let arrived = sums(&here);
    assert_eq!(arrived.len(), 2 * (pairs - 1), "{arrived:?}");
    for (name, sum) in &arrived {
        assert_eq!(Some(sum), originals.get(name), "{name} arrived changed");
    }
    assert!(
        !here.join(".incoming").exists(),
        "nothing half-copied is left"
    );
    // The counts per class are those of the records that arrived.
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    for name in arrived.keys().filter(|n| n.ends_with(".json")) {
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(here.join(name)).unwrap()).unwrap();
        for d in record["detections"].as_array().unwrap() {
            *classes
                .entry(d["label"].as_str().unwrap().into())
                .or_default() += 1;
        }
    }
    for (label, n) in &classes {
        assert!(
            text(&out).contains(&format!("{label} {n}")),
            "{label} {n}: {}",
            text(&out)
        );
    }
    // Removed on the Pi: what arrived; kept: the pair that did not, and what is not a capture.
    let left = sums(&remote);
    assert_eq!(left.len(), 2 + 3, "{left:?}");

    // Fixed: the next run fetches the one missing pair and clears the Pi of captures.
    std::fs::remove_file(&tar).unwrap();
    let out = collect(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sums(&here).len(), originals.len());
    for (name, sum) in sums(&here) {
        assert_eq!(Some(&sum), originals.get(&name), "{name}");
    }
    let left: Vec<String> = sums(&remote).into_keys().collect();
    assert_eq!(
        left,
        [".tmpAbC123", "1796376889751-cam-000001.jpg", "notes.json"]
    );

    // --keep leaves the Pi as it is; a host that cannot be reached fails with the fix.
    let stem = arrived
        .keys()
        .next()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    for ext in ["jpg", "json"] {
        let name = format!("{stem}.{ext}");
        std::fs::copy(here.join(&name), remote.join(&name)).unwrap();
    }
    let out = collect(&["--keep"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        remote.join(format!("{stem}.json")).exists(),
        "--keep removed it"
    );
    assert_eq!(sums(&here).len(), originals.len());
    let out = Command::new(profile_dir().join("hmg"))
        .args(["collect", "--host", "nobody@127.0.0.1", "--port"])
        .arg(free_port().to_string())
        .arg("--into")
        .arg(&into)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("refused the connection"),
        "{}",
        text(&out)
    );
    let out = Command::new(profile_dir().join("hmg"))
        .args(["collect", "--into"])
        .arg(&into)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--host"), "{}", text(&out));
}
