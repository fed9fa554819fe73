// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg bench`: where the time of one frame goes for any model and clip — each host stage and
//! the inference timed on its own, then the whole graph — and the peak memory.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::Args;
use gst::prelude::*;
use hmg_detect::draw::{DrawOptions, Rect, layout_detections, paint_plane};
use hmg_detect::{
    Detection, EngineOptions, FrameRef, Layout, Letterboxer, PixelFormat, PostprocessOptions,
    Postprocessor, open_engine,
};

use crate::usage::{check_model_args, usage};
use crate::{assets, graph, sources, stats};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    hmg bench                                    # default model, bundled clip\n  \
    hmg bench --model best.onnx --input cam.mp4 --format NV12 --json\n  \
    hmg bench --model yolov8n.hef --frames 1000  # on the Hailo-8")]
pub struct BenchArgs {
    /// Model (.onnx, or .hef on a machine with HailoRT); default: the bundled yolov12n
    #[arg(long)]
    model: Option<PathBuf>,
    /// Video file to take frames from; default: the bundled clip
    #[arg(long)]
    input: Option<PathBuf>,
    /// Frames to time per stage (the clip's frames are reused when it has fewer)
    #[arg(long, default_value_t = 200)]
    frames: usize,
    /// Pixel format the frames reach hailoinfer in: RGB, BGRx, NV12 (what cameras give), I420…
    #[arg(long, default_value = "RGB")]
    format: String,
    /// onnxruntime threads (default: all cores)
    #[arg(long, value_parser = crate::usage::threads)]
    threads: Option<u32>,
    /// Skip the whole-graph run (stages only)
    #[arg(long)]
    no_graph: bool,
    /// Alternate stage timing and the graph run this many times; medians are reported (on a
    /// shared or throttling machine one round can mislead)
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Print the result as JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// Distinct frames kept in memory (the rest of `--frames` cycles through them).
const KEPT_FRAMES: usize = 32;

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let model = match &args.model {
        Some(m) => m.clone(),
        None => assets::find(assets::DEFAULT_MODEL)?,
    };
    check_model_args(&model, None, &[])?;
    let input = match &args.input {
        Some(i) => {
            if let Some(why) = hmg_detect::paths::not_a_file(i) {
                return Err(usage(format!(
                    "input '{}' {why}: give a video file with --input",
                    i.display()
                )));
            }
            i.clone()
        }
        None => assets::find(assets::DEMO_CLIP)?,
    };
    let format = PixelFormat::from_gst_name(&args.format).ok_or_else(|| {
        let names: Vec<&str> = PixelFormat::ALL.iter().map(|f| f.gst_name()).collect();
        usage(format!(
            "--format {} is not one hmg reads; choose one of {}",
            args.format,
            names.join(", ")
        ))
    })?;
    if args.frames == 0 {
        return Err(usage("--frames must be at least 1"));
    }
    if args.rounds == 0 {
        return Err(usage("--rounds must be at least 1"));
    }
    graph::init()?;
    let frames = decode_frames(&input, format, args.frames.min(KEPT_FRAMES))?;
    let mut stages: Option<Stages> = None;
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        if !args.json && args.rounds > 1 {
            eprintln!("round {} of {}", round + 1, args.rounds);
        }
        let s = time_stages(&model, &frames, args)?;
        let inference_fps = 1e3 / mean(&s.inference).max(1e-9);
        let graph = if args.no_graph {
            None
        } else {
            Some(time_graph(&model, &input, format, args.threads)?)
        };
        rounds.push(Round {
            inference_fps,
            graph,
        });
        match &mut stages {
            Some(all) => all.append(s),
            None => stages = Some(s),
        }
    }
    let stages = stages.ok_or_else(|| anyhow!("no round ran"))?;
    let report = Report::new(&model, &input, &frames, stages, rounds);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        report.print();
    }
    Ok(())
}

