// SPDX-License-Identifier: MIT OR Apache-2.0
//! hmg itself on the Pi: what is installed there (`hmg --version`, `gst-inspect-1.0 hmg`), the
//! bundle that installs it (the Debian package scripts/build-deb makes, or a folder with hmg and
//! libgsthmg.so), and `hmg doctor` run on the Pi before a service is enabled.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::ssh::{Ssh, quote};
use super::{remote_path, upload};
use crate::usage::usage;

/// What `--bundle` names.
#[derive(Debug, Clone)]
pub enum Bundle {
    /// `hmg_<version>_<arch>.deb`, installed with dpkg.
    Deb { path: PathBuf, arch: String },
    /// A folder with hmg and libgsthmg.so, installed under the remote folder.
    Folder { hmg: PathBuf, plugin: PathBuf },
}

impl Bundle {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if path.is_file() && path.extension().is_some_and(|e| e == "deb") {
            let out = std::process::Command::new("dpkg-deb")
                .args(["-f"])
                .arg(path)
                .args(["Package", "Architecture"])
                .output()
                .with_context(|| format!("cannot read '{}' (dpkg-deb)", path.display()))?;
            let fields = String::from_utf8_lossy(&out.stdout);
            let field = |name: &str| {
                fields
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .map(str::trim)
                    .unwrap_or("")
                    .to_string()
            };
            if !out.status.success() || field("Package") != "hmg" {
                return Err(usage(format!(
                    "bundle '{}' is not the hmg package (scripts/build-deb makes it)",
                    path.display()
                )));
            }
            return Ok(Bundle::Deb {
                path: path.to_path_buf(),
                arch: field("Architecture"),
            });
        }
        let (hmg, plugin) = (path.join("hmg"), path.join("libgsthmg.so"));
        if !hmg.is_file() || !plugin.is_file() {
            return Err(usage(format!(
                "bundle '{}' must be the hmg .deb (scripts/build-deb) or a folder holding hmg and libgsthmg.so built for the Pi (docs/guide-pi.md says how)",
                path.display()
            )));
        }
        Ok(Bundle::Folder { hmg, plugin })
    }

    /// Whether the service runs `<dir>/bin/hmg` with its own plugin folder.
    pub fn is_folder(&self) -> bool {
        matches!(self, Bundle::Folder { .. })
    }
}

/// Shell lines for the probe: hmg on the PATH, hmg from a folder bundle, the plugin GStreamer
/// finds, and the Debian architecture.
pub fn probe_lines(dir: &str) -> String {
    format!(
        "echo \"hmg=$(hmg --version 2>/dev/null | head -n 1)\"\n\
         echo \"bundled_hmg=$({} --version 2>/dev/null | head -n 1)\"\n\
         echo \"plugin=$(gst-inspect-1.0 hmg 2>/dev/null | sed -n 's/^ *Version *//p' | head -n 1)\"\n\
         echo \"debarch=$(dpkg --print-architecture 2>/dev/null)\"\n",
        quote(&remote_path(dir, "bin/hmg"))
    )
}

/// What the probe found of hmg.
#[derive(Debug, Default, Clone)]
pub struct Installed {
    /// `hmg --version` on the PATH (empty: none).
    pub hmg: String,
    /// `<dir>/bin/hmg --version` (a folder bundle).
    pub bundled_hmg: String,
    /// The plugin version `gst-inspect-1.0 hmg` reports.
    pub plugin: String,
    pub debarch: String,
}

impl Installed {
    pub fn set(&mut self, key: &str, value: String) {
        match key {
            "hmg" => self.hmg = value,
            "bundled_hmg" => self.bundled_hmg = value,
            "plugin" => self.plugin = value,
            "debarch" => self.debarch = value,
            _ => {}
        }
    }

    /// The hmg the service would run.
    fn any_hmg(&self) -> Option<&str> {
        [&self.hmg, &self.bundled_hmg]
            .into_iter()
            .find(|v| !v.is_empty())
            .map(String::as_str)
    }
}

