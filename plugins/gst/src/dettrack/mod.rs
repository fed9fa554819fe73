// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * SECTION:element-dettrack
 * @see_also: yolonms, detoverlay, detlog
 *
 * Multi-object tracking (ByteTrack, as ultralytics' `BYTETracker` runs it): gives each detection
 * of a stream a track id that stays the same from frame to frame. It reads the detections
 * (`GstVideoRegionOfInterestMeta` with a `detection` param) `yolonms` added, and marks each one a
 * track took with a `tracking` param structure (`track-id`, `age` in frames, `state`, velocity
 * `vx`/`vy` in pixels per frame, and the tracker's filtered box `x1`, `y1`, `x2`, `y2`).
 * Detections no track took are removed, as ultralytics' `track` mode drops them, unless
 * `keep-untracked` is set; the metas left keep `id`s 0, 1, 2 … so that bindings without meta
 * iteration (PyGObject) can fetch them by id.
 *
 * ByteTrack also uses weak detections to keep tracks alive: give `yolonms` a low `conf`
 * (ultralytics tracks with conf=0.1) and set the thresholds here. One `dettrack` per stream;
 * IDs start at 1 and restart after a flush (a seek) or a stop.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=clip.mp4 ! decodebin ! videoconvert ! hailoinfer model=m.onnx ! yolonms conf=0.1 ! dettrack ! detoverlay ! videoconvert ! autovideosink
 * ]|
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct DetTrack(ObjectSubclass<imp::DetTrack>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "dettrack",
        gst::Rank::NONE,
        DetTrack::static_type(),
    )
}
