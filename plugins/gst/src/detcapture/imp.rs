// SPDX-License-Identifier: MIT OR Apache-2.0

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use hmg_detect::{Letterboxer, PixelFormat};

use super::rule::{Chooser, Reason, Rule};
use super::store::{Capture, Store};
use crate::frame::UnstatedColorimetry;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "detcapture",
        gst::DebugColorFlags::empty(),
        Some("hmg hard-example capture"),
    )
});

const DEFAULT_MODE: &str = "uncertain";
const DEFAULT_BAND_LOW: f64 = 0.25;
const DEFAULT_BAND_HIGH: f64 = 0.5;
const DEFAULT_MAX_RATE: f64 = 6.0;
const DEFAULT_MAX_SIZE_MB: u64 = 500;
/// Frames waiting for the writer; beyond that, `when-busy` says whether the stream waits.
const QUEUE: usize = 2;

/// What happens to a frame to keep while the writer is still busy with earlier ones.
#[derive(Debug, Eq, PartialEq, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstHmgCaptureWhenBusy")]
pub enum WhenBusy {
    /// A live source cannot wait; a file can, and then gives the same captures on any machine.
    #[default]
    #[enum_value(
        name = "Skip it when the source is live (a camera), wait when it is not (a file)",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(
        name = "Skip it (counted in skipped): the stream never waits for the disk",
        nick = "skip"
    )]
    Skip = 1,
    #[enum_value(
        name = "Wait for the writer: every qualifying frame is saved, the stream slows to the disk's pace",
        nick = "wait"
    )]
    Wait = 2,
}

#[derive(Debug, Clone)]
struct Settings {
    location: Option<String>,
    mode: String,
    band_low: f64,
    band_high: f64,
    max_rate: f64,
    max_size_mb: u64,
    stream_name: Option<String>,
    model: Option<String>,
    unstated: UnstatedColorimetry,
    when_busy: WhenBusy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            location: None,
            mode: DEFAULT_MODE.into(),
            band_low: DEFAULT_BAND_LOW,
            band_high: DEFAULT_BAND_HIGH,
            max_rate: DEFAULT_MAX_RATE,
            max_size_mb: DEFAULT_MAX_SIZE_MB,
            stream_name: None,
            model: None,
            unstated: UnstatedColorimetry::default(),
            when_busy: WhenBusy::default(),
        }
    }
}

/// What the writer thread and the streaming thread both count.
#[derive(Default)]
struct Counters {
    captured: AtomicU64,
    dropped: AtomicU64,
    skipped: AtomicU64,
}

struct State {
    chooser: Chooser,
    stream: String,
    model: Option<String>,
    frames: u64,
    size: (i32, i32),
    video: Option<(gst_video::VideoInfo, PixelFormat)>,
    letterboxer: Letterboxer,
    jobs: Option<SyncSender<Job>>,
    /// Whether a full queue holds up the stream: set at start by `skip` and `wait`, by `auto`
    /// at the first frame kept, from upstream's latency query.
    waits: Option<bool>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// A copy of the frame a detection appeared in, until the next frame tells whether it stayed.
    held: Option<Held>,
}

/// What the writer thread is asked to do.
enum Job {
    Save(Capture),
    /// Answer once everything sent before is written (at end of stream).
    Drain(SyncSender<()>),
}

/// What a held frame is saved with, should it be kept.
struct Held {
    buffer: gst::Buffer,
    frame: u64,
    dets: Vec<hmg_detect::Detection>,
}

#[derive(Default)]
pub struct DetCapture {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    counters: Arc<Counters>,
}

