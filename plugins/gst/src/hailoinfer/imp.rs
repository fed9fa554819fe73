// SPDX-License-Identifier: MIT OR Apache-2.0

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use hmg_detect::{
    DetectError, Engine, EngineOptions, Letterbox, Letterboxer, PixelFormat, load_labels,
};

use super::Backend;
use crate::frame::{self, UnstatedColorimetry};
use crate::meta;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "hailoinfer",
        gst::DebugColorFlags::empty(),
        Some("hmg model inference"),
    )
});

const DEFAULT_BATCH_SIZE: u32 = 1;
const DEFAULT_INTERVAL: u32 = 1;
const DEFAULT_THREADS: u32 = 0;
/// Negative = leave the HEF's own NMS threshold.
const DEFAULT_NMS_THRESHOLD: f64 = -1.0;

#[derive(Debug, Clone)]
struct Settings {
    model: Option<String>,
    backend: Backend,
    labels: Option<String>,
    batch_size: u32,
    interval: u32,
    threads: u32,
    vdevice_group: Option<String>,
    session_group: Option<String>,
    nms_score_threshold: f64,
    nms_iou_threshold: f64,
    unstated_colorimetry: UnstatedColorimetry,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: None,
            backend: Backend::Auto,
            labels: None,
            batch_size: DEFAULT_BATCH_SIZE,
            interval: DEFAULT_INTERVAL,
            threads: DEFAULT_THREADS,
            vdevice_group: None,
            session_group: None,
            nms_score_threshold: DEFAULT_NMS_THRESHOLD,
            nms_iou_threshold: DEFAULT_NMS_THRESHOLD,
            unstated_colorimetry: UnstatedColorimetry::default(),
        }
    }
}

struct State {
    engine: Box<dyn Engine>,
    model: String,
    labels: String,
    letterboxer: Letterboxer,
    info: Option<gst_video::VideoInfo>,
    format: Option<PixelFormat>,
    frames: u64,
    /// Frames handed to the engine (or skipped by `interval`), oldest first.
    pending: VecDeque<Pending>,
    live: Option<bool>,
}

struct Pending {
    buffer: gst::Buffer,
    /// `None`: not inferred (interval); passes on as it is.
    letterbox: Option<Letterbox>,
    /// Time spent letterboxing the frame into the engine's input and handing it over.
    submit: std::time::Duration,
}

#[derive(Default)]
pub struct HailoInfer {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Apart from `state`: read by the `inference-ms` property from any thread.
    times: Mutex<super::timing::InferenceTimes>,
}

#[glib::object_subclass]
impl ObjectSubclass for HailoInfer {
    const NAME: &'static str = "GstHmgHailoInfer";
    type Type = super::HailoInfer;
    type ParentType = gst_base::BaseTransform;
}

fn error_message(err: &DetectError) -> gst::ErrorMessage {
    let text = err.to_string();
    match err {
        DetectError::ModelMissing { .. } => {
            gst::error_msg!(gst::ResourceError::NotFound, ("{}", text))
        }
        DetectError::RuntimeMissing(_)
        | DetectError::HailoRtMissing(_)
        | DetectError::HefUnsupported(_) => {
            gst::error_msg!(gst::LibraryError::Init, ("{}", text))
        }
        DetectError::Hef { .. } => gst::error_msg!(gst::ResourceError::OpenRead, ("{}", text)),
        DetectError::HailoRt { .. } => {
            gst::error_msg!(gst::ResourceError::OpenReadWrite, ("{}", text))
        }
        DetectError::Labels { .. } => gst::error_msg!(gst::ResourceError::OpenRead, ("{}", text)),
        _ => gst::error_msg!(gst::LibraryError::Settings, ("{}", text)),
    }
}

