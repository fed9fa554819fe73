// SPDX-License-Identifier: MIT OR Apache-2.0
//! Running a launch graph to the end: progress, per-frame statistics, clean errors.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
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
    /// Each detzone's name and final counts (its `counts` property).
    pub zone_counts: Vec<(String, serde_json::Value)>,
}

impl RunStats {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The first element made by `factory` in `pipeline`.
fn first_of(pipeline: &gst::Pipeline, factory: &str) -> Option<gst::Element> {
    pipeline
        .iterate_recurse()
        .into_iter()
        .flatten()
        .find(|e| e.factory().is_some_and(|f| f.name() == factory))
}

static SIGNALS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Ctrl-C / SIGTERM: the first asks the graph to finish (EOS: files are closed properly), the
/// second stops at once.
fn watch_signals() -> &'static AtomicU32 {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only touches an atomic.
        unsafe {
            libc::signal(
                signal,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
    &SIGNALS
}

/// Runs `description` until EOS (or Ctrl-C). Frames and detections are counted on the sink
/// pad of the element named `count_at`, else of the first `yolonms`.
pub fn run(description: &str, count_at: Option<&str>, progress: bool) -> anyhow::Result<RunStats> {
    let pipeline = gst::parse::launch(description)
        .with_context(|| format!("cannot build the graph:\n  {description}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("the graph is not a pipeline"))?;
    let stats = Arc::new(Mutex::new(RunStats::default()));
    // Detections exist after yolonms: count on its source pad, or where the caller says.
    let (counter, pad_name) = match count_at {
        Some(name) => (
            pipeline
                .by_name(name)
                .ok_or_else(|| anyhow!("no element named '{name}' in the graph"))?,
            "sink",
        ),
        None => (
            first_of(&pipeline, "yolonms").ok_or_else(|| {
                anyhow!("the graph has no yolonms element to count detections at")
            })?,
            "src",
        ),
    };
    let count_at = counter.name();
    let pad = counter
        .static_pad(pad_name)
        .ok_or_else(|| anyhow!("'{count_at}' has no {pad_name} pad"))?;
    let probe_stats = stats.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer() {
            let dets = gsthmg::detections_from_buffer(buf);
            let mut s = probe_stats.lock().unwrap();
            s.frames += 1;
            s.detections += dets.len() as u64;
            for d in dets {
                *s.per_class.entry(d.label.to_string()).or_default() += 1;
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
    let result = play(&pipeline, |pipeline, event| {
        if !matches!(event, PlayEvent::Tick) {
            return false;
        }
        if let Some(bar) = &bar {
            bar.tick();
            let pos = pipeline.query_position::<gst::ClockTime>();
            let dur = pipeline.query_duration::<gst::ClockTime>();
            if let (Some(p), Some(d)) = (pos, dur)
                && d.nseconds() > 0
            {
                bar.set_position((p.nseconds() as u128 * 1000 / d.nseconds() as u128) as u64);
            }
            let s = stats.lock().unwrap();
            bar.set_message(format!(
                "{} frames, {:.1} FPS, {} detections",
                s.frames,
                s.frames as f64 / start.elapsed().as_secs_f64(),
                s.detections
            ));
        }
        true
    });
    let elapsed = start.elapsed();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result?;
    let mut s = stats.lock().unwrap().clone();
    s.elapsed = elapsed;
    s.zone_counts = zone_counts(&pipeline);
    Ok(s)
}

/// The counts of every detzone in `pipeline` (they outlive the run).
pub fn zone_counts(pipeline: &gst::Pipeline) -> Vec<(String, serde_json::Value)> {
    pipeline
        .iterate_recurse()
        .into_iter()
        .flatten()
        .filter(|e| e.factory().is_some_and(|f| f.name() == "detzone"))
        .filter_map(|zone| {
            let text: Option<String> = zone.property("counts");
            Some((zone.name().to_string(), serde_json::from_str(&text?).ok()?))
        })
        .collect()
}

/// "    door: person in 3 out 1" and "    bay: car inside 1 entered 4", one line per place.
pub fn print_counts(counts: &serde_json::Value) {
    let classes = |place: &serde_json::Value, a: &str, b: &str| {
        let parts: Vec<String> = place
            .as_object()
            .into_iter()
            .flatten()
            .map(|(label, c)| format!("{label} {a} {} {b} {}", c[a], c[b]))
            .collect();
        if parts.is_empty() {
            "nothing yet".to_string()
        } else {
            parts.join(", ")
        }
    };
    for (kind, a, b) in [("lines", "in", "out"), ("zones", "inside", "entered")] {
        for (name, place) in counts[kind].as_object().into_iter().flatten() {
            println!("    {name}: {}", classes(place, a, b));
        }
    }
}

/// Once a graph is asked to stop, it must finish within this time; a graph stuck on a device
/// or a wedged element must not keep the process (and a service restart) hanging forever.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// Starts (once) a timer that ends the process if stopping takes longer than `STOP_GRACE`.
pub fn stop_watchdog() {
    static ARMED: std::sync::Once = std::sync::Once::new();
    ARMED.call_once(|| {
        std::thread::spawn(|| {
            std::thread::sleep(STOP_GRACE);
            eprintln!(
                "\nerror: the graph did not finish within {} s of being stopped; exiting (the last frames of open files may be missing)",
                STOP_GRACE.as_secs()
            );
            std::process::exit(1);
        });
    });
}

/// What `play` tells its caller.
pub enum PlayEvent<'a> {
    /// About ten times a second.
    Tick,
    /// An element failed; the caller returns true when it dealt with it (else the run ends).
    Error(&'a gst::message::Error),
    /// Ctrl-C / SIGTERM: EOS was sent to the pipeline.
    Stopping,
}

/// Plays `pipeline` to EOS, reporting to `on_event`; Ctrl-C / SIGTERM send EOS (a second one
/// stops at once). Leaves the pipeline in NULL; returns the playing time.
pub fn play(
    pipeline: &gst::Pipeline,
    mut on_event: impl FnMut(&gst::Pipeline, PlayEvent<'_>) -> bool,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    if pipeline.set_state(gst::State::Playing).is_err() {
        let err = first_error(pipeline).unwrap_or_else(|| anyhow!("the graph failed to start"));
        let _ = pipeline.set_state(gst::State::Null);
        return Err(err);
    }
    let bus = pipeline
        .bus()
        .ok_or_else(|| anyhow!("pipeline without bus"))?;
    let signals = watch_signals();
    let mut handled = signals.load(Ordering::SeqCst);
    let mut eos_sent = false;
    let mut last_tick = Instant::now();
    let result = loop {
        let seen = signals.load(Ordering::SeqCst);
        if seen > handled {
            handled = seen;
            if !eos_sent {
                eos_sent = true;
                eprintln!("\nstopping: finishing the files (Ctrl-C again to stop at once)");
                stop_watchdog();
                pipeline.send_event(gst::event::Eos::new());
                on_event(pipeline, PlayEvent::Stopping);
            } else {
                break Err(anyhow!("stopped by the user before the graph finished"));
            }
        }
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
            match msg.view() {
                gst::MessageView::Eos(_) => break Ok(()),
                gst::MessageView::Error(e) if !on_event(pipeline, PlayEvent::Error(e)) => {
                    break Err(error_text(e));
                }
                _ => {}
            }
        }
        // Ticks keep their pace even when messages keep coming.
        if last_tick.elapsed() >= Duration::from_millis(100) {
            last_tick = Instant::now();
            on_event(pipeline, PlayEvent::Tick);
        }
    };
    let elapsed = start.elapsed();
    let _ = pipeline.set_state(gst::State::Null);
    result.map(|()| elapsed)
}

fn error_text(e: &gst::message::Error) -> anyhow::Error {
    let src = e
        .src()
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| "graph".into());
    let debug = e.debug();
    // Sources put their URL in the debug text: never a password into the console or journal.
    let text = describe_error(&src, &e.error().to_string(), debug.as_deref());
    anyhow!("{}", crate::sources::mask_secrets(&text))
}

/// An element's error as a user reads it: the source, then the sentence that says what to do.
/// GStreamer's debug text starts with where in the code the error was raised
/// ("file.rs(97): function (): /GstPipeline:…") — no help to a user, so it is left out; what an
/// element wrote after it (often the actionable sentence) comes first, the generic message after
/// it, and one sentence is never printed twice.
fn describe_error(src: &str, message: &str, debug: Option<&str>) -> String {
    let detail = debug.map(strip_code_location).unwrap_or_default().trim();
    let message = message.trim();
    if detail.is_empty() || message.contains(detail) {
        format!("{src}: {message}")
    } else if detail.contains(message) {
        format!("{src}: {detail}")
    } else {
        format!("{src}: {detail}\n  {message}")
    }
}

/// The debug text without GStreamer's leading "file(line): function (): object path" line.
fn strip_code_location(debug: &str) -> &str {
    let (first, rest) = debug.split_once('\n').unwrap_or((debug, ""));
    let is_location = first
        .split_once("): ")
        .is_some_and(|(file, after)| file.contains('(') && after.contains(" (): "));
    if !is_location {
        return debug;
    }
    // The location line ends with ':' when an element wrote its own debug text below it.
    rest
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

#[cfg(test)]
mod tests {
    use super::*;

    const LOCATION: &str = "plugins/gst/src/hailoinfer/imp.rs(97): gsthmg::hailoinfer::imp::error_message (): /GstPipeline:pipeline0/GstHmgHailoInfer:hmghailoinfer0";

    #[test]
    fn the_code_location_is_left_out_and_no_sentence_comes_twice() {
        let sentence = "model file 'd' is a folder, not a file: give the path of a .onnx model";
        assert_eq!(
            describe_error("hailoinfer0", sentence, Some(LOCATION)),
            format!("hailoinfer0: {sentence}")
        );
        let written = format!("{LOCATION}:\n{sentence}");
        assert_eq!(
            describe_error("hailoinfer0", sentence, Some(&written)),
            format!("hailoinfer0: {sentence}")
        );
        assert_eq!(
            describe_error(
                "calibpack0",
                "Could not open file for writing.",
                Some(&format!(
                    "{LOCATION}:\nThe folder of 'x/y.npy' does not exist"
                ))
            ),
            "calibpack0: The folder of 'x/y.npy' does not exist\n  Could not open file for writing."
        );
        // GStreamer's own elements: its C location, a reason after it.
        let c = "../libs/gst/base/gstbasesrc.c(3132): gst_base_src_loop (): /GstPipeline:pipeline0/GstFileSrc:filesrc0:\nstreaming stopped, reason not-negotiated (-4)";
        assert_eq!(
            describe_error("filesrc0", "Internal data stream error.", Some(c)),
            "filesrc0: streaming stopped, reason not-negotiated (-4)\n  Internal data stream error."
        );
        // Debug text that is not GStreamer's location stays whole.
        assert_eq!(
            describe_error("app", "Failed.", Some("the camera went away")),
            "app: the camera went away\n  Failed."
        );
    }
}