#[glib::object_subclass]
impl ObjectSubclass for DetCapture {
    const NAME: &'static str = "GstHmgDetCapture";
    type Type = super::DetCapture;
    type ParentType = gst_base::BaseTransform;
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// File-name-safe stream names ("front door" → "front_door").
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl DetCapture {
    /// The writer: encodes and stores captures off the streaming thread, posting one
    /// `hmg-capture` message per capture and a warning the first time one cannot be written.
    fn spawn_writer(
        &self,
        mut store: Store,
    ) -> Result<(SyncSender<Job>, std::thread::JoinHandle<()>), gst::ErrorMessage> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let element = self.obj().downgrade();
        let counters = self.counters.clone();
        let thread = std::thread::Builder::new()
            .name("detcapture".into())
            .spawn(move || {
                let mut warned = false;
                for job in rx {
                    let capture = match job {
                        Job::Save(capture) => capture,
                        Job::Drain(done) => {
                            let _ = done.send(());
                            continue;
                        }
                    };
                    let Some(element) = element.upgrade() else {
                        break;
                    };
                    match store.add(&capture) {
                        Ok((path, dropped)) => {
                            counters.captured.fetch_add(1, Ordering::Relaxed);
                            counters
                                .dropped
                                .fetch_add(dropped as u64, Ordering::Relaxed);
                            let s = gst::Structure::builder("hmg-capture")
                                .field("location", path.display().to_string())
                                .field("reason", capture.record["reason"].as_str().unwrap_or(""))
                                .field("dropped", dropped as u64)
                                .build();
                            let _ = element.post_message(
                                gst::message::Element::builder(s).src(&element).build(),
                            );
                        }
                        Err(e) => {
                            counters.skipped.fetch_add(1, Ordering::Relaxed);
                            if !warned {
                                warned = true;
                                gst::element_warning!(
                                    element,
                                    gst::ResourceError::Write,
                                    ["Cannot save a captured frame: {}", e]
                                );
                            }
                        }
                    }
                }
            })
            .map_err(|e| {
                gst::error_msg!(
                    gst::CoreError::Failed,
                    ["Cannot start the capture writer: {}", e]
                )
            })?;
        Ok((tx, thread))
    }

    /// The frame as packed RGB at its own size.
    fn rgb(state: &mut State, buf: &gst::BufferRef) -> Option<(Vec<u8>, u32, u32)> {
        let (info, format) = state.video.clone()?;
        let mapped = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info).ok()?;
        let fr = crate::frame::frame_ref(&mapped, format).ok()?;
        let (w, h) = (info.width() as usize, info.height() as usize);
        let (rgb, _) = state.letterboxer.run(&fr, w, h);
        Some((rgb.to_vec(), w as u32, h as u32))
    }

    /// Hands frame `frame` (`buf`) with its detections to the writer (its near misses are in its
    /// meta, read with the rest of the record).
    fn save(
        &self,
        state: &mut State,
        buf: &gst::BufferRef,
        frame: u64,
        dets: &[hmg_detect::Detection],
        reason: Reason,
    ) {
        let Some((rgb, width, height)) = Self::rgb(state, buf) else {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let now = unix_ms();
        let stem = format!("{now:013}-{}-{frame:06}", safe(&state.stream));
        let mut record = crate::detlog::frame_record(&state.stream, frame, buf, state.size, dets);
        record["schema"] = "hmg-capture/1".into();
        record["reason"] = reason.kind.into();
        record["detail"] = reason.detail.into();
        record["captured_unix_ms"] = (now as u64).into();
        record["image"] = format!("{stem}.jpg").into();
        if let Some(model) = &state.model {
            record["model"] = model.as_str().into();
        }
        let capture = Capture {
            stem,
            rgb,
            width,
            height,
            record,
        };
        let waits = *state.waits.get_or_insert_with(|| self.source_is_not_live());
        let Some(jobs) = &state.jobs else {
            return;
        };
        let sent = if waits {
            // The writer drains its queue until the element stops, so this returns.
            jobs.send(Job::Save(capture)).is_ok()
        } else {
            match jobs.try_send(Job::Save(capture)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            }
        };
        if !sent {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            gst::debug!(CAT, imp = self, "writer busy: frame {frame} not captured");
        }
    }

    /// `auto`: the stream waits for the writer unless upstream says it is live (or cannot say:
    /// a camera must never stall).
    fn source_is_not_live(&self) -> bool {
        let mut query = gst::query::Latency::new();
        let answered = self.obj().sink_pad().peer_query(&mut query);
        let waits = answered && !query.result().0;
        gst::debug!(
            CAT,
            imp = self,
            "source {}: a busy writer {}",
            if !answered {
                "did not say whether it is live"
            } else if waits {
                "is not live"
            } else {
                "is live"
            },
            if waits {
                "holds up the stream"
            } else {
                "costs captures"
            }
        );
        waits
    }
}

