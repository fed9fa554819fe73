// SPDX-License-Identifier: MIT OR Apache-2.0
//! Detections as standard `GstVideoRegionOfInterestMeta`: `roi_type` = class label, plus a
//! `detection` param structure with `class-id` (int), `label` (string), `confidence` (double)
//! and the unrounded box `x1`, `y1`, `x2`, `y2` (double, frame pixels).

use hmg_detect::Detection;

pub const DETECTION_PARAM: &str = "detection";

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
