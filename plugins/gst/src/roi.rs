// SPDX-License-Identifier: MIT OR Apache-2.0
//! Detections as standard `GstVideoRegionOfInterestMeta`: `roi_type` = class label, plus a
//! `detection` param structure with `class-id` (int), `label` (string), `confidence` (double)
//! and the unrounded box `x1`, `y1`, `x2`, `y2` (double, frame pixels). After `dettrack`, a
//! tracked one also carries a `tracking` param structure (see [`TrackInfo`]) and its track id as
//! the meta's `id`.

use hmg_detect::Detection;

pub const DETECTION_PARAM: &str = "detection";
pub const TRACKING_PARAM: &str = "tracking";

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
        gst::Structure::builder(TRACKING_PARAM)
            .field("track-id", self.track_id)
            .field("age", self.age)
            .field("state", "tracked")
            .field("vx", self.velocity[0])
            .field("vy", self.velocity[1])
            .field("x1", self.xyxy[0])
            .field("y1", self.xyxy[1])
            .field("x2", self.xyxy[2])
            .field("y2", self.xyxy[3])
            .build()
    }

    fn from_structure(s: &gst::StructureRef) -> Option<Self> {
        let f = |name: &str| s.get::<f64>(name).ok();
        Some(Self {
            track_id: s.get::<u64>("track-id").ok()?,
            age: s.get::<u64>("age").unwrap_or(0),
            velocity: [f("vx")?, f("vy")?],
            xyxy: [f("x1")?, f("y1")?, f("x2")?, f("y2")?],
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
        meta.add_param(
            gst::Structure::builder(DETECTION_PARAM)
                .field("class-id", d.class_id as i32)
                .field("label", &*d.label)
                .field("confidence", d.confidence as f64)
                .field("x1", d.x1 as f64)
                .field("y1", d.y1 as f64)
                .field("x2", d.x2 as f64)
                .field("y2", d.y2 as f64)
                .build(),
        );
    }
}

/// Reads the detections of a buffer (ROI metas with a `detection` param; others are skipped).
pub fn detections_from_buffer(buffer: &gst::BufferRef) -> Vec<Detection> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter_map(|m| {
            let p = m.param(DETECTION_PARAM)?;
            let (x, y, w, h) = m.rect();
            let f = |name: &str, fallback: u32| {
                p.get::<f64>(name).map_or(fallback as f32, |v| v as f32)
            };
            Some(Detection {
                class_id: p
                    .get::<i32>("class-id")
                    .ok()
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(0),
                label: match p.get::<&str>("label") {
                    Ok(label) => label.into(),
                    Err(_) => m.roi_type().to_string().into(),
                },
                confidence: p.get::<f64>("confidence").unwrap_or(0.0) as f32,
                x1: f("x1", x),
                y1: f("y1", y),
                x2: f("x2", x + w),
                y2: f("y2", y + h),
            })
        })
        .collect()
}
