// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg serve --host PI`: the live view of the detection service running on a Pi, opened from
//! this machine. The service (`hmg deploy --service --serve 127.0.0.1:8080`) writes its link,
//! token included, into its status file; hmg reads it over SSH (keys only, as deploy) and forwards
//! a local port to it through the same SSH connection, so the page never has to listen on the
//! Pi's network and the link works where the user is.

use std::process::{Command, Stdio};

use anyhow::{Context, anyhow};

use crate::deploy::ssh::{SshOptions, quote};
use crate::usage::usage;

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// The Pi, as for ssh: pi@raspberrypi.local, or a Host from your ssh config
    #[arg(long)]
    host: String,
    #[command(flatten)]
    ssh: SshOptions,
    /// hmg's folder on the Pi (hmg deploy's --remote-dir)
    #[arg(long, default_value = "hmg")]
    remote_dir: String,
    /// Port of the link on this machine (default: a free one)
    #[arg(long, default_value_t = 0)]
    local_port: u16,
}

/// The address and port a live-view link points at, and its token.
fn parse_link(link: &str) -> Option<(String, u16, String)> {
    let rest = link.strip_prefix("http://")?;
    let (authority, query) = rest.split_once("/?")?;
    let (host, port) = authority.rsplit_once(':')?;
    let token = query.split('&').find_map(|kv| kv.strip_prefix("token="))?;
    Some((host.to_string(), port.parse().ok()?, token.to_string()))
}

fn free_local_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .context("cannot find a free local port (give --local-port)")?;
    Ok(listener.local_addr()?.port())
}

pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    if args.host.trim().is_empty() || args.host.starts_with('-') {
        return Err(usage(format!("--host {:?} is not a host", args.host)));
    }
    let ssh = args.ssh.to(&args.host, false);
    let status_path = format!(
        "{}/out/detect/status.json",
        args.remote_dir.trim_end_matches('/')
    );
    let text = ssh.run(
        &format!("cat -- {} 2>/dev/null || true", quote(&status_path)),
        None,
    )?;
    let status: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        anyhow!(
            "no detection service reports on {} ({status_path} is missing): deploy one with `hmg deploy --host {} --model m.hef --service --serve 127.0.0.1:8080`",
            args.host,
            args.host
        )
    })?;
    let link = status["live_view"].as_str().ok_or_else(|| {
        anyhow!(
            "the service on {} runs without a live view: deploy it again with --serve 127.0.0.1:8080 (hmg deploy --host {} --service --serve 127.0.0.1:8080)",
            args.host,
            args.host
        )
    })?;
    let (remote_host, remote_port, token) = parse_link(link)
        .ok_or_else(|| anyhow!("the service's live view link {link:?} is not one hmg wrote"))?;
    let local = if args.local_port == 0 {
        free_local_port()?
    } else {
        args.local_port
    };
    let mut tunnel = Command::new("ssh")
        .args(["-N", "-o", "ExitOnForwardFailure=yes", "-L"])
        .arg(format!("127.0.0.1:{local}:{remote_host}:{remote_port}"))
        .args(args.ssh.to(&args.host, false).args())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run ssh (install the OpenSSH client)")?;
    // The forward is up when the local port answers (or ssh has given up).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(status) = tunnel.try_wait()? {
            let mut err = String::new();
            if let Some(mut e) = tunnel.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            anyhow::bail!(
                "the tunnel to {} ended ({status}): {}",
                args.host,
                crate::deploy::ssh::explain(&args.host, &err)
            );
        }
        if std::net::TcpStream::connect(("127.0.0.1", local)).is_ok() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = tunnel.kill();
            anyhow::bail!("the tunnel to {} did not come up within 20 s", args.host);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    println!(
        "live view of {} (model {}): http://127.0.0.1:{local}/?token={token}",
        args.host,
        status["model"].as_str().unwrap_or("?")
    );
    println!("(through SSH; Ctrl-C here closes it)");
    let ended = tunnel.wait()?;
    if ended.success() || ended.code().is_none() {
        Ok(())
    } else {
        Err(anyhow!("the tunnel to {} ended: {ended}", args.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_read_back_as_the_live_view_writes_them() {
        assert_eq!(
            parse_link("http://127.0.0.1:8080/?token=ab12"),
            Some(("127.0.0.1".into(), 8080, "ab12".into()))
        );
        assert_eq!(parse_link("https://x/?token=a"), None);
        assert_eq!(parse_link("http://127.0.0.1:8080/"), None);
    }

    #[test]
    fn a_free_port_is_found() {
        assert!(free_local_port().unwrap() > 0);
    }
}
