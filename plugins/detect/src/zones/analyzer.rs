// SPDX-License-Identifier: MIT OR Apache-2.0
//! Line crossings, zone entries and exits, dwell and counts, from the tracks of one stream.

use std::collections::{BTreeMap, HashMap};

use super::config::{LineSpec, ZoneConfig, ZoneSpec};

/// One track in this frame: where it is (the centre of the tracker's box, frame pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackPosition {
    /// The track's id (dettrack's `track-id`).
    pub track_id: u64,
    /// Its detection's class.
    pub class_id: u32,
    /// Its detection's class name.
    pub label: String,
    /// Centre of the tracker's box, frame pixels.
    pub centre: [f64; 2],
}

/// Which way a line was crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Towards the left of the line's A→B, as seen on the screen.
    In,
    /// Towards the right.
    Out,
}

impl Direction {
    /// "in" or "out".
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A line crossed, with its direction.
    LineCrossed(Direction),
    /// A zone entered.
    ZoneEntered,
    /// With the time spent inside, in nanoseconds of stream time.
    ZoneExited {
        /// Time inside.
        dwell_ns: u64,
    },
}

/// One event of one track at one line or zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneEvent {
    /// What happened.
    pub kind: EventKind,
    /// The line's or zone's name.
    pub name: String,
    /// The track it happened to.
    pub track_id: u64,
    /// Its class.
    pub class_id: u32,
    /// Its class name.
    pub label: String,
    /// Stream time of the frame that settled it.
    pub time_ns: u64,
}

/// Counts per line and zone, per class label.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// line → label → (in, out).
    pub lines: BTreeMap<String, BTreeMap<String, LineCount>>,
    /// zone → label → (inside now, entered in all).
    pub zones: BTreeMap<String, BTreeMap<String, ZoneCount>>,
}

/// What downstream elements see of the analyzer on each frame (detzone's `HmgZones` meta): the
/// geometry in use, which may have been reloaded, and the counts so far.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZoneState {
    /// Counting lines.
    pub lines: Vec<LineSpec>,
    /// Zones.
    pub zones: Vec<ZoneSpec>,
    /// Counts so far.
    pub counts: Counts,
}

/// Crossings of one line by one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LineCount {
    /// Crossings "in".
    #[serde(rename = "in")]
    pub in_: u64,
    /// Crossings "out".
    pub out: u64,
}

/// One zone, one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZoneCount {
    /// Tracks inside now.
    pub inside: u64,
    /// Entries so far.
    pub entered: u64,
}

/// A track's standing at one line.
#[derive(Debug, Clone, Default)]
struct AtLine {
    counted_in: bool,
    counted_out: bool,
    /// A crossing not settled yet, and frames it has held.
    pending: Option<(Direction, u32)>,
}

/// A track's standing at one zone.
#[derive(Debug, Clone, Default)]
struct AtZone {
    inside: bool,
    entered_ns: u64,
    /// Frames in a row on the other state.
    flipping: u32,
}

#[derive(Debug, Clone)]
struct Memory {
    centre: [f64; 2],
    class_id: u32,
    label: String,
    last_frame: u64,
    lines: Vec<AtLine>,
    zones: Vec<AtZone>,
}

/// Lines and zones over one stream's tracks.
#[derive(Debug, Clone, Default)]
pub struct ZoneAnalyzer {
    config: ZoneConfig,
    frame: u64,
    tracks: HashMap<u64, Memory>,
    counts: Counts,
}

impl ZoneAnalyzer {
    /// An analyzer that has seen no frame.
    pub fn new(config: ZoneConfig) -> Self {
        let mut a = Self {
            config,
            ..Default::default()
        };
        a.reset_counts();
        a
    }

    /// New lines and zones (a reloaded file): counts start again for them; tracks are kept.
    pub fn set_config(&mut self, config: ZoneConfig) {
        self.config = config;
        for m in self.tracks.values_mut() {
            m.lines = vec![AtLine::default(); self.config.lines.len()];
            m.zones = vec![AtZone::default(); self.config.zones.len()];
        }
        self.reset_counts();
    }

