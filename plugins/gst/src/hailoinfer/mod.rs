// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * SECTION:element-hailoinfer
 * @see_also: yolonms, detoverlay, detlog
 *
 * Letterboxes each frame to the model input (bit-exact with ultralytics: OpenCV INTER_LINEAR,
 * pad 114, colour conversion in the same pass), runs the model and attaches its raw outputs and
 * the letterbox transform as the `HmgTensors` custom meta. The frame itself passes unchanged.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=clip.mp4 ! decodebin ! videoconvert ! hailoinfer model=models/yolov8-coco.onnx ! yolonms ! detoverlay ! videoconvert ! autovideosink
 * ]|
 */
use gst::glib;
use gst::prelude::*;

mod imp;
mod timing;

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstHmgBackend")]
pub enum Backend {
    #[default]
    #[enum_value(
        name = "Auto: .hef runs on HailoRT, anything else on onnxruntime",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(name = "HailoRT (Hailo-8 device)", nick = "hailort")]
    HailoRt = 1,
    #[enum_value(name = "onnxruntime (CPU)", nick = "onnx")]
    Onnx = 2,
}

glib::wrapper! {
    pub struct HailoInfer(ObjectSubclass<imp::HailoInfer>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    Backend::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    crate::frame::UnstatedColorimetry::static_type()
        .mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "hailoinfer",
        gst::Rank::NONE,
        HailoInfer::static_type(),
    )
}
