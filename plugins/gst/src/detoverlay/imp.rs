// SPDX-License-Identifier: MIT OR Apache-2.0

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use hmg_detect::draw::{DrawOptions, Rect, layout_detections, paint_plane};

use crate::{frame, roi};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "detoverlay",
        gst::DebugColorFlags::empty(),
        Some("hmg detection overlay"),
    )
});

const DEFAULT_LINE_WIDTH: u32 = 2;
const DEFAULT_FONT_SIZE: u32 = 16;
const DEFAULT_SHOW_CONF: bool = true;
const DEFAULT_SHOW_LABEL: bool = true;
const DEFAULT_SHOW_TRACK_ID: bool = true;

#[derive(Debug, Clone, Copy)]
struct Settings {
    line_width: u32,
    font_size: u32,
    show_conf: bool,
    show_label: bool,
    show_track_id: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            line_width: DEFAULT_LINE_WIDTH,
            font_size: DEFAULT_FONT_SIZE,
            show_conf: DEFAULT_SHOW_CONF,
            show_label: DEFAULT_SHOW_LABEL,
            show_track_id: DEFAULT_SHOW_TRACK_ID,
        }
    }
}

#[derive(Default)]
pub struct DetOverlay {
    settings: Mutex<Settings>,
    rects: Mutex<Vec<Rect>>,
}

#[glib::object_subclass]
impl ObjectSubclass for DetOverlay {
    const NAME: &'static str = "GstHmgDetOverlay";
    type Type = super::DetOverlay;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for DetOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("line-width")
                    .nick("Line width")
                    .blurb("Box outline width in pixels")
                    .minimum(1)
                    .maximum(64)
                    .default_value(DEFAULT_LINE_WIDTH)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("font-size")
                    .nick("Font size")
                    .blurb("Label glyph height in pixels (8x8 bitmap font scaled by whole steps: 8, 16, 24, ...)")
                    .minimum(8)
                    .maximum(128)
                    .default_value(DEFAULT_FONT_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("show-conf")
                    .nick("Show confidence")
                    .blurb("Write the confidence (0.00-1.00) next to the label")
                    .default_value(DEFAULT_SHOW_CONF)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("show-label")
                    .nick("Show label")
                    .blurb("Write the class name above each box")
                    .default_value(DEFAULT_SHOW_LABEL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("show-track-id")
                    .nick("Show track id")
                    .blurb("Write the track id (\"#12\") after the class name of a tracked detection (dettrack)")
                    .default_value(DEFAULT_SHOW_TRACK_ID)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "line-width" => s.line_width = value.get().expect("type checked upstream"),
            "font-size" => s.font_size = value.get().expect("type checked upstream"),
            "show-conf" => s.show_conf = value.get().expect("type checked upstream"),
            "show-label" => s.show_label = value.get().expect("type checked upstream"),
            "show-track-id" => s.show_track_id = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
        gst::info!(CAT, imp = self, "{} changed: {:?}", pspec.name(), *s);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "line-width" => s.line_width.to_value(),
            "font-size" => s.font_size.to_value(),
            "show-conf" => s.show_conf.to_value(),
            "show-label" => s.show_label.to_value(),
            "show-track-id" => s.show_track_id.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for DetOverlay {}

impl ElementImpl for DetOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg detection overlay",
                "Filter/Effect/Video",
                "Draws detection boxes, labels and confidences (GstVideoRegionOfInterestMeta) on the frame",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::frame::pixel_pad_templates()
    }
}

impl BaseTransformImpl for DetOverlay {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;
}

impl VideoFilterImpl for DetOverlay {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        _outcaps: &gst::Caps,
        _out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        frame::pixel_format(in_info)
            .ok_or_else(|| gst::loggable_error!(CAT, "detoverlay does not handle {incaps}"))?;
        Ok(())
    }

    fn transform_frame_ip(
        &self,
        vframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let s = *self.settings.lock().unwrap();
        let mut dets = roi::detections_from_buffer(vframe.buffer());
        if dets.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        if s.show_track_id {
            let tracks = roi::tracks_from_buffer(vframe.buffer());
            for (d, t) in dets.iter_mut().zip(&tracks) {
                if let Some(t) = t {
                    d.label = format!("{} #{}", d.label, t.track_id).into();
                }
            }
        }
        let format = frame::pixel_format(vframe.info()).ok_or(gst::FlowError::NotNegotiated)?;
        let yuv = frame::yuv_matrix(vframe.info());
        let (w, h) = (vframe.width(), vframe.height());
        let opts = DrawOptions {
            line_width: s.line_width,
            font_size: s.font_size,
            show_label: s.show_label,
            show_conf: s.show_conf,
        };
        let mut rects = self.rects.lock().unwrap();
        rects.clear();
        layout_detections(&dets, w, h, &opts, &mut rects);
        let strides: Vec<i32> = vframe.plane_stride().to_vec();
        for (plane, &stride) in strides.iter().enumerate().take(format.num_planes()) {
            let stride = usize::try_from(stride).map_err(|_| gst::FlowError::NotSupported)?;
            let data = vframe
                .plane_data_mut(plane as u32)
                .map_err(|_| gst::FlowError::Error)?;
            paint_plane(
                format, yuv, plane, data, stride, w as usize, h as usize, &rects,
            );
        }
        gst::trace!(CAT, imp = self, "drew {} detections", dets.len());
        Ok(gst::FlowSuccess::Ok)
    }
}
