// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg hef info` on HEF files (header only: the default build has no HailoRT).

use std::process::Command;

use hmg_e2e::*;

fn hef_info(args: &[&str]) -> std::process::Output {
    Command::new(profile_dir().join("hmg"))
        .current_dir(repo())
        .args(["hef", "info"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn test_hef_info_reads_chip_and_compiler_from_the_header() {
    let out = hef_info(&["tests/fixtures/hailo/nudenet320-hailo8l.hef"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("compiled for  Hailo-8L (--hw-arch hailo8l)"),
        "{t}"
    );
    assert!(t.contains("runs on       hailo8, hailo8l"), "{t}");
    assert!(t.contains("Dataflow Compiler 3.33.0"), "{t}");

    let out = hef_info(&["--json", "tests/fixtures/hailo/nudenet320.hef"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["header"]["hw_arch"], "hailo8");
    assert_eq!(v["header"]["version"], 2);
    assert_eq!(v["runs_on"], serde_json::json!(["hailo8"]));
    assert_eq!(v["header"]["file_size"], v["header"]["declared_size"]);
    assert_eq!(v["checksum"], "xxh3");
}

#[test]
fn test_hef_info_refuses_files_hailort_would_refuse() {
    let dir = temp_dir("hef-info-damaged");
    let good = std::fs::read(repo().join("tests/fixtures/hailo/nudenet320.hef")).unwrap();
    let mut damaged = good.clone();
    *damaged.last_mut().unwrap() ^= 0x40;
    let trailing = [good.clone(), b"junk".to_vec()].concat();
    for (name, bytes, says) in [
        ("damaged.hef", damaged, "XXH3 checksum does not match"),
        (
            "trailing.hef",
            trailing,
            "4 bytes after the end its header declares",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = hef_info(&[path.to_str().unwrap()]);
        let t = text(&out);
        assert!(!out.status.success(), "{name}: {t}");
        assert!(t.contains(name) && t.contains(says), "{name}: {t}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_hef_info_refuses_broken_files_by_name() {
    let dir = temp_dir("hef-info");
    let good = std::fs::read(repo().join("tests/fixtures/hailo/nudenet320.hef")).unwrap();
    let cut = dir.join("cut.hef");
    std::fs::write(&cut, &good[..30]).unwrap();
    let out = hef_info(&[cut.to_str().unwrap()]);
    let t = text(&out);
    assert!(!out.status.success());
    assert!(t.contains("cut.hef") && t.contains("truncated"), "{t}");

    let out = hef_info(&["README.md"]);
    let t = text(&out);
    assert!(!out.status.success());
    assert!(t.contains("README.md") && t.contains("is not a HEF"), "{t}");

    let out = hef_info(&["missing.hef"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("missing.hef"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
