// SPDX-License-Identifier: MIT OR Apache-2.0

use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::time::{Instant, SystemTime};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use hmg_detect::zones::{EventKind, TrackPosition, ZoneAnalyzer, ZoneConfig, ZoneEvent};

use crate::{meta, roi};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "detzone",
        gst::DebugColorFlags::empty(),
        Some("hmg lines and zones"),
    )
});

#[derive(Debug, Clone, Default)]
struct Settings {
    config: Option<PathBuf>,
}

#[derive(Default)]
struct State {
    analyzer: ZoneAnalyzer,
    size: (u32, u32),
    /// The file's modification time when read, and when it was last looked at.
    modified: Option<SystemTime>,
    checked: Option<Instant>,
    /// `HmgZones` for the frames: made again when the lines, zones or counts change.
    state_json: Option<String>,
}

#[derive(Default)]
pub struct DetZone {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for DetZone {
    const NAME: &'static str = "GstHmgDetZone";
    type Type = super::DetZone;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for DetZone {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("config")
                    .nick("Zones file")
                    .blurb("JSON file of lines and zones in normalized frame units (see docs/analytics.md); read again when it changes")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("counts")
                    .nick("Counts")
                    .blurb("Counts so far as JSON: {\"lines\": {line: {label: {\"in\", \"out\"}}}, \"zones\": {zone: {label: {\"inside\", \"entered\"}}}}")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "config" => {
                let path: Option<String> = value.get().expect("type checked upstream");
                self.settings.lock().unwrap().config = path.map(PathBuf::from);
                // Read again at the next frame.
                let mut state = self.state.lock().unwrap();
                state.checked = None;
                state.modified = None;
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "config" => self
                .settings
                .lock()
                .unwrap()
                .config
                .as_ref()
                .map(|p| p.display().to_string())
                .to_value(),
            "counts" => serde_json::to_string(self.state.lock().unwrap().analyzer.counts())
                .unwrap_or_default()
                .to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for DetZone {}

impl ElementImpl for DetZone {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg lines and zones",
                "Filter/Analyzer/Video",
                "Counts tracks (dettrack) crossing lines, with direction, and entering and leaving zones, with dwell time; each event is posted as an element message hmg-zone-event and attached to its frame as the HmgEvents custom meta; every frame carries the lines, zones and counts in use as the HmgZones custom meta (detoverlay draws them)",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::frame::any_video_pad_templates()
    }
}

impl DetZone {
    /// Reads the zones file when it changed (looked at once a second at most).
    fn refresh(&self, state: &mut State, path: &std::path::Path) -> Result<(), String> {
        if state
            .checked
            .is_some_and(|t| t.elapsed().as_secs_f64() < 1.0)
        {
            return Ok(());
        }
        state.checked = Some(Instant::now());
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified.is_some() && modified == state.modified {
            return Ok(());
        }
        state.modified = modified;
        let config = ZoneConfig::read(path)?;
        gst::info!(
            CAT,
            imp = self,
            "{} lines, {} zones from {}",
            config.lines.len(),
            config.zones.len(),
            path.display()
        );
        state.analyzer.set_config(config);
        state.state_json = None;
        Ok(())
    }

    fn event_structure(name: &str, e: &ZoneEvent) -> gst::Structure {
        let (kind, direction, dwell) = match &e.kind {
            EventKind::LineCrossed(d) => ("line-crossed", Some(d.as_str()), None),
            EventKind::ZoneEntered => ("zone-entered", None, None),
            EventKind::ZoneExited { dwell_ns } => {
                ("zone-exited", None, Some(*dwell_ns as f64 / 1e9))
            }
        };
        let mut s = gst::Structure::builder(name)
            .field("kind", kind)
            .field("name", &e.name)
            .field("track-id", e.track_id)
            .field("class-id", e.class_id as i32)
            .field("label", &e.label)
            .field("pts", e.time_ns)
            .build();
        if let Some(d) = direction {
            s.set("direction", d);
        }
        if let Some(d) = dwell {
            s.set("dwell", d);
        }
        s
    }
}

impl BaseTransformImpl for DetZone {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let path = self.settings.lock().unwrap().config.clone();
        let mut state = self.state.lock().unwrap();
        *state = State::default();
        // A bad file at the start is an error the user sees at once; later, a warning.
        if let Some(path) = path {
            self.refresh(&mut state, &path)
                .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["{}", e]))?;
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let s = incaps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "empty caps"))?;
        if let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height")) {
            self.state.lock().unwrap().size = (w.max(0) as u32, h.max(0) as u32);
        }
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let path = self.settings.lock().unwrap().config.clone();
        let detections = roi::detections_from_buffer(buf);
        let tracks = roi::tracks_from_buffer(buf);
        let positions: Vec<TrackPosition> = detections
            .iter()
            .zip(&tracks)
            .filter_map(|(d, t)| {
                let t = t.as_ref()?;
                Some(TrackPosition {
                    track_id: t.track_id,
                    class_id: d.class_id,
                    label: d.label.to_string(),
                    centre: [(t.xyxy[0] + t.xyxy[2]) / 2.0, (t.xyxy[1] + t.xyxy[3]) / 2.0],
                })
            })
            .collect();
        let time_ns = buf.pts().map_or(0, |p| p.nseconds());
        let (events, reload_error, zones_json) = {
            let mut state = self.state.lock().unwrap();
            let reload_error = path.and_then(|p| self.refresh(&mut state, &p).err());
            let size = state.size;
            let events = state.analyzer.update(size, time_ns, &positions);
            if !events.is_empty() {
                state.state_json = None;
            }
            let state = &mut *state;
            let json = state
                .state_json
                .get_or_insert_with(|| {
                    serde_json::to_string(&state.analyzer.state()).unwrap_or_default()
                })
                .clone();
            (events, reload_error, json)
        };
        meta::set_zones_state_json(buf, &zones_json);
        if let Some(e) = reload_error {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Settings,
                ["{}; the lines and zones in use stay", e]
            );
        }
        if events.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        meta::register();
        if let Ok(mut m) = gst::meta::CustomMeta::add(buf, meta::EVENTS_META) {
            let list: Vec<glib::SendValue> = events
                .iter()
                .map(|e| Self::event_structure("event", e).to_send_value())
                .collect();
            m.mut_structure().set("events", gst::Array::new(list));
        }
        for e in &events {
            gst::debug!(CAT, imp = self, "{:?}", e);
            let _ = self.obj().post_message(
                gst::message::Element::builder(Self::event_structure("hmg-zone-event", e))
                    .src(&*self.obj())
                    .build(),
            );
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
