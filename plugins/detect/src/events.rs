// SPDX-License-Identifier: MIT OR Apache-2.0
//! Per-track event records, `new` / `update` / `end`, for people who want "a person entered the
//! loading zone" rather than a message per frame (Frigate's `frigate/events` is the model).
//!
//! [`TrackEvents`] takes each frame's tracked objects and detzone's events, and says when to send:
//! - `new` when a track is first seen;
//! - `update` at once when it enters or leaves a zone or crosses a line, and otherwise, when its
//!   best confidence rose, at most once per `update_interval`;
//! - `end` when it has not been seen for `end_after` of stream time, or when the stream ends.
//!
//! Every record carries the whole story so far (schema [`EVENT_SCHEMA`]), so a consumer that
//! missed one still knows where the track is.
//!
//! ```
//! use hmg_detect::events::{EventOptions, EventType, Sighting, TrackEvents};
//! let mut events = TrackEvents::new(EventOptions::default());
//! let person = Sighting { track_id: 7, class_id: 0, label: "person".into(), confidence: 0.8, bbox: [10.0, 10.0, 50.0, 90.0] };
//! let first = events.update(0, &[person.clone()], &[]);
//! assert_eq!(first[0].kind, EventType::New);
//! assert!(events.update(40_000_000, &[person], &[]).is_empty()); // nothing new to say
//! let last = events.finish();
//! assert_eq!(last[0].kind, EventType::End);
//! assert_eq!(last[0].record(Some("cam0"))["frames"], 2);
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::zones::{EventKind, ZoneEvent};

/// The version of the event records' fields; raised when a field changes meaning or goes away.
pub const EVENT_SCHEMA: &str = "hmg-event/1";

/// One tracked object in one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    /// dettrack's id.
    pub track_id: u64,
    /// Its class.
    pub class_id: u32,
    /// Its class name.
    pub label: String,
    /// This frame's confidence.
    pub confidence: f32,
    /// Its box, frame pixels: x1, y1, x2, y2.
    pub bbox: [f32; 4],
}

/// When updates and ends are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventOptions {
    /// Updates for a better confidence alone: at most one per this many nanoseconds.
    pub update_interval_ns: u64,
    /// A track not seen for this long has ended.
    pub end_after_ns: u64,
}

impl Default for EventOptions {
    fn default() -> Self {
        Self {
            update_interval_ns: 5_000_000_000,
            end_after_ns: 2_000_000_000,
        }
    }
}

/// Which record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// First seen.
    New,
    /// Something worth saying changed.
    Update,
    /// Gone.
    End,
}

impl EventType {
    /// "new", "update" or "end".
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::New => "new",
            EventType::Update => "update",
            EventType::End => "end",
        }
    }
}

/// One crossing of one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    /// The line's name.
    pub line: String,
    /// "in" or "out".
    pub direction: &'static str,
    /// Stream time, nanoseconds.
    pub time_ns: u64,
}

/// What is known of one track.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackStory {
    /// dettrack's id.
    pub track_id: u64,
    /// Its class (the latest).
    pub class_id: u32,
    /// Its class name.
    pub label: String,
    /// The latest confidence.
    pub confidence: f32,
    /// The best confidence so far, and when.
    pub best_confidence: f32,
    /// Stream time of the best confidence.
    pub best_ns: u64,
    /// First and last seen, stream time.
    pub first_ns: u64,
    /// Last seen.
    pub last_ns: u64,
    /// The latest box.
    pub bbox: [f32; 4],
    /// Frames it was seen in.
    pub frames: u64,
    /// Zones it is in now, with the stream time it entered.
    pub zones: BTreeMap<String, u64>,
    /// Zones it has been in, with the time spent in each (while inside: up to now).
    pub visited: BTreeMap<String, u64>,
    /// Lines crossed, in order.
    pub crossings: Vec<Crossing>,
}

/// One record to send.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackEvent {
    /// new, update or end.
    pub kind: EventType,
    /// The track's story at that moment.
    pub story: TrackStory,
}

fn seconds(ns: u64) -> f64 {
    (ns as f64 / 1e6).round() / 1e3
}

impl TrackEvent {
    /// The JSON record (schema [`EVENT_SCHEMA`]), with the stream's name when known.
    pub fn record(&self, stream: Option<&str>) -> serde_json::Value {
        let s = &self.story;
        let round = |v: f32| (f64::from(v) * 1e4).round() / 1e4;
        let mut r = serde_json::json!({
            "schema": EVENT_SCHEMA,
            "type": self.kind.as_str(),
            "track_id": s.track_id,
            "class_id": s.class_id,
            "label": s.label,
            "confidence": round(s.confidence),
            "best_confidence": round(s.best_confidence),
            "best_time": seconds(s.best_ns),
            "first_time": seconds(s.first_ns),
            "last_time": seconds(s.last_ns),
            "box": s.bbox.map(|v| (f64::from(v) * 100.0).round() / 100.0),
            "frames": s.frames,
            "zones": s.zones.keys().collect::<Vec<_>>(),
            "zones_visited": s.visited.iter().map(|(zone, dwell_ns)| {
                // Still inside: the time so far.
                let now = s.zones.get(zone).map_or(0, |entered| s.last_ns.saturating_sub(*entered));
                serde_json::json!({"zone": zone, "dwell": seconds(dwell_ns + now)})
            }).collect::<Vec<_>>(),
            "crossings": s.crossings.iter().map(|c| serde_json::json!({
                "line": c.line, "direction": c.direction, "time": seconds(c.time_ns),
            })).collect::<Vec<_>>(),
        });
        if let Some(stream) = stream {
            r["stream"] = stream.into();
            r["id"] = format!("{stream}-{}", s.track_id).into();
        }
        r
    }
}

