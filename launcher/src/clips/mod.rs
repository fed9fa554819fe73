// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg detect --clips`: an mp4 per track event, from `--clip-pre` seconds before the track was
//! first seen to `--clip-post` seconds after it ended, with boxes drawn, and the frame where it
//! was seen best as a JPEG beside it.
//!
//! Each stream's drawn frames are also encoded (x264, ultrafast, zero latency: the Pi 5 has no
//! H.264 encoder) into a bounded ring in memory; the track events come from the same frames'
//! metas before encoding. A writer thread turns finished clips into files (temp name, then
//! rename) and keeps the folder under its size limit, oldest first.

mod recorder;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use anyhow::Context;
use gst::prelude::*;
use gsthmg::events::{BufferEvents, EventSettings};
use hmg_detect::Letterboxer;
use hmg_detect::events::EventType;

pub use recorder::{ClipEvent, ClipTiming, FinishedClip, Recorder, Sample};
pub use writer::{Snapshot, clip_stem, keep_under, write_mp4, write_snapshot};

/// The encoder branch a stream's frames take to the ring (after `tee name=fanout<i>`).
pub fn encoder_branch(i: usize) -> String {
    // A leaky queue: a slow encoder loses clip frames, never detection frames. One keyframe a
    // second bounds how far before `pre` a clip must start. In avc form the parameter sets live
    // in the caps, the same for every clip: any keyframe can start one.
    format!(
        " fanout{i}. ! queue leaky=downstream max-size-buffers=8 max-size-bytes=0 max-size-time=0 ! videoconvert ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max=30 threads={ENCODER_THREADS} ! video/x-h264,stream-format=avc,alignment=au ! appsink name=clipsink{i} sync=false"
    )
}

/// x264 threads per stream: at most one core per stream, the others stay free for inference
/// (its cost at 720p in BENCHMARKS.md).
const ENCODER_THREADS: u32 = 1;

/// What `--clips` and its options say.
#[derive(Debug, Clone)]
pub struct ClipOptions {
    pub dir: PathBuf,
    pub pre_s: f64,
    pub post_s: f64,
    /// Only tracks of these classes (names); empty: all.
    pub classes: Vec<String>,
    pub max_bytes: u64,
}

/// A clip longer than this is cut and written (a track that never ends must not hold memory).
const MAX_CLIP_S: f64 = 120.0;
/// Encoded video the ring holds at most per stream.
const RING_BYTES: usize = 64 << 20;
/// Snapshots of one track are taken at most this often (each is a frame conversion).
const SNAPSHOT_EVERY_NS: u64 = 250_000_000;

struct Job {
    clip: FinishedClip<gst::Buffer>,
    snapshot: Option<Snapshot>,
    caps: gst::Caps,
}

/// The per-stream side: events from the drawn frames, encoded frames into the ring.
struct Stream {
    recorder: Recorder<gst::Buffer>,
    events: BufferEvents,
    /// Per live track of a watched class: its best snapshot so far, and when it was taken.
    snapshots: HashMap<u64, (Option<Snapshot>, u64)>,
    caps: Option<gst::Caps>,
    letterboxer: Letterboxer,
}

/// Clips of every stream of a run.
pub struct Clips {
    options: ClipOptions,
    jobs: Option<mpsc::Sender<Option<Job>>>,
    writer: Option<JoinHandle<()>>,
    written: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
}

impl Clips {
    /// Creates the folder and starts the writer.
    pub fn start(options: ClipOptions) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&options.dir)
            .with_context(|| format!("cannot create clips folder '{}'", options.dir.display()))?;
        // None: the run is over (the branches' callbacks keep their senders until the pipeline
        // goes, so the channel alone would never close).
        let (tx, rx) = mpsc::channel::<Option<Job>>();
        let written = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let (dir, max, count, failed) = (
            options.dir.clone(),
            options.max_bytes,
            written.clone(),
            failures.clone(),
        );
        let writer = std::thread::Builder::new()
            .name("clip-writer".into())
            .spawn(move || {
                while let Ok(Some(job)) = rx.recv() {
                    let e = &job.clip.event;
                    let stem = clip_stem(&e.stamp, &e.label, e.track_id);
                    let result = write_mp4(&dir, &stem, &job.caps, &job.clip).and_then(|_| {
                        job.snapshot
                            .as_ref()
                            .map(|s| write_snapshot(&dir, &stem, s))
                            .transpose()
                    });
                    match result {
                        Ok(_) => {
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => failed.lock().unwrap().push(format!("{e:#}")),
                    }
                    keep_under(&dir, max);
                }
            })
            .context("cannot start the clip writer")?;
        Ok(Self {
            options,
            jobs: Some(tx),
            writer: Some(writer),
            written,
            failures,
        })
    }

    /// Wires branch `i`: events at `fanout<i>`, encoded frames from `clipsink<i>`.
    pub fn attach(&self, pipeline: &gst::Pipeline, i: usize) -> anyhow::Result<()> {
        let o = &self.options;
        let timing = ClipTiming {
            pre_ns: (o.pre_s * 1e9) as u64,
            post_ns: (o.post_s * 1e9) as u64,
            max_len_ns: (MAX_CLIP_S * 1e9) as u64,
            ring_bytes: RING_BYTES,
        };
        let events = EventSettings {
            enabled: true,
            // Only new and end matter here.
            update_interval: 3600.0,
            end_after: 1.0,
        }
        .start()
        .expect("enabled");
        let stream = Arc::new(Mutex::new(Stream {
            recorder: Recorder::new(timing),
            events,
            snapshots: HashMap::new(),
            caps: None,
            letterboxer: Letterboxer::new(),
        }));
        let tee = pipeline
            .by_name(&format!("fanout{i}"))
            .context("the clips tee is missing")?;
        let pad = tee
            .static_pad("sink")
            .context("the clips tee has no input")?;
        let classes = o.classes.clone();
        let watched = stream.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(buf) = info.buffer() {
                watched.lock().unwrap().on_frame(pad, buf, &classes);
            }
            gst::PadProbeReturn::Ok
        });
        let sink = pipeline
            .by_name(&format!("clipsink{i}"))
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .context("the clips sink is missing")?;
        let jobs = self.jobs.clone().context("clips already finished")?;
        let at_eos = (stream.clone(), jobs.clone());
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let mut s = stream.lock().unwrap();
                    if s.caps.is_none() {
                        s.caps = sample.caps().map(|c| c.to_owned());
                    }
                    if let Some(buf) = sample.buffer_owned() {
                        let encoded = Sample {
                            pts_ns: buf.pts().map_or(0, |p| p.nseconds()),
                            keyframe: !buf.flags().contains(gst::BufferFlags::DELTA_UNIT),
                            bytes: buf.size(),
                            data: buf,
                        };
                        let done = s.recorder.push(encoded);
                        s.send(done, &jobs);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .eos(move |_| {
                    let (stream, jobs) = &at_eos;
                    let mut s = stream.lock().unwrap();
                    let done = s.recorder.finish();
                    s.send(done, jobs);
                })
                .build(),
        );
        Ok(())
    }

    /// Waits for the writer; returns the clips written and what failed.
    pub fn finish(mut self) -> (usize, Vec<String>) {
        if let Some(jobs) = self.jobs.take() {
            let _ = jobs.send(None);
        }
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let failures = std::mem::take(&mut *self.failures.lock().unwrap());
        (self.written.load(Ordering::SeqCst), failures)
    }

    /// The folder.
    pub fn dir(&self) -> &std::path::Path {
        &self.options.dir
    }
}

