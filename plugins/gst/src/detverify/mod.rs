// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * SECTION:element-detverify
 * @see_also: yolonms, detlog
 *
 * Offline check of a model's detections, at EOS:
 *
 * - `mode=blank`: the frames show nothing (black, grey, white…), so every detection is a false
 *   positive; the check fails when there are more than `max-false-positives` (the seed's
 *   "ONNX export has false positives" test).
 * - `mode=map`: frame *i* is the *i*-th image of `images` (a folder, sorted by name, or a text
 *   file with one image path per line, as in ultralytics' data.yaml); its YOLO label file is
 *   found the ultralytics way (`…/images/…` → `…/labels/….txt`) or in `labels-dir`. mAP50 and
 *   mAP50-95 are computed as ultralytics' validator does; the check fails below `min-map50`.
 *   Run `yolonms conf=0.001 iou=0.7 max-det=300` before it, as `yolo val` does.
 *
 * The result is posted as an element message named `detverify` (mode, frames, false-positives,
 * map50, map50-95, passed, summary), kept in the read-only properties, and written as JSON to
 * `location` when set. With `fail=true` (default) a failed check is an element error, so
 * gst-launch-1.0 exits non-zero. Frames pass through untouched.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 videotestsrc pattern=black num-buffers=10 ! video/x-raw,width=640,height=640 ! hailoinfer model=best.onnx ! yolonms ! detverify mode=blank ! fakesink
 * gst-launch-1.0 multifilesrc location=val/images/%03d.png caps=image/png,framerate=1/1 ! pngdec ! videoconvert ! hailoinfer model=best.onnx ! yolonms conf=0.001 iou=0.7 ! detverify mode=map images=val/images ! fakesink
 * ]|
 */
use gst::glib;
use gst::prelude::*;

mod imp;
mod truth;

pub use truth::{image_list, label_path, read_truth};

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstHmgVerifyMode")]
pub enum Mode {
    #[default]
    #[enum_value(
        name = "Blank frames: every detection is a false positive",
        nick = "blank"
    )]
    Blank = 0,
    #[enum_value(
        name = "mAP against YOLO label files of the images in `images`",
        nick = "map"
    )]
    Map = 1,
}

glib::wrapper! {
    pub struct DetVerify(ObjectSubclass<imp::DetVerify>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    Mode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "detverify",
        gst::Rank::NONE,
        DetVerify::static_type(),
    )
}
