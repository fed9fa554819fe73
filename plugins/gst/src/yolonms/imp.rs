// SPDX-License-Identifier: MIT OR Apache-2.0

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use hmg_detect::{Detection, NmsOptions, PostprocessOptions, Postprocessor};

use crate::{meta, roi};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "yolonms",
        gst::DebugColorFlags::empty(),
        Some("hmg YOLO decode + NMS"),
    )
});

const DEFAULT_CONF: f64 = 0.25;
const DEFAULT_IOU: f64 = 0.45;
const DEFAULT_MAX_DET: u32 = 300;
const DEFAULT_CLASS_AGNOSTIC: bool = false;
const DEFAULT_NEAR_MISSES: f64 = 0.0;

#[derive(Debug, Clone)]
struct Settings {
    conf: f64,
    iou: f64,
    max_det: u32,
    class_agnostic: bool,
    /// Class ids or names, as given; names are looked up in the model's labels per frame.
    classes: Option<Vec<String>>,
    /// How far below `conf` a detection is still reported, as a near miss (0: none).
    near_misses: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            conf: DEFAULT_CONF,
            iou: DEFAULT_IOU,
            max_det: DEFAULT_MAX_DET,
            class_agnostic: DEFAULT_CLASS_AGNOSTIC,
            classes: None,
            near_misses: DEFAULT_NEAR_MISSES,
        }
    }
}

#[derive(Default)]
struct State {
    post: Postprocessor,
    scratch: Vec<Vec<f32>>,
    detections: Vec<Detection>,
    near: Vec<Detection>,
    labels_text: String,
    labels: Vec<String>,
    frame_size: Option<(usize, usize)>,
    warned: bool,
    warned_non_finite: bool,
    warned_classes: bool,
}

impl State {
    /// Splits the labels only when the producer's list changed.
    fn set_labels(&mut self, text: &str) {
        if text != self.labels_text {
            self.labels = text.lines().map(String::from).collect();
            self.labels_text = text.to_string();
        }
    }
}

