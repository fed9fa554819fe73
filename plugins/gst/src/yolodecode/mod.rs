// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * SECTION:element-yolodecode
 * @see_also: hailoinfer, yolonms
 *
 * Decodes the raw model outputs of the `HmgTensors` meta into candidate boxes (before NMS) and
 * attaches them as the `HmgCandidates` meta, which `yolonms` then suppresses. It knows the four
 * YOLO output layouts: Hailo raw heads (6 NHWC tensors, DFL boxes, UINT8 with zero point and
 * scale), HailoRT's NMS buffer (`HAILO_NMS_BY_CLASS`), and ultralytics ONNX with and without
 * NMS. The layout comes from the meta (what `hailoinfer` found) or the tensor shapes; `layout=`
 * forces one, and outputs that fit no layout stop the pipeline with an error saying why.
 * `hailoinfer ! yolonms` decodes by itself; `yolodecode` lets other elements see (or change)
 * the candidates in between.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 libcamerasrc ! videoconvert ! hailoinfer hef=yolov8n.hef ! yolodecode conf=0.3 ! yolonms iou=0.5 ! detoverlay ! videoconvert ! autovideosink
 * ]|
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct YoloDecode(ObjectSubclass<imp::YoloDecode>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "yolodecode",
        gst::Rank::NONE,
        YoloDecode::static_type(),
    )
}
