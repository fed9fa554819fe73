// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg deploy`: the seed's step 5 without passwords — check the Pi, copy the model (versioned,
//! atomically), the graph templates and optionally an aarch64 bundle, keep the previous model for
//! `--rollback`, and run `hmg detect` as a systemd user service.
//!
//! Remote layout under `--remote-dir` (default `~/hmg`): `models/<stem>-<sha12>.<ext>`, the text
//! files `models/CURRENT` and `models/PREVIOUS` naming the active and the previous model,
//! `graphs/`, and from a bundle `bin/hmg` and `lib/gstreamer-1.0/libgsthmg.so`.
//!
//! Several hosts (`--host a --host b`, `--hosts FILE`) are deployed in parallel, each by its own
//! `hmg deploy --host X` process (one failing host cannot disturb another), with a result table.

mod canary;
pub mod fleet;
mod runtime;
pub mod ssh;

use std::path::{Path, PathBuf};

use anyhow::Context;
use runtime::{Bundle, Installed};
use ssh::{Ssh, line, quote};

use crate::usage::usage;

const UNIT: &str = "hmg-detect.service";

#[derive(clap::Args, Debug, Clone)]
pub struct DeployArgs {
    /// Target, as for ssh: pi@raspberrypi.local, or a Host from your ssh config; repeat it to
    /// deploy to several Pis in parallel
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// A file with one host per line (# starts a comment), deployed in parallel with any --host
    #[arg(long = "hosts", value_name = "FILE")]
    hosts_file: Option<PathBuf>,
    /// The one host this process deploys to.
    #[arg(skip)]
    host: String,
    #[command(flatten)]
    ssh: ssh::SshOptions,
    /// Model to deploy (.hef on a Hailo-8; .onnx runs on the Pi's CPU)
    #[arg(long)]
    model: Option<PathBuf>,
    /// Folder on the Pi (relative to the home folder unless absolute)
    #[arg(long, default_value = "hmg")]
    remote_dir: String,
    /// hmg for the Pi: the package scripts/build-deb makes (hmg_<version>_arm64.deb, installed
    /// with dpkg), or a folder with hmg and libgsthmg.so (docs/guide-pi.md)
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Install and (re)start a systemd user service that runs hmg detect --headless
    #[arg(long)]
    service: bool,
    /// Sources for the service's hmg detect
    #[arg(long, default_value = "--picamera", allow_hyphen_values = true)]
    detect_args: String,
    /// With --service: the service also serves its live view (hmg detect --serve) on this
    /// address of the Pi, e.g. 0.0.0.0:8080 for the LAN; its link is in the service's journal
    #[arg(long, value_name = "ADDR:PORT", requires = "service")]
    serve: Option<std::net::SocketAddr>,
    /// Deploy to the first N hosts first: they must run the new model for --soak with frames
    /// going through, no restart and FPS within --max-fps-drop of before (read from the
    /// service's own status file), or they are rolled back and the other hosts are not touched
    #[arg(long, value_name = "N", requires_all = ["service", "model"],
          value_parser = clap::value_parser!(u32).range(1..))]
    canary: Option<u32>,
    /// How long the canaries must run well before the rest get the model: 90s, 10m, 1h
    #[arg(long, default_value = "10m", value_parser = canary::soak_duration)]
    soak: std::time::Duration,
    /// The largest FPS drop accepted on a canary, in percent of its FPS before the deploy
    #[arg(long, default_value_t = 20.0, value_name = "PERCENT")]
    max_fps_drop: f64,
    /// Make the previous model the current one again
    #[arg(long, conflicts_with_all = ["model", "bundle"])]
    rollback: bool,
    /// Deploy even when a check of the Pi fails
    #[arg(long)]
    force: bool,
    /// Print every step without doing it
    #[arg(long)]
    dry_run: bool,
}

/// What the Pi reported.
#[derive(Debug, Default)]
struct Target {
    os: String,
    arch: String,
    hailort: String,
    gstreamer: String,
    free_mib: u64,
    hmg: Installed,
}

