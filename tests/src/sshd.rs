// SPDX-License-Identifier: MIT OR Apache-2.0
//! A real OpenSSH server on loopback standing in for a Raspberry Pi: key login, a home folder of
//! its own, and a `systemctl` test double (a script that records its calls) first on its PATH.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::{free_port, profile_dir, repo, temp_dir, text};

/// The "Pi" sessions' environment: for the hmg `setup` installs there (this build on its PATH, its
/// plugin in `pi-plugins`; nothing when `pi-plugins` was removed: a Pi without hmg), and the
/// `VAR=value` lines of `<dir>/pi-env` (what a test's Pi needs besides, such as its HailoRT).
fn installed_hmg_env(dir: &Path) -> String {
    let extra: String = std::fs::read_to_string(dir.join("pi-env"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!(" {}", l.trim()))
        .collect();
    if !dir.join("pi-plugins").is_dir() {
        return extra;
    }
    extra
        + &format!(
            " GST_PLUGIN_PATH={}/pi-plugins ORT_DYLIB_PATH={}",
            dir.display(),
            repo()
                .join(".local/onnxruntime/libonnxruntime.so")
                .display()
        )
}

pub fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen (openssh-client) is installed by scripts/setup");
    assert!(out.status.success(), "{}", text(&out));
}

/// An sshd on 127.0.0.1 with its own host key, for the current user, whose sessions see
/// `HOME=<dir>/pi` and the `systemctl` test double first on PATH.
pub struct Sshd {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
}

impl Sshd {
    pub fn start(dir: &Path, host_key: &str, password_only: bool) -> Self {
        Self::start_with(dir, host_key, password_only, false)
    }

    /// Sessions start in `<dir>/pi` (like a Pi's login folder), so relative remote folders of
    /// several servers stay apart.
    pub fn start_in_home(dir: &Path) -> Self {
        Self::start_with(dir, "host_key", false, true)
    }

    pub fn start_with(dir: &Path, host_key: &str, password_only: bool, in_home: bool) -> Self {
        let port = free_port();
        let fakebin = dir.join("fakebin");
        let (pubkey, password) = if password_only {
            ("no", "yes")
        } else {
            ("yes", "no")
        };
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/{host_key}\nPidFile {d}/sshd-{port}.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPubkeyAuthentication {pubkey}\nPasswordAuthentication {password}\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin yes\n\
             SetEnv PATH={fb}:/usr/local/bin:/usr/bin:/bin HOME={d}/pi GST_REGISTRY={d}/pi-registry.bin{hmg_env}\n{force}",
            d = dir.display(),
            fb = fakebin.display(),
            hmg_env = installed_hmg_env(dir),
            force = if in_home {
                format!(
                    "ForceCommand cd {}/pi && eval \"$SSH_ORIGINAL_COMMAND\"\n",
                    dir.display()
                )
            } else {
                String::new()
            },
        );
        let path = dir.join(format!("sshd-{port}.conf"));
        std::fs::write(&path, config).unwrap();
        let _ = std::fs::create_dir_all("/run/sshd"); // privilege separation folder, when root
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&path)
            .stderr(std::fs::File::create(dir.join(format!("sshd-{port}.log"))).unwrap())
            .spawn()
            .expect("/usr/sbin/sshd (openssh-server) is installed by scripts/setup");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd {
            child,
            dir: dir.to_path_buf(),
            port,
        }
    }

    /// A client config for Host `pi`: this server, the test's key and known_hosts, and the
    /// common policy of trusting a new host key once (a changed one is still refused).
    pub fn client_config(&self) -> PathBuf {
        let user =
            String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        let path = self.dir.join(format!("ssh-{}.conf", self.port));
        std::fs::write(
            &path,
            format!(
                "Host pi\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking accept-new\n",
                self.port,
                user.trim(),
                d = self.dir.display()
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn setup(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    keygen(&dir.join("host_key"));
    keygen(&dir.join("other_host_key"));
    keygen(&dir.join("client_key"));
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    std::fs::create_dir_all(dir.join("pi")).unwrap();
    std::fs::create_dir_all(dir.join("fakebin")).unwrap();
    // Test double of systemctl: records each call.
    let systemctl = dir.join("fakebin/systemctl");
    std::fs::write(
        &systemctl,
        format!("#!/bin/sh\necho \"systemctl $*\" >> {}/systemctl.log\necho \"hmg-detect.service - hmg live detection\"\n", dir.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The "Pi" has hmg installed: this build on its PATH, its plugin where GStreamer looks.
    std::os::unix::fs::symlink(profile_dir().join("hmg"), dir.join("fakebin/hmg")).unwrap();
    std::fs::create_dir_all(dir.join("pi-plugins")).unwrap();
    std::fs::copy(
        profile_dir().join("libgsthmg.so"),
        dir.join("pi-plugins/libgsthmg.so"),
    )
    .unwrap();
    dir
}
