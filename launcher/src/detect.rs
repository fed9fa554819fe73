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

use crate::graph::{self, PlayEvent};
use crate::images::list_images;
use crate::picture_feed;
use crate::sources::{Source, folder_launch, link_folder, quote};
use crate::stats::{peak_memory_mib, percentile};
use crate::usage::{check_model_args, usage};

#[derive(clap::Args, Debug, Clone)]
pub struct DetectArgs {
    /// Model to run: a .hef (Hailo-8, needs a HailoRT build) or a .onnx (CPU); default: the
    /// newest .hef in models/ (what hmg compile writes)
    #[arg(long = "model", value_name = "MODEL")]
    model_arg: Option<PathBuf>,
    /// The model in use (`--model`, or found in models/).
    #[arg(skip)]
    model: PathBuf,
    /// Read the Raspberry Pi camera (libcamerasrc)
    #[arg(long)]
    picamera: bool,
    /// Read /dev/videoN (USB camera); repeat for several cameras
    #[arg(long = "camera", value_name = "N")]
    cameras: Vec<u32>,
    /// Read a video file, a folder of pictures (.jpg, .png, .bmp, .webp, .tif, any mix; each
    /// JSON line names its file) or an rtsp:// URL; repeatable
    #[arg(long = "input", value_name = "FILE|DIR|URL")]
    inputs: Vec<String>,
    /// No window (for SSH): detections go to JSON lines, frames with detections to snapshots
    #[arg(long)]
    headless: bool,
    /// Confidence threshold
    #[arg(long, default_value_t = 0.35, value_parser = crate::usage::threshold)]
    conf: f64,
    /// NMS IoU threshold
    #[arg(long, default_value_t = 0.5, value_parser = crate::usage::threshold)]
    iou: f64,
    /// Folder for this run's outputs (a time-stamped subfolder is created in it)
    #[arg(long, default_value = "out/detect")]
    output: PathBuf,
    /// Also record each stream, with boxes drawn, as an mp4
    #[arg(long)]
    record: bool,
    /// Track objects (ByteTrack, dettrack): each detection gets an id that stays the same from
    /// frame to frame ("track" in the JSON lines, "#id" on the boxes). Detections at --conf or
    /// above start and feed tracks; weaker ones (down to 0.1) only keep a track alive.
    #[arg(long)]
    track: bool,
    /// Count tracks crossing lines and entering zones (detzone; implies --track): a JSON file of
    /// lines and polygons in normalized frame units (docs/analytics.md). The events go into the
    /// JSON lines, the counts into the summary; the file is read again when it changes.
    #[arg(long, value_name = "FILE")]
    zones: Option<PathBuf>,
    /// Class names (.txt, data.yaml or JSON); default: the model's own
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Seconds between two snapshots of a stream (frames with detections only; 0 = none)
    #[arg(long, default_value_t = 5.0, value_parser = crate::usage::seconds_or_zero)]
    snapshot_interval: f64,
    /// Stop after this many seconds (default: run until the inputs end or Ctrl-C)
    #[arg(long, value_parser = crate::usage::seconds)]
    duration: Option<f64>,
    /// onnxruntime threads per stream (default: the cores shared out among the streams; with
    /// --share-model, every core for the one session)
    #[arg(long, value_parser = crate::usage::threads)]
    threads: Option<u32>,
    /// ONNX: every stream runs one onnxruntime session, one copy of the model in memory, frames
    /// in turn, or batched into one run when the model's batch axis is dynamic (less memory;
    /// with a static model, less total FPS than a session per stream running in parallel)
    #[arg(long)]
    share_model: bool,
    /// Also publish every frame's detections to this MQTT broker, e.g.
    /// mqtt://broker:1883/hmg/{device}/{stream}/detections (mqtts:// for TLS; credentials from
    /// HMG_MQTT_USERNAME / HMG_MQTT_PASSWORD). Spooled on disk while the broker is away.
    #[arg(long, value_name = "URL")]
    mqtt: Option<String>,
    /// Publish a record per track event (new, update, end; implies --track) to this MQTT broker,
    /// e.g. mqtt://broker:1883/hmg/{device}/{stream}/events, and with --zones the counts per
    /// line and zone, retained, under .../{stream}/counts/ (docs/analytics.md)
    #[arg(long, value_name = "URL")]
    events: Option<String>,
    /// With --events: also announce the counts to Home Assistant (MQTT discovery, prefix
    /// "homeassistant"), so each appears as a sensor without any YAML
    #[arg(long, requires = "events")]
    homeassistant: bool,
    /// Save an mp4 per tracked object (implies --track) into <output>/clips, from --clip-pre
    /// seconds before it was first seen to --clip-post after it was last seen, with boxes drawn,
    /// and the frame it was seen best in as a JPEG beside it
    #[arg(long)]
    clips: bool,
    /// Seconds of video before each clip's object appeared
    #[arg(long, default_value_t = 5.0, value_parser = crate::usage::seconds_or_zero)]
    clip_pre: f64,
    /// Seconds of video after it was last seen
    #[arg(long, default_value_t = 3.0, value_parser = crate::usage::seconds_or_zero)]
    clip_post: f64,
    /// Clips only for these classes (comma-separated names, e.g. person,car; default: all)
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    clip_classes: Vec<String>,
    /// A live view in the browser (no desktop needed): every stream's picture with boxes, FPS,
    /// latency, counts and detections, and with --zones an editor for its lines and zones. The
    /// link, with its per-run token, is printed at start.
    #[arg(long)]
    serve: bool,
    /// Address and port of the live view (0.0.0.0:8080 to open it from other machines)
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        value_name = "ADDR:PORT",
        requires = "serve"
    )]
    bind: std::net::SocketAddr,
    /// The clips folder's size limit in MB; the oldest clips go first
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..))]
    clips_max_mb: u64,
    /// Save frames to label later (detcapture): uncertain (a score from 0.1 below --conf to 0.2
    /// above it, a tracked object changing class, or a detection in one frame only; the
    /// default), all, or classes=NAME,NAME. Each is the full frame (.jpg) with the model's
    /// predictions (.json), what `hmg collect` fetches
    #[arg(
        long,
        value_name = "MODE",
        num_args = 0..=1,
        default_missing_value = "uncertain",
        value_parser = capture_mode
    )]
    capture: Option<String>,
    /// Folder of the captures, shared by every run and stream (default: <output>/captures)
    #[arg(long, value_name = "DIR", requires = "capture")]
    capture_dir: Option<PathBuf>,
    /// At most this many captures per minute of video, per stream
    #[arg(long, default_value_t = 6.0, value_name = "N", value_parser = capture_rate)]
    capture_rate: f64,
    /// Size limit of the captures folder in MB; the oldest captures go first
    #[arg(long, default_value_t = 500, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..))]
    capture_max_mb: u64,
    /// Print the gst-launch-1.0 command of this graph instead of running it
    #[arg(long)]
    print: bool,
    /// Build the graph (every element must exist) without running it
    #[arg(long)]
    check: bool,
}

