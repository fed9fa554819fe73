// SPDX-License-Identifier: MIT OR Apache-2.0

use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use hmg_detect::metrics::{ApAccumulator, Metrics};

use super::Mode;
use super::truth::{image_list, label_path, read_truth};
use crate::roi;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "detverify",
        gst::DebugColorFlags::empty(),
        Some("hmg detection check"),
    )
});

#[derive(Debug, Clone)]
struct Settings {
    mode: Mode,
    images: Option<String>,
    labels_dir: Option<String>,
    max_false_positives: u32,
    min_map50: f64,
    location: Option<String>,
    fail: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Blank,
            images: None,
            labels_dir: None,
            max_false_positives: 0,
            min_map50: 0.0,
            location: None,
            fail: true,
        }
    }
}

/// The verdict, kept for the read-only properties after EOS.
#[derive(Debug, Clone, Default)]
struct Verdict {
    frames: u64,
    false_positives: u64,
    map50: f64,
    map50_95: f64,
    passed: bool,
}

struct State {
    settings: Settings,
    images: Vec<PathBuf>,
    accumulator: ApAccumulator,
    size: (f32, f32),
    frames: u64,
    false_positives: u64,
}

#[derive(Default)]
pub struct DetVerify {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    verdict: Mutex<Verdict>,
}

#[glib::object_subclass]
impl ObjectSubclass for DetVerify {
    const NAME: &'static str = "GstHmgDetVerify";
    type Type = super::DetVerify;
    type ParentType = gst_base::BaseTransform;
}

impl DetVerify {
    /// The verdict and its one-line summary, from the state at EOS.
    fn conclude(state: &State) -> (Verdict, Option<Metrics>, String) {
        let s = &state.settings;
        match s.mode {
            Mode::Blank => {
                let passed = state.false_positives <= s.max_false_positives as u64;
                let summary = format!(
                    "{} detection(s) on {} blank frame(s) (allowed: {}): {}",
                    state.false_positives,
                    state.frames,
                    s.max_false_positives,
                    if passed {
                        "no false positives beyond the limit"
                    } else {
                        "the model fires on empty scenes; train with background images (images with empty label files)"
                    }
                );
                let verdict = Verdict {
                    frames: state.frames,
                    false_positives: state.false_positives,
                    passed,
                    ..Verdict::default()
                };
                (verdict, None, summary)
            }
            Mode::Map => {
                let m = state.accumulator.finish();
                let passed = m.map50 >= s.min_map50;
                let summary = format!(
                    "mAP50 {:.4}, mAP50-95 {:.4} over {} image(s){}",
                    m.map50,
                    m.map50_95,
                    state.frames,
                    if passed {
                        String::new()
                    } else {
                        format!(" (below min-map50 {})", s.min_map50)
                    }
                );
                let verdict = Verdict {
                    frames: state.frames,
                    map50: m.map50,
                    map50_95: m.map50_95,
                    passed,
                    ..Verdict::default()
                };
                (verdict, Some(m), summary)
            }
        }
    }

    fn report_json(mode: Mode, v: &Verdict, m: Option<&Metrics>, summary: &str) -> String {
        let classes: Vec<serde_json::Value> = m
            .map(|m| {
                m.classes
                    .iter()
                    .map(|c| {
                        serde_json::json!({"class_id": c.class_id, "labels": c.labels,
                            "predictions": c.predictions, "ap50": c.ap50, "ap50_95": c.ap50_95})
                    })
                    .collect()
            })
            .unwrap_or_default();
        serde_json::json!({
            "mode": if mode == Mode::Blank { "blank" } else { "map" },
            "frames": v.frames,
            "false_positives": v.false_positives,
            "map50": v.map50,
            "map50_95": v.map50_95,
            "classes": classes,
            "passed": v.passed,
            "summary": summary,
        })
        .to_string()
    }

    fn finish(&self) -> Result<(), gst::ErrorMessage> {
        let Some(state) = self.state.lock().unwrap().take() else {
            return Ok(());
        };
        if state.settings.mode == Mode::Map && (state.frames as usize) < state.images.len() {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Failed,
                [
                    "Only {} of the {} images arrived; the mAP covers those",
                    state.frames,
                    state.images.len()
                ]
            );
        }
        let (verdict, metrics, summary) = Self::conclude(&state);
        gst::info!(CAT, imp = self, "{summary}");
        *self.verdict.lock().unwrap() = verdict.clone();
        let mode = state.settings.mode;
        let s = gst::Structure::builder("detverify")
            .field("mode", if mode == Mode::Blank { "blank" } else { "map" })
            .field("frames", verdict.frames)
            .field("false-positives", verdict.false_positives)
            .field("map50", verdict.map50)
            .field("map50-95", verdict.map50_95)
            .field("passed", verdict.passed)
            .field("summary", &summary)
            .build();
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        if let Some(location) = state.settings.location.as_deref().filter(|l| !l.is_empty()) {
            let text = Self::report_json(mode, &verdict, metrics.as_ref(), &summary);
            hmg_detect::atomic::write_atomic(std::path::Path::new(location), |f| {
                std::io::Write::write_all(f, (text + "\n").as_bytes())
            })
            .map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::Write,
                    ("Cannot write the report: {}", e)
                )
            })?;
        }
        if !verdict.passed && state.settings.fail {
            return Err(gst::error_msg!(
                gst::StreamError::Failed,
                ["Verification failed: {}", summary]
            ));
        }
        Ok(())
    }
}