impl ObjectImpl for DetCapture {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Folder")
                    .blurb("Folder the captures go into (created if missing): <time>-<stream>-<frame>.jpg, the full frame, and .json, its predictions and why it was kept")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mode")
                    .nick("Mode")
                    .blurb("Which frames: uncertain (a detection, or a near miss yolonms reports below its conf, scored in [band-low, band-high); a track that changed class; a detection in one frame only, none of its class overlapping it in the frames before and after), all, or classes=NAME,NAME")
                    .default_value(Some(DEFAULT_MODE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("band-low")
                    .nick("Band low")
                    .blurb("Lowest confidence the uncertain mode counts as unsure: yolonms' conf, or below it by as much as yolonms' near-misses to see detections just under the threshold")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_BAND_LOW)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("band-high")
                    .nick("Band high")
                    .blurb("Confidences at or above this are sure enough not to capture")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_BAND_HIGH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("max-rate")
                    .nick("Max rate")
                    .blurb("At most this many captures per minute of stream time (0: no limit)")
                    .minimum(0.0)
                    .maximum(60000.0)
                    .default_value(DEFAULT_MAX_RATE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("max-size-mb")
                    .nick("Max size")
                    .blurb("Size limit of the folder's captures in MB; the oldest go first (counted in dropped)")
                    .minimum(1)
                    .default_value(DEFAULT_MAX_SIZE_MB)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("stream-name")
                    .nick("Stream name")
                    .blurb("Stream name in file names and records (default: the element's name)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("Model name recorded with each capture (which model made the predictions)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("when-busy", WhenBusy::Auto)
                    .nick("When busy")
                    .blurb("A frame to keep while the writer is still busy with two: auto skips it for a live source (a camera never waits for the disk) and waits for a file (the same captures on any machine); skip or wait always")
                    .mutable_ready()
                    .build(),
                crate::frame::unstated_colorimetry_property(),
                glib::ParamSpecUInt64::builder("captured")
                    .nick("Captured")
                    .blurb("Frames saved so far")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("dropped")
                    .nick("Dropped")
                    .blurb("Older captures deleted to keep the folder under max-size-mb")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("skipped")
                    .nick("Skipped")
                    .blurb("Frames that qualified but were not saved: over max-rate, the writer busy (when-busy), or a write failed")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let v = value;
        match pspec.name() {
            "location" => s.location = v.get().expect("type checked upstream"),
            "mode" => {
                s.mode = v
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_MODE.into())
            }
            "band-low" => s.band_low = v.get().expect("type checked upstream"),
            "band-high" => s.band_high = v.get().expect("type checked upstream"),
            "max-rate" => s.max_rate = v.get().expect("type checked upstream"),
            "max-size-mb" => s.max_size_mb = v.get().expect("type checked upstream"),
            "stream-name" => s.stream_name = v.get().expect("type checked upstream"),
            "model" => s.model = v.get().expect("type checked upstream"),
            "unstated-colorimetry" => s.unstated = v.get().expect("type checked upstream"),
            "when-busy" => s.when_busy = v.get().expect("type checked upstream"),
            name => unreachable!("no property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        let c = &self.counters;
        match pspec.name() {
            "location" => s.location.to_value(),
            "mode" => s.mode.to_value(),
            "band-low" => s.band_low.to_value(),
            "band-high" => s.band_high.to_value(),
            "max-rate" => s.max_rate.to_value(),
            "max-size-mb" => s.max_size_mb.to_value(),
            "stream-name" => s.stream_name.to_value(),
            "model" => s.model.to_value(),
            "unstated-colorimetry" => s.unstated.to_value(),
            "when-busy" => s.when_busy.to_value(),
            "captured" => c.captured.load(Ordering::Relaxed).to_value(),
            "dropped" => c.dropped.load(Ordering::Relaxed).to_value(),
            "skipped" => c.skipped.load(Ordering::Relaxed).to_value(),
            name => unreachable!("no property {name}"),
        }
    }
}

impl GstObjectImpl for DetCapture {}

impl ElementImpl for DetCapture {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg hard-example capture",
                "Filter/Video",
                "Saves full frames the model was unsure about (or all, or of given classes) with their predictions, rate-limited and within a size limit, for labelling and retraining",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::frame::pixel_pad_templates()
    }
}

impl BaseTransformImpl for DetCapture {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let dir = s.location.filter(|l| !l.is_empty()).ok_or_else(|| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                ["No capture folder: set location=DIR"]
            )
        })?;
        let rule: Rule = s
            .mode
            .parse()
            .map_err(|e: String| gst::error_msg!(gst::ResourceError::Settings, ["mode: {}", e]))?;
        if s.band_low >= s.band_high && rule == Rule::Uncertain {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                [
                    "band-low ({}) must be below band-high ({}): the band of confidences counted as unsure",
                    s.band_low,
                    s.band_high
                ]
            ));
        }
        let store = Store::open(&PathBuf::from(&dir), s.max_size_mb.saturating_mul(1 << 20))
            .map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::OpenWrite,
                    [
                        "Cannot use capture folder '{}': {}. Check it is a writable folder",
                        dir,
                        e
                    ]
                )
            })?;
        let (jobs, writer) = self.spawn_writer(store)?;
        let stream = s
            .stream_name
            .unwrap_or_else(|| self.obj().name().to_string());
        gst::info!(
            CAT,
            imp = self,
            "capturing {} of '{stream}' into {dir}",
            s.mode
        );
        *self.state.lock().unwrap() = Some(State {
            chooser: Chooser::new(rule, (s.band_low as f32, s.band_high as f32), s.max_rate),
            stream,
            model: s.model,
            frames: 0,
            size: (0, 0),
            video: None,
            letterboxer: Letterboxer::new(),
            jobs: Some(jobs),
            waits: match s.when_busy {
                WhenBusy::Skip => Some(false),
                WhenBusy::Wait => Some(true),
                WhenBusy::Auto => None,
            },
            writer: Some(writer),
            held: None,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Every capture queued is written before the element stops.
        let state = self.state.lock().unwrap().take();
        if let Some(mut state) = state {
            drop(state.jobs.take());
            if let Some(writer) = state.writer.take() {
                let _ = writer.join();
            }
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let unstated = self.settings.lock().unwrap().unstated;
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.size = crate::frame::caps_size(incaps);
            state.video = crate::frame::video_info(incaps, unstated)
                .ok()
                .and_then(|info| crate::frame::pixel_format(&info).map(|f| (info, f)));
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view()
            && let Some(state) = self.state.lock().unwrap().as_mut()
        {
            state.held = None;
            state.chooser.jumped();
        }
        // Every capture is on disk (and its message posted) before the end of stream goes on: an
        // application that stops the graph at EOS loses none.
        if let gst::EventView::Eos(_) = event.view() {
            let jobs = self
                .state
                .lock()
                .unwrap()
                .as_ref()
                .and_then(|s| s.jobs.clone());
            if let Some(jobs) = jobs {
                let (done, written) = std::sync::mpsc::sync_channel(1);
                if jobs.send(Job::Drain(done)).is_ok() {
                    let _ = written.recv();
                }
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip_passthrough(
        &self,
        buf: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let dets = crate::roi::detections_from_buffer(buf);
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        // Track ids and near misses only matter to the uncertain rule: not read otherwise.
        let (tracks, near): (Vec<Option<u64>>, _) = if state.chooser.uncertain() {
            let tracks = crate::roi::tracks_from_buffer(buf);
            let ids = tracks.iter().map(|t| t.as_ref().map(|t| t.track_id));
            (ids.collect(), crate::meta::near_misses(buf))
        } else {
            (Vec::new(), Vec::new())
        };
        let frame = state.frames;
        state.frames += 1;
        // Frames without a time are rate-limited by the wall clock.
        let at_ns = buf
            .pts()
            .map(|p| p.nseconds())
            .unwrap_or_else(|| (unix_ms() * 1_000_000) as u64);
        let before = state.chooser.rate_limited;
        let verdict = state.chooser.consider(at_ns, &dets, &near, &tracks);
        let held_back = state.chooser.rate_limited - before;
        self.counters
            .skipped
            .fetch_add(held_back, Ordering::Relaxed);
        if let Some(held) = state.held.take()
            && let Some(reason) = verdict.held
        {
            self.save(state, &held.buffer, held.frame, &held.dets, reason);
        }
        if let Some(reason) = verdict.now {
            self.save(state, buf, frame, &dets, reason);
        } else if verdict.hold {
            // A copy, not a reference: holding the buffer itself would make every element
            // downstream that draws on frames (detoverlay) copy each one.
            match buf.copy_deep() {
                Ok(buffer) => {
                    state.held = Some(Held {
                        buffer,
                        frame,
                        dets,
                    })
                }
                Err(_) => gst::debug!(CAT, imp = self, "frame {frame} could not be copied"),
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
