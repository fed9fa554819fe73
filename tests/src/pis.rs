// SPDX-License-Identifier: MIT OR Apache-2.0
//! A small fleet whose service really runs: real sshd "Pis" (sessions in their own home, hmg of
//! this build on their PATH) with `systemctl` replaced by a test double that starts the unit's
//! ExecStart (tests/support/systemctl-runs-units), and one ssh config naming them all. The
//! services are ended when the fleet is dropped, passed or failed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::sshd::{Sshd, setup};

pub struct Pis {
    pub names: Vec<String>,
    pub dirs: Vec<PathBuf>,
    /// `--ssh-config` for hmg deploy and hmg collect.
    pub config: PathBuf,
    _sshds: Vec<Sshd>,
}

impl Pis {
    pub fn start(test: &str, names: &[&str]) -> Self {
        let dirs: Vec<PathBuf> = names
            .iter()
            .map(|n| setup(&format!("{test}-{n}")))
            .collect();
        for d in &dirs {
            // One client key for the whole fleet.
            std::fs::copy(dirs[0].join("client_key.pub"), d.join("authorized_keys")).unwrap();
            std::fs::copy(
                crate::repo().join("tests/support/systemctl-runs-units"),
                d.join("fakebin/systemctl"),
            )
            .unwrap();
        }
        let sshds: Vec<Sshd> = dirs.iter().map(|d| Sshd::start_in_home(d)).collect();
        let user =
            String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        let mut text = String::new();
        for (name, sshd) in names.iter().zip(&sshds) {
            text.push_str(&format!(
                "Host {name}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {k}/client_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}/known_hosts\n  StrictHostKeyChecking accept-new\n",
                sshd.port,
                user.trim(),
                k = dirs[0].display(),
                known = sshd.dir.display(),
            ));
        }
        let config = dirs[0].join("fleet.conf");
        std::fs::write(&config, text).unwrap();
        Self {
            names: names.iter().map(|n| n.to_string()).collect(),
            dirs,
            config,
            _sshds: sshds,
        }
    }

    /// The status file host `i`'s service rewrites.
    pub fn status(&self, i: usize) -> Option<serde_json::Value> {
        let text = std::fs::read(self.dirs[i].join("pi/hmg/out/detect/status.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The model file name CURRENT names on host `i`.
    pub fn current(&self, i: usize) -> String {
        std::fs::read_to_string(self.dirs[i].join("pi/hmg/models/CURRENT"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Where host `i`'s hmg lives (`~/hmg` on the Pi).
    pub fn hmg_dir(&self, i: usize) -> PathBuf {
        self.dirs[i].join("pi/hmg")
    }

    /// Waits until host `i`'s service runs `model` (a file name) and has passed frames.
    pub fn wait_running(&self, i: usize, model: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(s) = self.status(i)
                && s["model"].as_str().is_some_and(|m| m.ends_with(model))
                && s["streams"][0]["frames"].as_u64().unwrap_or(0) > 0
            {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{} never ran {model}: {:?}\n{}",
                self.names[i],
                self.status(i),
                std::fs::read_to_string(self.log(i)).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn log(&self, i: usize) -> PathBuf {
        self.dirs[i].join("pi/.systemctl-double/hmg-detect.service.log")
    }
}

impl Drop for Pis {
    fn drop(&mut self) {
        for dir in &self.dirs {
            let pidfile: &Path = &dir.join("pi/.systemctl-double/hmg-detect.service.pid");
            if let Ok(pid) = std::fs::read_to_string(pidfile) {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", pid.trim())])
                    .status();
            }
        }
    }
}
