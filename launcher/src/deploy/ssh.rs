// SPDX-License-Identifier: MIT OR Apache-2.0
//! The system OpenSSH client, run without a terminal: key login only (BatchMode), the user's own
//! config, agents and host-key policy; every remote command built from quoted words.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A word for the remote POSIX shell: single-quoted, so nothing in it is interpreted.
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A remote command line from words, each quoted.
pub fn line(words: &[&str]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// How to log in: the options `hmg deploy` and `hmg collect` share.
#[derive(clap::Args, Debug, Clone)]
pub struct SshOptions {
    /// SSH port (default: ssh's, or your ssh config's)
    #[arg(long)]
    pub port: Option<u16>,
    /// Private key to log in with (default: your agent and ssh config)
    #[arg(long)]
    pub identity: Option<PathBuf>,
    /// An ssh config file to use instead of ~/.ssh/config
    #[arg(long)]
    pub ssh_config: Option<PathBuf>,
}

impl SshOptions {
    /// How to reach `host` with these options.
    pub fn to(&self, host: &str, dry_run: bool) -> Ssh {
        Ssh {
            host: host.to_string(),
            port: self.port,
            identity: self.identity.clone(),
            config: self.ssh_config.clone(),
            dry_run,
        }
    }
}

/// How to reach the target.
#[derive(Debug, Clone)]
pub struct Ssh {
    pub host: String,
    pub port: Option<u16>,
    pub identity: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub dry_run: bool,
}

impl Ssh {
    /// The `ssh` arguments before the remote command.
    pub fn args(&self) -> Vec<String> {
        // BatchMode: never prompt (no passwords, no host-key questions): the user's policy
        // decides, and a question becomes a clear failure instead of a hang.
        let mut a = vec!["-o".to_string(), "BatchMode=yes".to_string()];
        if let Some(c) = &self.config {
            a.extend(["-F".to_string(), c.display().to_string()]);
        }
        if let Some(p) = self.port {
            a.extend(["-p".to_string(), p.to_string()]);
        }
        if let Some(i) = &self.identity {
            a.extend([
                "-i".to_string(),
                i.display().to_string(),
                "-o".to_string(),
                "IdentitiesOnly=yes".to_string(),
            ]);
        }
        a.push(self.host.clone());
        a
    }

    /// The command as a user could type it (for --dry-run and error messages).
    pub fn shown(&self, remote: &str) -> String {
        let mut words = vec!["ssh".to_string()];
        words.extend(self.args().iter().map(|a| quote(a)));
        words.push(quote(remote));
        words.join(" ")
    }

    /// Runs `remote` on the target (stdin from `input` when given); returns its stdout.
    pub fn run(&self, remote: &str, input: Option<&Path>) -> anyhow::Result<String> {
        if self.dry_run {
            match input {
                Some(file) => println!(
                    "would run: {} < {}",
                    self.shown(remote),
                    quote(&file.display().to_string())
                ),
                None => println!("would run: {}", self.shown(remote)),
            }
            return Ok(String::new());
        }
        let mut cmd = Command::new("ssh");
        cmd.args(self.args())
            .arg(remote)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.stdin(match input {
            Some(file) => Stdio::from(
                std::fs::File::open(file)
                    .map_err(|e| anyhow::anyhow!("cannot read '{}': {e}", file.display()))?,
            ),
            None => Stdio::null(),
        });
        let out = cmd.output().map_err(|e| {
            anyhow::anyhow!(
                "cannot run ssh: {e} (install the OpenSSH client: sudo apt install openssh-client)"
            )
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.code() == Some(255) {
            anyhow::bail!("{}", explain(&self.host, &stderr));
        }
        if !out.status.success() {
            anyhow::bail!(
                "on {}: `{remote}` failed ({}): {}",
                self.host,
                out.status,
                stderr.trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// ssh's own failures (exit 255) as a sentence with the fix.
pub fn explain(host: &str, stderr: &str) -> String {
    let detail = stderr.trim();
    let user_host = host;
    if detail.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        return format!(
            "the host key of {user_host} has CHANGED since you last connected: deploy stopped. If the Pi was reinstalled, remove the old key with `ssh-keygen -R <host>` and connect once with `ssh {user_host}` to check the new one; otherwise someone may be intercepting the connection"
        );
    }
    if detail.contains("Host key verification failed") {
        return format!(
            "{user_host} is not a known host and your ssh policy asks before trusting new ones: connect once with `ssh {user_host}` and check the key, then deploy again"
        );
    }
    if detail.contains("Permission denied") {
        return format!(
            "{user_host} refused key login ({}). hmg never uses passwords: create a key with `ssh-keygen -t ed25519` and install it with `ssh-copy-id {user_host}`, then deploy again",
            detail.lines().last().unwrap_or(detail)
        );
    }
    if detail.contains("Connection refused") {
        return format!(
            "{user_host} refused the connection: {detail}. The Pi is reachable but SSH is off or blocked: turn it on on the Pi with `sudo raspi-config` (Interface Options → SSH) or `sudo systemctl enable --now ssh`, and check that no firewall blocks the port"
        );
    }
    if detail.contains("Could not resolve hostname")
        || detail.contains("timed out")
        || detail.contains("No route to host")
    {
        return format!("cannot reach {user_host}: {detail} (is the Pi on and on this network?)");
    }
    format!("ssh to {user_host} failed: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_every_word_literal() {
        assert_eq!(quote("models/m-1.hef"), "models/m-1.hef");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("x'; rm -rf ~; '"), r"'x'\''; rm -rf ~; '\'''");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(quote(""), "''");
        assert_eq!(line(&["mv", "-f", "a b", "c"]), "mv -f 'a b' c");
    }

    #[test]
    fn ssh_failures_say_what_to_do() {
        assert!(
            explain("pi@p", "Permission denied (publickey,password).").contains("ssh-copy-id pi@p")
        );
        assert!(
            explain(
                "pi@p",
                "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@"
            )
            .contains("CHANGED")
        );
        assert!(explain("pi@p", "Host key verification failed.").contains("connect once"));
    }
}
