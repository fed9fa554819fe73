// SPDX-License-Identifier: MIT OR Apache-2.0

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use hmg_detect::{Detection, Letterboxer, PixelFormat};

use crate::events::{BufferEvents, EventSettings};
use crate::roi;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "detlog",
        gst::DebugColorFlags::empty(),
        Some("hmg detection log"),
    )
});

const DEFAULT_SNAPSHOT_INTERVAL: f64 = 5.0;

#[derive(Debug, Clone)]
struct Settings {
    location: Option<String>,
    stream_name: Option<String>,
    snapshot_dir: Option<String>,
    snapshot_interval: f64,
    events: EventSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            location: None,
            stream_name: None,
            snapshot_dir: None,
            snapshot_interval: DEFAULT_SNAPSHOT_INTERVAL,
            events: EventSettings::default(),
        }
    }
}

struct State {
    out: Box<dyn Write + Send>,
    stream: String,
    frames: u64,
    size: (i32, i32),
    line: String,
    snapshots: Option<Snapshots>,
    /// With `events`: track event records instead of frame lines.
    events: Option<BufferEvents>,
}

impl State {
    /// The event records for the end of the stream, as lines.
    fn final_events(&mut self) -> String {
        let stream = self.stream.clone();
        self.events
            .as_mut()
            .map(|ev| event_lines(&stream, ev.finish()))
            .unwrap_or_default()
    }
}

/// Event records as JSON lines, each ending in a newline.
fn event_lines(stream: &str, events: Vec<hmg_detect::events::TrackEvent>) -> String {
    events
        .iter()
        .map(|e| e.record(Some(stream)).to_string() + "\n")
        .collect()
}

/// Periodic PNG snapshots of frames that have detections.
struct Snapshots {
    dir: PathBuf,
    interval: gst::ClockTime,
    last: Option<gst::ClockTime>,
    video: Option<(gst_video::VideoInfo, PixelFormat)>,
    letterboxer: Letterboxer,
    warned: bool,
}

impl Snapshots {
    fn due(&self, pts: Option<gst::ClockTime>) -> bool {
        match (self.last, pts) {
            (None, _) => true,
            (Some(last), Some(pts)) => pts >= last + self.interval || pts < last,
            (Some(_), None) => false,
        }
    }

    /// Writes `buf` as `<dir>/<stream>-<frame>.png` (temp file, then rename).
    fn write(&mut self, buf: &gst::BufferRef, stream: &str, frame: u64) -> Result<PathBuf, String> {
        let (info, format) = self
            .video
            .clone()
            .ok_or("the frame format has no snapshot support")?;
        let mapped = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info)
            .map_err(|_| "cannot map the frame")?;
        let fr = crate::frame::frame_ref(&mapped, format).map_err(|e| e.to_string())?;
        let (w, h) = (info.width() as usize, info.height() as usize);
        let (rgb, _) = self.letterboxer.run(&fr, w, h);
        let path = self.dir.join(format!("{stream}-{frame:06}.png"));
        hmg_detect::atomic::write_atomic(&path, |out| {
            let mut encoder = png::Encoder::new(out, w as u32, h as u32);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            encoder
                .write_header()
                .and_then(|mut writer| writer.write_image_data(rgb).and_then(|()| writer.finish()))
                .map_err(std::io::Error::other)
        })
        .map_err(|e| e.to_string())?;
        Ok(path)
    }
}

#[derive(Default)]
pub struct DetLog {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for DetLog {
    const NAME: &'static str = "GstHmgDetLog";
    type Type = super::DetLog;
    type ParentType = gst_base::BaseTransform;
}

/// One JSON line (without the newline) for one frame, naming the file it was decoded from when
/// its source said (`HmgSource` meta).
pub fn frame_line(
    stream: &str,
    frame: u64,
    buf: &gst::BufferRef,
    size: (i32, i32),
    dets: &[Detection],
) -> String {
    frame_record(stream, frame, buf, size, dets).to_string()
}

/// [`frame_line`]'s record as a JSON value (detcapture adds its own fields to it).
pub fn frame_record(
    stream: &str,
    frame: u64,
    buf: &gst::BufferRef,
    size: (i32, i32),
    dets: &[Detection],
) -> serde_json::Value {
    let tracks = crate::roi::tracks_from_buffer(buf);
    let detections: Vec<serde_json::Value> = dets
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut record = d.to_json();
            if let Some(Some(track)) = tracks.get(i).filter(|_| tracks.len() == dets.len()) {
                record["track"] = track.to_json();
            }
            record
        })
        .collect();
    let mut line = serde_json::json!({
        "stream": stream,
        "frame": frame,
        "pts_ns": buf.pts().map(|p| p.nseconds()),
        "width": size.0,
        "height": size.1,
        "detections": detections,
    });
    if let Some(file) = crate::meta::source_file(buf) {
        line["file"] = file.into();
    }
    let near = crate::meta::near_misses(buf);
    if !near.is_empty() {
        line["near_misses"] = near.iter().map(|d| d.to_json()).collect();
    }
    if let Some(events) = crate::meta::events_json(buf) {
        line["events"] = events;
    }
    line
}