const PROBE_SYSTEM: &str = r#"echo "os=$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -s)"
echo "arch=$(uname -m)"
if [ -n "${HMG_HAILORT_LIBRARY:-}" ] && [ -e "$HMG_HAILORT_LIBRARY" ]; then echo "hailort=library $HMG_HAILORT_LIBRARY (HMG_HAILORT_LIBRARY)"
elif command -v hailortcli >/dev/null 2>&1; then echo "hailort=$(hailortcli --version 2>/dev/null | head -n 1)"
elif { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libhailort\.so'; then echo "hailort=library"
elif ls /usr/lib/libhailort.so* /usr/lib/*/libhailort.so* /usr/local/lib/libhailort.so* >/dev/null 2>&1; then echo "hailort=library"
else echo "hailort="; fi
echo "gstreamer=$(gst-launch-1.0 --version 2>/dev/null | head -n 1)"
echo "free_kib=$(df -Pk "$HOME" | awk 'NR==2 {print $4}')"
"#;

fn parse_probe(text: &str) -> Target {
    let mut t = Target::default();
    for l in text.lines() {
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let v = v.trim().to_string();
        match k {
            "os" => t.os = v,
            "arch" => t.arch = v,
            "hailort" => t.hailort = v,
            "gstreamer" => t.gstreamer = v,
            "free_kib" => t.free_mib = v.parse::<u64>().unwrap_or(0) / 1024,
            other => t.hmg.set(other, v),
        }
    }
    t
}

/// `<stem>-<first 12 hex of sha256>.<ext>`: a new model never overwrites an old one.
fn versioned_name(model: &Path) -> anyhow::Result<String> {
    let digest = hmg_detect::sidecar::file_sha256(model)
        .with_context(|| format!("cannot read '{}'", model.display()))?;
    let stem = model.file_stem().unwrap_or_default().to_string_lossy();
    let ext = model
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    Ok(format!("{stem}-{}{ext}", &digest[..12]))
}

/// Does the local machine have a key ssh could offer?
fn has_key(args: &DeployArgs) -> bool {
    if args.ssh.identity.is_some() || args.ssh.ssh_config.is_some() {
        return true;
    }
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        return true;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    [
        "id_ed25519",
        "id_ecdsa",
        "id_rsa",
        "id_ed25519_sk",
        "id_ecdsa_sk",
    ]
    .iter()
    .any(|k| home.join(".ssh").join(k).is_file())
        || home.join(".ssh/config").is_file()
}

/// How to reach `host` with the SSH settings of `args`.
fn ssh_to(args: &DeployArgs, host: &str) -> Ssh {
    args.ssh.to(host, args.dry_run)
}

/// `<dir>/<rest>` on the Pi (relative paths are relative to the login folder).
fn remote_path(dir: &str, rest: &str) -> String {
    format!("{}/{rest}", dir.trim_end_matches('/'))
}

pub fn run(args: &DeployArgs) -> anyhow::Result<()> {
    let hosts = fleet::hosts(args)?;
    if let Some(n) = args.canary
        && hosts.len() <= n as usize
    {
        return Err(usage(format!(
            "--canary {n} needs more than {n} host(s): the canaries go first, then the rest"
        )));
    }
    match hosts.as_slice() {
        [] => Err(usage(
            "no host: give --host pi@raspberrypi.local (repeatable) or --hosts FILE",
        )),
        [one] => {
            let mut single = args.clone();
            single.host = one.clone();
            deploy_one(&single)
        }
        many => fleet::deploy_all(many, args),
    }
}

/// What was done, or in a dry run what would have been.
fn done(args: &DeployArgs, text: impl std::fmt::Display) {
    if args.dry_run {
        println!("would be done: {text}");
    } else {
        println!("{text}");
    }
}

fn deploy_one(args: &DeployArgs) -> anyhow::Result<()> {
    if args.host.trim().is_empty()
        || args.host.starts_with('-')
        || args.host.contains(char::is_control)
    {
        return Err(usage(format!("--host {:?} is not a host", args.host)));
    }
    if args.remote_dir.trim().is_empty() || args.remote_dir.contains(char::is_control) {
        return Err(usage(format!(
            "--remote-dir {:?}: give a folder name without newlines or other control characters",
            args.remote_dir
        )));
    }
    if let Some(m) = &args.model
        && let Some(why) = hmg_detect::paths::not_a_file(m)
    {
        return Err(usage(format!("model '{}' {why}", m.display())));
    }
    if let Some(i) = &args.ssh.identity
        && let Some(why) = hmg_detect::paths::not_a_file(i)
    {
        return Err(usage(format!("identity '{}' {why}", i.display())));
    }
    let bundle = args.bundle.as_deref().map(Bundle::open).transpose()?;
    if args.model.is_none() && bundle.is_none() && !args.rollback && !args.service {
        return Err(usage(
            "nothing to deploy: give --model, --bundle, --service or --rollback",
        ));
    }
    // A dry run connects nowhere: it needs no key.
    if !args.dry_run && !has_key(args) {
        return Err(usage(format!(
            "no SSH key found: create one with `ssh-keygen -t ed25519`, install it on the Pi with `ssh-copy-id {}`, then deploy again (hmg never uses passwords)",
            args.host
        )));
    }
    let ssh = ssh_to(args, &args.host);
    let dir = &args.remote_dir;

    println!("checking {} …", args.host);
    let probe = format!("{PROBE_SYSTEM}{}", runtime::probe_lines(dir));
    let target = parse_probe(&ssh.run(&probe, None)?);
    if !args.dry_run {
        check_target(args, &target, bundle.as_ref())?;
    }

    if args.rollback {
        return rollback(&ssh, args);
    }

    ssh.run(
        &format!(
            "mkdir -p {} {} {}",
            quote(&remote_path(dir, "models")),
            quote(&remote_path(dir, "graphs")),
            quote(&remote_path(dir, "out"))
        ),
        None,
    )?;
    // hmg first: a model is no use on a Pi that cannot run it.
    if let Some(Bundle::Deb { path, .. }) = &bundle {
        runtime::install_deb(&ssh, dir, path)?;
    }
    if let Some(model) = &args.model {
        let name = versioned_name(model)?;
        // Class names (a HEF has none; an ONNX model carries its own) go first, under the same
        // versioned stem.
        let sidecar = if is_hef(model) {
            hmg_detect::sidecar::read_beside(model)?
        } else {
            None
        };
        match sidecar {
            Some((sidecar, _)) => {
                let remote = hmg_detect::sidecar::sidecar_path(Path::new(&name));
                upload(
                    &ssh,
                    &sidecar,
                    &remote_path(dir, &format!("models/{}", remote.display())),
                    false,
                )?;
                done(
                    args,
                    format!("labels: {} copied with the model", sidecar.display()),
                );
            }
            None if model
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("hef")) =>
            {
                eprintln!(
                    "warning: no class names beside '{}' ({}): detections on the Pi will be named class-N; hmg compile writes them",
                    model.display(),
                    hmg_detect::sidecar::sidecar_path(model).display()
                );
            }
            None => {}
        }
        upload(
            &ssh,
            model,
            &remote_path(dir, &format!("models/{name}")),
            false,
        )?;
        let models = remote_path(dir, "models");
        let switch = format!(
            "cd {models} && if [ -f CURRENT ] && [ \"$(cat CURRENT)\" != {name} ]; then cp CURRENT PREVIOUS.tmp && mv -f PREVIOUS.tmp PREVIOUS; fi && printf '%s\\n' {name} > CURRENT.tmp && mv -f CURRENT.tmp CURRENT",
            models = quote(&models),
            name = quote(&name)
        );
        ssh.run(&switch, None)?;
        done(args, format!("model: {name} is current on {}", args.host));
    }
    let graphs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../graphs");
    let graphs = crate::assets::find("graphs/file.gst")
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or(graphs);
    if let Ok(entries) = std::fs::read_dir(&graphs) {
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "gst"))
            .collect();
        files.sort();
        for f in files {
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            upload(
                &ssh,
                &f,
                &remote_path(dir, &format!("graphs/{name}")),
                false,
            )?;
        }
    }
    if let Some(Bundle::Folder { hmg, plugin }) = &bundle {
        ssh.run(
            &line(&[
                "mkdir",
                "-p",
                &remote_path(dir, "bin"),
                &remote_path(dir, "lib/gstreamer-1.0"),
            ]),
            None,
        )?;
        upload(&ssh, hmg, &remote_path(dir, "bin/hmg"), true)?;
        upload(
            &ssh,
            plugin,
            &remote_path(dir, "lib/gstreamer-1.0/libgsthmg.so"),
            false,
        )?;
        done(
            args,
            format!("bundle: hmg and libgsthmg.so installed in {dir}/"),
        );
    }
    if args.service {
        let folder = bundle.as_ref().is_some_and(Bundle::is_folder)
            || (bundle.is_none()
                && target.hmg.hmg.is_empty()
                && !target.hmg.bundled_hmg.is_empty());
        let hef = args.model.as_ref().map(|m| is_hef(m));
        if let Err(e) = runtime::verify(&ssh, dir, folder, hef) {
            if !args.force {
                return Err(e);
            }
            eprintln!("{e:#}\n--force: enabling the service anyway");
        }
        install_service(&ssh, args, folder)?;
    }
    println!(
        "watch detections: ssh {} 'tail -F {}/out/detect/*/*.jsonl'",
        args.host, dir
    );
    if args.service && args.serve.is_some() {
        // The link carries a token made at each start of the service: it is in its journal.
        println!(
            "live view link: ssh {} 'journalctl --user -u {UNIT} | grep \"live view:\" | tail -1'",
            args.host
        );
    }
    Ok(())
}

