// SPDX-License-Identifier: MIT OR Apache-2.0
//! Detections as standard `GstVideoRegionOfInterestMeta`: `roi_type` = class label, plus a
//! `detection` param structure with `class-id` (int), `label` (string), `confidence` (double)
//! and the unrounded box `x1`, `y1`, `x2`, `y2` (double, frame pixels). After `dettrack`, a
//! tracked one also carries a `tracking` param structure (see [`TrackInfo`]) and its track id as
//! the meta's `id`.

// The field names are used through their quarks: GStreamer 1.22 (where gstreamer-rs's IdStr
// calls fall back to plain strings) would otherwise hash each name on every get and set, which
// at 100 detections a frame cost more than the tracker itself.
#![allow(deprecated)]

use std::sync::OnceLock;

use gst::glib::Quark;
use hmg_detect::Detection;

pub const DETECTION_PARAM: &str = "detection";
pub const TRACKING_PARAM: &str = "tracking";

/// The quarks of the param structures' field names, interned once.
struct Fields {
    class_id: Quark,
    label: Quark,
    confidence: Quark,
    xyxy: [Quark; 4],
    track_id: Quark,
    age: Quark,
    state: Quark,
    velocity: [Quark; 2],
}

fn fields() -> &'static Fields {
    static FIELDS: OnceLock<Fields> = OnceLock::new();
    FIELDS.get_or_init(|| Fields {
        class_id: Quark::from_str("class-id"),
        label: Quark::from_str("label"),
        confidence: Quark::from_str("confidence"),
        xyxy: ["x1", "y1", "x2", "y2"].map(Quark::from_str),
        track_id: Quark::from_str("track-id"),
        age: Quark::from_str("age"),
        state: Quark::from_str("state"),
        velocity: ["vx", "vy"].map(Quark::from_str),
    })
}

/// A field of a param structure by its quark, as `T` (None when absent or of another type).
fn field<'a, T: gst::glib::value::FromValue<'a>>(
    s: &'a gst::StructureRef,
    name: Quark,
) -> Option<T> {
    s.value_by_quark(name).ok()?.get::<T>().ok()
}

/// What `dettrack` knows of a tracked detection (the `tracking` param structure: `track-id`
/// (uint64), `age` (uint64, frames since the track started), `state` (string, "tracked"),
/// `vx`, `vy` (double, centre velocity in pixels per frame) and the tracker's filtered box
/// `x1`, `y1`, `x2`, `y2` (double, frame pixels)).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInfo {
    pub track_id: u64,
    pub age: u64,
    pub velocity: [f64; 2],
    pub xyxy: [f64; 4],
}

impl TrackInfo {
    pub fn to_structure(&self) -> gst::Structure {
        let n = fields();
        let mut s = gst::Structure::new_empty(TRACKING_PARAM);
        s.set_by_quark(n.track_id, self.track_id);
        s.set_by_quark(n.age, self.age);
        s.set_by_quark(n.state, "tracked");
        for (&name, &v) in n.velocity.iter().zip(&self.velocity) {
            s.set_by_quark(name, v);
        }
        for (&name, &v) in n.xyxy.iter().zip(&self.xyxy) {
            s.set_by_quark(name, v);
        }
        s
    }

    fn from_structure(s: &gst::StructureRef) -> Option<Self> {
        let n = fields();
        let f = |name: Quark| field::<f64>(s, name);
        Some(Self {
            track_id: field::<u64>(s, n.track_id)?,
            age: field::<u64>(s, n.age).unwrap_or(0),
            velocity: [f(n.velocity[0])?, f(n.velocity[1])?],
            xyxy: [f(n.xyxy[0])?, f(n.xyxy[1])?, f(n.xyxy[2])?, f(n.xyxy[3])?],
        })
    }

    /// `{"id","age","box":[x1,y1,x2,y2],"velocity":[vx,vy]}` (1/1000 px), the `track` of a
    /// detection record.
    pub fn to_json(&self) -> serde_json::Value {
        let round = |v: f64| (v * 1e3).round() / 1e3;
        serde_json::json!({
            "id": self.track_id,
            "age": self.age,
            "box": self.xyxy.map(round),
            "velocity": self.velocity.map(round),
        })
    }
}

/// The `tracking` structure of each detection of a buffer, in [`detections_from_buffer`]'s order
/// (`None` for a detection no track took).
pub fn tracks_from_buffer(buffer: &gst::BufferRef) -> Vec<Option<TrackInfo>> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter(|m| m.param(DETECTION_PARAM).is_some())
        .map(|m| m.param(TRACKING_PARAM).and_then(TrackInfo::from_structure))
        .collect()
}

/// Adds one ROI meta per detection, with ids 0, 1, 2 … in detection order (so that bindings
/// without meta iteration, like PyGObject, can fetch them with
/// `buffer_get_video_region_of_interest_meta_id`) and no parent (-1).
pub fn add_detections(buffer: &mut gst::BufferRef, dets: &[Detection]) {
    for (id, d) in dets.iter().enumerate() {
        let (x, y) = (d.x1.round().max(0.0), d.y1.round().max(0.0));
        let w = (d.x2.round() - x).max(0.0);
        let h = (d.y2.round() - y).max(0.0);
        let mut meta = gst_video::VideoRegionOfInterestMeta::add(
            buffer,
            &d.label,
            (x as u32, y as u32, w as u32, h as u32),
        );
        meta.set_id(id as i32);
        meta.set_parent_id(-1);
        let n = fields();
        let mut param = gst::Structure::new_empty(DETECTION_PARAM);
        param.set_by_quark(n.class_id, d.class_id as i32);
        param.set_by_quark(n.label, &*d.label);
        param.set_by_quark(n.confidence, d.confidence as f64);
        for (&name, v) in n.xyxy.iter().zip([d.x1, d.y1, d.x2, d.y2]) {
            param.set_by_quark(name, v as f64);
        }
        meta.add_param(param);
    }
}

/// Reads the detections of a buffer (ROI metas with a `detection` param; others are skipped).
pub fn detections_from_buffer(buffer: &gst::BufferRef) -> Vec<Detection> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter_map(|m| {
            let p = m.param(DETECTION_PARAM)?;
            let (x, y, w, h) = m.rect();
            let n = fields();
            let f = |name: Quark, fallback: u32| {
                field::<f64>(p, name).map_or(fallback as f32, |v| v as f32)
            };
            Some(Detection {
                class_id: field::<i32>(p, n.class_id)
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(0),
                label: match field::<&str>(p, n.label) {
                    Some(label) => label.into(),
                    None => m.roi_type().to_string().into(),
                },
                confidence: field::<f64>(p, n.confidence).unwrap_or(0.0) as f32,
                x1: f(n.xyxy[0], x),
                y1: f(n.xyxy[1], y),
                x2: f(n.xyxy[2], x + w),
                y2: f(n.xyxy[3], y + h),
            })
        })
        .collect()
}
