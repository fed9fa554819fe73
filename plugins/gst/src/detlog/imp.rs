// SPDX-License-Identifier: MIT OR Apache-2.0

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use hmg_detect::Detection;

use crate::roi;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "detlog",
        gst::DebugColorFlags::empty(),
        Some("hmg detection log"),
    )
});

#[derive(Debug, Clone, Default)]
struct Settings {
    location: Option<String>,
    stream_name: Option<String>,
}

struct State {
    out: Box<dyn Write + Send>,
    stream: String,
    frames: u64,
    size: (i32, i32),
    line: String,
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

fn round3(v: f32) -> f64 {
    (v as f64 * 1000.0).round() / 1000.0
}

/// One JSON line (without the newline) for one frame.
pub fn frame_line(
    stream: &str,
    frame: u64,
    pts_ns: Option<u64>,
    size: (i32, i32),
    dets: &[Detection],
) -> String {
    let detections: Vec<serde_json::Value> = dets
        .iter()
        .map(|d| {
            serde_json::json!({
                "class_id": d.class_id,
                "label": d.label,
                "confidence": (d.confidence as f64 * 1e6).round() / 1e6,
                "box": [round3(d.x1), round3(d.y1), round3(d.x2), round3(d.y2)],
            })
        })
        .collect();
    serde_json::json!({
        "stream": stream,
        "frame": frame,
        "pts_ns": pts_ns,
        "width": size.0,
        "height": size.1,
        "detections": detections,
    })
    .to_string()
}

impl DetLog {
    fn flush(&self) -> Result<(), String> {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
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
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location = value.get().expect("type checked upstream"),
            "stream-name" => s.stream_name = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location.to_value(),
            "stream-name" => s.stream_name.to_value(),
            _ => unimplemented!(),
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
                "Writes each frame's detections (GstVideoRegionOfInterestMeta) as a JSON line",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("video/x-raw").build();
            crate::frame::filter_pad_templates(&caps)
        });
        PAD_TEMPLATES.as_ref()
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
        *self.state.lock().unwrap() = Some(State {
            out,
            stream,
            frames: 0,
            size: (0, 0),
            line: String::new(),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let res = self.flush();
        *self.state.lock().unwrap() = None;
        res.map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::Write,
                ("Cannot write the detection log: {}", e)
            )
        })
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        if let (Some(s), Some(state)) = (incaps.structure(0), self.state.lock().unwrap().as_mut()) {
            state.size = (
                s.get::<i32>("width").unwrap_or(0),
                s.get::<i32>("height").unwrap_or(0),
            );
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view()
            && let Err(e) = self.flush()
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
        state.line = frame_line(
            &state.stream,
            state.frames,
            buf.pts().map(|p| p.nseconds()),
            state.size,
            &dets,
        );
        state.line.push('\n');
        state.frames += 1;
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
