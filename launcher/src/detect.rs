// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg detect`: live detection from cameras, files or RTSP streams — the seed's
//! `hailo_detect_live.py` as one GStreamer graph with a branch per source, all sharing one model
//! (and one Hailo device through a vdevice group when the model is a HEF).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use gst::prelude::*;

use crate::graph;
use crate::sources::{Source, link_folder, quote};
use crate::usage::UsageError;

#[derive(clap::Args, Debug)]
pub struct DetectArgs {
    /// Model to run: a .hef (Hailo-8, needs a HailoRT build) or a .onnx (CPU)
    #[arg(long)]
    model: PathBuf,
    /// Read the Raspberry Pi camera (libcamerasrc)
    #[arg(long)]
    picamera: bool,
    /// Read /dev/videoN (USB camera); repeat for several cameras
    #[arg(long = "camera", value_name = "N")]
    cameras: Vec<u32>,
    /// Read a video file, a folder of .jpg images or an rtsp:// URL; repeatable
    #[arg(long = "input", value_name = "FILE|DIR|URL")]
    inputs: Vec<String>,
    /// No window (for SSH): detections go to JSON lines, frames with detections to snapshots
    #[arg(long)]
    headless: bool,
    /// Confidence threshold
    #[arg(long, default_value_t = 0.35)]
    conf: f64,
    /// NMS IoU threshold
    #[arg(long, default_value_t = 0.5)]
    iou: f64,
    /// Folder for this run's outputs (a time-stamped subfolder is created in it)
    #[arg(long, default_value = "out/detect")]
    output: PathBuf,
    /// Also record each stream, with boxes drawn, as an mp4
    #[arg(long)]
    record: bool,
    /// Class names (.txt, data.yaml or JSON); default: the model's own
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Seconds between two snapshots of a stream (frames with detections only; 0 = none)
    #[arg(long, default_value_t = 5.0)]
    snapshot_interval: f64,
    /// Stop after this many seconds (default: run until the inputs end or Ctrl-C)
    #[arg(long)]
    duration: Option<f64>,
    /// Print the gst-launch-1.0 command of this graph instead of running it
    #[arg(long)]
    print: bool,
    /// Build the graph (every element must exist) without running it
    #[arg(long)]
    check: bool,
    /// Testing: replace every source with a live test pattern of this many frames
    #[arg(long, hide = true)]
    test_frames: Option<u32>,
}

/// What one branch needs.
struct Branch {
    source: Source,
    name: String,
}

/// Per-stream measurements, filled by pad probes.
#[derive(Default)]
struct StreamStats {
    frames: u64,
    detections: u64,
    started: HashMap<u64, Instant>,
    latencies_ms: Vec<f64>,
    recent: VecDeque<(Instant, u64)>,
}

fn usage(text: impl Into<String>) -> anyhow::Error {
    UsageError(text.into()).into()
}

fn check_args(args: &DetectArgs) -> anyhow::Result<Vec<Branch>> {
    if !args.model.is_file() {
        return Err(usage(format!(
            "model '{}' does not exist: give a .hef or .onnx with --model",
            args.model.display()
        )));
    }
    if let Some(l) = &args.labels
        && !l.is_file()
    {
        return Err(usage(format!(
            "labels file '{}' does not exist",
            l.display()
        )));
    }
    for (name, v) in [("--conf", args.conf), ("--iou", args.iou)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(usage(format!("{name} {v} must be between 0 and 1")));
        }
    }
    let mut sources = Vec::new();
    if args.picamera {
        sources.push(Source::PiCamera);
    }
    for &n in &args.cameras {
        let dry = args.test_frames.is_some() || args.print || args.check;
        if !dry && !Path::new(&format!("/dev/video{n}")).exists() {
            let found: Vec<String> = (0..64)
                .map(|i| format!("/dev/video{i}"))
                .filter(|p| Path::new(p).exists())
                .collect();
            return Err(usage(format!(
                "camera /dev/video{n} does not exist (found: {})",
                if found.is_empty() {
                    "none".into()
                } else {
                    found.join(", ")
                }
            )));
        }
        sources.push(Source::Camera(n));
    }
    for input in &args.inputs {
        sources.push(Source::from_input(input)?);
    }
    if sources.is_empty() {
        return Err(usage(
            "say where frames come from: --picamera, --camera N or --input FILE|DIR|rtsp://…",
        ));
    }
    let mut names: Vec<String> = Vec::new();
    Ok(sources
        .into_iter()
        .enumerate()
        .map(|(i, source)| {
            let mut name = source.stream_name(i);
            if names.contains(&name) {
                name = format!("{name}-{i}");
            }
            names.push(name.clone());
            Branch { source, name }
        })
        .collect())
}