    /// The lines and zones in use.
    pub fn config(&self) -> &ZoneConfig {
        &self.config
    }

    /// Counts so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The lines and zones in use with their counts, as the overlay and MQTT need them.
    pub fn state(&self) -> ZoneState {
        ZoneState {
            lines: self.config.lines.clone(),
            zones: self.config.zones.clone(),
            counts: self.counts.clone(),
        }
    }

    fn reset_counts(&mut self) {
        self.counts = Counts::default();
        for l in &self.config.lines {
            self.counts.lines.insert(l.name.clone(), BTreeMap::new());
        }
        for z in &self.config.zones {
            self.counts.zones.insert(z.name.clone(), BTreeMap::new());
        }
    }

    /// Takes one frame's tracks (frame size in pixels, stream time); returns what happened.
    pub fn update(
        &mut self,
        size: (u32, u32),
        time_ns: u64,
        tracks: &[TrackPosition],
    ) -> Vec<ZoneEvent> {
        self.frame += 1;
        let (w, h) = (f64::from(size.0), f64::from(size.1));
        let lines: Vec<[[f64; 2]; 2]> = self
            .config
            .lines
            .iter()
            .map(|l| l.points.map(|p| [p[0] * w, p[1] * h]))
            .collect();
        let zones: Vec<Vec<[f64; 2]>> = self
            .config
            .zones
            .iter()
            .map(|z| z.polygon.iter().map(|p| [p[0] * w, p[1] * h]).collect())
            .collect();
        let min_frames = self.config.min_frames;
        let mut events = Vec::new();
        for t in tracks {
            let (n_lines, n_zones) = (lines.len(), zones.len());
            let memory = self.tracks.entry(t.track_id).or_insert_with(|| Memory {
                centre: t.centre,
                class_id: t.class_id,
                label: t.label.clone(),
                last_frame: 0,
                lines: vec![AtLine::default(); n_lines],
                zones: vec![AtZone::default(); n_zones],
            });
            let first_sight = memory.last_frame == 0;
            let previous = memory.centre;
            memory.centre = t.centre;
            memory.class_id = t.class_id;
            memory.label.clone_from(&t.label);
            memory.last_frame = self.frame;
            let event = |kind, name: &str| ZoneEvent {
                kind,
                name: name.to_string(),
                track_id: t.track_id,
                class_id: t.class_id,
                label: t.label.clone(),
                time_ns,
            };
            for (i, (spec, segment)) in self.config.lines.iter().zip(&lines).enumerate() {
                if !watches(&spec.classes, t.class_id, &t.label) {
                    continue;
                }
                let at = &mut memory.lines[i];
                if !first_sight && let Some(d) = crossing(*segment, previous, t.centre) {
                    at.pending = Some((d, 0));
                }
                let Some((d, held)) = at.pending else {
                    continue;
                };
                // Still on the side it crossed to?
                let stays = match d {
                    Direction::In => side(*segment, t.centre) < 0.0,
                    Direction::Out => side(*segment, t.centre) > 0.0,
                };
                if !stays {
                    at.pending = None;
                    continue;
                }
                let held = held + 1;
                if held < min_frames {
                    at.pending = Some((d, held));
                    continue;
                }
                at.pending = None;
                let done = match d {
                    Direction::In => &mut at.counted_in,
                    Direction::Out => &mut at.counted_out,
                };
                if *done {
                    continue;
                }
                *done = true;
                let c = line_count(&mut self.counts, spec, &t.label);
                match d {
                    Direction::In => c.in_ += 1,
                    Direction::Out => c.out += 1,
                }
                events.push(event(EventKind::LineCrossed(d), &spec.name));
            }
            for (i, (spec, polygon)) in self.config.zones.iter().zip(&zones).enumerate() {
                if !watches(&spec.classes, t.class_id, &t.label) {
                    continue;
                }
                let at = &mut memory.zones[i];
                if contains(polygon, t.centre) == at.inside {
                    at.flipping = 0;
                    continue;
                }
                at.flipping += 1;
                if at.flipping < min_frames {
                    continue;
                }
                at.flipping = 0;
                at.inside = !at.inside;
                let c = zone_count(&mut self.counts, spec, &t.label);
                if at.inside {
                    at.entered_ns = time_ns;
                    c.inside += 1;
                    c.entered += 1;
                    events.push(event(EventKind::ZoneEntered, &spec.name));
                } else {
                    c.inside = c.inside.saturating_sub(1);
                    let dwell_ns = time_ns.saturating_sub(at.entered_ns);
                    events.push(event(EventKind::ZoneExited { dwell_ns }, &spec.name));
                }
            }
        }
        self.forget_lost(time_ns, &mut events);
        events
    }

