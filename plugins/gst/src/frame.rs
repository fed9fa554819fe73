// SPDX-License-Identifier: MIT OR Apache-2.0
//! GStreamer video frames as hmg-detect frames.

use gst::glib;
use gst_video::prelude::*;
use hmg_detect::{FrameRef, PixelFormat, YuvMatrix};

/// How YUV frames whose caps do not state their colorimetry (video files without colour
/// information, many RTSP cameras) are converted to RGB.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstHmgUnstatedColorimetry")]
pub enum UnstatedColorimetry {
    /// What OpenCV's FFmpeg path, and so `yolo predict` on a video file, does whatever the size.
    #[default]
    #[enum_value(
        name = "BT.601, limited range: as OpenCV (FFmpeg) and so ultralytics convert them",
        nick = "bt601"
    )]
    Bt601 = 0,
    #[enum_value(
        name = "BT.709, limited range: as most video players convert HD",
        nick = "bt709"
    )]
    Bt709 = 1,
    #[enum_value(
        name = "GStreamer's guess from the frame size (BT.709 from 720 lines up, else BT.601)",
        nick = "auto"
    )]
    Auto = 2,
}

/// The `unstated-colorimetry` property of the elements that convert YUV for a model
/// (hailoinfer, calibpack: they must agree).
pub fn unstated_colorimetry_property() -> glib::ParamSpec {
    glib::ParamSpecEnum::builder_with_default("unstated-colorimetry", UnstatedColorimetry::Bt601)
        .nick("Unstated colorimetry")
        .blurb("How YUV frames whose caps state no colorimetry are converted: bt601 as OpenCV and ultralytics do (default), bt709 as players do for HD, auto as GStreamer guesses from the size")
        .mutable_ready()
        .build()
}

/// The video info of `caps`, with the colorimetry `unstated` says where the caps say none.
pub fn video_info(
    caps: &gst::CapsRef,
    unstated: UnstatedColorimetry,
) -> Result<gst_video::VideoInfo, glib::BoolError> {
    let stated = caps
        .structure(0)
        .is_some_and(|s| s.has_field("colorimetry"));
    let name = match unstated {
        _ if stated => None,
        UnstatedColorimetry::Bt601 => Some("bt601"),
        UnstatedColorimetry::Bt709 => Some("bt709"),
        UnstatedColorimetry::Auto => None,
    };
    let info = gst_video::VideoInfo::from_caps(caps)?;
    match name {
        // Only YUV formats carry a matrix; RGB caps keep theirs.
        Some(name) if info.is_yuv() => {
            let mut caps = caps.to_owned();
            caps.make_mut().set("colorimetry", name);
            gst_video::VideoInfo::from_caps(&caps)
        }
        _ => Ok(info),
    }
}

/// Every raw format our video elements accept, as caps format names.
pub fn supported_formats() -> Vec<gst_video::VideoFormat> {
    PixelFormat::ALL
        .iter()
        .map(|f| gst_video::VideoFormat::from_string(f.gst_name()))
        .collect()
}

pub fn pixel_format(info: &gst_video::VideoInfo) -> Option<PixelFormat> {
    PixelFormat::from_gst_name(info.format().to_str())
}

pub fn yuv_matrix(info: &gst_video::VideoInfo) -> YuvMatrix {
    let c = info.colorimetry();
    let full = c.range() == gst_video::VideoColorRange::Range0_255;
    match (c.matrix() == gst_video::VideoColorMatrix::Bt709, full) {
        (true, true) => YuvMatrix::Bt709Full,
        (true, false) => YuvMatrix::Bt709Limited,
        (false, true) => YuvMatrix::Bt601Full,
        (false, false) => YuvMatrix::Bt601Limited,
    }
}

/// Width and height from video caps (0 where the caps do not say), for the elements that only
/// need the frame size to place boxes (detlog, detmqtt, detverify).
pub fn caps_size(caps: &gst::Caps) -> (i32, i32) {
    caps.structure(0).map_or((0, 0), |s| {
        (
            s.get::<i32>("width").unwrap_or(0),
            s.get::<i32>("height").unwrap_or(0),
        )
    })
}

/// Borrows a mapped frame's planes.
pub fn frame_ref<'a>(
    frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>,
    format: PixelFormat,
) -> Result<FrameRef<'a>, hmg_detect::DetectError> {
    let planes = frame.planes_data();
    let strides = frame.plane_stride();
    let n = format.num_planes();
    let mut p: [&[u8]; 3] = [&[], &[], &[]];
    let mut s = [0usize; 3];
    for i in 0..n {
        p[i] = planes[i];
        s[i] = usize::try_from(strides[i]).unwrap_or(0);
    }
    Ok(FrameRef::new(
        format,
        frame.width() as usize,
        frame.height() as usize,
        p,
        s,
    )?
    .with_yuv_matrix(yuv_matrix(frame.info())))
}

/// The `src` and `sink` Always pads every hmg filter element has, with the same caps.
pub fn filter_pad_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    ["src", "sink"]
        .into_iter()
        .zip([gst::PadDirection::Src, gst::PadDirection::Sink])
        .map(|(name, dir)| {
            gst::PadTemplate::new(name, dir, gst::PadPresence::Always, caps).unwrap()
        })
        .collect()
}

/// The pad templates of the filters that read pixels (hailoinfer, detoverlay, calibpack): the
/// raw formats hmg-detect handles.
pub fn pixel_pad_templates() -> &'static [gst::PadTemplate] {
    static PAD_TEMPLATES: std::sync::LazyLock<Vec<gst::PadTemplate>> =
        std::sync::LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(supported_formats())
                .build();
            filter_pad_templates(&caps)
        });
    PAD_TEMPLATES.as_ref()
}

/// The pad templates of the filters that take any raw video and only read metas (yolonms,
/// detlog, detmqtt, detverify).
pub fn any_video_pad_templates() -> &'static [gst::PadTemplate] {
    static PAD_TEMPLATES: std::sync::LazyLock<Vec<gst::PadTemplate>> =
        std::sync::LazyLock::new(|| {
            filter_pad_templates(&gst::Caps::builder("video/x-raw").build())
        });
    PAD_TEMPLATES.as_ref()
}
