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
use hmg_detect::track::TrackInput;

pub const DETECTION_PARAM: &str = "detection";
pub const TRACKING_PARAM: &str = "tracking";

/// The quarks of the param structures' field names, interned once.
struct Fields {
    tracking: Quark,
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
        tracking: Quark::from_str(TRACKING_PARAM),
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
    /// The `tracking` param structure, its values collected straight into it by GStreamer's
    /// varargs setter instead of a GValue made, checked and moved per field through the typed
    /// setters: dettrack writes one per tracked object per frame, and in a graph's profile these
    /// writes are most of its cost.
    pub fn to_structure(&self) -> gst::Structure {
        use gst::glib::gobject_ffi::{G_TYPE_DOUBLE, G_TYPE_STRING, G_TYPE_UINT64};
        use gst::glib::translate::{FromGlibPtrFull, IntoGlib};
        let n = fields();
        let [vx, vy] = self.velocity;
        let [x1, y1, x2, y2] = self.xyxy;
        let q = |name: Quark| name.into_glib();
        // SAFETY: a new structure we own; gst_structure_id_set reads (quark, GType, value)
        // triples, each value of the C type its GType names, up to a 0 quark, and copies the
        // string.
        unsafe {
            let s = gst::ffi::gst_structure_new_id_empty(q(n.tracking));
            gst::ffi::gst_structure_id_set(
                s,
                q(n.track_id),
                G_TYPE_UINT64,
                self.track_id,
                q(n.age),
                G_TYPE_UINT64,
                self.age,
                q(n.state),
                G_TYPE_STRING,
                c"tracked".as_ptr(),
                0 as gst::glib::ffi::GQuark,
            );
            let doubles = n.velocity.iter().chain(&n.xyxy);
            for (&name, value) in doubles.zip([vx, vy, x1, y1, x2, y2]) {
                let end = 0 as gst::glib::ffi::GQuark;
                gst::ffi::gst_structure_id_set(s, q(name), G_TYPE_DOUBLE, value, end);
            }
            gst::Structure::from_glib_full(s)
        }
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

/// The class, score and unrounded box of one detection meta (the rounded rectangle where the
/// `detection` param lacks a coordinate).
fn class_score_box(
    m: &gst_video::VideoRegionOfInterestMeta,
    p: &gst::StructureRef,
) -> (u32, f32, [f32; 4]) {
    let (x, y, w, h) = m.rect();
    let n = fields();
    let f =
        |name: Quark, fallback: u32| field::<f64>(p, name).map_or(fallback as f32, |v| v as f32);
    (
        field::<i32>(p, n.class_id)
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0),
        field::<f64>(p, n.confidence).unwrap_or(0.0) as f32,
        [
            f(n.xyxy[0], x),
            f(n.xyxy[1], y),
            f(n.xyxy[2], x + w),
            f(n.xyxy[3], y + h),
        ],
    )
}

/// The label of one detection meta (its `roi_type` where the param has none).
fn label<'a>(m: &'a gst_video::VideoRegionOfInterestMeta, p: &'a gst::StructureRef) -> &'a str {
    field::<&str>(p, fields().label).unwrap_or_else(|| m.roi_type())
}

/// Reads the detections of a buffer (ROI metas with a `detection` param; others are skipped).
pub fn detections_from_buffer(buffer: &gst::BufferRef) -> Vec<Detection> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter_map(|m| {
            let p = m.param(DETECTION_PARAM)?;
            let (class_id, confidence, [x1, y1, x2, y2]) = class_score_box(&m, p);
            Some(Detection {
                class_id,
                label: label(&m, p).into(),
                confidence,
                x1,
                y1,
                x2,
                y2,
            })
        })
        .collect()
}

/// Decides from a detection's class id and label whether it is one to take.
pub type ClassFilter<'a> = dyn Fn(u32, &str) -> bool + 'a;

/// What a tracker takes of a buffer's detections, into `inputs` (emptied first), with each
/// one's index among the detections (as [`detections_from_buffer`] numbers them) in `chosen`:
/// only those `wanted(class_id, label)` accepts (None: all, and no label is read). Returns how
/// many detections the buffer holds. Reuses the caller's lists and copies no label.
pub fn track_inputs_from_buffer(
    buffer: &gst::BufferRef,
    wanted: Option<&ClassFilter<'_>>,
    inputs: &mut Vec<TrackInput>,
    chosen: &mut Vec<usize>,
) -> usize {
    inputs.clear();
    chosen.clear();
    let mut count = 0;
    for m in buffer.iter_meta::<gst_video::VideoRegionOfInterestMeta>() {
        let Some(p) = m.param(DETECTION_PARAM) else {
            continue;
        };
        let (class_id, score, xyxy) = class_score_box(&m, p);
        if wanted.is_none_or(|wanted| wanted(class_id, label(&m, p))) {
            inputs.push(TrackInput {
                xyxy,
                score,
                class_id,
            });
            chosen.push(count);
        }
        count += 1;
    }
    count
}