#[derive(Default)]
pub struct YoloNms {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for YoloNms {
    const NAME: &'static str = "GstHmgYoloNms";
    type Type = super::YoloNms;
    type ParentType = gst_base::BaseTransform;
}

fn parse_classes(text: &str) -> Vec<String> {
    text.split([',', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// The class ids `tokens` name (numbers as they are, names looked up in `labels`), and the
/// tokens that are neither: those match nothing (never "keep every class").
fn resolve_classes(tokens: &[String], labels: &[String]) -> (Vec<u32>, Vec<String>) {
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for t in tokens {
        match t.parse::<u32>() {
            Ok(id) => ids.push(id),
            Err(_) => match labels.iter().position(|l| l == t) {
                Some(id) => ids.push(id as u32),
                None => unknown.push(t.clone()),
            },
        }
    }
    (ids, unknown)
}

impl ObjectImpl for YoloNms {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecDouble::builder("conf")
                    .nick("Confidence threshold")
                    .blurb("Keep detections whose class score is above this (0..1)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_CONF)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("iou")
                    .nick("IoU threshold")
                    .blurb("NMS suppresses a box whose overlap (intersection over union) with a stronger one is above this (0..1)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_IOU)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-det")
                    .nick("Maximum detections")
                    .blurb("Keep at most this many detections per frame (highest confidence first)")
                    .minimum(1)
                    .maximum(30000)
                    .default_value(DEFAULT_MAX_DET)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("class-agnostic")
                    .nick("Class-agnostic NMS")
                    .blurb("Let boxes of different classes suppress each other")
                    .default_value(DEFAULT_CLASS_AGNOSTIC)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("classes")
                    .nick("Classes")
                    .blurb("Keep only these classes, ids or names, comma-separated (e.g. \"0,2\" or \"person,car\"); empty keeps all; a name the model does not have matches nothing and is warned about")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("near-misses")
                    .nick("Near misses")
                    .blurb("Also report detections scored up to this much below conf, as near misses: an HmgNearMisses meta, not ROIs, so nothing draws or counts them (detcapture's uncertain mode uses them); 0: none. The detections at or above conf are the same either way")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_NEAR_MISSES)
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
            "iou" => s.iou = value.get().expect("type checked upstream"),
            "max-det" => s.max_det = value.get().expect("type checked upstream"),
            "class-agnostic" => s.class_agnostic = value.get().expect("type checked upstream"),
            "classes" => {
                let text: Option<String> = value.get().expect("type checked upstream");
                s.classes = text.as_deref().map(parse_classes).filter(|c| !c.is_empty());
            }
            "near-misses" => s.near_misses = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
        gst::info!(CAT, imp = self, "{} changed: {:?}", pspec.name(), *s);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "conf" => s.conf.to_value(),
            "iou" => s.iou.to_value(),
            "max-det" => s.max_det.to_value(),
            "class-agnostic" => s.class_agnostic.to_value(),
            "classes" => s.classes.as_ref().map(|c| c.join(",")).to_value(),
            "near-misses" => s.near_misses.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for YoloNms {}

impl ElementImpl for YoloNms {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg YOLO NMS",
                "Tensordecoder/Video",
                "Decodes YOLO output tensors (HmgTensors meta) and runs NMS; adds detections as GstVideoRegionOfInterestMeta",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::frame::any_video_pad_templates()
    }
}

impl BaseTransformImpl for YoloNms {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = Some(State::default());
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let s = incaps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "empty caps"))?;
        let size = match (s.get::<i32>("width"), s.get::<i32>("height")) {
            (Ok(w), Ok(h)) if w > 0 && h > 0 => Some((w as usize, h as usize)),
            _ => None,
        };
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.frame_size = size;
        }
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let conf = settings.conf as f32;
        // Near misses come out of the same decode and NMS at the lower threshold: NMS keeps boxes
        // in score order, so the lower-scored extras never change which boxes above `conf` survive.
        let mut opts = PostprocessOptions {
            conf: (settings.conf - settings.near_misses).max(0.0) as f32,
            nms: NmsOptions {
                iou: settings.iou as f32,
                class_agnostic: settings.class_agnostic,
                max_det: settings.max_det as usize,
            },
            classes: None,
        };
        let mut unknown_classes = Vec::new();
        // Names in `classes` are looked up once the frame's labels are known.
        let mut choose_classes = |opts: &mut PostprocessOptions, labels: &[String]| {
            opts.classes = settings.classes.as_ref().map(|tokens| {
                let (ids, unknown) = resolve_classes(tokens, labels);
                unknown_classes = unknown;
                ids
            });
        };
        // Candidates from yolodecode win; else decode the tensors ourselves.
        let result = if let Some(parsed) = meta::read_candidates(buf) {
            parsed.map(|m| {
                state.set_labels(&m.labels);
                choose_classes(&mut opts, &state.labels);
                state.detections.clear();
                let presuppressed = matches!(m.layout.as_str(), "hailo-nms" | "ultralytics-nms");
                state.post.run_candidates(
                    presuppressed,
                    &m.candidates,
                    &m.letterbox,
                    &state.labels,
                    &opts,
                    &mut state.detections,
                );
                m.letterbox
            })
        } else if let Some(parsed) = meta::read(buf) {
            parsed.and_then(|m| {
                let layout = m.layout()?;
                state.set_labels(&m.labels);
                choose_classes(&mut opts, &state.labels);
                let views = m.views(&mut state.scratch)?;
                state.detections.clear();
                state.post.run(
                    layout,
                    &views,
                    &m.letterbox,
                    &state.labels,
                    &opts,
                    &mut state.detections,
                )?;
                Ok(m.letterbox)
            })
        } else {
            gst::trace!(CAT, imp = self, "no HmgTensors meta, passing on");
            return Ok(gst::FlowSuccess::Ok);
        };
        let result = result.map(|letterbox| {
            // A scaler between hailoinfer and us changed the frame size: follow it.
            if let Some((w, h)) = state.frame_size {
                let (sw, sh) = (letterbox.src_width, letterbox.src_height);
                if (w, h) != (sw, sh) && sw > 0 && sh > 0 {
                    let (fx, fy) = (w as f32 / sw as f32, h as f32 / sh as f32);
                    for d in &mut state.detections {
                        (d.x1, d.x2, d.y1, d.y2) = (d.x1 * fx, d.x2 * fx, d.y1 * fy, d.y2 * fy);
                    }
                }
            }
        });
        if !unknown_classes.is_empty() && !state.warned_classes {
            state.warned_classes = true;
            let known: Vec<&str> = state.labels.iter().take(20).map(String::as_str).collect();
            gst::element_imp_warning!(
                self,
                gst::CoreError::Negotiation,
                [
                    "classes: {} not among this model's classes ({}{}); they match nothing",
                    unknown_classes.join(", "),
                    known.join(", "),
                    if state.labels.len() > 20 { ", …" } else { "" }
                ]
            );
        }
        let non_finite = state.post.non_finite();
        if non_finite > 0 && !state.warned_non_finite {
            state.warned_non_finite = true;
            gst::element_imp_warning!(
                self,
                gst::StreamError::Decode,
                [
                    "The model output {} box(es) with NaN or infinite values; they are dropped (a broken export or quantization?)",
                    non_finite
                ]
            );
        }
        match result {
            Ok(()) => {
                gst::trace!(CAT, imp = self, "{} detections", state.detections.len());
                if settings.near_misses > 0.0 {
                    let State {
                        detections, near, ..
                    } = state;
                    near.clear();
                    near.extend(detections.iter().filter(|d| d.confidence <= conf).cloned());
                    detections.retain(|d| d.confidence > conf);
                    if !near.is_empty() {
                        meta::set_near_misses(buf, near);
                    }
                }
                roi::add_detections(buf, &state.detections);
            }
            Err(e) if !state.warned => {
                state.warned = true;
                drop(guard);
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Decode,
                    ["Cannot decode the model output: {}", e]
                );
            }
            Err(_) => {}
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn classes_by_id_or_name() {
        let tokens = super::parse_classes("0, person;car , plane");
        assert_eq!(tokens, ["0", "person", "car", "plane"]);
        let labels: Vec<String> = ["person", "bicycle", "car"].map(String::from).to_vec();
        let (ids, unknown) = super::resolve_classes(&tokens, &labels);
        assert_eq!(ids, [0, 0, 2]);
        assert_eq!(unknown, ["plane"]);
        // Names only, none known: nothing is kept (not every class).
        let (ids, unknown) = super::resolve_classes(&super::parse_classes("x,y"), &labels);
        assert!(ids.is_empty() && unknown.len() == 2);
    }
}