    /// Tracks not seen for `forget_frames` leave the zones they were in, and are forgotten.
    fn forget_lost(&mut self, time_ns: u64, events: &mut Vec<ZoneEvent>) {
        let frame = self.frame;
        let forget = u64::from(self.config.forget_frames);
        let gone: Vec<u64> = self
            .tracks
            .iter()
            .filter(|(_, m)| frame - m.last_frame > forget)
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            let Some(m) = self.tracks.remove(&id) else {
                continue;
            };
            for (spec, at) in self.config.zones.iter().zip(&m.zones) {
                if at.inside {
                    let c = zone_count(&mut self.counts, spec, &m.label);
                    c.inside = c.inside.saturating_sub(1);
                    events.push(ZoneEvent {
                        kind: EventKind::ZoneExited {
                            dwell_ns: time_ns.saturating_sub(at.entered_ns),
                        },
                        name: spec.name.clone(),
                        track_id: id,
                        class_id: m.class_id,
                        label: m.label.clone(),
                        time_ns,
                    });
                }
            }
        }
    }
}

fn line_count<'a>(counts: &'a mut Counts, spec: &LineSpec, label: &str) -> &'a mut LineCount {
    counts
        .lines
        .entry(spec.name.clone())
        .or_default()
        .entry(label.to_string())
        .or_default()
}

fn zone_count<'a>(counts: &'a mut Counts, spec: &ZoneSpec, label: &str) -> &'a mut ZoneCount {
    counts
        .zones
        .entry(spec.name.clone())
        .or_default()
        .entry(label.to_string())
        .or_default()
}

fn watches(classes: &[String], class_id: u32, label: &str) -> bool {
    classes.is_empty()
        || classes
            .iter()
            .any(|c| c == label || c.parse::<u32>() == Ok(class_id))
}

/// Which side of A→B `p` lies on: negative on the left as seen on the screen (y grows down).
fn side([a, b]: [[f64; 2]; 2], p: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
}

/// The direction in which the move `from`→`to` crosses the segment, if it does (touching counts,
/// as it does for ultralytics' shapely `intersects`; moving along the line does not).
fn crossing(line: [[f64; 2]; 2], from: [f64; 2], to: [f64; 2]) -> Option<Direction> {
    let (s_from, s_to) = (side(line, from), side(line, to));
    if s_from == s_to {
        return None;
    }
    // The line's ends on either side of the move (or on it).
    let mv = [from, to];
    let (e0, e1) = (side(mv, line[0]), side(mv, line[1]));
    let straddles = |x: f64, y: f64| (x <= 0.0 && y >= 0.0) || (x >= 0.0 && y <= 0.0);
    if !straddles(s_from, s_to) || !straddles(e0, e1) {
        return None;
    }
    Some(if s_to < s_from {
        Direction::In
    } else {
        Direction::Out
    })
}

