// SPDX-License-Identifier: MIT OR Apache-2.0
//! A mosquitto broker on loopback for one test (Debian's `mosquitto`, installed by scripts/setup).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker; killed when dropped.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
}

impl Mosquitto {
    /// Starts a broker for anonymous clients on 127.0.0.1:`port`, its files in `dir`.
    pub fn start(dir: &Path, port: u16) -> Self {
        // As ourselves: started as root, mosquitto would switch to its own user.
        let user = Command::new("id").arg("-un").output().unwrap();
        let user = String::from_utf8_lossy(&user.stdout).trim().to_string();
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!("user {user}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"),
        )
        .unwrap();
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (scripts/setup)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("mosquitto exited: {status}");
            }
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
