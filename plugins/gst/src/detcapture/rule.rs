// SPDX-License-Identifier: MIT OR Apache-2.0
//! Which frames are worth a person's look: where the model was unsure (a detection scored in a
//! band around the threshold, a tracked object whose class changed, a detection seen in one frame
//! only), every frame, or frames with given classes; no more often than the rate allows.

use std::collections::HashMap;
use std::str::FromStr;

use hmg_detect::Detection;
use hmg_detect::metrics::box_iou;

/// What `mode` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// A detection (or near miss) scored in the band, a track whose class flipped, or a
    /// detection seen in one frame only.
    Uncertain,
    /// Every frame (still rate-limited).
    All,
    /// Frames with a detection of one of these labels.
    Classes(Vec<String>),
}

impl FromStr for Rule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "uncertain" => Ok(Rule::Uncertain),
            "all" => Ok(Rule::All),
            other => match other.strip_prefix("classes=") {
                Some(list) => {
                    let names: Vec<String> = list
                        .split(',')
                        .map(|n| n.trim().to_string())
                        .filter(|n| !n.is_empty())
                        .collect();
                    if names.is_empty() {
                        Err(
                            "classes= needs at least one class name, e.g. classes=person,car"
                                .into(),
                        )
                    } else {
                        Ok(Rule::Classes(names))
                    }
                }
                None => Err(format!(
                    "unknown capture mode '{other}': use uncertain, all or classes=NAME,NAME"
                )),
            },
        }
    }
}

/// Why a frame was kept: the kind (`uncertain`, `class-flip`, `single-frame`, `all`, `class`) and
/// what was seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub kind: &'static str,
    pub detail: String,
}

/// Tracks not seen for this many frames are forgotten (their class no longer compared).
const FORGET_AFTER_FRAMES: u64 = 300;

/// Boxes of one class overlapping at least this much in consecutive frames are the same object.
const SAME_OBJECT_IOU: f32 = 0.3;

/// What to do with the frame just considered and the one held back before it.
#[derive(Debug, Default, PartialEq)]
pub struct Verdict {
    /// Keep this frame.
    pub now: Option<Reason>,
    /// Keep the frame held back at the previous call: a detection that appeared in it is gone.
    pub held: Option<Reason>,
    /// Hold this frame until the next one: a detection appeared in it (in no frame before).
    pub hold: bool,
}

/// A class and box, as compared between consecutive frames.
type Seen = (u32, [f32; 4]);

fn seen(d: &Detection) -> Seen {
    (d.class_id, [d.x1, d.y1, d.x2, d.y2])
}

/// Whether `boxes` has one of `b`'s class overlapping it.
fn present(boxes: &[Seen], b: &Seen) -> bool {
    boxes
        .iter()
        .any(|o| o.0 == b.0 && box_iou(&o.1, &b.1) >= SAME_OBJECT_IOU)
}

/// Decides frame by frame; remembers each track's class and when it last kept a frame.
#[derive(Debug)]
pub struct Chooser {
    rule: Rule,
    band: (f32, f32),
    min_gap_ns: u64,
    last_kept_ns: Option<u64>,
    /// Track id → (class id, label, frame last seen).
    track_classes: HashMap<u64, (u32, String, u64)>,
    frame: u64,
    /// Frames that qualified but came too soon after the last one kept.
    pub rate_limited: u64,
    /// The previous frame's detections and near misses (None: no previous frame to compare with,
    /// at the start or after a seek).
    previous: Option<Vec<Seen>>,
    /// The held frame's time and the detections that appeared in it.
    held: Option<(u64, Vec<(Seen, String)>)>,
}

impl Chooser {
    /// `band`: confidences in `[low, high)` count as unsure; `per_minute`: at most this many
    /// frames a minute of stream time (0: no limit).
    pub fn new(rule: Rule, band: (f32, f32), per_minute: f64) -> Self {
        let min_gap_ns = if per_minute > 0.0 {
            (60e9 / per_minute) as u64
        } else {
            0
        };
        Self {
            rule,
            band,
            min_gap_ns,
            last_kept_ns: None,
            track_classes: HashMap::new(),
            frame: 0,
            rate_limited: 0,
            previous: None,
            held: None,
        }
    }

    /// Whether the uncertain rule is in use: the only one that reads track ids and near misses.
    pub fn uncertain(&self) -> bool {
        self.rule == Rule::Uncertain
    }

