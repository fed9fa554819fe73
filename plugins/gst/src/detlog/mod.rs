// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * SECTION:element-detlog
 * @see_also: yolonms, detoverlay
 *
 * Writes one JSON line per frame with the frame's detections:
 * `{"stream":"cam0","frame":12,"pts_ns":480000000,"width":640,"height":272,
 *   "detections":[{"class_id":2,"label":"car","confidence":0.71,"box":[x1,y1,x2,y2]}]}`
 * (box in frame pixels). The file is flushed at EOS and when the element stops, so a finished
 * graph never leaves lines behind in a buffer. Frames pass through untouched.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=clip.mp4 ! decodebin ! videoconvert ! hailoinfer model=m.onnx ! yolonms ! detlog location=out.jsonl stream-name=door ! fakesink
 * ]|
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct DetLog(ObjectSubclass<imp::DetLog>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "detlog",
        gst::Rank::NONE,
        DetLog::static_type(),
    )
}

pub use imp::{frame_line, frame_record};