/// The whole graph: one branch per source, in one pipeline.
fn describe(args: &DetectArgs, branches: &[Branch], run_dir: &Path) -> anyhow::Result<String> {
    let hef = args
        .model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("hef"));
    let mut parts = Vec::new();
    for (i, b) in branches.iter().enumerate() {
        let source = match (args.test_frames, &b.source) {
            (Some(frames), _) => Source::Test {
                pattern: ["ball", "smpte", "snow", "pinwheel"][i % 4].into(),
                frames,
            },
            (None, s) => s.clone(),
        };
        let scratch = run_dir.join(".frames").join(&b.name);
        if let Source::Folder(dir) = &source {
            link_folder(dir, &scratch)?;
        }
        // Live sources drop late frames instead of piling them up; files lose none.
        let queue = if source.is_live() {
            "queue leaky=downstream max-size-buffers=2"
        } else {
            "queue max-size-buffers=4"
        };
        let mut infer = format!(
            "hailoinfer name=infer{i} model={}",
            quote(&args.model.display().to_string())
        );
        if hef {
            infer.push_str(" vdevice-group=hmg-detect");
        }
        if let Some(l) = &args.labels {
            infer.push_str(&format!(" labels={}", quote(&l.display().to_string())));
        }
        let log = run_dir.join(format!("{}.jsonl", b.name));
        let mut detlog = format!(
            "detlog name=log{i} location={} stream-name={}",
            quote(&log.display().to_string()),
            b.name
        );
        if args.headless && args.snapshot_interval > 0.0 {
            detlog.push_str(&format!(
                " snapshot-dir={} snapshot-interval={}",
                quote(&run_dir.join("snapshots").display().to_string()),
                args.snapshot_interval
            ));
        }
        let sink = if args.record {
            let mp4 = run_dir.join(format!("{}.mp4", b.name));
            format!(
                "videoconvert ! x264enc speed-preset=ultrafast tune=zerolatency ! mp4mux ! filesink location={}",
                quote(&mp4.display().to_string())
            )
        } else if args.headless {
            "fakesink sync=false".to_string()
        } else {
            "videoconvert ! autovideosink sync=false".to_string()
        };
        parts.push(format!(
            "{} ! videoconvert ! {queue} ! {infer} ! yolonms name=nms{i} conf={} iou={} ! detoverlay ! {detlog} ! {sink}",
            source.launch(&scratch),
            args.conf,
            args.iou
        ));
    }
    Ok(parts.join("  "))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Peak resident memory of this process (VmHWM), in MiB.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn install_probes(
    pipeline: &gst::Pipeline,
    branches: &[Branch],
) -> anyhow::Result<Vec<Arc<Mutex<StreamStats>>>> {
    let mut all = Vec::new();
    for i in 0..branches.len() {
        let stats = Arc::new(Mutex::new(StreamStats::default()));
        let infer = pipeline
            .by_name(&format!("infer{i}"))
            .context("hailoinfer missing")?;
        let nms = pipeline
            .by_name(&format!("nms{i}"))
            .context("yolonms missing")?;
        let s = stats.clone();
        infer
            .static_pad("sink")
            .context("hailoinfer sink pad")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                    s.lock()
                        .unwrap()
                        .started
                        .insert(pts.nseconds(), Instant::now());
                }
                gst::PadProbeReturn::Ok
            });
        let s = stats.clone();
        nms.static_pad("src").context("yolonms src pad")?.add_probe(
            gst::PadProbeType::BUFFER,
            move |_, info| {
                if let Some(buf) = info.buffer() {
                    let dets = gsthmg::detections_from_buffer(buf).len() as u64;
                    let mut st = s.lock().unwrap();
                    st.frames += 1;
                    st.detections += dets;
                    let now = Instant::now();
                    if let Some(t) = buf.pts().and_then(|p| st.started.remove(&p.nseconds())) {
                        st.latencies_ms
                            .push(now.duration_since(t).as_secs_f64() * 1000.0);
                    }
                    st.recent.push_back((now, dets));
                    while st
                        .recent
                        .front()
                        .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(2))
                    {
                        st.recent.pop_front();
                    }
                }
                gst::PadProbeReturn::Ok
            },
        );
        all.push(stats);
    }
    Ok(all)
}