/// Whether `p` lies inside the polygon (even-odd rule; a point on an edge may fall either way).
fn contains(polygon: &[[f64; 2]], p: [f64; 2]) -> bool {
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let (a, b) = (polygon[i], polygon[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: u64, x: f64, y: f64) -> TrackPosition {
        TrackPosition {
            track_id: id,
            class_id: 0,
            label: "person".into(),
            centre: [x, y],
        }
    }

    fn door(min_frames: u32) -> ZoneAnalyzer {
        ZoneAnalyzer::new(
            ZoneConfig::parse(&format!(
                r#"{{"min_frames": {min_frames}, "lines": [{{"name": "door", "points": [[0.5, 0.0], [0.5, 1.0]]}}],
                    "zones": [{{"name": "left", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}}]}}"#
            ))
            .unwrap(),
        )
    }

    #[test]
    fn crossing_right_is_in_back_is_out_and_each_counts_once() {
        let mut a = door(1);
        let size = (100, 100);
        let mut kinds = Vec::new();
        for (f, x) in [40.0, 45.0, 55.0, 60.0, 45.0, 55.0, 45.0]
            .into_iter()
            .enumerate()
        {
            for e in a.update(size, f as u64, &[at(7, x, 50.0)]) {
                kinds.push((f, e.name, e.kind));
            }
        }
        use EventKind::*;
        assert_eq!(
            kinds,
            vec![
                (0, "left".into(), ZoneEntered),
                (2, "door".into(), LineCrossed(Direction::In)),
                (2, "left".into(), ZoneExited { dwell_ns: 2 }),
                (4, "door".into(), LineCrossed(Direction::Out)),
                (4, "left".into(), ZoneEntered),
                (5, "left".into(), ZoneExited { dwell_ns: 1 }),
                (6, "left".into(), ZoneEntered),
            ]
        );
        let c = &a.counts().lines["door"]["person"];
        assert_eq!((c.in_, c.out), (1, 1));
        let z = &a.counts().zones["left"]["person"];
        assert_eq!((z.inside, z.entered), (1, 3));
    }

    #[test]
    fn jitter_on_the_line_counts_only_when_it_settles() {
        let mut a = door(3);
        let size = (100, 100);
        let mut crossings = 0;
        // Back and forth over the line, then across for good.
        for (f, x) in [48.0, 52.0, 48.0, 52.0, 48.0, 52.0, 53.0, 54.0, 55.0]
            .into_iter()
            .enumerate()
        {
            crossings += a
                .update(size, f as u64, &[at(1, x, 50.0)])
                .iter()
                .filter(|e| matches!(e.kind, EventKind::LineCrossed(_)))
                .count();
        }
        assert_eq!(crossings, 1);
        assert_eq!(a.counts().lines["door"]["person"].in_, 1);
    }

    #[test]
    fn a_move_beside_the_segment_does_not_cross_it() {
        let line = [[50.0, 0.0], [50.0, 40.0]];
        assert_eq!(crossing(line, [40.0, 60.0], [60.0, 60.0]), None);
        assert_eq!(
            crossing(line, [40.0, 20.0], [60.0, 20.0]),
            Some(Direction::In)
        );
        assert_eq!(
            crossing(line, [60.0, 20.0], [40.0, 20.0]),
            Some(Direction::Out)
        );
        // A line drawn right to left: moving down is "in".
        let across = [[100.0, 50.0], [0.0, 50.0]];
        assert_eq!(
            crossing(across, [10.0, 40.0], [12.0, 60.0]),
            Some(Direction::In)
        );
    }

    #[test]
    fn a_track_that_vanishes_inside_a_zone_leaves_it() {
        let mut a = door(1);
        a.config.forget_frames = 2;
        a.update((100, 100), 0, &[at(3, 10.0, 10.0)]);
        let mut exits = Vec::new();
        for f in 1..5 {
            exits.extend(a.update((100, 100), f, &[]));
        }
        assert_eq!(exits.len(), 1);
        assert_eq!(exits[0].kind, EventKind::ZoneExited { dwell_ns: 3 });
        assert_eq!(a.counts().zones["left"]["person"].inside, 0);
    }
}
