// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * SECTION:element-yolonms
 * @see_also: hailoinfer, detoverlay, detlog
 *
 * Decodes the `HmgTensors` meta that `hailoinfer` attached (ultralytics layouts (1, 4+nc, N)
 * and (1, 300, 6)), runs non-maximum suppression and adds one standard
 * `GstVideoRegionOfInterestMeta` per detection, in pixels of the frame that carries it, with a
 * `detection` param structure (`class-id`, `label`, `confidence`, `x1`, `y1`, `x2`, `y2`).
 * Thresholds can change while PLAYING.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! hailoinfer model=m.onnx ! yolonms conf=0.35 iou=0.5 classes="0,2" ! detoverlay ! videoconvert ! autovideosink
 * ]|
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct YoloNms(ObjectSubclass<imp::YoloNms>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "yolonms",
        gst::Rank::NONE,
        YoloNms::static_type(),
    )
}