fn status_line(branches: &[Branch], stats: &[Arc<Mutex<StreamStats>>]) -> String {
    branches
        .iter()
        .zip(stats)
        .map(|(b, s)| {
            let s = s.lock().unwrap();
            let span = s
                .recent
                .front()
                .map(|(t, _)| t.elapsed().as_secs_f64())
                .unwrap_or(0.0)
                .max(0.5);
            let fps = s.recent.len() as f64 / span;
            let dets: u64 = s.recent.iter().map(|(_, d)| d).sum();
            let lat = s.latencies_ms.last().copied().unwrap_or(f64::NAN);
            format!(
                "{} {fps:.1} FPS {lat:.0} ms {:.1} det/s",
                b.name,
                dets as f64 / span
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

pub fn run(args: &DetectArgs) -> anyhow::Result<()> {
    let branches = check_args(args)?;
    let run_dir = new_run_dir(&args.output);
    if args.print || args.check {
        let description = describe(args, &branches, &run_dir)?;
        if args.print {
            println!("gst-launch-1.0 {}", crate::run::shell_line(&description));
            return Ok(());
        }
        graph::init()?;
        gst::parse::launch(&description)
            .map_err(|e| anyhow::anyhow!("the graph does not build: {e}\n  {description}"))?;
        println!("graph builds: {} stream(s)", branches.len());
        return Ok(());
    }
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create output folder '{}'", run_dir.display()))?;
    let description = describe(args, &branches, &run_dir)?;
    graph::init()?;
    let pipeline = gst::parse::launch(&description)
        .with_context(|| format!("cannot build the graph:\n  {description}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("the graph is not a pipeline"))?;
    let stats = install_probes(&pipeline, &branches)?;
    println!(
        "hmg detect: {} on {} stream(s), outputs in {}",
        args.model.display(),
        branches.len(),
        run_dir.display()
    );
    for b in &branches {
        println!("  {}: {}", b.name, b.source);
    }
    let bar = indicatif::ProgressBar::new_spinner();
    let deadline = args
        .duration
        .map(|d| Instant::now() + Duration::from_secs_f64(d));
    let mut stopping = false;
    let elapsed = graph::play(&pipeline, |pipeline| {
        bar.set_message(status_line(&branches, &stats));
        bar.tick();
        if !stopping && deadline.is_some_and(|d| Instant::now() >= d) {
            stopping = true;
            pipeline.send_event(gst::event::Eos::new());
        }
    });
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(run_dir.join(".frames"));
    let elapsed = elapsed?;
    println!("summary ({:.1} s):", elapsed.as_secs_f64());
    for (b, s) in branches.iter().zip(&stats) {
        let s = s.lock().unwrap();
        let mut lat = s.latencies_ms.clone();
        lat.sort_by(f64::total_cmp);
        println!(
            "  {}: frames {}  FPS {:.1}  detections {}  latency p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms",
            b.name,
            s.frames,
            s.frames as f64 / elapsed.as_secs_f64().max(1e-9),
            s.detections,
            percentile(&lat, 0.5),
            percentile(&lat, 0.9),
            percentile(&lat, 0.99)
        );
    }
    if let Some(mib) = peak_memory_mib() {
        println!("  peak memory {mib:.0} MiB");
    }
    println!("wrote {}", run_dir.display());
    Ok(())
}

/// `<output>/<stamp>`, never an existing folder (a second run in the same second gets `-2`).
fn new_run_dir(output: &Path) -> PathBuf {
    let stamp = chrono_stamp();
    let mut dir = output.join(&stamp);
    let mut n = 2;
    while dir.exists() {
        dir = output.join(format!("{stamp}-{n}"));
        n += 1;
    }
    dir
}

/// `YYYYmmdd-HHMMSS` in UTC, without a date crate.
fn chrono_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_has_the_date_shape() {
        let s = chrono_stamp();
        assert_eq!(s.len(), 15);
        assert!(s.starts_with("20") && s.as_bytes()[8] == b'-', "{s}");
    }

    #[test]
    fn percentiles_of_sorted_values() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
