// SPDX-License-Identifier: MIT OR Apache-2.0
//! Per-track event records (`hmg_detect::events`) from the metas on each buffer, and the
//! properties detlog and detmqtt share to turn them on.

use gst::glib;
use gst::prelude::*;
use hmg_detect::events::{EventOptions, Sighting, TrackEvent, TrackEvents};

use crate::{meta, roi};

const DEFAULT_UPDATE_INTERVAL: f64 = 5.0;
const DEFAULT_END_AFTER: f64 = 2.0;

/// `events`, `event-update-interval`, `event-end-after`.
#[derive(Debug, Clone, Copy)]
pub struct EventSettings {
    pub enabled: bool,
    pub update_interval: f64,
    pub end_after: f64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            update_interval: DEFAULT_UPDATE_INTERVAL,
            end_after: DEFAULT_END_AFTER,
        }
    }
}

impl EventSettings {
    /// The three properties, for an element's property list.
    pub fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecBoolean::builder("events")
                .nick("Track events")
                .blurb("Instead of a record per frame, a record per track event: new, update (zone entered or left, line crossed, better confidence) and end, schema hmg-event/1 (docs/analytics.md); needs dettrack, and detzone for zones and lines")
                .default_value(false)
                .mutable_ready()
                .build(),
            glib::ParamSpecDouble::builder("event-update-interval")
                .nick("Event update interval")
                .blurb("Seconds between two updates of a track for a better confidence alone (zones and lines update at once)")
                .minimum(0.0)
                .maximum(3600.0)
                .default_value(DEFAULT_UPDATE_INTERVAL)
                .mutable_ready()
                .build(),
            glib::ParamSpecDouble::builder("event-end-after")
                .nick("Event end after")
                .blurb("Seconds of stream time a track must be unseen before its end record (every live track ends at end of stream)")
                .minimum(0.0)
                .maximum(3600.0)
                .default_value(DEFAULT_END_AFTER)
                .mutable_ready()
                .build(),
        ]
    }

    /// Sets one of the three; false when `name` is not one of them.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        match name {
            "events" => self.enabled = value.get().expect("type checked upstream"),
            "event-update-interval" => {
                self.update_interval = value.get().expect("type checked upstream")
            }
            "event-end-after" => self.end_after = value.get().expect("type checked upstream"),
            _ => return false,
        }
        true
    }

    /// One of the three, or None.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "events" => self.enabled.to_value(),
            "event-update-interval" => self.update_interval.to_value(),
            "event-end-after" => self.end_after.to_value(),
            _ => return None,
        })
    }

    /// The record keeper for a run, when events are on.
    pub fn start(&self) -> Option<BufferEvents> {
        self.enabled.then(|| BufferEvents {
            events: TrackEvents::new(EventOptions {
                update_interval_ns: (self.update_interval * 1e9) as u64,
                end_after_ns: (self.end_after * 1e9) as u64,
            }),
        })
    }
}

/// Track events of one stream, fed with buffers.
pub struct BufferEvents {
    events: TrackEvents,
}

impl BufferEvents {
    /// The records this buffer brings.
    pub fn frame(&mut self, buf: &gst::BufferRef) -> Vec<TrackEvent> {
        let dets = roi::detections_from_buffer(buf);
        let tracks = roi::tracks_from_buffer(buf);
        let sightings: Vec<Sighting> = dets
            .iter()
            .zip(&tracks)
            .filter_map(|(d, t)| {
                Some(Sighting {
                    track_id: t.as_ref()?.track_id,
                    class_id: d.class_id,
                    label: d.label.to_string(),
                    confidence: d.confidence,
                    bbox: [d.x1, d.y1, d.x2, d.y2],
                })
            })
            .collect();
        let time_ns = buf.pts().map_or(0, |p| p.nseconds());
        self.events
            .update(time_ns, &sightings, &meta::zone_events(buf))
    }

    /// End of stream: every live track ends.
    pub fn finish(&mut self) -> Vec<TrackEvent> {
        self.events.finish()
    }
}
