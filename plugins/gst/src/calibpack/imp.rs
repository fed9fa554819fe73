// SPDX-License-Identifier: MIT OR Apache-2.0

use std::io::Write;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use hmg_detect::{Letterboxer, PixelFormat};

use crate::frame::{self, UnstatedColorimetry};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "calibpack",
        gst::DebugColorFlags::empty(),
        Some("hmg calibration set writer"),
    )
});

const DEFAULT_NUM_SAMPLES: u32 = 64;
const DEFAULT_SIZE: u32 = 640;

#[derive(Debug, Clone)]
struct Settings {
    location: Option<String>,
    num_samples: u32,
    width: u32,
    height: u32,
    unstated_colorimetry: UnstatedColorimetry,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            location: None,
            num_samples: DEFAULT_NUM_SAMPLES,
            width: DEFAULT_SIZE,
            height: DEFAULT_SIZE,
            unstated_colorimetry: UnstatedColorimetry::default(),
        }
    }
}

struct State {
    settings: Settings,
    location: String,
    video: Option<(gst_video::VideoInfo, PixelFormat)>,
    letterboxer: Letterboxer,
    /// The letterboxed frames, back to back.
    data: Vec<u8>,
    samples: u32,
    written: bool,
}

#[derive(Default)]
pub struct CalibPack {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for CalibPack {
    const NAME: &'static str = "GstHmgCalibPack";
    type Type = super::CalibPack;
    type ParentType = gst_base::BaseTransform;
}

impl CalibPack {
    /// Writes the tensor, header and frames, all or nothing (hmg_detect::atomic).
    fn write(state: &State) -> Result<(), String> {
        let (w, h) = (
            state.settings.width as usize,
            state.settings.height as usize,
        );
        let header = hmg_detect::npy::header_bytes("|u1", &[state.samples as usize, h, w, 3]);
        hmg_detect::atomic::write_atomic(std::path::Path::new(&state.location), |f| {
            f.write_all(&header)?;
            f.write_all(&state.data)
        })
        .map_err(|e| format!("cannot write the calibration set: {e}"))
    }

    fn finish(&self) -> Result<(), gst::ErrorMessage> {
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            return Ok(());
        };
        if state.written {
            return Ok(());
        }
        state.written = true;
        if state.samples == 0 {
            return Err(gst::error_msg!(
                gst::StreamError::Failed,
                ["No frames arrived: '{}' was not written", state.location]
            ));
        }
        if state.samples < state.settings.num_samples {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Failed,
                [
                    "Only {} of {} calibration frames arrived; the set has {}",
                    state.samples,
                    state.settings.num_samples,
                    state.samples
                ]
            );
        }
        Self::write(state).map_err(|e| gst::error_msg!(gst::ResourceError::Write, ["{}", e]))?;
        gst::info!(
            CAT,
            imp = self,
            "wrote {} frames of {}x{} to {}",
            state.samples,
            state.settings.width,
            state.settings.height,
            state.location
        );
        let s = gst::Structure::builder("calibpack")
            .field("location", &state.location)
            .field("samples", state.samples)
            .field("width", state.settings.width)
            .field("height", state.settings.height)
            .build();
        drop(guard);
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        Ok(())
    }
}

impl ObjectImpl for CalibPack {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("The .npy file to write at EOS (N x height x width x 3, uint8, RGB)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("num-samples")
                    .nick("Samples")
                    .blurb("Frames to collect; later frames pass through without being kept")
                    .minimum(1)
                    .default_value(DEFAULT_NUM_SAMPLES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("width")
                    .nick("Width")
                    .blurb("Model input width: frames are letterboxed to it as hailoinfer does")
                    .minimum(1)
                    .maximum(8192)
                    .default_value(DEFAULT_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("height")
                    .nick("Height")
                    .blurb("Model input height")
                    .minimum(1)
                    .maximum(8192)
                    .default_value(DEFAULT_SIZE)
                    .mutable_ready()
                    .build(),
                frame::unstated_colorimetry_property(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location = value.get().expect("type checked upstream"),
            "num-samples" => s.num_samples = value.get().expect("type checked upstream"),
            "width" => s.width = value.get().expect("type checked upstream"),
            "height" => s.height = value.get().expect("type checked upstream"),
            "unstated-colorimetry" => {
                s.unstated_colorimetry = value.get().expect("type checked upstream")
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location.to_value(),
            "num-samples" => s.num_samples.to_value(),
            "width" => s.width.to_value(),
            "height" => s.height.to_value(),
            "unstated-colorimetry" => s.unstated_colorimetry.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for CalibPack {}

impl ElementImpl for CalibPack {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg calibration set writer",
                "Filter/Video",
                "Collects letterboxed frames and writes the uint8 calibration tensor (.npy) Hailo's compiler quantizes with",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::frame::pixel_pad_templates()
    }
}

impl BaseTransformImpl for CalibPack {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let location = settings
            .location
            .clone()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| {
                gst::error_msg!(
                    gst::ResourceError::Settings,
                    ["Set location= to the .npy file to write (e.g. calib_set.npy)"]
                )
            })?;
        if let Some(dir) = std::path::Path::new(&location).parent()
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            return Err(gst::error_msg!(
                gst::ResourceError::OpenWrite,
                [
                    "The folder of '{}' does not exist; create it first",
                    location
                ]
            ));
        }
        let frame_bytes = settings.width as usize * settings.height as usize * 3;
        *self.state.lock().unwrap() = Some(State {
            data: Vec::with_capacity(frame_bytes * settings.num_samples.min(256) as usize),
            settings,
            location,
            video: None,
            letterboxer: Letterboxer::new(),
            samples: 0,
            written: false,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let unstated = self.settings.lock().unwrap().unstated_colorimetry;
        let info = frame::video_info(incaps, unstated)
            .map_err(|_| gst::loggable_error!(CAT, "calibpack cannot read caps {incaps}"))?;
        let format = frame::pixel_format(&info).ok_or_else(|| {
            gst::loggable_error!(CAT, "calibpack does not handle format {}", info.format())
        })?;
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.video = Some((info, format));
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
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        if state.samples >= state.settings.num_samples {
            return Ok(gst::FlowSuccess::Ok);
        }
        let (info, format) = state.video.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let mapped = gst_video::VideoFrameRef::from_buffer_ref_readable(buf.as_ref(), &info)
            .map_err(|_| gst::FlowError::Error)?;
        let fr = match frame::frame_ref(&mapped, format) {
            Ok(fr) => fr,
            Err(e) => {
                drop(guard);
                gst::element_imp_error!(self, gst::StreamError::Format, ["{}", e]);
                return Err(gst::FlowError::Error);
            }
        };
        let (w, h) = (
            state.settings.width as usize,
            state.settings.height as usize,
        );
        let (rgb, _) = state.letterboxer.run(&fr, w, h);
        state.data.extend_from_slice(rgb);
        state.samples += 1;
        Ok(gst::FlowSuccess::Ok)
    }
}