    /// What to do with the frame at `at_ns` with `dets`, the near misses `near` (detections just
    /// below the threshold) and the detections' track ids, when tracked.
    pub fn consider(
        &mut self,
        at_ns: u64,
        dets: &[Detection],
        near: &[Detection],
        tracks: &[Option<u64>],
    ) -> Verdict {
        let mut verdict = Verdict::default();
        let uncertain = self.rule == Rule::Uncertain;
        let flip = if uncertain {
            self.class_flip(dets, tracks)
        } else {
            None
        };
        self.frame += 1;
        let mut now_seen: Vec<Seen> = Vec::new();
        if uncertain {
            now_seen.extend(dets.iter().chain(near).map(seen));
            verdict.held = self.release_held(&now_seen);
        }
        let reason = match &self.rule {
            Rule::All => Some(Reason {
                kind: "all",
                detail: format!("{} detections", dets.len()),
            }),
            Rule::Classes(names) => dets
                .iter()
                .find(|d| names.iter().any(|n| n == d.label.as_str()))
                .map(|d| Reason {
                    kind: "class",
                    detail: format!("{} {:.2}", d.label.as_str(), d.confidence),
                }),
            Rule::Uncertain => self.least_sure(dets, near).or(flip),
        };
        if let Some(reason) = reason {
            if self.too_soon(at_ns) {
                self.rate_limited += 1;
            } else {
                self.last_kept_ns = Some(at_ns);
                verdict.now = Some(reason);
            }
        } else if let Some(previous) = self.previous.as_deref().filter(|_| uncertain)
            && !self.too_soon(at_ns)
        {
            // A detection no box of the previous frame matches: hold the frame to see whether the
            // next one still has it. The first frame has no previous one to tell.
            let appeared: Vec<(Seen, String)> = dets
                .iter()
                .filter(|d| !present(previous, &seen(d)))
                .map(|d| (seen(d), format!("{} {:.2}", d.label.as_str(), d.confidence)))
                .collect();
            if !appeared.is_empty() {
                self.held = Some((at_ns, appeared));
                verdict.hold = true;
            }
        }
        self.previous = Some(now_seen);
        verdict
    }

    /// The stream jumped (a seek, a flush): the next frame is not the one after the last, so no
    /// frame is held across the jump and none is compared with the frame before it.
    pub fn jumped(&mut self) {
        self.previous = None;
        self.held = None;
    }

    fn too_soon(&self, at_ns: u64) -> bool {
        self.last_kept_ns
            .is_some_and(|last| at_ns >= last && at_ns - last < self.min_gap_ns)
    }

    /// The weakest detection or near miss scored in the band.
    fn least_sure(&self, dets: &[Detection], near: &[Detection]) -> Option<Reason> {
        let in_band = |d: &&Detection| d.confidence >= self.band.0 && d.confidence < self.band.1;
        let weakest = |list: &[Detection]| {
            list.iter()
                .filter(in_band)
                .min_by(|a, b| a.confidence.total_cmp(&b.confidence))
                .map(|d| (d.label.as_str().to_string(), d.confidence))
        };
        let (label, confidence, near_miss) = match (weakest(near), weakest(dets)) {
            (Some((l, c)), _) => (l, c, true),
            (None, Some((l, c))) => (l, c, false),
            (None, None) => return None,
        };
        Some(Reason {
            kind: "uncertain",
            detail: format!(
                "{label} {confidence:.2}{}",
                if near_miss { " (near miss)" } else { "" }
            ),
        })
    }

    /// The reason to keep the held frame, when a detection that appeared in it is gone now.
    fn release_held(&mut self, now_seen: &[Seen]) -> Option<Reason> {
        let (at_ns, appeared) = self.held.take()?;
        let (_, detail) = appeared.iter().find(|(b, _)| !present(now_seen, b))?;
        self.last_kept_ns = Some(at_ns);
        Some(Reason {
            kind: "single-frame",
            detail: format!("{detail}, in one frame only"),
        })
    }

