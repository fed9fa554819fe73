// SPDX-License-Identifier: MIT OR Apache-2.0
//! A real RTSP camera on loopback (GStreamer's RTSP server, `tests/support/rtsp_camera.py`, with
//! Debian's `gir1.2-gst-rtsp-server-1.0` that scripts/setup installs), for tests that make a
//! camera disappear the way cameras do: killed, or frozen.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running camera; killed when dropped.
pub struct RtspCamera {
    child: Child,
    pub url: String,
}

impl RtspCamera {
    /// Serves `rtsp://127.0.0.1:port/cam` (640×480, 30 frames a second) once this returns.
    pub fn start(port: u16) -> Self {
        Self::start_with(port, (640, 480), 30, "ball")
    }

    /// [`start`](Self::start) with another picture size, frame rate and videotestsrc pattern.
    pub fn start_with(port: u16, (width, height): (u32, u32), fps: u32, pattern: &str) -> Self {
        // The system Python: GStreamer's introspection data lives there, not in a venv.
        let mut child = Command::new("/usr/bin/python3")
            .arg(crate::repo().join("tests/support/rtsp_camera.py"))
            .arg(port.to_string())
            .args([width, height, fps].map(|v| v.to_string()))
            .arg(pattern)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is installed (scripts/setup)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the RTSP camera did not start");
        Self {
            child,
            url: format!("rtsp://127.0.0.1:{port}/cam"),
        }
    }

    /// Sends `signal` (`KILL`: gone without a word; `STOP`: the connection stays open but
    /// nothing more arrives; `CONT`: back).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }
}

impl Drop for RtspCamera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
