// SPDX-License-Identifier: MIT OR Apache-2.0
//! Which frames are worth a person's look: where the model was unsure (a detection scored in a
//! band just above the threshold, a tracked object whose class changed), every frame, or frames
//! with given classes; no more often than the rate allows.

use std::collections::HashMap;
use std::str::FromStr;

use hmg_detect::Detection;

/// What `mode` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// A detection scored in the band, or a track whose class flipped.
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

/// Why a frame was kept: the kind (`uncertain`, `class-flip`, `all`, `class`) and what was seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub kind: &'static str,
    pub detail: String,
}

/// Tracks not seen for this many frames are forgotten (their class no longer compared).
const FORGET_AFTER_FRAMES: u64 = 300;

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
        }
    }

    /// Whether class flips of tracked objects count (only for the uncertain rule).
    pub fn watches_tracks(&self) -> bool {
        self.rule == Rule::Uncertain
    }

    /// Whether to keep the frame at `at_ns` with `dets` (and their track ids, when tracked).
    pub fn consider(
        &mut self,
        at_ns: u64,
        dets: &[Detection],
        tracks: &[Option<u64>],
    ) -> Option<Reason> {
        let flip = self.class_flip(dets, tracks);
        self.frame += 1;
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
            Rule::Uncertain => dets
                .iter()
                .filter(|d| d.confidence >= self.band.0 && d.confidence < self.band.1)
                .min_by(|a, b| a.confidence.total_cmp(&b.confidence))
                .map(|d| Reason {
                    kind: "uncertain",
                    detail: format!("{} {:.2}", d.label.as_str(), d.confidence),
                })
                .or(flip),
        }?;
        let too_soon = self
            .last_kept_ns
            .is_some_and(|last| at_ns >= last && at_ns - last < self.min_gap_ns);
        if too_soon {
            self.rate_limited += 1;
            return None;
        }
        self.last_kept_ns = Some(at_ns);
        Some(reason)
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
        assert_eq!(c.consider(0, &[det(0, "person", 0.9)], &[]), None);
        assert_eq!(c.consider(1, &[det(0, "person", 0.55)], &[]), None);
        let kept = c.consider(2, &[det(0, "person", 0.9), det(2, "car", 0.35)], &[]);
        assert_eq!(kept.unwrap().detail, "car 0.35");
        assert_eq!(c.consider(3, &[], &[]), None);
    }

    #[test]
    fn a_track_changing_class_is_kept_once() {
        let mut c = Chooser::new(Rule::Uncertain, (0.35, 0.55), 0.0);
        let ids = [Some(7)];
        assert_eq!(c.consider(0, &[det(2, "car", 0.9)], &ids), None);
        let flip = c.consider(1, &[det(7, "truck", 0.9)], &ids).unwrap();
        assert_eq!(
            (flip.kind, flip.detail.as_str()),
            ("class-flip", "track 7: car → truck")
        );
        assert_eq!(c.consider(2, &[det(7, "truck", 0.9)], &ids), None);
        // Another track with the same class as the first had: no flip.
        assert_eq!(c.consider(3, &[det(2, "car", 0.9)], &[Some(8)]), None);
    }

    #[test]
    fn the_rate_limit_counts_what_it_holds_back() {
        let mut c = Chooser::new(Rule::All, (0.0, 0.0), 6.0);
        let kept: Vec<u64> = (0..30)
            .map(|s| s * SECOND)
            .filter(|&t| c.consider(t, &[], &[]).is_some())
            .collect();
        assert_eq!(kept, [0, 10 * SECOND, 20 * SECOND]);
        assert_eq!(c.rate_limited, 27);
        // A stream that starts again (time going back) is not held back.
        assert!(c.consider(SECOND, &[], &[]).is_some());
    }

    #[test]
    fn classes_keep_only_frames_with_those_labels() {
        let mut c = Chooser::new(Rule::Classes(vec!["dog".into()]), (0.0, 0.0), 0.0);
        assert_eq!(c.consider(0, &[det(0, "person", 0.9)], &[]), None);
        assert_eq!(
            c.consider(1, &[det(16, "dog", 0.4)], &[]).unwrap().kind,
            "class"
        );
    }
}
