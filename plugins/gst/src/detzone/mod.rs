// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * SECTION:element-detzone
 * @see_also: dettrack, detoverlay, detlog
 *
 * Lines and zones over tracks (after `dettrack`): counts each track crossing a line, with its
 * direction, and each entry into and exit from a zone, with the time spent inside (dwell). The
 * lines and zones come from a JSON file (`config`) in normalized frame units (0..1), so it
 * survives a change of resolution; the file is read again when it changes, while PLAYING.
 *
 * Each event is posted as an element message `hmg-zone-event` (`kind`: `line-crossed`,
 * `zone-entered` or `zone-exited`; `name`, `track-id`, `class-id`, `label`, `direction` for
 * lines, `dwell` in seconds for exits, `pts`) and attached to its frame as the custom meta
 * `HmgEvents` (which `detlog` writes as `"events"`). `counts` holds the counts per line, zone and
 * class as JSON. A track counts once per line and direction; a crossing or a zone change counts
 * once the object has stayed `min_frames` frames on its new side (the file's setting).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=door.mp4 ! decodebin ! videoconvert ! hailoinfer model=m.onnx ! yolonms conf=0.1 ! dettrack ! detzone config=zones.json ! detoverlay ! videoconvert ! autovideosink
 * ]|
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct DetZone(ObjectSubclass<imp::DetZone>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "detzone",
        gst::Rank::NONE,
        DetZone::static_type(),
    )
}
