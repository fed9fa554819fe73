// SPDX-License-Identifier: MIT OR Apache-2.0

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use hmg_detect::{Candidate, LAYOUT_NAMES, Layout, Postprocessor};

use crate::meta;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "yolodecode",
        gst::DebugColorFlags::empty(),
        Some("hmg YOLO output decoder"),
    )
});

const DEFAULT_CONF: f64 = 0.25;
const DEFAULT_LAYOUT: &str = "auto";
/// ultralytics looks at no more than 30 000 boxes before NMS.
const DEFAULT_MAX_CANDIDATES: u32 = 30_000;

#[derive(Debug, Clone)]
struct Settings {
    conf: f64,
    layout: String,
    max_candidates: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            conf: DEFAULT_CONF,
            layout: DEFAULT_LAYOUT.into(),
            max_candidates: DEFAULT_MAX_CANDIDATES,
        }
    }
}

#[derive(Default)]
struct State {
    post: Postprocessor,
    scratch: Vec<Vec<f32>>,
    candidates: Vec<Candidate>,
}

#[derive(Default)]
pub struct YoloDecode {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for YoloDecode {
    const NAME: &'static str = "GstHmgYoloDecode";
    type Type = super::YoloDecode;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for YoloDecode {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecDouble::builder("conf")
                    .nick("Confidence threshold")
                    .blurb("Keep candidates whose best class score is above this (0..1)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_CONF)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("layout")
                    .nick("Output layout")
                    .blurb("auto (from the meta and tensor shapes), hailo-raw, hailo-nms, ultralytics-raw or ultralytics-nms")
                    .default_value(Some(DEFAULT_LAYOUT))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-candidates")
                    .nick("Maximum candidates")
                    .blurb("Keep at most this many candidates per frame (highest scores)")
                    .minimum(1)
                    .maximum(1_000_000)
                    .default_value(DEFAULT_MAX_CANDIDATES)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "conf" => s.conf = value.get().expect("type checked upstream"),
            "layout" => {
                let v: Option<String> = value.get().expect("type checked upstream");
                s.layout = v
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| DEFAULT_LAYOUT.into());
            }
            "max-candidates" => s.max_candidates = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "conf" => s.conf.to_value(),
            "layout" => s.layout.to_value(),
            "max-candidates" => s.max_candidates.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for YoloDecode {}

impl ElementImpl for YoloDecode {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg YOLO output decoder",
                "Filter/Video/Inference",
                "Decodes HmgTensors (Hailo raw heads, HailoRT NMS, ultralytics ONNX) into HmgCandidates boxes for yolonms",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| crate::frame::filter_pad_templates(&gst::Caps::new_any()));
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for YoloDecode {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let layout = self.settings.lock().unwrap().layout.clone();
        if layout != DEFAULT_LAYOUT && !LAYOUT_NAMES.contains(&layout.as_str()) {
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                (
                    "yolodecode: unknown layout '{}'; use auto, {}",
                    layout,
                    LAYOUT_NAMES.join(", ")
                )
            ));
        }
        *self.state.lock().unwrap() = Some(State::default());
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let Some(parsed) = meta::read(buf) else {
            gst::trace!(CAT, imp = self, "no HmgTensors meta, passing on");
            return Ok(gst::FlowSuccess::Ok);
        };
        let decoded = parsed.and_then(|m| {
            let layout = if settings.layout == DEFAULT_LAYOUT {
                m.layout()?
            } else {
                let shapes: Vec<Vec<usize>> = m.tensors.iter().map(|t| t.shape.clone()).collect();
                m.with_classes(Layout::from_name(&settings.layout, &shapes)?)?
            };
            let views = m.views(&mut state.scratch)?;
            state.candidates.clear();
            let input = (m.letterbox.dst_width, m.letterbox.dst_height);
            state.post.decode_only(
                layout,
                &views,
                input,
                settings.conf as f32,
                &mut state.candidates,
            )?;
            let cap = settings.max_candidates as usize;
            if state.candidates.len() > cap {
                state
                    .candidates
                    .select_nth_unstable_by(cap, |a, b| b.score.total_cmp(&a.score));
                state.candidates.truncate(cap);
            }
            Ok::<_, String>((layout, m.labels, m.letterbox))
        });
        match decoded {
            Ok((layout, labels, lb)) => {
                gst::trace!(
                    CAT,
                    imp = self,
                    "{} candidates ({})",
                    state.candidates.len(),
                    layout.name()
                );
                meta::attach_candidates(buf, layout.name(), &labels, &lb, &state.candidates)
                    .map_err(|e| {
                        gst::element_imp_error!(
                            self,
                            gst::CoreError::Failed,
                            ["Failed to attach HmgCandidates meta: {}", e]
                        );
                        gst::FlowError::Error
                    })?;
                Ok(gst::FlowSuccess::Ok)
            }
            Err(e) => {
                drop(guard);
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Decode,
                    ("Cannot decode the model output: {}", e),
                    [
                        "Known layouts: {}; set layout= to force one",
                        LAYOUT_NAMES.join(", ")
                    ]
                );
                Err(gst::FlowError::Error)
            }
        }
    }
}