fn is_hef(model: &Path) -> bool {
    model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("hef"))
}

fn check_target(args: &DeployArgs, t: &Target, bundle: Option<&Bundle>) -> anyhow::Result<()> {
    println!("  system      {} ({})", t.os, t.arch);
    let hef = args.model.as_deref().is_some_and(is_hef);
    let (mut problems, warnings) = runtime::check(&t.hmg, bundle, hef, args.service);
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if t.hailort.is_empty() {
        println!("  HailoRT     not found");
        if hef {
            problems.push("HailoRT is not installed on the Pi, so a .hef cannot run there: `sudo apt install hailo-all` on the Pi, then reboot".to_string());
        }
    } else {
        println!("  HailoRT     {}", t.hailort);
    }
    if t.gstreamer.is_empty() {
        println!("  GStreamer   not found");
        problems.push("GStreamer is not installed on the Pi: `sudo apt install gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-libcamera`".to_string());
    } else {
        println!("  GStreamer   {}", t.gstreamer);
    }
    let need_mib = args
        .model
        .as_ref()
        .and_then(|m| std::fs::metadata(m).ok())
        .map_or(0, |m| m.len() / (1024 * 1024))
        + 50;
    println!("  free disk   {} MiB", t.free_mib);
    if t.free_mib < need_mib {
        problems.push(format!(
            "only {} MiB free on the Pi, {need_mib} MiB needed: delete old recordings in ~/hmg/out",
            t.free_mib
        ));
    }
    if bundle.is_some_and(Bundle::is_folder) && t.arch != "aarch64" {
        problems.push(format!(
            "the Pi reports architecture {}; the bundle must be built for it (docs/deploy.md)",
            t.arch
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    for p in &problems {
        eprintln!("problem: {p}");
    }
    if args.force {
        eprintln!("--force: deploying anyway");
        return Ok(());
    }
    anyhow::bail!(
        "{} problem(s) on {}; fix them (or pass --force)",
        problems.len(),
        args.host
    )
}

/// Streams `file` to `<remote>.upload`, then renames it into place (never a half file).
fn upload(ssh: &Ssh, file: &Path, remote: &str, executable: bool) -> anyhow::Result<()> {
    let part = format!("{remote}.upload");
    let mut cmd = format!("cat > {} && ", quote(&part));
    if executable {
        cmd += &format!("chmod +x {} && ", quote(&part));
    }
    cmd += &line(&["mv", "-f", &part, remote]);
    ssh.run(&cmd, Some(file))
        .with_context(|| format!("copying '{}' to the Pi failed", file.display()))?;
    Ok(())
}

fn rollback(ssh: &Ssh, args: &DeployArgs) -> anyhow::Result<()> {
    let models = quote(&remote_path(&args.remote_dir, "models"));
    let swap = format!(
        "cd {models} && [ -f PREVIOUS ] || {{ echo 'no previous model to roll back to' >&2; exit 3; }}; cp CURRENT CURRENT.old && cp PREVIOUS CURRENT.tmp && mv -f CURRENT.tmp CURRENT && mv -f CURRENT.old PREVIOUS && cat CURRENT"
    );
    let now = ssh.run(&swap, None)?;
    if !args.dry_run {
        println!("rolled back: {} is current on {}", now.trim(), args.host);
    }
    if args.service {
        ssh.run(&line(&["systemctl", "--user", "restart", UNIT]), None)?;
        done(args, format!("{UNIT} restarted"));
    }
    Ok(())
}

/// The unit: `hmg detect --headless` on the current model, restarted whenever it stops.
fn unit_text(args: &DeployArgs, bundled: bool) -> String {
    // systemd expands `%` specifiers and `$` variables in unit lines: escape ours.
    let escape = |s: &str| s.replace('%', "%%").replace('$', "$$");
    let dir = if args.remote_dir.starts_with('/') {
        escape(&args.remote_dir)
    } else {
        format!("%h/{}", escape(&args.remote_dir))
    };
    let hmg = if bundled {
        format!("{dir}/bin/hmg")
    } else {
        "hmg".to_string()
    };
    let env = if bundled {
        format!("Environment=GST_PLUGIN_PATH={dir}/lib/gstreamer-1.0\n")
    } else {
        String::new()
    };
    let serve = args
        .serve
        .map(|addr| format!(" --serve --bind {addr}"))
        .unwrap_or_default();
    let sources: Vec<String> = format!("{}{serve}", args.detect_args)
        .split_whitespace()
        .map(|w| escape(&quote(w)))
        .collect();
    // The model is read from CURRENT at each start, so a deploy or rollback + restart switches it.
    let script = format!(
        "cd {} && exec {} detect --model \"models/$$(cat models/CURRENT)\" --headless {} --output out/detect",
        quote(&dir),
        quote(&hmg),
        sources.join(" ")
    );
    format!(
        "# Installed by hmg deploy.\n[Unit]\nDescription=hmg live detection\nAfter=network-online.target\n\n[Service]\n{env}ExecStart=/bin/sh -c {}\nRestart=always\nRestartSec=5\n\n[Install]\nWantedBy=default.target\n",
        quote(&script)
    )
}

fn install_service(ssh: &Ssh, args: &DeployArgs, bundled: bool) -> anyhow::Result<()> {
    let unit = crate::atomic::temp_file_with("hmg-unit-", &unit_text(args, bundled))?;
    // $HOME, not the login folder: systemd reads user units from $HOME/.config.
    let installed = ssh.run(
        &format!(
            "mkdir -p \"$HOME/.config/systemd/user\" && cat > \"$HOME/.config/systemd/user/{UNIT}.upload\" && mv -f \"$HOME/.config/systemd/user/{UNIT}.upload\" \"$HOME/.config/systemd/user/{UNIT}\""
        ),
        Some(&unit),
    );
    drop(unit);
    installed.context("installing the service unit failed")?;
    ssh.run(
        &format!(
            "systemctl --user daemon-reload && systemctl --user enable {UNIT} && systemctl --user restart {UNIT}"
        ),
        None,
    )?;
    let status = ssh.run(
        &format!(
            "systemctl --user --no-pager status {UNIT} | head -n 5; journalctl --user -u {UNIT} -n 10 --no-pager"
        ),
        None,
    )?;
    done(args, format!("{UNIT} (re)started:\n{}", status.trim_end()));
    println!(
        "note: to keep it running without a login, run once on the Pi: sudo loginctl enable-linger $USER"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_parses() {
        let t = parse_probe(
            "os=Debian GNU/Linux 12 (bookworm)\narch=aarch64\nhailort=HailoRT-CLI version 4.20.0\ngstreamer=gst-launch-1.0 version 1.22.0\nfree_kib=2048000\n",
        );
        assert_eq!((t.arch.as_str(), t.free_mib), ("aarch64", 2000));
        assert!(t.hailort.contains("4.20"));
    }

    #[test]
    fn the_probe_finds_hailort_where_hmg_loads_it_from() {
        // HMG_HAILORT_LIBRARY is the first place hmg's engine loads libhailort from.
        let library = std::env::current_exe().unwrap();
        let probe = |env: Option<&std::path::Path>| {
            let mut c = std::process::Command::new("sh");
            c.args(["-c", PROBE_SYSTEM])
                .env_remove("HMG_HAILORT_LIBRARY");
            if let Some(p) = env {
                c.env("HMG_HAILORT_LIBRARY", p);
            }
            parse_probe(&String::from_utf8(c.output().unwrap().stdout).unwrap())
        };
        let t = probe(Some(&library));
        assert!(
            t.hailort.contains(&*library.to_string_lossy()),
            "{}",
            t.hailort
        );
        // A variable naming no file is no library.
        let missing = probe(Some(std::path::Path::new("/nonexistent/libhailort.so")));
        assert!(
            !missing.hailort.contains("nonexistent"),
            "{}",
            missing.hailort
        );
    }

    #[test]
    fn versioned_names_keep_the_extension() {
        let dir = std::env::temp_dir().join(format!("hmg-deploy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = dir.join("my model.hef");
        std::fs::write(&m, b"abc").unwrap();
        // sha256("abc") = ba7816bf8f01…
        assert_eq!(versioned_name(&m).unwrap(), "my model-ba7816bf8f01.hef");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
