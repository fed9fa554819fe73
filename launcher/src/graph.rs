// SPDX-License-Identifier: MIT OR Apache-2.0
//! Running a launch graph to the end: progress, per-frame statistics, clean errors.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use gst::prelude::*;

/// Registers our elements in this process once (no plugin install needed for `hmg`).
pub fn init() -> anyhow::Result<()> {
    gst::init().context("GStreamer failed to initialise")?;
    static REGISTER: std::sync::Once = std::sync::Once::new();
    let mut res = Ok(());
    REGISTER.call_once(|| {
        res = gsthmg::plugin_register_static().map_err(|e| anyhow!("registering hmg elements: {e}"))
    });
    res
}

/// What a finished run saw.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    pub frames: u64,
    pub detections: u64,
    pub per_class: BTreeMap<String, u64>,
    pub elapsed: Duration,
}

impl RunStats {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `description` until EOS. Frames and detections are counted on the sink pad of the
/// element named `count_at`.
pub fn run(description: &str, count_at: &str, progress: bool) -> anyhow::Result<RunStats> {
    let pipeline = gst::parse::launch(description)
        .with_context(|| format!("cannot build the graph:\n  {description}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("the graph is not a pipeline"))?;
    let stats = Arc::new(Mutex::new(RunStats::default()));
    let counter = pipeline
        .by_name(count_at)
        .ok_or_else(|| anyhow!("no element named '{count_at}' in the graph"))?;
    let pad = counter
        .static_pad("sink")
        .ok_or_else(|| anyhow!("'{count_at}' has no sink pad"))?;
    let probe_stats = stats.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer() {
            let dets = gsthmg::detections_from_buffer(buf);
            let mut s = probe_stats.lock().unwrap();
            s.frames += 1;
            s.detections += dets.len() as u64;
            for d in dets {
                *s.per_class.entry(d.label).or_default() += 1;
            }
        }
        gst::PadProbeReturn::Ok
    });

    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(1000);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {percent:>3}% {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let start = Instant::now();
    if pipeline.set_state(gst::State::Playing).is_err() {
        let err = first_error(&pipeline).unwrap_or_else(|| anyhow!("the graph failed to start"));
        let _ = pipeline.set_state(gst::State::Null);
        return Err(err);
    }
    let bus = pipeline
        .bus()
        .ok_or_else(|| anyhow!("pipeline without bus"))?;
    let result = loop {
        match bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
            Some(msg) => match msg.view() {
                gst::MessageView::Eos(_) => break Ok(()),
                gst::MessageView::Error(e) => break Err(error_text(e)),
                _ => {}
            },
            None => {
                if let Some(bar) = &bar {
                    let pos = pipeline.query_position::<gst::ClockTime>();
                    let dur = pipeline.query_duration::<gst::ClockTime>();
                    if let (Some(p), Some(d)) = (pos, dur)
                        && d.nseconds() > 0 {
                            bar.set_position(
                                (p.nseconds() as u128 * 1000 / d.nseconds() as u128) as u64,
                            );
                        }
                    let s = stats.lock().unwrap();
                    bar.set_message(format!(
                        "{} frames, {:.1} FPS, {} detections",
                        s.frames,
                        s.frames as f64 / start.elapsed().as_secs_f64(),
                        s.detections
                    ));
                }
            }
        }
    };
    let elapsed = start.elapsed();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    let mut s = stats.lock().unwrap().clone();
    s.elapsed = elapsed;
    Ok(s)
}

fn error_text(e: &gst::message::Error) -> anyhow::Error {
    let src = e
        .src()
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| "graph".into());
    match e.debug() {
        // Our elements put the actionable sentence in the debug text; show it first.
        Some(debug) => anyhow!("{src}: {}\n  {}", debug, e.error()),
        None => anyhow!("{src}: {}", e.error()),
    }
}

fn first_error(pipeline: &gst::Pipeline) -> Option<anyhow::Error> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(error_text(e));
        }
    }
    None
}