impl DetLog {
    /// Writes what is buffered, and with `events` at end of stream, the end of every live track.
    fn flush(&self, eos: bool) -> Result<(), String> {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            if eos {
                let lines = state.final_events();
                state
                    .out
                    .write_all(lines.as_bytes())
                    .map_err(|e| e.to_string())?;
            }
            state.out.flush().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

impl ObjectImpl for DetLog {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("JSON-lines file to write (created or truncated at start); unset or \"-\" writes to standard output")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("stream-name")
                    .nick("Stream name")
                    .blurb("Value of the \"stream\" field of every line (default: the element's name)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("snapshot-dir")
                    .nick("Snapshot folder")
                    .blurb("Save frames that have detections as PNG (<stream>-<frame>.png) into this folder; unset: no snapshots")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("snapshot-interval")
                    .nick("Snapshot interval")
                    .blurb("Seconds of stream time between two snapshots (0: every frame with detections)")
                    .minimum(0.0)
                    .maximum(86400.0)
                    .default_value(DEFAULT_SNAPSHOT_INTERVAL)
                    .mutable_ready()
                    .build(),
            ]
            .into_iter()
            .chain(EventSettings::properties())
            .collect()
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location = value.get().expect("type checked upstream"),
            "stream-name" => s.stream_name = value.get().expect("type checked upstream"),
            "snapshot-dir" => s.snapshot_dir = value.get().expect("type checked upstream"),
            "snapshot-interval" => {
                s.snapshot_interval = value.get().expect("type checked upstream")
            }
            name => {
                assert!(s.events.set(name, value), "no property {name}");
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location.to_value(),
            "stream-name" => s.stream_name.to_value(),
            "snapshot-dir" => s.snapshot_dir.to_value(),
            "snapshot-interval" => s.snapshot_interval.to_value(),
            name => s.events.get(name).expect("a listed property"),
        }
    }
}

impl GstObjectImpl for DetLog {}

impl ElementImpl for DetLog {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg detection log",
                "Filter/Video",
                "Writes each frame's detections (GstVideoRegionOfInterestMeta) as a JSON line, or with events=true each track's new, update and end records",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::frame::any_video_pad_templates()
    }
}

impl BaseTransformImpl for DetLog {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let out: Box<dyn Write + Send> = match s
            .location
            .as_deref()
            .filter(|l| !l.is_empty() && *l != "-")
        {
            None => Box::new(std::io::stdout()),
            Some(path) => {
                let file = File::create(path).map_err(|e| {
                    gst::error_msg!(gst::ResourceError::OpenWrite, ("Cannot create detection log '{}': {}. Check the folder exists and is writable", path, e))
                })?;
                Box::new(BufWriter::new(file))
            }
        };
        let stream = s
            .stream_name
            .unwrap_or_else(|| self.obj().name().to_string());
        gst::info!(
            CAT,
            imp = self,
            "logging stream '{stream}' to {:?}",
            s.location
        );
        let snapshots = match s.snapshot_dir.filter(|d| !d.is_empty()) {
            None => None,
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| {
                    gst::error_msg!(
                        gst::ResourceError::OpenWrite,
                        ("Cannot create snapshot folder '{}': {}", dir, e)
                    )
                })?;
                Some(Snapshots {
                    dir: PathBuf::from(dir),
                    interval: gst::ClockTime::from_nseconds(
                        (s.snapshot_interval.max(0.0) * 1e9) as u64,
                    ),
                    last: None,
                    video: None,
                    letterboxer: Letterboxer::new(),
                    warned: false,
                })
            }
        };
        *self.state.lock().unwrap() = Some(State {
            out,
            stream,
            frames: 0,
            size: (0, 0),
            line: String::new(),
            snapshots,
            events: s.events.start(),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // A graph stopped without EOS still ends its tracks.
        let res = self.flush(true);
        *self.state.lock().unwrap() = None;
        // Reported, not returned: a failing stop() leaves the pad active ("Failed to deactivate
        // pad") and the element stuck; the log is closed either way.
        if let Err(e) = res {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Write,
                ["Cannot write the detection log: {}", e]
            );
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.size = crate::frame::caps_size(incaps);
            if let Some(snap) = state.snapshots.as_mut() {
                snap.video = gst_video::VideoInfo::from_caps(incaps)
                    .ok()
                    .and_then(|info| crate::frame::pixel_format(&info).map(|f| (info, f)));
            }
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view()
            && let Err(e) = self.flush(true)
        {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Write,
                ["Cannot write the detection log: {}", e]
            );
            return false;
        }
        self.parent_sink_event(event)
    }

    fn transform_ip_passthrough(
        &self,
        buf: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let dets = roi::detections_from_buffer(buf);
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        state.line = match state.events.as_mut() {
            Some(ev) => event_lines(&state.stream, ev.frame(buf)),
            None => frame_line(&state.stream, state.frames, buf, state.size, &dets) + "\n",
        };
        let frame = state.frames;
        state.frames += 1;
        if !dets.is_empty()
            && let Some(snap) = state.snapshots.as_mut()
            && snap.due(buf.pts())
        {
            snap.last = buf.pts();
            match snap.write(buf, &state.stream, frame) {
                Ok(path) => gst::debug!(CAT, imp = self, "snapshot {}", path.display()),
                Err(e) if !snap.warned => {
                    snap.warned = true;
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::Write,
                        ["Cannot write a snapshot: {}", e]
                    );
                }
                Err(_) => {}
            }
        }
        if let Err(e) = state.out.write_all(state.line.as_bytes()) {
            drop(guard);
            gst::element_imp_error!(
                self,
                gst::ResourceError::Write,
                ["Cannot write the detection log: {}", e]
            );
            return Err(gst::FlowError::Error);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