impl DetectArgs {
    /// --zones, --events and --clips need tracks.
    fn tracking(&self) -> bool {
        self.track || self.zones.is_some() || self.events.is_some() || self.clips
    }
}

/// `--capture`'s modes, checked before anything starts (detcapture reads the same words).
fn capture_mode(s: &str) -> Result<String, String> {
    let classes = s
        .strip_prefix("classes=")
        .map(|l| l.split(',').any(|n| !n.trim().is_empty()));
    match (s, classes) {
        ("uncertain" | "all", _) | (_, Some(true)) => Ok(s.to_string()),
        (_, Some(false)) => {
            Err("classes= needs at least one class name, e.g. classes=person,car".into())
        }
        _ => Err("use uncertain, all or classes=NAME,NAME".into()),
    }
}

fn capture_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!(
            "'{s}' is not a number of captures per minute above 0"
        )),
    }
}

/// How far above --conf a score still counts as unsure for `--capture uncertain`.
const CAPTURE_BAND: f64 = 0.2;
/// How far below --conf: yolonms reports these detections as near misses for detcapture only.
const CAPTURE_BELOW: f64 = 0.1;

/// yolonms' near-misses for branch graphs: only `--capture uncertain` looks at them. With
/// tracking yolonms already passes everything down to the tracker's low threshold (the tracker
/// keeps those it matches to a track), so none are asked for there.
fn near_misses(args: &DetectArgs) -> String {
    if args.capture.as_deref() == Some("uncertain") && !args.tracking() {
        format!(" near-misses={CAPTURE_BELOW}")
    } else {
        String::new()
    }
}

/// detcapture for branch `i`, when asked for: after tracking (class flips need track ids),
/// before detoverlay (the picture saved is the clean frame).
fn capture(args: &DetectArgs, i: usize, stream: &str) -> String {
    let Some(mode) = &args.capture else {
        return String::new();
    };
    let dir = args
        .capture_dir
        .clone()
        .unwrap_or_else(|| args.output.join("captures"));
    format!(
        "detcapture name=capture{i} location={} mode={} band-low={} band-high={} max-rate={} max-size-mb={} stream-name={} model={} ! ",
        quote(&dir.display().to_string()),
        quote(mode),
        (args.conf - CAPTURE_BELOW).max(0.0),
        (args.conf + CAPTURE_BAND).min(1.0),
        args.capture_rate,
        args.capture_max_mb,
        stream,
        quote(
            &args
                .model
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
    )
}

/// The weakest detection that still keeps a track alive (ultralytics tracks with conf=0.1).
const TRACK_LOW_CONF: f64 = 0.1;

/// dettrack (and detzone) for branch `i`, when asked for.
fn analytics(args: &DetectArgs, i: usize) -> String {
    if !args.tracking() {
        return String::new();
    }
    let mut out = format!(
        "dettrack name=track{i} high-thresh={conf} new-track-thresh={conf} ! ",
        conf = args.conf
    );
    if let Some(z) = &args.zones {
        let z = std::path::absolute(z).unwrap_or_else(|_| z.clone());
        out.push_str(&format!(
            "detzone name=zone{i} config={} ! ",
            quote(&z.display().to_string())
        ));
    }
    out
}

/// detzone's counts of branch `i` (with --zones).
fn zone_counts(pipeline: &gst::Pipeline, i: usize) -> Option<serde_json::Value> {
    let zone = pipeline.by_name(&format!("zone{i}"))?;
    let text: Option<String> = zone.property("counts");
    serde_json::from_str(&text?).ok()
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
    /// Distinct track ids seen (with --track).
    track_ids: std::collections::HashSet<u64>,
    started: HashMap<u64, Instant>,
    latencies_ms: Vec<f64>,
    recent: VecDeque<(Instant, u64)>,
    frames_at_restart: Option<u64>,
    /// When the first frame entered hailoinfer and the last left yolonms.
    first_in: Option<Instant>,
    last_out: Option<Instant>,
}

impl StreamStats {
    /// Frames a second over the last few seconds, and the span they cover (at least 0.5 s).
    fn recent_rate(&self) -> (f64, f64) {
        let span = self
            .recent
            .front()
            .map(|(t, _)| t.elapsed().as_secs_f64())
            .unwrap_or(0.0)
            .max(0.5);
        (self.recent.len() as f64 / span, span)
    }
}

fn check_args(args: &DetectArgs) -> anyhow::Result<Vec<Branch>> {
    check_model_args(
        &args.model,
        args.labels.as_deref(),
        &[("--conf", args.conf), ("--iou", args.iou)],
    )?;
    if let Some(z) = &args.zones {
        // The same reading detzone makes at start, so a bad file fails before anything runs.
        hmg_detect::zones::ZoneConfig::read(z).map_err(|e| usage(format!("--zones: {e}")))?;
    }
    for (flag, url) in [("--mqtt", &args.mqtt), ("--events", &args.events)] {
        if let Some(url) = url {
            // The same reading detmqtt makes at start, so a bad URL fails before anything runs.
            gsthmg::detmqtt::Address::parse(url, "device", "stream")
                .map_err(|e| usage(format!("{flag}: {e}")))?;
        }
    }
    let mut sources = Vec::new();
    if args.picamera {
        sources.push(Source::PiCamera);
    }
    for &n in &args.cameras {
        let dry = args.print || args.check;
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
        // The seed's `hmg detect --model m.hef --headless`: the Pi camera, when there is one.
        if pi_camera_present(Path::new("/sys/class/video4linux")) {
            eprintln!("no source given: reading the Pi camera (--picamera)");
            sources.push(Source::PiCamera);
        } else {
            return Err(usage(
                "say where frames come from: --picamera, --camera N or --input FILE|DIR|rtsp://… (no Pi camera was found)",
            ));
        }
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

/// Whether a Raspberry Pi camera is connected: a video device of the Pi's camera receiver
/// (`rp1-cfe` on a Pi 5, `unicam` on earlier ones) under `sys_class` (/sys/class/video4linux).
fn pi_camera_present(sys_class: &Path) -> bool {
    std::fs::read_dir(sys_class).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            std::fs::read_to_string(e.path().join("name"))
                .is_ok_and(|n| n.starts_with("rp1-cfe") || n.starts_with("unicam"))
        })
    })
}