#[derive(Debug, Clone)]
struct Live {
    story: TrackStory,
    /// When the last record went out, and whether there is news since.
    sent_ns: u64,
    news: bool,
}

/// The per-track records of one stream.
#[derive(Debug, Clone, Default)]
pub struct TrackEvents {
    options: EventOptions,
    live: HashMap<u64, Live>,
    /// The latest stream time seen.
    now_ns: u64,
}

impl TrackEvents {
    /// Records for a stream that has not started.
    pub fn new(options: EventOptions) -> Self {
        Self {
            options,
            ..Default::default()
        }
    }

    /// Tracks seen and not yet ended.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Takes one frame (stream time, tracked objects, detzone's events); returns the records to
    /// send, oldest track first.
    pub fn update(
        &mut self,
        time_ns: u64,
        sightings: &[Sighting],
        zone_events: &[ZoneEvent],
    ) -> Vec<TrackEvent> {
        self.now_ns = self.now_ns.max(time_ns);
        let mut out = Vec::new();
        // New tracks are announced after this frame's zone events, so that a track first seen
        // inside a zone says so in its `new` record rather than in an update right after it.
        let mut born = Vec::new();
        for s in sightings {
            match self.live.get_mut(&s.track_id) {
                Some(live) => {
                    let st = &mut live.story;
                    st.class_id = s.class_id;
                    st.label.clone_from(&s.label);
                    st.confidence = s.confidence;
                    st.bbox = s.bbox;
                    st.last_ns = time_ns;
                    st.frames += 1;
                    if s.confidence > st.best_confidence {
                        st.best_confidence = s.confidence;
                        st.best_ns = time_ns;
                        live.news = true;
                    }
                }
                None => {
                    let story = TrackStory {
                        track_id: s.track_id,
                        class_id: s.class_id,
                        label: s.label.clone(),
                        confidence: s.confidence,
                        best_confidence: s.confidence,
                        best_ns: time_ns,
                        first_ns: time_ns,
                        last_ns: time_ns,
                        bbox: s.bbox,
                        frames: 1,
                        zones: BTreeMap::new(),
                        visited: BTreeMap::new(),
                        crossings: Vec::new(),
                    };
                    born.push(s.track_id);
                    self.live.insert(
                        s.track_id,
                        Live {
                            story,
                            sent_ns: time_ns,
                            news: false,
                        },
                    );
                }
            }
        }
        let mut at_once = BTreeSet::new();
        for e in zone_events {
            let Some(live) = self.live.get_mut(&e.track_id) else {
                continue;
            };
            let st = &mut live.story;
            match &e.kind {
                EventKind::LineCrossed(d) => st.crossings.push(Crossing {
                    line: e.name.clone(),
                    direction: d.as_str(),
                    time_ns: e.time_ns,
                }),
                EventKind::ZoneEntered => {
                    st.zones.insert(e.name.clone(), e.time_ns);
                    st.visited.entry(e.name.clone()).or_insert(0);
                }
                EventKind::ZoneExited { dwell_ns } => {
                    st.zones.remove(&e.name);
                    *st.visited.entry(e.name.clone()).or_insert(0) += dwell_ns;
                }
            }
            at_once.insert(e.track_id);
        }
        for id in &born {
            at_once.remove(id);
            out.push(TrackEvent {
                kind: EventType::New,
                story: self.live[id].story.clone(),
            });
        }
        let interval = self.options.update_interval_ns;
        let mut ids: Vec<u64> = self.live.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let live = self.live.get_mut(&id).expect("listed above");
            let seen_now = live.story.last_ns == time_ns;
            if at_once.contains(&id)
                || (seen_now && live.news && time_ns.saturating_sub(live.sent_ns) >= interval)
            {
                live.news = false;
                live.sent_ns = time_ns;
                out.push(TrackEvent {
                    kind: EventType::Update,
                    story: live.story.clone(),
                });
            }
        }
        let end_after = self.options.end_after_ns;
        let mut ended: Vec<u64> = self
            .live
            .iter()
            .filter(|(_, l)| self.now_ns.saturating_sub(l.story.last_ns) >= end_after)
            .map(|(id, _)| *id)
            .collect();
        ended.sort_unstable();
        for id in ended {
            out.push(self.end(id));
        }
        out
    }

    /// The stream ended: every live track ends.
    pub fn finish(&mut self) -> Vec<TrackEvent> {
        let mut ids: Vec<u64> = self.live.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter().map(|id| self.end(id)).collect()
    }

    fn end(&mut self, id: u64) -> TrackEvent {
        let mut story = self.live.remove(&id).expect("a live track").story;
        // Zones it was still in: the dwell up to its last sighting.
        for (zone, entered) in std::mem::take(&mut story.zones) {
            *story.visited.entry(zone).or_insert(0) += story.last_ns.saturating_sub(entered);
        }
        TrackEvent {
            kind: EventType::End,
            story,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zones::Direction;

    const MS: u64 = 1_000_000;

    fn seen(id: u64, conf: f32) -> Sighting {
        Sighting {
            track_id: id,
            class_id: 0,
            label: "person".into(),
            confidence: conf,
            bbox: [0.0, 0.0, 10.0, 10.0],
        }
    }

    fn zone(kind: EventKind, id: u64, t: u64) -> ZoneEvent {
        ZoneEvent {
            kind,
            name: "door".into(),
            track_id: id,
            class_id: 0,
            label: "person".into(),
            time_ns: t,
        }
    }

    fn kinds(events: &[TrackEvent]) -> Vec<(EventType, u64)> {
        events.iter().map(|e| (e.kind, e.story.track_id)).collect()
    }

    #[test]
    fn a_track_lives_new_update_end() {
        let mut ev = TrackEvents::new(EventOptions::default());
        assert_eq!(
            kinds(&ev.update(0, &[seen(1, 0.5)], &[])),
            [(EventType::New, 1)]
        );
        // A better confidence waits for the interval...
        assert!(ev.update(40 * MS, &[seen(1, 0.6)], &[]).is_empty());
        // ...a line crossing does not.
        let crossed = ev.update(
            80 * MS,
            &[seen(1, 0.6)],
            &[zone(EventKind::LineCrossed(Direction::In), 1, 80 * MS)],
        );
        assert_eq!(kinds(&crossed), [(EventType::Update, 1)]);
        assert_eq!(crossed[0].record(None)["crossings"][0]["direction"], "in");
        // The rise in confidence is news again only after 5 s.
        assert!(ev.update(4000 * MS, &[seen(1, 0.7)], &[]).is_empty());
        assert_eq!(
            kinds(&ev.update(5100 * MS, &[seen(1, 0.7)], &[])),
            [(EventType::Update, 1)]
        );
        // Unseen for 2 s: ended.
        assert!(ev.update(6000 * MS, &[], &[]).is_empty());
        let end = ev.update(7200 * MS, &[], &[]);
        assert_eq!(kinds(&end), [(EventType::End, 1)]);
        let r = end[0].record(Some("cam0"));
        assert_eq!(r["id"], "cam0-1");
        assert_eq!(r["frames"], 5);
        assert_eq!(r["best_confidence"], 0.7);
        assert_eq!(r["last_time"], 5.1);
        assert_eq!(ev.live(), 0);
    }

    #[test]
    fn dwell_counts_while_inside_and_at_the_end() {
        let mut ev = TrackEvents::new(EventOptions::default());
        ev.update(0, &[seen(3, 0.9)], &[zone(EventKind::ZoneEntered, 3, 0)]);
        let inside = ev.update(1500 * MS, &[seen(3, 0.9)], &[]);
        assert!(inside.is_empty());
        let exit = ev.update(
            3000 * MS,
            &[seen(3, 0.9)],
            &[zone(
                EventKind::ZoneExited {
                    dwell_ns: 3000 * MS,
                },
                3,
                3000 * MS,
            )],
        );
        let r = exit[0].record(None);
        assert_eq!(r["zones"].as_array().unwrap().len(), 0);
        assert_eq!(r["zones_visited"][0]["dwell"], 3.0);
        // Entered again and still inside when the stream ends.
        ev.update(
            4000 * MS,
            &[seen(3, 0.9)],
            &[zone(EventKind::ZoneEntered, 3, 4000 * MS)],
        );
        ev.update(4500 * MS, &[seen(3, 0.9)], &[]);
        let end = ev.finish();
        assert_eq!(end[0].record(None)["zones_visited"][0]["dwell"], 3.5);
    }

    #[test]
    fn a_track_born_inside_a_zone_says_so_in_its_new_record() {
        let mut ev = TrackEvents::new(EventOptions::default());
        let first = ev.update(0, &[seen(4, 0.9)], &[zone(EventKind::ZoneEntered, 4, 0)]);
        assert_eq!(kinds(&first), [(EventType::New, 4)]);
        assert_eq!(first[0].record(None)["zones"][0], "door");
    }

    #[test]
    fn many_tracks_end_in_id_order() {
        let mut ev = TrackEvents::new(EventOptions {
            end_after_ns: 100 * MS,
            ..Default::default()
        });
        ev.update(0, &[seen(9, 0.5), seen(2, 0.5), seen(5, 0.5)], &[]);
        let end = ev.update(200 * MS, &[seen(5, 0.5)], &[]);
        assert_eq!(kinds(&end), [(EventType::End, 2), (EventType::End, 9)]);
        assert_eq!(ev.live(), 1);
    }
}