/// One round: inference alone, then the whole graph.
struct Round {
    inference_fps: f64,
    graph: Option<GraphRun>,
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// One decoded frame, kept as a buffer of its own (not from the decoder's pool).
struct Frame {
    buffer: gst::Buffer,
    info: gst_video::VideoInfo,
}

impl Frame {
    fn with<R>(&self, f: impl FnOnce(&FrameRef<'_>) -> R) -> anyhow::Result<R> {
        let mapped = gst_video::VideoFrameRef::from_buffer_ref_readable(&self.buffer, &self.info)
            .map_err(|_| anyhow!("cannot map a decoded frame"))?;
        let format = gsthmg::frame::pixel_format(&self.info)
            .ok_or_else(|| anyhow!("decoded frames in an unexpected format"))?;
        Ok(f(&gsthmg::frame::frame_ref(&mapped, format)?))
    }
}

fn decode_frames(
    input: &std::path::Path,
    format: PixelFormat,
    keep: usize,
) -> anyhow::Result<Vec<Frame>> {
    let description = format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format={} ! fakesink name=frames sync=false",
        sources::quote(&input.display().to_string()),
        format.gst_name()
    );
    let pipeline = gst::parse::launch(&description)
        .with_context(|| format!("cannot build the decoding graph:\n  {description}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("the graph is not a pipeline"))?;
    let sink = pipeline.by_name("frames").context("fakesink missing")?;
    let frames = Arc::new(Mutex::new(Vec::new()));
    let kept = frames.clone();
    let pad = sink
        .static_pad("sink")
        .context("fakesink has no sink pad")?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, probe| {
        let mut kept = kept.lock().unwrap();
        if let (Some(buffer), true) = (probe.buffer(), kept.len() < keep)
            && let Some(info) = pad
                .current_caps()
                .and_then(|caps| gst_video::VideoInfo::from_caps(&caps).ok())
        {
            kept.push(Frame {
                buffer: buffer.copy_deep().unwrap_or_else(|_| buffer.copy()),
                info,
            });
        }
        gst::PadProbeReturn::Ok
    });
    graph::play(&pipeline, |_, _| false).with_context(|| {
        format!(
            "cannot decode '{}': is it a video file? (gst-discoverer-1.0 shows what GStreamer makes of it)",
            input.display()
        )
    })?;
    let frames = std::mem::take(&mut *frames.lock().unwrap());
    if frames.is_empty() {
        return Err(anyhow!("'{}' gave no video frames", input.display()));
    }
    Ok(frames)
}

/// Milliseconds per frame of each stage, in order.
struct Stages {
    letterbox: Vec<f64>,
    inference: Vec<f64>,
    decode_nms: Vec<f64>,
    overlay: Vec<f64>,
    json: Vec<f64>,
    detections: usize,
    threads: Option<u32>,
    layout: String,
}

impl Stages {
    fn append(&mut self, other: Stages) {
        self.letterbox.extend(other.letterbox);
        self.inference.extend(other.inference);
        self.decode_nms.extend(other.decode_nms);
        self.overlay.extend(other.overlay);
        self.json.extend(other.json);
        self.detections += other.detections;
    }
}

fn time_stages(
    model: &std::path::Path,
    frames: &[Frame],
    args: &BenchArgs,
) -> anyhow::Result<Stages> {
    let options = EngineOptions {
        threads: args.threads.unwrap_or(0) as usize,
        ..Default::default()
    };
    let mut engine = open_engine(model, &options)
        .with_context(|| format!("cannot open '{}'", model.display()))?;
    let info = engine.info().clone();
    let (w, h) = (info.input_width, info.input_height);
    let mut letterboxer = Letterboxer::new();
    let mut post = Postprocessor::new();
    let opts = PostprocessOptions::default();
    let mut detections: Vec<Detection> = Vec::new();
    let mut rects: Vec<Rect> = Vec::new();
    let mut canvas: Vec<u8> = Vec::new();
    let mut line = String::new();
    let mut stages = Stages {
        letterbox: Vec::new(),
        inference: Vec::new(),
        decode_nms: Vec::new(),
        overlay: Vec::new(),
        json: Vec::new(),
        detections: 0,
        threads: args.threads,
        layout: String::new(),
    };
    let bar = progress(args.frames as u64, args.json);
    // A few frames first: the engine's first runs are slower.
    let warmup = 5;
    for i in 0..args.frames + warmup {
        let frame = &frames[i % frames.len()];
        let record = i >= warmup;
        frame.with(|f| -> anyhow::Result<()> {
            let t = Instant::now();
            let (input, geometry) = letterboxer.run(f, w, h);
            let t_letterbox = ms(t);
            let t = Instant::now();
            let outputs = engine.infer(input)?;
            let t_inference = ms(t);
            let shapes: Vec<Vec<usize>> = outputs.iter().map(|o| o.shape.clone()).collect();
            let layout = Layout::detect(&shapes).map_err(|e| anyhow!("{e}"))?;
            let views: Vec<_> = outputs.iter().map(|o| o.view()).collect();
            let t = Instant::now();
            detections.clear();
            post.run(
                layout,
                &views,
                &geometry,
                &info.labels,
                &opts,
                &mut detections,
            )
            .map_err(|e| anyhow!("{e}"))?;
            let t_decode = ms(t);
            // The overlay draws on a copy, so every frame starts clean (the copy is not timed).
            let (plane0, stride0) = (f.planes[0], f.strides[0]);
            canvas.clear();
            canvas.extend_from_slice(plane0);
            let t = Instant::now();
            rects.clear();
            let dopts = DrawOptions::default();
            layout_detections(
                &detections,
                f.width as u32,
                f.height as u32,
                &dopts,
                &mut rects,
            );
            paint_plane(
                f.format,
                f.yuv,
                0,
                &mut canvas,
                stride0,
                f.width,
                f.height,
                &rects,
            );
            let t_overlay = ms(t);
            let t = Instant::now();
            line.clear();
            for d in &detections {
                line.push_str(&d.to_json().to_string());
            }
            let t_json = ms(t);
            if record {
                stages.letterbox.push(t_letterbox);
                stages.inference.push(t_inference);
                stages.decode_nms.push(t_decode);
                stages.overlay.push(t_overlay);
                stages.json.push(t_json);
                stages.detections += detections.len();
                stages.layout = layout.name().to_string();
            }
            Ok(())
        })??;
        if record && let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(stages)
}

fn progress(len: u64, quiet: bool) -> Option<indicatif::ProgressBar> {
    (!quiet).then(|| {
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template("timing stages [{bar:40}] {pos}/{len} frames")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    })
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// The whole graph on the clip: frames per second in steady state (first to last frame out
/// of yolonms, so start-up is not counted).
struct GraphRun {
    frames: u64,
    fps: f64,
    description: String,
}

/// Frames seen leaving the graph, and when the first and the last left.
type FramesOut = (u64, Option<Instant>, Option<Instant>);

fn time_graph(
    model: &std::path::Path,
    input: &std::path::Path,
    format: PixelFormat,
    threads: Option<u32>,
) -> anyhow::Result<GraphRun> {
    let threads = threads.map(|t| format!(" threads={t}")).unwrap_or_default();
    let description = format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format={} ! queue ! hailoinfer model={}{threads} ! yolonms ! fakesink name=out sync=false",
        sources::quote(&input.display().to_string()),
        format.gst_name(),
        sources::quote(&model.display().to_string()),
    );
    let pipeline = gst::parse::launch(&description)
        .with_context(|| format!("cannot build the graph:\n  {description}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("the graph is not a pipeline"))?;
    let times: Arc<Mutex<FramesOut>> = Default::default();
    let seen = times.clone();
    let pad = pipeline
        .by_name("out")
        .and_then(|s| s.static_pad("sink"))
        .context("fakesink missing")?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let mut s = seen.lock().unwrap();
        let now = Instant::now();
        s.0 += 1;
        s.1.get_or_insert(now);
        s.2 = Some(now);
        gst::PadProbeReturn::Ok
    });
    graph::play(&pipeline, |_, _| false).context("the benchmark graph failed")?;
    let (frames, first, last) = *times.lock().unwrap();
    let span = match (first, last) {
        (Some(a), Some(b)) if frames > 1 => (b - a).as_secs_f64(),
        _ => return Err(anyhow!("the graph passed fewer than two frames")),
    };
    Ok(GraphRun {
        frames,
        fps: (frames - 1) as f64 / span.max(1e-9),
        description,
    })
}

struct Summary {
    name: &'static str,
    p50: f64,
    p90: f64,
    mean: f64,
}

fn summarize(name: &'static str, values: &[f64]) -> Summary {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Summary {
        name,
        p50: stats::percentile(&v, 0.5),
        p90: stats::percentile(&v, 0.9),
        mean: v.iter().sum::<f64>() / v.len() as f64,
    }
}

struct Report {
    model: String,
    input: String,
    frame: String,
    stages: Vec<Summary>,
    frames: usize,
    detections: usize,
    threads: Option<u32>,
    layout: String,
    rounds: Vec<Round>,
    peak_rss_mib: Option<f64>,
}

impl Report {
    fn new(
        model: &std::path::Path,
        input: &std::path::Path,
        frames: &[Frame],
        s: Stages,
        rounds: Vec<Round>,
    ) -> Self {
        let info = &frames[0].info;
        Self {
            model: model.display().to_string(),
            input: input.display().to_string(),
            frame: format!(
                "{}x{} {}",
                info.width(),
                info.height(),
                info.format().to_str()
            ),
            stages: vec![
                summarize("letterbox", &s.letterbox),
                summarize("inference", &s.inference),
                summarize("decode + NMS", &s.decode_nms),
                summarize("overlay", &s.overlay),
                summarize("detections JSON", &s.json),
            ],
            frames: s.letterbox.len(),
            detections: s.detections,
            threads: s.threads,
            layout: s.layout,
            rounds,
            peak_rss_mib: stats::peak_memory_mib(),
        }
    }