/// A warning when `--conf` asks for less than the score floor compiled into a HEF's on-chip NMS
/// (read from the sidecar hmg compile wrote beside it).
fn compiled_floor_warning(model: &Path, conf: f64) -> Option<String> {
    let (_, sidecar) = hmg_detect::sidecar::read_beside(model).ok()??;
    let nms = sidecar.nms?;
    let floor = nms.score_threshold?;
    (nms.place == "on-chip" && conf < floor).then(|| {
        format!(
            "--conf {conf} is below the score floor {floor} compiled into {}'s on-chip NMS: nothing under {floor} is found; compile with --nms-score {conf} (or --nms host)",
            model.display()
        )
    })
}

/// The whole graph: one branch per source, in one pipeline.
/// One branch as launch-line text: the source part (rebuilt when it fails) and the rest.
struct BranchGraph {
    source: String,
    rest: String,
    live: bool,
}

impl BranchGraph {
    fn line(&self) -> String {
        format!("{} ! {}", self.source, self.rest)
    }
}

fn picture_source_name(i: usize) -> String {
    format!("pictures{i}")
}

fn describe(args: &DetectArgs, branches: &[Branch], run_dir: &Path) -> anyhow::Result<String> {
    Ok(describe_branches(args, branches, run_dir, true)?
        .iter()
        .map(BranchGraph::line)
        .collect::<Vec<_>>()
        .join("  "))
}