    /// A tracked object now given another class than the last time it was seen.
    fn class_flip(&mut self, dets: &[Detection], tracks: &[Option<u64>]) -> Option<Reason> {
        let mut flip = None;
        if tracks.len() == dets.len() {
            for (d, id) in dets.iter().zip(tracks) {
                let Some(id) = *id else { continue };
                let now = (d.class_id, d.label.as_str().to_string(), self.frame);
                if let Some((class, label, _)) = self.track_classes.insert(id, now)
                    && class != d.class_id
                    && flip.is_none()
                {
                    flip = Some(Reason {
                        kind: "class-flip",
                        detail: format!("track {id}: {label} → {}", d.label.as_str()),
                    });
                }
            }
        }
        let frame = self.frame;
        self.track_classes
            .retain(|_, (_, _, seen)| frame - *seen < FORGET_AFTER_FRAMES);
        flip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class_id: u32, label: &str, confidence: f32) -> Detection {
        Detection {
            class_id,
            label: label.into(),
            confidence,
            x1: 0.0,
            y1: 0.0,
            x2: 10.0,
            y2: 10.0,
        }
    }

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn modes_parse_and_bad_ones_say_what_to_write() {
        assert_eq!("uncertain".parse::<Rule>(), Ok(Rule::Uncertain));
        assert_eq!("all".parse::<Rule>(), Ok(Rule::All));
        assert_eq!(
            "classes=person, car".parse::<Rule>(),
            Ok(Rule::Classes(vec!["person".into(), "car".into()]))
        );
        assert!(
            "classes="
                .parse::<Rule>()
                .unwrap_err()
                .contains("at least one")
        );
        assert!(
            "unsure"
                .parse::<Rule>()
                .unwrap_err()
                .contains("uncertain, all")
        );
    }

    #[test]
    fn a_score_inside_the_band_is_kept_one_outside_is_not() {
        let mut c = Chooser::new(Rule::Uncertain, (0.35, 0.55), 0.0);
        assert_eq!(c.consider(0, &[det(0, "person", 0.9)], &[], &[]).now, None);
        assert_eq!(c.consider(1, &[det(0, "person", 0.55)], &[], &[]).now, None);
        let kept = c
            .consider(2, &[det(0, "person", 0.9), det(2, "car", 0.35)], &[], &[])
            .now;
        assert_eq!(kept.unwrap().detail, "car 0.35");
        assert_eq!(c.consider(3, &[], &[], &[]).now, None);
    }

    #[test]
    fn a_track_changing_class_is_kept_once() {
        let mut c = Chooser::new(Rule::Uncertain, (0.35, 0.55), 0.0);
        let ids = [Some(7)];
        assert_eq!(c.consider(0, &[det(2, "car", 0.9)], &[], &ids).now, None);
        let flip = c
            .consider(1, &[det(7, "truck", 0.9)], &[], &ids)
            .now
            .unwrap();
        assert_eq!(
            (flip.kind, flip.detail.as_str()),
            ("class-flip", "track 7: car → truck")
        );
        assert_eq!(c.consider(2, &[det(7, "truck", 0.9)], &[], &ids).now, None);
        // Another track with the same class as the first had: no flip.
        assert_eq!(
            c.consider(3, &[det(2, "car", 0.9)], &[], &[Some(8)]).now,
            None
        );
    }

    #[test]
    fn the_rate_limit_counts_what_it_holds_back() {
        let mut c = Chooser::new(Rule::All, (0.0, 0.0), 6.0);
        let kept: Vec<u64> = (0..30)
            .map(|s| s * SECOND)
            .filter(|&t| c.consider(t, &[], &[], &[]).now.is_some())
            .collect();
        assert_eq!(kept, [0, 10 * SECOND, 20 * SECOND]);
        assert_eq!(c.rate_limited, 27);
        // A stream that starts again (time going back) is not held back.
        assert!(c.consider(SECOND, &[], &[], &[]).now.is_some());
    }

    #[test]
    fn classes_keep_only_frames_with_those_labels() {
        let mut c = Chooser::new(Rule::Classes(vec!["dog".into()]), (0.0, 0.0), 0.0);
        assert_eq!(c.consider(0, &[det(0, "person", 0.9)], &[], &[]).now, None);
        assert_eq!(
            c.consider(1, &[det(16, "dog", 0.4)], &[], &[])
                .now
                .unwrap()
                .kind,
            "class"
        );
    }

    fn at(class_id: u32, label: &str, confidence: f32, x: f32) -> Detection {
        Detection {
            x1: x,
            x2: x + 10.0,
            ..det(class_id, label, confidence)
        }
    }

