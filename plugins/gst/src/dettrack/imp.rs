// SPDX-License-Identifier: MIT OR Apache-2.0

use std::ops::ControlFlow;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use hmg_detect::track::{ByteTracker, TrackInput, TrackedObject, TrackerOptions};

use crate::roi::{self, DETECTION_PARAM, TrackInfo};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "dettrack",
        gst::DebugColorFlags::empty(),
        Some("hmg multi-object tracking"),
    )
});

#[derive(Debug, Clone, Default)]
struct Settings {
    tracker: TrackerOptions,
    /// Class ids or names to track, as given (empty: all).
    classes: Vec<String>,
    keep_untracked: bool,
}

#[derive(Default)]
struct State {
    tracker: ByteTracker,
    options: TrackerOptions,
    active: u32,
    /// Kept from frame to frame, so that a warm frame allocates nothing here.
    lists: Lists,
}

#[derive(Default)]
struct Lists {
    inputs: Vec<TrackInput>,
    /// Tracker input index → detection index on the buffer.
    chosen: Vec<usize>,
    tracked: Vec<TrackedObject>,
    /// Detection index → index in `tracked` (`usize::MAX`: no track took it).
    by_detection: Vec<usize>,
    kept_ids: Vec<i32>,
}

#[derive(Default)]
pub struct DetTrack {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for DetTrack {
    const NAME: &'static str = "GstHmgDetTrack";
    type Type = super::DetTrack;
    type ParentType = gst_base::BaseTransform;
}

fn threshold(name: &str, nick: &str, blurb: &str, default: f32) -> glib::ParamSpec {
    glib::ParamSpecDouble::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(0.0)
        .maximum(1.0)
        .default_value(f64::from(default))
        .mutable_playing()
        .build()
}

impl ObjectImpl for DetTrack {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = TrackerOptions::default();
            vec![
                threshold(
                    "high-thresh",
                    "High threshold",
                    "Detections scoring at least this are matched to tracks first (ByteTrack's track_high_thresh)",
                    d.high_thresh,
                ),
                threshold(
                    "low-thresh",
                    "Low threshold",
                    "Detections scoring above this (and below high-thresh) keep tracks alive in the second association (track_low_thresh)",
                    d.low_thresh,
                ),
                threshold(
                    "new-track-thresh",
                    "New track threshold",
                    "A detection no track took starts a new track when it scores at least this (new_track_thresh)",
                    d.new_track_thresh,
                ),
                threshold(
                    "match-thresh",
                    "Match threshold",
                    "The largest matching cost (1 - IoU, weighed by the score) the first association accepts (match_thresh)",
                    d.match_thresh,
                ),
                glib::ParamSpecUInt::builder("track-buffer")
                    .nick("Track buffer")
                    .blurb("Frames a lost track is kept for re-identification (track_buffer; 30 is one second at 30 fps)")
                    .minimum(0)
                    .maximum(100_000)
                    .default_value(d.track_buffer)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("fuse-score")
                    .nick("Fuse score")
                    .blurb("Weigh the IoU by the detection's score when matching (fuse_score)")
                    .default_value(d.fuse_score)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("classes")
                    .nick("Classes")
                    .blurb("Track only these classes, ids or names, comma-separated (e.g. \"person,car\"); empty tracks all. Detections of other classes pass on untracked (see keep-untracked)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("keep-untracked")
                    .nick("Keep untracked")
                    .blurb("Pass on the detections no track took (without an id) instead of removing them")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("active-tracks")
                    .nick("Active tracks")
                    .blurb("Tracks that took a detection in the last frame")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let t = &mut s.tracker;
        let unit = |v: &glib::Value| v.get::<f64>().expect("type checked upstream") as f32;
        match pspec.name() {
            "high-thresh" => t.high_thresh = unit(value),
            "low-thresh" => t.low_thresh = unit(value),
            "new-track-thresh" => t.new_track_thresh = unit(value),
            "match-thresh" => t.match_thresh = unit(value),
            "track-buffer" => t.track_buffer = value.get().expect("type checked upstream"),
            "fuse-score" => t.fuse_score = value.get().expect("type checked upstream"),
            "classes" => {
                let text: Option<String> = value.get().expect("type checked upstream");
                s.classes = text
                    .unwrap_or_default()
                    .split([',', ';'])
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect();
            }
            "keep-untracked" => s.keep_untracked = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
        gst::info!(CAT, imp = self, "{} changed: {:?}", pspec.name(), *s);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        let t = &s.tracker;
        match pspec.name() {
            "high-thresh" => f64::from(t.high_thresh).to_value(),
            "low-thresh" => f64::from(t.low_thresh).to_value(),
            "new-track-thresh" => f64::from(t.new_track_thresh).to_value(),
            "match-thresh" => f64::from(t.match_thresh).to_value(),
            "track-buffer" => t.track_buffer.to_value(),
            "fuse-score" => t.fuse_score.to_value(),
            "classes" => (!s.classes.is_empty())
                .then(|| s.classes.join(","))
                .to_value(),
            "keep-untracked" => s.keep_untracked.to_value(),
            "active-tracks" => self.state.lock().unwrap().active.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for DetTrack {}

impl ElementImpl for DetTrack {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg object tracker",
                "Filter/Analyzer/Video",
                "Tracks detections (GstVideoRegionOfInterestMeta) across frames with ByteTrack: stable track ids on the metas",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::frame::any_video_pad_templates()
    }
}

/// Whether a detection of `class_id`/`label` is one to track.
fn selected(classes: &[String], class_id: u32, label: &str) -> bool {
    classes.is_empty()
        || classes
            .iter()
            .any(|c| c == label || c.parse::<u32>() == Ok(class_id))
}

impl DetTrack {
    fn reset(&self) {
        let options = self.settings.lock().unwrap().tracker.clone();
        let mut state = self.state.lock().unwrap();
        state.tracker = ByteTracker::new(options.clone());
        state.options = options;
        state.active = 0;
    }
}

impl BaseTransformImpl for DetTrack {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.reset();
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        // A seek: the objects before and after it are not the same ones.
        if let gst::EventView::FlushStop(_) = event.view() {
            self.reset();
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut state = self.state.lock().unwrap();
        let state = &mut *state;
        let lists = &mut state.lists;
        let wanted = |class_id: u32, label: &str| selected(&settings.classes, class_id, label);
        let detections = roi::track_inputs_from_buffer(
            buf,
            (!settings.classes.is_empty()).then_some(&wanted as &roi::ClassFilter<'_>),
            &mut lists.inputs,
            &mut lists.chosen,
        );
        if state.options != settings.tracker {
            // Thresholds changed while playing: tracks go on under the new ones.
            state.tracker.set_options(settings.tracker.clone());
            state.options = settings.tracker.clone();
        }
        state.tracker.update_into(&lists.inputs, &mut lists.tracked);
        state.active = lists.tracked.len() as u32;
        lists.by_detection.clear();
        lists.by_detection.resize(detections, usize::MAX);
        for (k, t) in lists.tracked.iter().enumerate() {
            lists.by_detection[lists.chosen[t.detection]] = k;
        }
        gst::trace!(
            CAT,
            imp = self,
            "{} detections, {} tracked",
            detections,
            lists.tracked.len()
        );
        let mut index = 0;
        lists.kept_ids.clear();
        let mut removed = false;
        buf.foreach_meta_mut(|mut meta| {
            use gst::buffer::BufferMetaForeachAction::{Keep, Remove};
            let Some(roi) = meta.downcast_mut::<gst_video::VideoRegionOfInterestMeta>() else {
                return ControlFlow::Continue(Keep);
            };
            if roi.param(DETECTION_PARAM).is_none() {
                return ControlFlow::Continue(Keep);
            }
            let track = lists
                .by_detection
                .get(index)
                .and_then(|&k| lists.tracked.get(k));
            index += 1;
            if let Some(t) = track {
                let info = TrackInfo {
                    track_id: t.track_id,
                    age: t.age,
                    velocity: t.velocity.map(f64::from),
                    xyxy: t.xyxy.map(f64::from),
                };
                roi.add_param(info.to_structure());
            } else if !settings.keep_untracked {
                removed = true;
                return ControlFlow::Continue(Remove);
            }
            lists.kept_ids.push(roi.id());
            ControlFlow::Continue(Keep)
        });
        if removed {
            // The detections left are numbered 0, 1, 2 … again, in their order: bindings
            // without meta iteration (PyGObject) fetch them by id.
            lists.kept_ids.sort_unstable();
            for mut roi in buf.iter_meta_mut::<gst_video::VideoRegionOfInterestMeta>() {
                if roi.param(DETECTION_PARAM).is_some()
                    && let Ok(rank) = lists.kept_ids.binary_search(&roi.id())
                {
                    roi.set_id(rank as i32);
                }
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn classes_by_id_or_name() {
        let classes = ["person".to_string(), "2".to_string()];
        assert!(super::selected(&classes, 0, "person"));
        assert!(super::selected(&classes, 2, "car"));
        assert!(!super::selected(&classes, 1, "bicycle"));
        assert!(super::selected(&[], 7, "anything"));
    }
}