impl ObjectImpl for DetVerify {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecEnum::builder_with_default("mode", Mode::Blank)
                    .nick("Mode")
                    .blurb("blank: every detection is a false positive; map: mAP against the label files of `images`")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("images")
                    .nick("Images")
                    .blurb("mode=map: the images in stream order, a folder (sorted by name) or a text file with one path per line")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("labels-dir")
                    .nick("Labels folder")
                    .blurb("mode=map: folder of <image stem>.txt YOLO labels; unset: the ultralytics rule (images/ -> labels/)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-false-positives")
                    .nick("Max false positives")
                    .blurb("mode=blank: detections allowed over all frames before the check fails")
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("min-map50")
                    .nick("Minimum mAP50")
                    .blurb("mode=map: the check fails below this mAP50 (0: only report)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(0.0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("location")
                    .nick("Report file")
                    .blurb("Write the result as JSON here at EOS; unset: no file")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("fail")
                    .nick("Fail")
                    .blurb("Post an element error when the check fails (gst-launch-1.0 then exits non-zero)")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("frames")
                    .nick("Frames")
                    .blurb("Frames checked (after EOS)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("false-positives")
                    .nick("False positives")
                    .blurb("mode=blank: detections seen (after EOS)")
                    .read_only()
                    .build(),
                glib::ParamSpecDouble::builder("map50")
                    .nick("mAP50")
                    .blurb("mode=map: mean AP at IoU 0.5 (after EOS)")
                    .read_only()
                    .build(),
                glib::ParamSpecDouble::builder("map50-95")
                    .nick("mAP50-95")
                    .blurb("mode=map: mean AP over IoU 0.50-0.95 (after EOS)")
                    .read_only()
                    .build(),
                glib::ParamSpecBoolean::builder("passed")
                    .nick("Passed")
                    .blurb("Whether the check passed (after EOS)")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "mode" => s.mode = value.get().expect("type checked upstream"),
            "images" => s.images = value.get().expect("type checked upstream"),
            "labels-dir" => s.labels_dir = value.get().expect("type checked upstream"),
            "max-false-positives" => {
                s.max_false_positives = value.get().expect("type checked upstream")
            }
            "min-map50" => s.min_map50 = value.get().expect("type checked upstream"),
            "location" => s.location = value.get().expect("type checked upstream"),
            "fail" => s.fail = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        let v = self.verdict.lock().unwrap();
        match pspec.name() {
            "mode" => s.mode.to_value(),
            "images" => s.images.to_value(),
            "labels-dir" => s.labels_dir.to_value(),
            "max-false-positives" => s.max_false_positives.to_value(),
            "min-map50" => s.min_map50.to_value(),
            "location" => s.location.to_value(),
            "fail" => s.fail.to_value(),
            "frames" => v.frames.to_value(),
            "false-positives" => v.false_positives.to_value(),
            "map50" => v.map50.to_value(),
            "map50-95" => v.map50_95.to_value(),
            "passed" => v.passed.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for DetVerify {}

impl ElementImpl for DetVerify {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg detection check",
                "Filter/Video",
                "Checks detections offline: none on blank frames, or mAP against YOLO label files",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::frame::any_video_pad_templates()
    }
}

impl BaseTransformImpl for DetVerify {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let images = match settings.mode {
            Mode::Blank => Vec::new(),
            Mode::Map => {
                let source = settings.images.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| {
                    gst::error_msg!(
                        gst::ResourceError::Settings,
                        ["mode=map needs images=: the folder or list of images the frames come from, in order"]
                    )
                })?;
                let images = image_list(std::path::Path::new(source))
                    .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ["{}", e]))?;
                if images.is_empty() {
                    return Err(gst::error_msg!(
                        gst::ResourceError::NotFound,
                        ["'{}' holds no images", source]
                    ));
                }
                images
            }
        };
        *self.verdict.lock().unwrap() = Verdict::default();
        *self.state.lock().unwrap() = Some(State {
            settings,
            images,
            accumulator: ApAccumulator::new(),
            size: (0.0, 0.0),
            frames: 0,
            false_positives: 0,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            let (w, h) = crate::frame::caps_size(incaps);
            state.size = (w as f32, h as f32);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view()
            && let Err(e) = self.finish()
        {
            self.post_error_message(e);
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
        let frame = state.frames as usize;
        state.frames += 1;
        match state.settings.mode {
            Mode::Blank => state.false_positives += dets.len() as u64,
            Mode::Map => {
                let Some(image) = state.images.get(frame) else {
                    let n = state.images.len();
                    drop(guard);
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Failed,
                        [
                            "Frame {} has no image: `images` lists only {}",
                            frame + 1,
                            n
                        ]
                    );
                    return Err(gst::FlowError::Error);
                };
                let labels = label_path(
                    image,
                    state
                        .settings
                        .labels_dir
                        .as_deref()
                        .map(std::path::Path::new),
                );
                let truths = match read_truth(&labels, state.size.0, state.size.1) {
                    Ok(t) => t,
                    Err(e) => {
                        drop(guard);
                        gst::element_imp_error!(self, gst::StreamError::Failed, ["{}", e]);
                        return Err(gst::FlowError::Error);
                    }
                };
                let predictions: Vec<(u32, f32, [f32; 4])> = dets
                    .iter()
                    .map(|d| (d.class_id, d.confidence, [d.x1, d.y1, d.x2, d.y2]))
                    .collect();
                state.accumulator.add_frame(&predictions, &truths);
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