/// Prints what is installed and returns the problems for what is about to be deployed.
pub fn check(
    installed: &Installed,
    bundle: Option<&Bundle>,
    hef: bool,
    service: bool,
) -> (Vec<String>, Vec<String>) {
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    println!(
        "  hmg         {}",
        installed.any_hmg().unwrap_or("not installed")
    );
    println!(
        "  plugin      {}",
        if installed.plugin.is_empty() {
            "gst-inspect-1.0 does not find hmg"
        } else {
            &installed.plugin
        }
    );
    match bundle {
        Some(Bundle::Deb { arch, .. }) => {
            if !installed.debarch.is_empty() && arch != &installed.debarch {
                problems.push(format!(
                    "the package is for {arch} but the Pi is {}: build it on the Pi or an {} machine with scripts/build-deb (docs/guide-pi.md)",
                    installed.debarch, installed.debarch
                ));
            }
        }
        Some(Bundle::Folder { .. }) => {}
        None => {
            let install = "deploy the hmg package with --bundle hmg_<version>_arm64.deb (scripts/build-deb, docs/guide-pi.md), or run scripts/setup in an hmg checkout on the Pi";
            match installed.any_hmg() {
                None if service => problems.push(format!(
                    "hmg is not installed on the Pi, so the service would fail at every start: {install}"
                )),
                None => warnings.push(format!(
                    "hmg is not installed on the Pi yet (the model is copied all the same): {install}"
                )),
                Some(v) if hef && !v.contains("(HailoRT backend)") => problems.push(format!(
                    "the hmg on the Pi ({v}) is built without HailoRT and cannot run a .hef: {install}"
                )),
                Some(_) => {}
            }
        }
    }
    (problems, warnings)
}

/// Uploads the package and installs it with dpkg (as root, or through sudo without a password).
pub fn install_deb(ssh: &Ssh, dir: &str, deb: &Path) -> anyhow::Result<()> {
    let name = deb
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "hmg.deb".into());
    ssh.run(
        &format!("mkdir -p {}", quote(&remote_path(dir, "packages"))),
        None,
    )?;
    let remote = remote_path(dir, &format!("packages/{name}"));
    upload(ssh, deb, &remote, false)?;
    // A login's PATH may lack the sbin folders dpkg runs ldconfig from.
    let install = format!(
        "PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\"; if [ \"$(id -u)\" = 0 ]; then dpkg -i {f}; else sudo -n dpkg -i {f}; fi",
        f = quote(&remote)
    );
    ssh.run(&install, None).map_err(|e| {
        anyhow::anyhow!(
            "installing the package on the Pi failed ({e:#}). It needs root: log in and run `sudo dpkg -i {remote}` (then `sudo apt-get -f install` if it names missing packages), and deploy again"
        )
    })?;
    println!("package: {name} installed");
    Ok(())
}

/// Runs `hmg doctor --json` on the Pi and refuses when what the service needs is missing: the
/// elements, the plugin for gst-launch-1.0, and the runtime of the model.
pub fn verify(ssh: &Ssh, dir: &str, folder_bundle: bool, hef: Option<bool>) -> anyhow::Result<()> {
    let hmg = if folder_bundle {
        format!(
            "GST_PLUGIN_PATH={} {}",
            quote(&remote_path(dir, "lib/gstreamer-1.0")),
            quote(&remote_path(dir, "bin/hmg"))
        )
    } else {
        "hmg".to_string()
    };
    // doctor exits 1 on any problem, including ones the service does not care about.
    let out = ssh.run(&format!("{hmg} doctor --json || true"), None)?;
    if ssh.dry_run {
        return Ok(());
    }
    let checks: serde_json::Value = serde_json::from_str(out.trim()).map_err(|_| {
        anyhow::anyhow!("hmg doctor on the Pi did not answer (is hmg installed there?):\n{out}")
    })?;
    let mut needed = vec!["hmg elements", "plugin for gst-launch-1.0"];
    match hef {
        Some(true) => needed.push("HailoRT"),
        Some(false) => needed.push("onnxruntime library"),
        None => {}
    }
    let failing: Vec<String> = checks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            needed.contains(&c["name"].as_str().unwrap_or("")) && c["ok"].as_bool() == Some(false)
        })
        .map(|c| {
            format!(
                "{}: {} → {}",
                c["name"].as_str().unwrap_or("?"),
                c["found"].as_str().unwrap_or(""),
                c["fix"].as_str().unwrap_or("")
            )
        })
        .collect();
    if failing.is_empty() {
        println!("hmg doctor on the Pi: the service has what it needs");
        return Ok(());
    }
    anyhow::bail!(
        "hmg doctor on the Pi found what the service needs missing, so it was not enabled:\n  {}",
        failing.join("\n  ")
    )
}
