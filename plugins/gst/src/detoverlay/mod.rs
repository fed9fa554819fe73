// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * SECTION:element-detoverlay
 * @see_also: yolonms, detlog
 *
 * Draws every detection (`GstVideoRegionOfInterestMeta` with a `detection` param) on the frame:
 * a box in a colour per class and a label with the confidence, in an 8×8 bitmap font scaled to
 * `font-size`. Works on RGB-family, GRAY8, NV12 and I420 frames without conversion.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=clip.mp4 ! decodebin ! hailoinfer model=m.onnx ! yolonms ! detoverlay line-width=3 ! videoconvert ! autovideosink
 * ]|
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct DetOverlay(ObjectSubclass<imp::DetOverlay>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "detoverlay",
        gst::Rank::NONE,
        DetOverlay::static_type(),
    )
}