    #[test]
    fn a_near_miss_in_the_band_is_kept_and_named() {
        let mut c = Chooser::new(Rule::Uncertain, (0.15, 0.45), 0.0);
        let sure = [det(0, "person", 0.9)];
        assert_eq!(
            c.consider(0, &sure, &[at(2, "car", 0.1, 50.0)], &[]).now,
            None
        );
        let kept = c.consider(1, &sure, &[at(2, "car", 0.2, 50.0)], &[]).now;
        assert_eq!(kept.unwrap().detail, "car 0.20 (near miss)");
    }

    #[test]
    fn a_detection_in_one_frame_only_keeps_the_frame_it_was_in() {
        let mut c = Chooser::new(Rule::Uncertain, (0.15, 0.45), 0.0);
        let person = det(0, "person", 0.9);
        let alone = [person.clone()];
        // The first frame cannot tell what appeared.
        assert!(!c.consider(0, &alone, &[], &[]).hold);
        let flash = [person.clone(), at(14, "bird", 0.8, 100.0)];
        assert!(c.consider(1, &flash, &[], &[]).hold);
        let gone = c.consider(2, &alone, &[], &[]);
        let held = gone.held.unwrap();
        assert_eq!(
            (held.kind, held.detail.as_str()),
            ("single-frame", "bird 0.80, in one frame only")
        );
        assert!(!gone.hold && gone.now.is_none());
        // One that stays (or stays as a near miss) is not kept.
        assert!(c.consider(3, &flash, &[], &[]).hold);
        assert_eq!(c.consider(4, &flash, &[], &[]).held, None);
        assert!(c.consider(5, &alone, &[], &[]).held.is_none());
        assert!(c.consider(6, &flash, &[], &[]).hold);
        assert_eq!(
            c.consider(7, &alone, &[at(14, "bird", 0.1, 102.0)], &[])
                .held,
            None
        );
        // Of another class, the same box is another object.
        c.consider(8, &alone, &[], &[]);
        assert!(c.consider(9, &flash, &[], &[]).hold);
        assert!(
            c.consider(10, &[person, at(15, "cat", 0.8, 100.0)], &[], &[])
                .held
                .is_some()
        );
    }

    #[test]
    fn nothing_is_held_or_compared_across_a_seek() {
        let mut c = Chooser::new(Rule::Uncertain, (0.15, 0.45), 0.0);
        let person = [det(0, "person", 0.9)];
        let flash = [det(0, "person", 0.9), at(14, "bird", 0.8, 100.0)];
        c.consider(0, &person, &[], &[]);
        assert!(c.consider(1, &flash, &[], &[]).hold);
        c.jumped();
        // The held frame is forgotten, and the first frame after the jump holds nothing.
        assert_eq!(c.consider(50, &person, &[], &[]).held, None);
        c.jumped();
        assert!(!c.consider(60, &flash, &[], &[]).hold);
        assert!(c.consider(61, &person, &[], &[]).held.is_none());
    }

    #[test]
    fn a_held_frame_counts_against_the_rate() {
        let mut c = Chooser::new(Rule::Uncertain, (0.15, 0.45), 6.0);
        let person = [det(0, "person", 0.9)];
        let flash = [det(0, "person", 0.9), at(14, "bird", 0.8, 100.0)];
        c.consider(0, &person, &[], &[]);
        assert!(c.consider(SECOND, &flash, &[], &[]).hold);
        assert!(c.consider(2 * SECOND, &person, &[], &[]).held.is_some());
        // Within 10 s of the frame kept, nothing is held or kept.
        assert!(!c.consider(3 * SECOND, &flash, &[], &[]).hold);
        let unsure = [det(0, "person", 0.3)];
        assert_eq!(c.consider(4 * SECOND, &unsure, &[], &[]).now, None);
        assert_eq!(c.rate_limited, 1);
        assert!(c.consider(11 * SECOND, &unsure, &[], &[]).now.is_some());
    }

    #[test]
    fn other_modes_hold_nothing() {
        let mut c = Chooser::new(Rule::Classes(vec!["dog".into()]), (0.0, 0.0), 0.0);
        c.consider(0, &[], &[], &[]);
        assert!(!c.consider(1, &[at(14, "bird", 0.8, 100.0)], &[], &[]).hold);
    }
}