    fn host_mean(&self) -> f64 {
        self.stages
            .iter()
            .filter(|s| s.name != "inference")
            .map(|s| s.mean)
            .sum()
    }

    /// Medians over the rounds: inference alone, the graph, and the graph's share of the
    /// inference rate of its own round.
    fn inference_fps(&self) -> f64 {
        median(self.rounds.iter().map(|r| r.inference_fps).collect()).unwrap_or(0.0)
    }

    fn graph_fps(&self) -> Option<f64> {
        median(
            self.rounds
                .iter()
                .filter_map(|r| Some(r.graph.as_ref()?.fps))
                .collect(),
        )
    }

    fn graph_share(&self) -> Option<f64> {
        median(
            self.rounds
                .iter()
                .filter_map(|r| Some(r.graph.as_ref()?.fps / r.inference_fps))
                .collect(),
        )
    }

    fn print(&self) {
        println!("model  {}  ({})", self.model, self.layout);
        println!(
            "input  {}  ({}), {} frames timed, {} detections",
            self.input, self.frame, self.frames, self.detections
        );
        println!();
        println!(
            "{:<18} {:>9} {:>9} {:>9}",
            "stage", "p50 ms", "p90 ms", "mean ms"
        );
        for s in &self.stages {
            println!(
                "{:<18} {:>9.3} {:>9.3} {:>9.3}",
                s.name, s.p50, s.p90, s.mean
            );
        }
        let host = self.host_mean();
        println!("{:<18} {:>29.3}", "host stages total", host);
        println!();
        println!(
            "inference alone    {:>8.1} FPS ({} threads)",
            self.inference_fps(),
            self.threads
                .map_or("onnxruntime's default".to_string(), |t| t.to_string())
        );
        println!(
            "host stages alone  {:>8.1} FPS (one core)",
            1e3 / host.max(1e-9)
        );
        if let (Some(fps), Some(share)) = (self.graph_fps(), self.graph_share()) {
            println!(
                "whole graph        {fps:>8.1} FPS = {:.1} % of inference alone{}",
                100.0 * share,
                if self.rounds.len() > 1 {
                    format!(" (medians of {} rounds)", self.rounds.len())
                } else {
                    String::new()
                }
            );
        }
        if let Some(rss) = self.peak_rss_mib {
            println!("peak memory        {rss:>8.1} MiB (RSS)");
        }
        let advice = self.advice();
        if !advice.is_empty() {
            println!();
            for a in advice {
                println!("why: {a}");
            }
        }
    }

