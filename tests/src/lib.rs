// SPDX-License-Identifier: MIT OR Apache-2.0
//! Helpers for the end-to-end tests: where the built binaries are, a private plugin folder.

pub mod mosquitto;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The cargo profile folder the tests were built into (`target/release` under scripts/test).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn testdata() -> PathBuf {
    std::env::var_os("HMG_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/testdata"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for servers a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh temporary folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hmg-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A folder holding only our plugin, plus a private registry, for gst-launch/gst-inspect.
pub fn gst_command(tool: &str, dir: &Path) -> Command {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        profile_dir().join("libgsthmg.so"),
        plugins.join("libgsthmg.so"),
    )
    .expect("libgsthmg.so built");
    let mut c = Command::new(tool);
    c.env("GST_PLUGIN_PATH", &plugins)
        .env("GST_REGISTRY", dir.join("registry.bin"));
    c
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts that `mp4` is a finalized file (qtdemux reads it to the end); `dir` is scratch space.
pub fn assert_mp4_playable(mp4: &Path, dir: &Path) {
    let demux = gst_command("gst-launch-1.0", dir)
        .args(["-q", "filesrc"])
        .arg(format!("location={}", mp4.display()))
        .args(["!", "qtdemux", "!", "fakesink"])
        .output()
        .unwrap();
    assert!(
        demux.status.success(),
        "{}: {}",
        mp4.display(),
        text(&demux)
    );
}

/// The Python of the ultralytics venv hmg manages (`$HMG_ULTRALYTICS_VENV`, else the cache),
/// with ultralytics' offline settings, for reference runs in tests.
pub fn ultralytics_python(scratch: &Path) -> Command {
    let venv = std::env::var_os("HMG_ULTRALYTICS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
                .join("hmg/venvs/ultralytics")
        });
    let mut c = Command::new(venv.join("bin/python"));
    c.env("YOLO_OFFLINE", "1")
        .env("YOLO_AUTOINSTALL", "0")
        .env("YOLO_CONFIG_DIR", scratch.join("yolo-config"))
        .env("MPLCONFIGDIR", scratch.join("mpl"));
    c
}
