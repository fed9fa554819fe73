// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Debian package of this build (scripts/build-deb), for the tests that install it on a
//! loopback "Pi" (this machine): dpkg needs root or password-less sudo.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{repo, text};

/// Runs a root command: directly as root, else through `sudo -n` (as hmg deploy does on a Pi).
pub fn as_root(args: &[&str]) -> Command {
    let root = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout)
        .unwrap()
        .trim()
        == "0";
    let mut c = if root {
        Command::new(args[0])
    } else {
        let mut c = Command::new("sudo");
        c.arg("-n").arg(args[0]);
        c
    };
    c.args(&args[1..]);
    c
}

/// Removes the package when the test ends, however it ends.
pub struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = as_root(&["dpkg", "-r", "hmg"]).output();
    }
}

/// `scripts/build-deb --no-build --out dir`: the package of the build in target/release.
pub fn build_deb(dir: &Path) -> PathBuf {
    let built = Command::new(repo().join("scripts/build-deb"))
        .args(["--no-build", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built));
    PathBuf::from(String::from_utf8(built.stdout).unwrap().trim())
}

/// A test that installs the package must not replace one the machine already has.
pub fn assert_hmg_not_installed() {
    let status = Command::new("dpkg").args(["-s", "hmg"]).output().unwrap();
    assert!(
        !status.status.success(),
        "a package named hmg is already installed here; remove it (dpkg -r hmg) to run this test"
    );
}
