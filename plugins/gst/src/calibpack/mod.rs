// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * SECTION:element-calibpack
 * @see_also: hailoinfer
 *
 * Offline: collects up to `num-samples` frames, letterboxed to `width`×`height` with the very
 * letterbox `hailoinfer` feeds the model (ultralytics-exact, pad 114, RGB), and at EOS writes
 * them as one calibration tensor for Hailo's Dataflow Compiler: a `.npy` of shape
 * N×height×width×3, uint8, values 0–255 (the model script's normalization divides by 255).
 * The file is written to `<location>.part` and renamed, so a failed run never leaves a partial
 * set where a good one was. Fewer frames than `num-samples` give a smaller set and a warning;
 * none is an error. Frames pass through untouched.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 multifilesrc location=calib/%04d.jpg caps=image/jpeg,framerate=1/1 ! jpegdec ! videoconvert ! calibpack location=calib_set.npy num-samples=64 width=640 height=640 ! fakesink
 * ]|
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct CalibPack(ObjectSubclass<imp::CalibPack>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "calibpack",
        gst::Rank::NONE,
        CalibPack::static_type(),
    )
}