impl Stream {
    fn on_frame(&mut self, pad: &gst::Pad, buf: &gst::BufferRef, classes: &[String]) {
        let watched = |label: &str| classes.is_empty() || classes.iter().any(|c| c == label);
        let pts = buf.pts().map_or(0, |p| p.nseconds());
        for e in self.events.frame(buf) {
            let story = &e.story;
            match e.kind {
                EventType::New if watched(&story.label) => {
                    let stamp = crate::stamp::utc("%Y%m%d-%H%M%S", "unknown-time");
                    self.recorder.start(
                        ClipEvent {
                            track_id: story.track_id,
                            label: story.label.clone(),
                            stamp,
                        },
                        story.first_ns,
                    );
                    self.snapshots.insert(story.track_id, (None, 0));
                }
                EventType::End => self.recorder.end(story.track_id, story.last_ns),
                _ => {}
            }
        }
        // Snapshots: the frame where each watched track is seen with its best confidence.
        let dets = gsthmg::detections_from_buffer(buf);
        let tracks = gsthmg::roi::tracks_from_buffer(buf);
        let mut wanted = false;
        for (d, t) in dets.iter().zip(&tracks) {
            let Some(t) = t else { continue };
            if let Some((best, taken)) = self.snapshots.get(&t.track_id) {
                let better = best.as_ref().is_none_or(|b| d.confidence > b.confidence);
                wanted |=
                    (better && pts.saturating_sub(*taken) >= SNAPSHOT_EVERY_NS) || best.is_none();
            }
        }
        if !wanted {
            return;
        }
        let Some(rgb) = self.frame_rgb(pad, buf) else {
            return;
        };
        for (d, t) in dets.iter().zip(&tracks) {
            let Some(t) = t else { continue };
            if let Some((best, taken)) = self.snapshots.get_mut(&t.track_id)
                && best.as_ref().is_none_or(|b| d.confidence > b.confidence)
            {
                *best = Some(Snapshot {
                    confidence: d.confidence,
                    ..rgb.clone()
                });
                *taken = pts;
            }
        }
    }

    /// The frame as packed RGB (boxes already drawn).
    fn frame_rgb(&mut self, pad: &gst::Pad, buf: &gst::BufferRef) -> Option<Snapshot> {
        let caps = pad.current_caps()?;
        let info = gst_video::VideoInfo::from_caps(&caps).ok()?;
        let format = gsthmg::frame::pixel_format(&info)?;
        let mapped = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info).ok()?;
        let frame = gsthmg::frame::frame_ref(&mapped, format).ok()?;
        let (w, h) = (info.width(), info.height());
        let (rgb, _) = self.letterboxer.run(&frame, w as usize, h as usize);
        Some(Snapshot {
            confidence: 0.0,
            width: w,
            height: h,
            rgb: Arc::new(rgb.to_vec()),
        })
    }

    fn send(&mut self, done: Vec<FinishedClip<gst::Buffer>>, jobs: &mpsc::Sender<Option<Job>>) {
        let Some(caps) = self.caps.clone() else {
            return;
        };
        for clip in done {
            if clip.samples.is_empty() {
                continue;
            }
            let snapshot = self
                .snapshots
                .remove(&clip.event.track_id)
                .and_then(|(s, _)| s);
            let _ = jobs.send(Some(Job {
                clip,
                snapshot,
                caps: caps.clone(),
            }));
        }
    }
}