/// The graph of each branch. `printable`: as a gst-launch-1.0 line (a folder read by
/// multifilesrc, one kind of picture); else as run here (a folder fed by [`picture_feed`]).
fn describe_branches(
    args: &DetectArgs,
    branches: &[Branch],
    run_dir: &Path,
    printable: bool,
) -> anyhow::Result<Vec<BranchGraph>> {
    let hef = args
        .model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("hef"));
    let mut parts = Vec::new();
    for (i, b) in branches.iter().enumerate() {
        let source = b.source.clone();
        let scratch = run_dir.join(".frames").join(&b.name);
        let source_launch = match &source {
            Source::Folder(dir) if printable => {
                folder_launch(&scratch, link_folder(dir, &scratch)?)
            }
            Source::Folder(_) => format!("appsrc name={}", picture_source_name(i)),
            other => other.launch(&scratch),
        };
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
            // On-chip NMS (HailoRT) takes the run's thresholds too; raw-output HEFs ignore them.
            infer.push_str(&format!(
                " vdevice-group=hmg-detect nms-score-threshold={} nms-iou-threshold={}",
                args.conf, args.iou
            ));
        } else if args.share_model {
            // One session runs every stream's frames in turn, each run on every core.
            infer.push_str(" session-group=hmg-detect");
            if let Some(threads) = args.threads {
                infer.push_str(&format!(" threads={threads}"));
            }
        } else if let Some(threads) = onnx_threads(args.threads, branches.len()) {
            // One onnxruntime per stream: without a share each would spin a thread per core.
            infer.push_str(&format!(" threads={threads}"));
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
        if args.tracking() {
            // Each track's new, update and end records, beside the frame log.
            let events = run_dir.join(format!("{}.events.jsonl", b.name));
            detlog.push_str(&format!(
                " ! detlog name=events_log{i} events=true location={} stream-name={}",
                quote(&events.display().to_string()),
                b.name
            ));
        }
        if let Some(url) = &args.mqtt {
            detlog.push_str(&format!(
                " ! detmqtt name=mqtt{i} location={} stream-name={}",
                quote(url),
                b.name
            ));
        }
        if let Some(url) = &args.events {
            // Its own client id (and so spool) beside --mqtt's on the same stream.
            detlog.push_str(&format!(
                " ! detmqtt name=events{i} location={} stream-name={} events=true client-id={}{}",
                quote(url),
                b.name,
                quote(&format!("hmg-{}-{}-events", gst::glib::host_name(), b.name)),
                if args.homeassistant {
                    " discovery-prefix=homeassistant"
                } else {
                    ""
                }
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
        let source_line = format!("{source_launch} ! videoconvert name=out{i}");
        let tracking = args.tracking();
        parts.push(BranchGraph {
            source: source_line,
            live: source.is_live(),
            rest: format!(
                "{queue} name=q{i} ! {infer} ! yolonms name=nms{i} conf={} iou={}{} ! {}{}detoverlay{} ! {}{detlog} ! {sink}{}",
                if tracking { args.conf.min(TRACK_LOW_CONF) } else { args.conf },
                args.iou,
                near_misses(args),
                analytics(args, i),
                capture(args, i, &b.name),
                // Where each tracked object came from over the last second or so; lines and
                // zones are drawn from detzone's meta.
                if tracking { " trail-length=30" } else { "" },
                // Clips and the live view take the drawn frames off a tee.
                if args.clips || args.serve {
                    format!("tee name=fanout{i} ! queue ! ")
                } else {
                    String::new()
                },
                [
                    args.clips.then(|| crate::clips::encoder_branch(i)),
                    args.serve.then(|| crate::live::preview_branch(i)),
                ]
                .into_iter()
                .flatten()
                .collect::<String>(),
            ),
        });
    }
    Ok(parts)
}

/// Restarts failed sources with back-off; the other branches keep running.
struct Supervisor {
    graphs: Vec<BranchGraph>,
    names: Vec<String>,
    /// Per branch: when to bring the source back, and how many failures in a row.
    restart_at: Vec<Option<Instant>>,
    /// Per branch: its frame count when it last changed, and when.
    progress: Vec<(u64, Instant)>,
    failures: Vec<u32>,
    /// Branches whose (non-live) input failed for good.
    ended: Vec<bool>,
    /// Per branch: why its input failed, while that still holds (a live source that delivers
    /// frames again after a restart has recovered).
    errors: Vec<Option<String>>,
    /// Set when the run ends: EOS from sources passes again.
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// Per branch: its live source ended (set by the EOS probe, acted on at the next tick).
    failed: Vec<Arc<std::sync::atomic::AtomicBool>>,
}

/// A live source that delivered and then went silent this long has failed, though it said
/// nothing: a camera frozen or a network path that drops everything leaves the connection open
/// and GStreamer waiting forever.
const STALL_AFTER: Duration = Duration::from_secs(10);

impl Supervisor {
    fn source_name(i: usize) -> String {
        format!("source{i}")
    }

    /// Builds branch `i`'s source as a bin and links it to the branch's queue.
    fn attach(&self, pipeline: &gst::Pipeline, i: usize) -> anyhow::Result<()> {
        // No automatic ghosting: it would also ghost the sink pads waiting for decodebin.
        let bin =
            gst::parse::bin_from_description(&self.graphs[i].source, false).with_context(|| {
                format!(
                    "cannot build source of {}: {}",
                    self.names[i],
                    crate::sources::mask_secrets(&self.graphs[i].source)
                )
            })?;
        let last = bin
            .iterate_elements()
            .into_iter()
            .flatten()
            .find(|e| e.static_pad("src").is_some_and(|p| p.peer().is_none()))
            .context("the source has no free output")?;
        let ghost =
            gst::GhostPad::builder_with_target(&last.static_pad("src").context("source output")?)?
                .name("src")
                .build();
        bin.add_pad(&ghost)?;
        bin.set_property("name", Self::source_name(i));
        // A failing source sends EOS after its error; the branch must not end for it unless
        // the run is stopping (or the input is a file that ended).
        let stopping = self.stopping.clone();
        let failed = self.failed[i].clone();
        failed.store(false, std::sync::atomic::Ordering::SeqCst);
        let live = self.graphs[i].live;
        if let Some(pad) = bin.static_pad("src") {
            pad.add_probe(
                gst::PadProbeType::EVENT_DOWNSTREAM,
                move |_, info| match info.event() {
                    // A live stream that ends was lost (camera unplugged, server gone): the
                    // branch waits for the source to come back instead of ending.
                    Some(e)
                        if e.type_() == gst::EventType::Eos
                            && live
                            && !stopping.load(std::sync::atomic::Ordering::SeqCst) =>
                    {
                        failed.store(true, std::sync::atomic::Ordering::SeqCst);
                        gst::PadProbeReturn::Drop
                    }
                    _ => gst::PadProbeReturn::Ok,
                },
            );
        }
        pipeline.add(&bin)?;
        let queue = pipeline
            .by_name(&format!("q{i}"))
            .context("branch queue missing")?;
        bin.link(&queue)
            .with_context(|| format!("cannot link the source of {}", self.names[i]))?;
        bin.sync_state_with_parent()?;
        Ok(())
    }

    /// The branch whose source bin holds `element` (or whose queue it is: the queue reports
    /// the failure it received from the source), if any.
    fn branch_of(&self, element: &gst::Object) -> Option<usize> {
        let mut cur = Some(element.clone());
        while let Some(o) = cur {
            if let Some(i) = (0..self.graphs.len())
                .find(|&i| o.name() == Self::source_name(i) || o.name() == format!("q{i}"))
            {
                return Some(i);
            }
            cur = o.parent();
        }
        None
    }

    /// An error from a source: live sources come back after a back-off, a failed file ends
    /// its branch (EOS) so the others finish normally. Returns false for errors elsewhere.
    fn on_error(&mut self, pipeline: &gst::Pipeline, err: &gst::message::Error) -> bool {
        let Some(i) = err.src().and_then(|s| self.branch_of(s)) else {
            return false;
        };
        self.fail(pipeline, i, &source_failure(err));
        true
    }

    /// Branch `i`'s source failed (an error, or a live stream that ended).
    fn fail(&mut self, pipeline: &gst::Pipeline, i: usize, reason: &str) {
        if self.restart_at[i].is_some() || self.ended[i] {
            return; // the same failure, reported again by another element
        }
        let name = &self.names[i];
        self.errors[i] = Some(reason.to_string());
        if let Some(bin) = pipeline.by_name(&Self::source_name(i)) {
            let _ = bin.set_state(gst::State::Null);
            let _ = pipeline.remove(&bin);
        }
        // An error while the graph is still starting (sinks not yet prerolled, as on a busy
        // machine) aborts the pipeline's state change: ask for PLAYING again, or the other
        // branches and the restarted source stay in PAUSED and stopping wedges.
        let _ = pipeline.set_state(gst::State::Playing);
        if self.graphs[i].live {
            self.failures[i] += 1;
            let delay = Duration::from_secs((1u64 << (self.failures[i] - 1).min(5)).min(30));
            eprintln!(
                "\n{name}: source failed ({reason}); restarting in {} s",
                delay.as_secs()
            );
            self.restart_at[i] = Some(Instant::now() + delay);
        } else {
            eprintln!("\n{name}: input failed ({reason}); this stream ends, the others go on");
            self.ended[i] = true;
            if let Some(pad) = pipeline
                .by_name(&format!("q{i}"))
                .and_then(|q| q.static_pad("sink"))
            {
                pad.send_event(gst::event::Eos::new());
            }
        }
    }

    /// The run ends: branches waiting for a restart, or whose source was just lost (its EOS
    /// dropped before `tick` saw it), end now (EOS into their queue): nothing else would end them.
    fn stop(&mut self, pipeline: &gst::Pipeline) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for i in 0..self.graphs.len() {
            let waiting = self.restart_at[i].take().is_some();
            let lost = self.failed[i].swap(false, std::sync::atomic::Ordering::SeqCst);
            if waiting || lost {
                self.end_branch(pipeline, i);
            }
        }
    }

    /// A source failing while the run stops: its branch ends instead of restarting.
    fn on_error_while_stopping(
        &mut self,
        pipeline: &gst::Pipeline,
        err: &gst::message::Error,
    ) -> bool {
        let Some(i) = err.src().and_then(|s| self.branch_of(s)) else {
            return false;
        };
        if !self.ended[i] {
            eprintln!(
                "\n{}: source failed while stopping ({})",
                self.names[i],
                err.error()
            );
            self.errors[i] = Some(err.error().to_string());
            self.end_branch(pipeline, i);
        }
        true
    }

    /// Removes branch `i`'s source and sends EOS into its queue, so the rest of it drains.
    fn end_branch(&mut self, pipeline: &gst::Pipeline, i: usize) {
        self.ended[i] = true;
        if let Some(bin) = pipeline.by_name(&Self::source_name(i)) {
            let _ = bin.set_state(gst::State::Null);
            let _ = pipeline.remove(&bin);
        }
        if let Some(pad) = pipeline
            .by_name(&format!("q{i}"))
            .and_then(|q| q.static_pad("sink"))
        {
            pad.send_event(gst::event::Eos::new());
        }
    }

    // `i` indexes several parallel per-branch vectors (and `fail`/`restart` take it).
    #[allow(clippy::needless_range_loop)]
    fn tick(&mut self, pipeline: &gst::Pipeline, stats: &[Arc<Mutex<StreamStats>>]) {
        for i in 0..self.graphs.len() {
            if self.failed[i].swap(false, std::sync::atomic::Ordering::SeqCst) {
                self.fail(pipeline, i, "the stream ended");
            }
            if self.restart_at[i].is_some_and(|t| Instant::now() >= t) {
                self.restart_at[i] = None;
                {
                    let mut st = stats[i].lock().unwrap();
                    st.frames_at_restart = Some(st.frames);
                }
                match self.attach(pipeline, i) {
                    Ok(()) => eprintln!("\n{}: source restarted", self.names[i]),
                    Err(e) => {
                        self.failures[i] += 1;
                        eprintln!("\n{}: restart failed: {e:#}", self.names[i]);
                        self.restart_at[i] = Some(
                            Instant::now()
                                + Duration::from_secs(30.min(1 << self.failures[i].min(5))),
                        );
                    }
                }
            }
            // Frames flow again: the next failure starts the back-off from the beginning.
            let mut st = stats[i].lock().unwrap();
            if st.frames_at_restart.is_some_and(|f| st.frames > f) {
                st.frames_at_restart = None;
                self.failures[i] = 0;
                self.errors[i] = None;
            }
            let (frames, awaiting_first) = (st.frames, st.frames_at_restart.is_some());
            // Released before `fail` changes states: the streaming threads take this lock.
            drop(st);
            if frames != self.progress[i].0 {
                self.progress[i] = (frames, Instant::now());
            } else if self.graphs[i].live
                && frames > 0
                && !awaiting_first
                && self.restart_at[i].is_none()
                && !self.ended[i]
                && self.progress[i].1.elapsed() >= STALL_AFTER
            {
                self.progress[i].1 = Instant::now();
                let reason = format!("no frame for {} s", STALL_AFTER.as_secs());
                self.fail(pipeline, i, &reason);
            }
        }
    }
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
        // What the user gets: the tracked detections when tracking, else yolonms' output.
        let nms = pipeline
            .by_name(&format!("track{i}"))
            .or_else(|| pipeline.by_name(&format!("nms{i}")))
            .context("yolonms missing")?;
        let s = stats.clone();
        infer
            .static_pad("sink")
            .context("hailoinfer sink pad")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                    let mut st = s.lock().unwrap();
                    let now = Instant::now();
                    st.first_in.get_or_insert(now);
                    st.started.insert(pts.nseconds(), now);
                }
                gst::PadProbeReturn::Ok
            });
        let s = stats.clone();
        nms.static_pad("src").context("yolonms src pad")?.add_probe(
            gst::PadProbeType::BUFFER,
            move |_, info| {
                if let Some(buf) = info.buffer() {
                    let dets = gsthmg::detections_from_buffer(buf).len() as u64;
                    let tracks = gsthmg::roi::tracks_from_buffer(buf);
                    let mut st = s.lock().unwrap();
                    st.track_ids
                        .extend(tracks.iter().flatten().map(|t| t.track_id));
                    st.frames += 1;
                    st.detections += dets;
                    let now = Instant::now();
                    st.last_out = Some(now);
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
            let (fps, span) = s.recent_rate();
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

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `<output>/status.json`, rewritten every few seconds while the run lasts: what a supervisor
/// (`hmg deploy --canary`) reads to tell a healthy service from a stuck or restarting one: this
/// process's start, the model, the time of the last update and each stream's live figures; and
/// the live view's link, which `hmg serve` opens from another machine. The file stays in the
/// user's own folder, as the link (token included) is the user's already.
struct StatusFile {
    path: PathBuf,
    model: String,
    /// The live view's link (with its token), for `hmg serve`.
    live_view: Option<String>,
    started_unix_ms: u64,
    last: std::cell::Cell<Option<Instant>>,
}

const STATUS_EVERY: Duration = Duration::from_secs(2);

impl StatusFile {
    fn new(args: &DetectArgs, live_view: Option<String>) -> Self {
        Self {
            path: args.output.join("status.json"),
            model: args.model.display().to_string(),
            live_view,
            started_unix_ms: unix_ms(),
            last: std::cell::Cell::new(None),
        }
    }

    fn maybe_write(&self, streams: impl FnOnce() -> serde_json::Value) {
        if self.last.get().is_some_and(|t| t.elapsed() < STATUS_EVERY) {
            return;
        }
        self.last.set(Some(Instant::now()));
        let status = serde_json::json!({
            "schema": "hmg-status/1",
            "pid": std::process::id(),
            "model": self.model,
            "started_unix_ms": self.started_unix_ms,
            "updated_unix_ms": unix_ms(),
            "live_view": self.live_view,
            "streams": streams(),
        });
        // Not synced: rewritten every two seconds, a lost one costs nothing (and an SD card a lot).
        let _ = hmg_detect::atomic::write_atomic_unsynced(&self.path, |w| {
            serde_json::to_writer(&mut *w, &status).map_err(std::io::Error::other)
        });
    }
}

/// Every stream's stats for the live view: FPS over the last seconds, the latest latencies' median,
/// and detzone's counts.
fn live_stats(
    pipeline: &gst::Pipeline,
    branches: &[Branch],
    stats: &[Arc<Mutex<StreamStats>>],
) -> serde_json::Value {
    let streams: Vec<serde_json::Value> = branches
        .iter()
        .zip(stats)
        .enumerate()
        .map(|(i, (b, s))| {
            let s = s.lock().unwrap();
            let (fps, _) = s.recent_rate();
            let mut recent: Vec<f64> = s.latencies_ms.iter().rev().take(50).copied().collect();
            recent.sort_by(f64::total_cmp);
            serde_json::json!({
                "name": b.name,
                "frames": s.frames,
                "fps": fps,
                "detections": s.detections,
                "tracks": s.track_ids.len(),
                "latency_ms": recent.get(recent.len() / 2),
                "inference_ms": inference_ms(pipeline, i),
                "counts": zone_counts(pipeline, i),
            })
        })
        .collect();
    streams.into()
}

/// hailoinfer's mean engine time over its latest frames (ms, two decimals), once it has one.
fn inference_ms(pipeline: &gst::Pipeline, i: usize) -> Option<f64> {
    let infer = pipeline.by_name(&format!("infer{i}"))?;
    let ms = infer.property::<f64>("inference-ms");
    (ms > 0.0).then(|| (ms * 100.0).round() / 100.0)
}

/// `--model`, else the newest .hef in `models` (the stable names hmg compile links count by
/// the file they point at).
fn resolve_model(given: Option<&Path>, models: &Path) -> anyhow::Result<PathBuf> {
    if let Some(m) = given {
        return Ok(m.to_path_buf());
    }
    let newest = std::fs::read_dir(models)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("hef")))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        // Newest first; among equals (a link and its target) the shorter, stable name.
        .max_by(|(ta, a), (tb, b)| {
            ta.cmp(tb)
                .then(b.as_os_str().len().cmp(&a.as_os_str().len()))
        });
    match newest {
        Some((_, p)) => {
            eprintln!(
                "model: {} (the newest .hef in {})",
                p.display(),
                models.display()
            );
            Ok(p)
        }
        None => Err(usage(format!(
            "No HEF file found in {}/: compile one with `hmg compile exports/best.onnx --output my_model` (it writes {}/my_model.hef), or pass --model FILE (.hef or .onnx)",
            models.display(),
            models.display()
        ))),
    }
}

pub fn run(args: &DetectArgs) -> anyhow::Result<()> {
    let mut args = args.clone();
    args.model = resolve_model(args.model_arg.as_deref(), Path::new("models"))?;
    let args = &args;
    let branches = check_args(args)?;
    if let Some(w) = compiled_floor_warning(&args.model, args.conf) {
        eprintln!("warning: {w}");
    }
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
    let result = run_in(args, branches, &run_dir);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(run_dir.join(".frames"));
        // A run that failed before writing anything (a model refused at start leaves its empty
        // logs and folders) leaves no time-stamped folder.
        if !holds_any_data(&run_dir) {
            let _ = std::fs::remove_dir_all(&run_dir);
        }
    }
    result
}