    /// What limits the frame rate, and what to change: the slowest stage, and the graph when it
    /// falls well short of inference alone.
    fn advice(&self) -> Vec<String> {
        let mut out = Vec::new();
        let inference = self
            .stages
            .iter()
            .find(|s| s.name == "inference")
            .map_or(0.0, |s| s.mean);
        let host = self.host_mean();
        let hef = self.model.to_ascii_lowercase().ends_with(".hef");
        if inference >= host {
            out.push(if hef {
                format!(
                    "inference on the Hailo-8 is the slowest stage ({inference:.1} ms a frame): a smaller model or input size helps, and on a Pi 5 check that PCIe runs at Gen 3 (dtparam=pciex1_gen=3 in /boot/firmware/config.txt)"
                )
            } else {
                format!(
                    "inference on the CPU is the slowest stage ({inference:.1} ms a frame): compile the model for the Hailo-8 (hmg compile, then --model my_model.hef), or export a smaller input (hmg export --imgsz 320)"
                )
            });
        } else if let Some(slowest) = self
            .stages
            .iter()
            .filter(|s| s.name != "inference")
            .max_by(|a, b| a.mean.total_cmp(&b.mean))
        {
            let what = match slowest.name {
                "letterbox" => format!(
                    "frames of {} are scaled to the model's input: a camera mode nearer that size (e.g. 640x480) costs less",
                    self.frame
                ),
                "decode + NMS" => "a higher --conf leaves fewer candidates to sort; with a .hef, compile with --nms on-chip to run NMS in HailoRT".to_string(),
                "overlay" => "drawing boxes is only needed for a display or --record: run --headless without --record".to_string(),
                _ => "writing detections as JSON: log less often or drop detlog".to_string(),
            };
            out.push(format!(
                "the host is slower than inference: {} takes {:.1} ms of the {host:.1} ms a frame spends on the host; {what}",
                slowest.name, slowest.mean
            ));
        }
        if let Some(share) = self.graph_share()
            && share < 0.8
        {
            out.push(format!(
                "the whole graph reaches only {:.0} % of inference alone: the source or sink limits it (decoding the input, videoconvert, a display); try --headless, or a camera format the elements take directly (NV12, RGB)",
                100.0 * share
            ));
        }
        out
    }

