// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * SECTION:element-detcapture
 * @see_also: yolonms, dettrack, detlog
 *
 * Saves the frames a person should label: by default those the model was unsure about (a
 * detection scored in `[band-low, band-high)`, or a tracked object whose class changed), or
 * `mode=all`, or `mode=classes=person,car`. Each capture is the full frame as
 * `<unix-ms>-<stream>-<frame>.jpg` and its predictions as `.json` (detlog's record plus
 * `reason`, `detail`, `model`, `captured_unix_ms`, `image`), written by a thread of its own (temp
 * file, then rename; the record last), at most `max-rate` a minute of stream time and within
 * `max-size-mb` (the oldest go first). With two frames waiting for the writer, a live source skips
 * the next one to keep and a file waits (`when-busy`). `captured`, `dropped` and `skipped` count
 * what happened; each capture also posts an `hmg-capture` element message. Place it before `detoverlay`: the
 * picture saved is the frame as it reaches the element. Frames pass through untouched.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 libcamerasrc ! videoconvert ! hailoinfer hef=m.hef ! yolonms conf=0.35 ! detcapture location=captures band-low=0.35 band-high=0.55 ! detoverlay ! autovideosink
 * ]|
 */
use gst::glib;
use gst::prelude::*;

mod imp;
mod rule;
mod store;

glib::wrapper! {
    pub struct DetCapture(ObjectSubclass<imp::DetCapture>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "detcapture",
        gst::Rank::NONE,
        DetCapture::static_type(),
    )
}
