// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg hef info`: what a HEF is, read from its header (no Hailo library needed), plus its
//! vstreams when HailoRT is available.

use std::path::PathBuf;

use anyhow::Context;
use hmg_detect::hef::{self, HefHeader};
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct HefArgs {
    #[command(subcommand)]
    command: HefCommand,
}

#[derive(clap::Subcommand, Debug)]
enum HefCommand {
    /// Show a HEF's target chip, compiler version and (with HailoRT) its input/output vstreams
    Info(InfoArgs),
}

#[derive(clap::Args, Debug)]
struct InfoArgs {
    /// The .hef file
    hef: PathBuf,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn run(args: &HefArgs) -> anyhow::Result<()> {
    match &args.command {
        HefCommand::Info(a) => info(a),
    }
}

fn runs_on(h: &HefHeader) -> Vec<&'static str> {
    let mut chips = Vec::new();
    if h.hw_arch.runs_on_hailo8() {
        chips.push("hailo8");
    }
    if h.hw_arch.runs_on_hailo8l() {
        chips.push("hailo8l");
    }
    chips
}

/// HailoRT's view of the HEF: (library version, vstreams, default vstream parameters) or why
/// there is none.
type HailoView = (String, Vec<serde_json::Value>, Vec<serde_json::Value>);

fn vstreams(path: &std::path::Path) -> Result<HailoView, String> {
    #[cfg(feature = "hailo")]
    {
        use hmg_detect::engine::hailort;
        let (version, infos) = hailort::describe_hef(path)?;
        let params = hailort::hef_vstream_params(path)?;
        let infos = infos
            .iter()
            .map(|i| serde_json::to_value(i).expect("serialisable"));
        let params = params
            .iter()
            .map(|p| serde_json::to_value(p).expect("serialisable"));
        Ok((version, infos.collect(), params.collect()))
    }
    #[cfg(not(feature = "hailo"))]
    {
        let _ = path;
        Err("this hmg was built without HailoRT support (scripts/setup builds it with `--features hailo` where libhailort is installed)".into())
    }
}

/// `hmg hef info PATH` (text), for commands that just made a HEF.
pub fn show(path: &std::path::Path) -> anyhow::Result<()> {
    info(&InfoArgs {
        hef: path.to_path_buf(),
        json: false,
    })
}

/// The HEF's time stamp (Unix milliseconds) as a UTC date.
fn compiled_at(ms: u64) -> Option<String> {
    let seconds = i64::try_from(ms / 1000).ok()?;
    gst::glib::DateTime::from_unix_utc(seconds)
        .and_then(|t| t.format("%Y-%m-%d %H:%M:%S UTC"))
        .map(|s| s.to_string())
        .ok()
}

fn info(a: &InfoArgs) -> anyhow::Result<()> {
    let (header, checksum) =
        hef::verify(&a.hef).with_context(|| format!("'{}'", a.hef.display()))?;
    let hailort = vstreams(&a.hef);
    if a.json {
        let mut v = json!({
            "path": a.hef,
            "header": header,
            "checksum": checksum,
            "runs_on": runs_on(&header),
        });
        match &hailort {
            Ok((version, infos, params)) => {
                v["hailort"] =
                    json!({ "version": version, "vstreams": infos, "vstream_params": params })
            }
            Err(e) => v["hailort"] = json!({ "error": e }),
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{}", a.hef.display());
    println!(
        "  file size     {} bytes (the header declares {})",
        header.file_size, header.declared_size
    );
    println!(
        "  header        HEF version {}, protobuf {} bytes",
        header.version, header.proto_size
    );
    println!(
        "  checksum      {}",
        match checksum {
            hef::Checksum::Md5 => "MD5 matches",
            hef::Checksum::Crc32 => "CRC-32 matches",
            hef::Checksum::Xxh3 => "XXH3 matches",
            hef::Checksum::NotChecked => "not checked (header v3)",
        }
    );
    println!(
        "  compiled for  {} (--hw-arch {})",
        header.hw_arch,
        header.hw_arch.name()
    );
    let chips = runs_on(&header);
    println!(
        "  runs on       {}",
        if chips.is_empty() {
            "no Hailo-8 family chip".to_string()
        } else {
            chips.join(", ")
        }
    );
    if let Some(sdk) = &header.sdk_version {
        println!("  compiler      Dataflow Compiler {sdk}");
    }
    if let Some(when) = header.timestamp_ms.and_then(compiled_at) {
        println!("  compiled      {when}");
    }
    match hailort {
        Ok((version, infos, params)) => {
            println!("  HailoRT       {version}");
            let mut networks: Vec<&str> =
                infos.iter().filter_map(|i| i["network"].as_str()).collect();
            networks.dedup();
            println!("  networks      {}", networks.join(", "));
            for i in infos {
                let shape: Vec<String> = i["shape"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| d.to_string())
                    .collect();
                let kind = if i["nms"] == true {
                    "NMS [classes, boxes per class]"
                } else {
                    "NHWC"
                };
                println!(
                    "    {:<6} {:<40} {} {kind}  zero point {} scale {}",
                    i["direction"].as_str().unwrap_or("?"),
                    i["name"].as_str().unwrap_or("?"),
                    shape.join("x"),
                    i["zero_point"],
                    i["scale"],
                );
            }
            if let Some(p) = params.first() {
                println!(
                    "  vstreams      queue {} frames, timeout {} ms (HailoRT's defaults)",
                    p["queue_size"], p["timeout_ms"]
                );
            }
        }
        Err(e) => println!("  HailoRT       not available: {e}"),
    }
    Ok(())
}