/// Whether any file under `dir` has a byte in it.
fn holds_any_data(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |entries| {
        entries.flatten().any(|e| match e.file_type() {
            Ok(t) if t.is_dir() => holds_any_data(&e.path()),
            Ok(_) => e.metadata().map_or(true, |m| m.len() > 0),
            Err(_) => true,
        })
    })
}

/// The run itself, into `run_dir` (created).
fn run_in(args: &DetectArgs, branches: Vec<Branch>, run_dir: &Path) -> anyhow::Result<()> {
    let run_dir = run_dir.to_path_buf();
    // Folders are read here, picture by picture: their lists first, so that an empty one stops
    // the run before anything starts.
    let mut folders = Vec::new();
    for b in &branches {
        folders.push(match &b.source {
            Source::Folder(dir) => {
                let pictures = list_images(dir)
                    .with_context(|| format!("cannot read folder '{}'", dir.display()))?;
                if pictures.is_empty() {
                    return Err(usage(format!(
                        "folder '{}' has no pictures ({})",
                        dir.display(),
                        crate::images::extensions_listed()
                    )));
                }
                Some(pictures)
            }
            _ => None,
        });
    }
    let graphs = describe_branches(args, &branches, &run_dir, false)?;
    graph::init()?;
    // Sources are separate bins, so that one can be rebuilt while the others run.
    let rest = graphs
        .iter()
        .map(|g| g.rest.as_str())
        .collect::<Vec<_>>()
        .join("  ");
    let pipeline = gst::parse::launch(&rest)
        .with_context(|| format!("cannot build the graph:\n  {rest}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("the graph is not a pipeline"))?;
    let mut supervisor = Supervisor {
        names: branches.iter().map(|b| b.name.clone()).collect(),
        restart_at: vec![None; graphs.len()],
        progress: vec![(0, Instant::now()); graphs.len()],
        failures: vec![0; graphs.len()],
        ended: vec![false; graphs.len()],
        errors: vec![None; graphs.len()],
        stopping: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        failed: (0..graphs.len())
            .map(|_| Arc::new(std::sync::atomic::AtomicBool::new(false)))
            .collect(),
        graphs,
    };

    let skipped: Vec<picture_feed::Skipped> = branches.iter().map(|_| Default::default()).collect();
    let mut feeders = Vec::new();
    for i in 0..branches.len() {
        supervisor.attach(&pipeline, i)?;
        if let Some(pictures) = folders[i].take() {
            let appsrc = pipeline
                .by_name(&picture_source_name(i))
                .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
                .context("the folder's appsrc is missing")?;
            feeders.push(picture_feed::feed(
                appsrc,
                pictures,
                branches[i].name.clone(),
                skipped[i].clone(),
            ));
        }
    }
    let stats = install_probes(&pipeline, &branches)?;
    let clips = if args.clips {
        let clips = crate::clips::Clips::start(crate::clips::ClipOptions {
            dir: run_dir.join("clips"),
            pre_s: args.clip_pre,
            post_s: args.clip_post,
            classes: args.clip_classes.clone(),
            max_bytes: args.clips_max_mb * 1_000_000,
        })?;
        for i in 0..branches.len() {
            clips.attach(&pipeline, i)?;
        }
        Some(clips)
    } else {
        None
    };
    let live = if args.serve {
        let names: Vec<String> = branches.iter().map(|b| b.name.clone()).collect();
        let zones = args
            .zones
            .as_ref()
            .map(|z| std::path::absolute(z).unwrap_or_else(|_| z.clone()));
        let live = crate::live::LiveView::start(args.bind.ip(), args.bind.port(), &names, zones)?;
        for i in 0..branches.len() {
            live.attach(&pipeline, i)?;
        }
        if !args.bind.ip().is_loopback() {
            println!(
                "warning: the live view listens on {}: anyone who can reach this machine and has the link sees the cameras (from another machine, open the link with this machine's address)",
                args.bind
            );
        }
        println!("live view: {}", live.url);
        Some(live)
    } else {
        None
    };
    let mut last_view = Instant::now();
    let status = StatusFile::new(args, live.as_ref().map(|l| l.url.clone()));
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
    let elapsed = graph::play(&pipeline, |pipeline, event| match event {
        PlayEvent::Tick => {
            bar.set_message(status_line(&branches, &stats));
            bar.tick();
            if let Some(live) = &live
                && last_view.elapsed() >= Duration::from_millis(400)
            {
                last_view = Instant::now();
                live.set_stats(live_stats(pipeline, &branches, &stats));
            }
            status.maybe_write(|| live_stats(pipeline, &branches, &stats));
            if !stopping && deadline.is_some_and(|d| Instant::now() >= d) {
                stopping = true;
                graph::stop_watchdog();
                supervisor.stop(pipeline);
                pipeline.send_event(gst::event::Eos::new());
            }
            if !stopping {
                supervisor.tick(pipeline, &stats);
            }
            true
        }
        PlayEvent::Error(err) if stopping => supervisor.on_error_while_stopping(pipeline, err),
        PlayEvent::Error(err) => supervisor.on_error(pipeline, err),
        PlayEvent::Stopping => {
            stopping = true;
            supervisor.stop(pipeline);
            true
        }
    });
    bar.finish_and_clear();
    for feeder in feeders {
        let _ = feeder.join();
    }
    let _ = std::fs::remove_dir_all(run_dir.join(".frames"));
    if let Some(live) = live {
        live.stop();
    }
    let clips = clips.map(|c| {
        let dir = c.dir().to_path_buf();
        let (written, failures) = c.finish();
        (dir, written, failures)
    });
    let elapsed = elapsed?;
    let secs = elapsed.as_secs_f64();
    println!("summary ({secs:.1} s):");
    let mut streams = Vec::new();
    let mut failed = Vec::new();
    for (i, (((b, s), error), skipped)) in branches
        .iter()
        .zip(&stats)
        .zip(&supervisor.errors)
        .zip(&skipped)
        .enumerate()
    {
        let s = s.lock().unwrap();
        let skipped = skipped.lock().unwrap().clone();
        if !skipped.is_empty() {
            failed.push(format!(
                "{}: {} picture(s) could not be read ({})",
                b.name,
                skipped.len(),
                skipped
                    .iter()
                    .map(|(f, _)| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        // A file or folder that gave no frame at all failed too, error message or not.
        let error = error.clone().or_else(|| {
            (s.frames == 0 && !b.source.is_live())
                .then(|| "no frame could be read from it".to_string())
        });
        // A live source that fails now and then (and is restarted) is reported in the summary;
        // the run failed with it only if it never gave a frame.
        if let Some(e) = error
            .as_ref()
            .filter(|_| !b.source.is_live() || s.frames == 0)
        {
            failed.push(format!("{} ({e})", b.name));
        }
        let mut lat = s.latencies_ms.clone();
        lat.sort_by(f64::total_cmp);
        let (p50, p90, p99) = (
            percentile(&lat, 0.5),
            percentile(&lat, 0.9),
            percentile(&lat, 0.99),
        );
        let fps = s.frames as f64 / secs.max(1e-9);
        // No frame, no latency: a dash, not "NaN ms".
        let latency = if lat.is_empty() {
            "latency -".to_string()
        } else {
            format!("latency p50 {p50:.1} ms  p90 {p90:.1} ms  p99 {p99:.1} ms")
        };
        let tracks = if s.track_ids.is_empty() {
            String::new()
        } else {
            format!("  tracks {}", s.track_ids.len())
        };
        let inference = inference_ms(&pipeline, i);
        let inference_text = inference
            .map(|ms| format!("  inference {ms:.1} ms"))
            .unwrap_or_default();
        println!(
            "  {}: frames {}  FPS {fps:.1}  detections {}{tracks}  {latency}{inference_text}",
            b.name, s.frames, s.detections,
        );
        let counts = zone_counts(&pipeline, i);
        if let Some(c) = &counts {
            graph::print_counts(c);
        }
        let captures = pipeline.by_name(&format!("capture{i}")).map(|c| {
            let [captured, dropped, skipped] =
                ["captured", "dropped", "skipped"].map(|p| c.property::<u64>(p));
            println!(
                "    captures {captured} in {} ({dropped} old ones deleted for the size limit, {skipped} not kept: over the rate, or the writer busy on a live source)",
                c.property::<String>("location")
            );
            serde_json::json!({"captured": captured, "dropped": dropped, "skipped": skipped,
                "folder": c.property::<String>("location")})
        });
        let ms = |v: f64| v.is_finite().then(|| (v * 100.0).round() / 100.0);
        streams.push(serde_json::json!({
            "name": b.name,
            "source": b.source.to_string(),
            "frames": s.frames,
            "fps": (fps * 100.0).round() / 100.0,
            "detections": s.detections,
            "tracks": s.track_ids.len(),
            "counts": counts,
            "latency_ms": {"p50": ms(p50), "p90": ms(p90), "p99": ms(p99)},
            "inference_ms": inference,
            "captures": captures,
            "error": error,
            "skipped": skipped
                .iter()
                .map(|(file, why)| serde_json::json!({"file": file, "error": why}))
                .collect::<Vec<_>>(),
        }));
    }
    let peak = peak_memory_mib();
    if let Some(mib) = peak {
        println!("  peak memory {mib:.0} MiB");
    }
    if let Some((dir, written, failures)) = &clips {
        println!("  clips {written} in {}", dir.display());
        for f in failures.iter().take(5) {
            eprintln!("warning: {f}");
        }
    }
    // From the first frame in to the last frame out: the run without graph start-up (model
    // load, session warm-up) — what benchmarks compare with other tools timed the same way.
    let first_in = stats
        .iter()
        .filter_map(|s| s.lock().unwrap().first_in)
        .min();
    let last_out = stats
        .iter()
        .filter_map(|s| s.lock().unwrap().last_out)
        .max();
    let streaming = match (first_in, last_out) {
        (Some(a), Some(b)) if b > a => Some(((b - a).as_secs_f64() * 1000.0).round() / 1000.0),
        _ => None,
    };
    let summary = serde_json::json!({
        "model": args.model.display().to_string(),
        "seconds": (secs * 1000.0).round() / 1000.0,
        "streaming_seconds": streaming,
        "streams": streams,
        "peak_memory_mib": peak.map(|m| m.round()),
        "clips": clips.as_ref().map(|(_, written, failures)| serde_json::json!({
            "written": written,
            "failed": failures,
        })),
    });
    crate::atomic::write_atomic(&run_dir.join("summary.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, &summary)?;
        Ok(std::io::Write::write_all(w, b"\n")?)
    })?;
    println!("wrote {}", run_dir.display());
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} stream(s) failed: {} (see {})",
            failed.len(),
            branches.len(),
            failed.join("; "),
            run_dir.join("summary.json").display()
        );
    }
    Ok(())
}

/// Why a source failed, in words: GStreamer's message, or for a stream that stopped because
/// nothing took the demuxer's output (a file with audio or data but no video), that.
fn source_failure(err: &gst::message::Error) -> String {
    let debug = err.debug().map(|d| d.to_string()).unwrap_or_default();
    if debug.contains("reason not-linked") {
        "it has no video stream that can be decoded, only audio or data".into()
    } else {
        err.error().to_string()
    }
}

/// Threads for each stream's onnxruntime: as asked, or the cores shared out when several streams
/// run (None: onnxruntime's default, a thread per core).
fn onnx_threads(asked: Option<u32>, streams: usize) -> Option<u32> {
    if asked.is_some() {
        return asked;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (streams > 1).then(|| (cores / streams).max(1) as u32)
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

/// `YYYYmmdd-HHMMSS` in UTC.
fn chrono_stamp() -> String {
    crate::stamp::utc("%Y%m%d-%H%M%S", "run")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_model_the_newest_hef_in_models_is_used() {
        let root = std::env::temp_dir().join(format!("hmg-models-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let e = resolve_model(None, &root).unwrap_err().to_string();
        assert!(
            e.contains("No HEF file found in") && e.contains("hmg compile"),
            "{e}"
        );
        let old = root.join("old-20261101-00000000.hef");
        std::fs::write(&old, b"old").unwrap();
        let t = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(t)
            .unwrap();
        std::fs::write(root.join("new-20261203-11111111.hef"), b"new").unwrap();
        std::os::unix::fs::symlink("new-20261203-11111111.hef", root.join("new.hef")).unwrap();
        assert_eq!(resolve_model(None, &root).unwrap(), root.join("new.hef"));
        let given = Path::new("x.onnx");
        assert_eq!(resolve_model(Some(given), &root).unwrap(), given);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_pi_camera_is_found_by_its_receivers_name() {
        let root = std::env::temp_dir().join(format!("hmg-v4l-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dev = |n: &str, name: &str| {
            std::fs::create_dir_all(root.join(n)).unwrap();
            std::fs::write(root.join(n).join("name"), format!("{name}\n")).unwrap();
        };
        assert!(!pi_camera_present(&root), "no folder, no camera");
        dev("video0", "USB2.0 HD UVC WebCam: USB2.0 HD");
        assert!(
            !pi_camera_present(&root),
            "a USB camera is not the Pi camera"
        );
        dev("video4", "rp1-cfe-csi2_ch0");
        assert!(pi_camera_present(&root));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn stamp_has_the_date_shape() {
        let s = chrono_stamp();
        assert_eq!(s.len(), 15);
        assert!(s.starts_with("20") && s.as_bytes()[8] == b'-', "{s}");
    }
}