impl ObjectImpl for HailoInfer {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("Model file: .onnx (onnxruntime) or .hef (HailoRT)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("hef")
                    .nick("HEF")
                    .blurb("Alias of 'model' for Hailo users: the .hef (or .onnx) file to run")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("backend", Backend::Auto)
                    .nick("Backend")
                    .blurb("Runtime that runs the model; auto picks HailoRT for .hef and onnxruntime otherwise")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("labels")
                    .nick("Labels")
                    .blurb("Class names: .txt (one per line), ultralytics data.yaml or JSON; default: the model's own metadata")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("Frames per inference: HailoRT scheduler burst (1 = HailoRT's automatic batch); onnxruntime batch for models with a dynamic batch axis, at most the batch of one exported with a fixed one, whose runs are padded to it (live sources always run one frame at a time)")
                    .minimum(1)
                    .maximum(64)
                    .default_value(DEFAULT_BATCH_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Run the model on every Nth frame; frames in between pass without tensors")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("CPU threads for onnxruntime (0 = one per core)")
                    .maximum(256)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("vdevice-group")
                    .nick("Virtual device group")
                    .blurb("HailoRT: instances with the same group share one Hailo device through the scheduler (unset: a device of its own)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("session-group")
                    .nick("Session group")
                    .blurb("onnxruntime: instances with the same group that run the same model file with the same threads share one session, one copy of the weights, running frames in turn; with a dynamic batch axis the frames of the instances are batched into one run (unset: a session of its own, run in parallel with the others)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("nms-score-threshold")
                    .nick("NMS score threshold")
                    .blurb("HailoRT: score threshold of a HEF's built-in NMS (negative: the HEF's own)")
                    .minimum(-1.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_NMS_THRESHOLD)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("nms-iou-threshold")
                    .nick("NMS IoU threshold")
                    .blurb("HailoRT: IoU threshold of a HEF's built-in NMS (negative: the HEF's own)")
                    .minimum(-1.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_NMS_THRESHOLD)
                    .mutable_ready()
                    .build(),
                frame::unstated_colorimetry_property(),
                glib::ParamSpecDouble::builder("inference-ms")
                    .nick("Inference time")
                    .blurb("Mean time each of the latest 30 inferred frames spent in the engine, in ms: letterboxing the frame into the model's input, handing it over and collecting its outputs (on a Hailo-8 the device's time and the transfers, with onnxruntime the inference itself; the letterbox is a fraction of a millisecond of that: onnxruntime's float input is written by the letterbox pass itself; not waiting for upstream); 0 before the first frame")
                    .minimum(0.0)
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" | "hef" => {
                s.model = value.get().expect("type checked upstream");
                gst::info!(CAT, imp = self, "model set to {:?}", s.model);
            }
            "backend" => s.backend = value.get().expect("type checked upstream"),
            "labels" => s.labels = value.get().expect("type checked upstream"),
            "batch-size" => s.batch_size = value.get().expect("type checked upstream"),
            "interval" => s.interval = value.get().expect("type checked upstream"),
            "threads" => s.threads = value.get().expect("type checked upstream"),
            "vdevice-group" => s.vdevice_group = value.get().expect("type checked upstream"),
            "session-group" => s.session_group = value.get().expect("type checked upstream"),
            "nms-score-threshold" => {
                s.nms_score_threshold = value.get().expect("type checked upstream")
            }
            "nms-iou-threshold" => {
                s.nms_iou_threshold = value.get().expect("type checked upstream")
            }
            "unstated-colorimetry" => {
                s.unstated_colorimetry = value.get().expect("type checked upstream")
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "inference-ms" {
            return self.times.lock().unwrap().mean_ms().to_value();
        }
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" | "hef" => s.model.to_value(),
            "backend" => s.backend.to_value(),
            "labels" => s.labels.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "interval" => s.interval.to_value(),
            "threads" => s.threads.to_value(),
            "vdevice-group" => s.vdevice_group.to_value(),
            "session-group" => s.session_group.to_value(),
            "nms-score-threshold" => s.nms_score_threshold.to_value(),
            "nms-iou-threshold" => s.nms_iou_threshold.to_value(),
            "unstated-colorimetry" => s.unstated_colorimetry.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for HailoInfer {}

impl ElementImpl for HailoInfer {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg model inference",
                "Filter/Video/Inference",
                "Letterboxes frames to the model input, runs a YOLO model (onnxruntime, HailoRT) and attaches the raw outputs as HmgTensors meta",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::frame::pixel_pad_templates()
    }
}

impl BaseTransformImpl for HailoInfer {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.times.lock().unwrap().clear();
        let settings = self.settings.lock().unwrap().clone();
        let Some(model) = settings.model.filter(|m| !m.is_empty()) else {
            return Err(gst::error_msg!(
                gst::ResourceError::NotFound,
                ("hailoinfer needs a model: set model=path/to/model.onnx (or hef=model.hef)")
            ));
        };
        let backend = match settings.backend {
            Backend::Auto => hmg_detect::Backend::Auto,
            Backend::HailoRt => hmg_detect::Backend::HailoRt,
            Backend::Onnx => hmg_detect::Backend::Onnx,
        };
        let options = EngineOptions {
            backend,
            threads: settings.threads as usize,
            batch_size: settings.batch_size as usize,
            vdevice_group: settings.vdevice_group.clone().filter(|g| !g.is_empty()),
            session_group: settings.session_group.clone().filter(|g| !g.is_empty()),
            nms_score_threshold: (settings.nms_score_threshold >= 0.0)
                .then_some(settings.nms_score_threshold as f32),
            nms_iou_threshold: (settings.nms_iou_threshold >= 0.0)
                .then_some(settings.nms_iou_threshold as f32),
        };
        let path = PathBuf::from(&model);
        let engine = hmg_detect::open_engine(&path, &options).map_err(|e| error_message(&e))?;
        let given = settings.labels.filter(|l| !l.is_empty());
        let labels = match &given {
            Some(l) => load_labels(&PathBuf::from(l)).map_err(|e| error_message(&e))?,
            None => engine.info().labels.clone(),
        };
        let info = engine.info();
        // A labels file shorter than the model's classes names the rest class-N, silently wrong.
        let classes = info
            .layout
            .classes()
            .or(Some(info.labels.len()).filter(|&n| n > 0));
        if let (Some(file), Some(classes)) = (&given, classes)
            && labels.len() < classes
        {
            gst::element_imp_warning!(
                self,
                gst::LibraryError::Settings,
                [
                    "labels '{}' has {} names but the model has {} classes: classes {} to {} will be named class-N; give one name per class",
                    file,
                    labels.len(),
                    classes,
                    labels.len(),
                    classes - 1
                ]
            );
        }
        gst::info!(
            CAT,
            imp = self,
            "opened {model}: input {}x{}, layout {}, {} labels",
            info.input_width,
            info.input_height,
            info.layout.name(),
            labels.len()
        );
        *self.state.lock().unwrap() = Some(State {
            engine,
            model,
            labels: labels.join("\n"),
            letterboxer: Letterboxer::new(),
            info: None,
            format: None,
            frames: 0,
            pending: VecDeque::new(),
            live: None,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        gst::info!(CAT, imp = self, "stopped");
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let unstated = self.settings.lock().unwrap().unstated_colorimetry;
        let info = frame::video_info(incaps, unstated)
            .map_err(|_| gst::loggable_error!(CAT, "hailoinfer cannot read caps {incaps}"))?;
        let format = frame::pixel_format(&info).ok_or_else(|| {
            gst::loggable_error!(CAT, "hailoinfer does not handle format {}", info.format())
        })?;
        gst::debug!(CAT, imp = self, "caps {incaps}");
        let mut state = self.state.lock().unwrap();
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps before start"))?;
        state.info = Some(info);
        state.format = Some(format);
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        // Frames still on the device must leave before any serialized event (EOS, segment,
        // caps…) so that order is kept; after a flush they are read and dropped.
        if event.is_serialized() {
            let flush = matches!(event.view(), gst::EventView::FlushStop(_));
            if let Err(err) = self.drain(!flush) {
                gst::debug!(
                    CAT,
                    imp = self,
                    "draining before {:?}: {err:?}",
                    event.type_()
                );
            }
        }
        self.parent_sink_event(event)
    }

    fn submit_input_buffer(
        &self,
        _is_discont: bool,
        inbuf: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let interval = self.settings.lock().unwrap().interval.max(1) as u64;
        let live = self.upstream_is_live();
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        state.live.get_or_insert(live);
        let (Some(info), Some(format)) = (state.info.clone(), state.format) else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let n = state.frames;
        state.frames += 1;
        if n % interval != 0 {
            state.pending.push_back(Pending {
                buffer: inbuf,
                letterbox: None,
                submit: std::time::Duration::ZERO,
            });
            return Ok(gst::FlowSuccess::Ok);
        }
        let (lb, submit) = {
            let mapped = gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), &info)
                .map_err(|_| {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Failed,
                        ["Failed to map the frame for reading"]
                    );
                    gst::FlowError::Error
                })?;
            let fr = frame::frame_ref(&mapped, format).map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Format, ["{}", e]);
                gst::FlowError::Error
            })?;
            let started = std::time::Instant::now();
            let state = &mut *state;
            let lb = state
                .engine
                .submit_frame(&fr, &mut state.letterboxer)
                .map_err(|e| {
                    gst::element_imp_error!(self, gst::LibraryError::Failed, ["{}", e]);
                    gst::FlowError::Error
                })?;
            (lb, started.elapsed())
        };
        gst::trace!(CAT, imp = self, "frame {n}: submitted");
        state.pending.push_back(Pending {
            buffer: inbuf,
            letterbox: Some(lb),
            submit,
        });
        Ok(gst::FlowSuccess::Ok)
    }

    fn generate_output(
        &self,
    ) -> Result<gst_base::subclass::base_transform::GenerateOutputSuccess, gst::FlowError> {
        use gst_base::subclass::base_transform::GenerateOutputSuccess;
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        // Live sources: hand each frame on as soon as it is done (lowest latency). Otherwise
        // keep the device busy with the next frame while this one is decoded downstream.
        let depth = if state.live == Some(true) {
            0
        } else {
            state.engine.max_in_flight() - 1
        };
        let ready = state.pending.front().is_some_and(|p| p.letterbox.is_none());
        if !ready && state.pending.len() <= depth {
            return Ok(GenerateOutputSuccess::NoOutput);
        }
        match state.pending.pop_front() {
            Some(p) => Ok(GenerateOutputSuccess::Buffer(self.finish(state, p)?)),
            None => Ok(GenerateOutputSuccess::NoOutput),
        }
    }
}

