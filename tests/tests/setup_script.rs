// SPDX-License-Identifier: MIT OR Apache-2.0
//! scripts/setup on a machine without Rust (a fresh Raspberry Pi OS): it fetches rustup, and
//! offline it stops with what to do instead of a "cargo: command not found" half way.

use std::process::Command;

use hmg_e2e::*;

#[test]
fn test_setup_without_cargo_offline_says_what_to_do() {
    let home = temp_dir("setup-no-cargo");
    // Nothing listens there: the same answer as a machine without internet.
    let url = format!("http://127.0.0.1:{}/rustup.sh", free_port());
    let out = Command::new(repo().join("scripts/setup"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("HMG_RUSTUP_URL", &url)
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        Command::new("sh")
            .args(["-c", "command -v cargo"])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .output()
            .unwrap()
            .stdout
            .is_empty(),
        "this test needs cargo outside the system PATH (rustup's ~/.cargo/bin)"
    );
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("installing the Rust toolchain")
            && t.contains(&format!(
                "rustup could not be fetched from {url} (offline?)"
            ))
            && t.contains("https://rustup.rs")
            && t.contains("hmg deploy --bundle"),
        "{t}"
    );
    assert!(!t.contains("command not found"), "{t}");
    let _ = std::fs::remove_dir_all(&home);
}