    fn to_json(&self) -> serde_json::Value {
        let stages: serde_json::Map<String, serde_json::Value> = self
            .stages
            .iter()
            .map(|s| {
                (
                    s.name.to_string(),
                    serde_json::json!({"p50_ms": s.p50, "p90_ms": s.p90, "mean_ms": s.mean}),
                )
            })
            .collect();
        serde_json::json!({
            "model": self.model,
            "layout": self.layout,
            "input": self.input,
            "frame": self.frame,
            "frames": self.frames,
            "detections": self.detections,
            "threads": self.threads,
            "stages": stages,
            "host_total_mean_ms": self.host_mean(),
            "inference_fps": self.inference_fps(),
            "graph_fps": self.graph_fps(),
            "graph_share_of_inference": self.graph_share(),
            "rounds": self.rounds.iter().map(|r| serde_json::json!({
                "inference_fps": r.inference_fps,
                "graph": r.graph.as_ref().map(|g| serde_json::json!({
                    "fps": g.fps,
                    "frames": g.frames,
                    "description": g.description,
                })),
            })).collect::<Vec<_>>(),
            "peak_rss_mib": self.peak_rss_mib,
            "advice": self.advice(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(model: &str, inference: f64, letterbox: f64, graph_share: f64) -> Report {
        let stage = |name, mean| Summary {
            name,
            p50: mean,
            p90: mean,
            mean,
        };
        Report {
            model: model.into(),
            input: "clip.mp4".into(),
            frame: "1920x1080 NV12".into(),
            stages: vec![
                stage("letterbox", letterbox),
                stage("inference", inference),
                stage("decode + NMS", 0.5),
                stage("overlay", 0.2),
                stage("detections JSON", 0.1),
            ],
            frames: 10,
            detections: 3,
            threads: None,
            layout: "ultralytics-raw".into(),
            rounds: vec![Round {
                inference_fps: 1e3 / inference,
                graph: Some(GraphRun {
                    frames: 10,
                    fps: graph_share * 1e3 / inference,
                    description: String::new(),
                }),
            }],
            peak_rss_mib: None,
        }
    }

    #[test]
    fn the_advice_names_the_stage_that_limits_the_rate() {
        let cpu = report("m.onnx", 40.0, 2.0, 0.95).advice();
        assert_eq!(cpu.len(), 1, "{cpu:?}");
        assert!(cpu[0].contains("inference on the CPU") && cpu[0].contains("hmg compile"));
        let hailo = report("m.hef", 12.0, 30.0, 0.5).advice();
        assert!(
            hailo[0].contains("letterbox takes 30.0 ms") && hailo[0].contains("1920x1080"),
            "{hailo:?}"
        );
        assert!(hailo[1].contains("only 50 %"), "{hailo:?}");
    }
}