impl HailoInfer {
    /// Whether upstream is live (asked once per stream): live graphs run frame by frame.
    fn upstream_is_live(&self) -> bool {
        if let Some(live) = self.state.lock().unwrap().as_ref().and_then(|s| s.live) {
            return live;
        }
        let mut q = gst::query::Latency::new();
        self.obj().sink_pad().peer_query(&mut q) && q.result().0
    }

    /// Collects the outputs of a submitted frame and attaches them.
    fn finish(&self, state: &mut State, p: Pending) -> Result<gst::Buffer, gst::FlowError> {
        let mut buffer = p.buffer;
        let Some(lb) = p.letterbox else {
            return Ok(buffer);
        };
        let started = std::time::Instant::now();
        let tensors = state.engine.collect().map_err(|e| {
            gst::element_imp_error!(self, gst::LibraryError::Failed, ["{}", e]);
            gst::FlowError::Error
        })?;
        self.times
            .lock()
            .unwrap()
            .push(p.submit + started.elapsed());
        let layout = state.engine.info().layout;
        meta::attach(
            buffer.make_mut(),
            &state.model,
            layout,
            &state.labels,
            &lb,
            tensors,
            state.engine.output_pool(),
        )
        .map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ["Failed to attach HmgTensors meta: {}", e]
            );
            gst::FlowError::Error
        })?;
        Ok(buffer)
    }

    /// Finishes every frame in flight; pushes them downstream when `push`, else drops them.
    fn drain(&self, push: bool) -> Result<(), gst::FlowError> {
        let mut done = Vec::new();
        {
            let mut guard = self.state.lock().unwrap();
            let Some(state) = guard.as_mut() else {
                return Ok(());
            };
            while let Some(p) = state.pending.pop_front() {
                done.push(self.finish(state, p)?);
            }
        }
        if push {
            for buffer in done {
                self.obj().src_pad().push(buffer)?;
            }
        }
        Ok(())
    }
}
