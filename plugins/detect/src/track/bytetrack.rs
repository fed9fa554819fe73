// SPDX-License-Identifier: MIT OR Apache-2.0
//! ByteTrack (Zhang et al., 2022) as ultralytics runs it (`BYTETracker`, the reference our
//! parity test reads): high-confidence detections matched to all live tracks first (IoU fused
//! with the score), then the low-confidence ones to the tracks still unmatched, then the tracks
//! born last frame; a track lost for more than `track_buffer` frames ends.

use super::assignment::assign;
use super::kalman::{self, Covariance, Mean};

/// ByteTrack's thresholds (defaults: ultralytics' `bytetrack.yaml`).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerOptions {
    /// Detections scoring at least this are matched first (and may start tracks).
    pub high_thresh: f32,
    /// Detections scoring above this (and below `high_thresh`) keep tracks alive in the second
    /// association.
    pub low_thresh: f32,
    /// A detection no track took starts a new track when it scores at least this.
    pub new_track_thresh: f32,
    /// Frames a lost track is kept for re-identification.
    pub track_buffer: u32,
    /// The largest matching cost (1 − IoU, fused with the score) of the first association.
    pub match_thresh: f32,
    /// Weigh the IoU by the detection's score in the first and third associations.
    pub fuse_score: bool,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            high_thresh: 0.25,
            low_thresh: 0.1,
            new_track_thresh: 0.25,
            track_buffer: 30,
            match_thresh: 0.8,
            fuse_score: true,
        }
    }
}

/// One detection of a frame, as the tracker takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackInput {
    /// `[x1, y1, x2, y2]`, frame pixels.
    pub xyxy: [f32; 4],
    /// The detection's score.
    pub score: f32,
    /// The detection's class.
    pub class_id: u32,
}

/// Where a track stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackState {
    /// Matched in this frame.
    Tracked,
    /// Not seen lately; kept for `track_buffer` frames.
    Lost,
    /// Ended.
    Removed,
}

/// A track seen in this frame: which detection it took, and the tracker's view of it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedObject {
    /// Stable across frames, from 1 for each tracker.
    pub track_id: u64,
    /// Index of the detection (in the frame's input) this track took.
    pub detection: usize,
    /// The filtered box `[x1, y1, x2, y2]` (Kalman state after this frame's measurement).
    pub xyxy: [f32; 4],
    /// Score of the detection it took.
    pub score: f32,
    /// Class of the detection it took (tracks follow objects, not classes: it may change).
    pub class_id: u32,
    /// Frames since the track started.
    pub age: u64,
    /// Centre velocity in pixels per frame.
    pub velocity: [f32; 2],
}

#[derive(Debug, Clone)]
struct Track {
    id: u64,
    mean: Mean,
    covariance: Covariance,
    state: TrackState,
    activated: bool,
    score: f32,
    class_id: u32,
    detection: usize,
    frame: u64,
    start: u64,
}

/// A candidate of this frame: ltwh as ultralytics derives it from xyxy (in float32).
#[derive(Debug, Clone, Copy)]
struct Candidate {
    ltwh: [f32; 4],
    score: f32,
    class_id: u32,
    index: usize,
}

impl Candidate {
    fn new(input: &TrackInput, index: usize) -> Self {
        let [x1, y1, x2, y2] = input.xyxy;
        let (cx, cy, w, h) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1);
        let left = (f64::from(cx) - f64::from(w) / 2.0) as f32;
        let top = (f64::from(cy) - f64::from(h) / 2.0) as f32;
        Self {
            ltwh: [left, top, w, h],
            score: input.score,
            class_id: input.class_id,
            index,
        }
    }

    fn xyxy(&self) -> [f32; 4] {
        let [l, t, w, h] = self.ltwh;
        [l, t, w + l, h + t]
    }

    /// `[cx, cy, w/h, h]`, computed in float32 as the reference does.
    fn xyah(&self) -> [f64; 4] {
        let [l, t, w, h] = self.ltwh;
        [l + w / 2.0, t + h / 2.0, w / h, h].map(f64::from)
    }
}

impl Track {
    fn xyxy(&self) -> [f64; 4] {
        let w = self.mean[2] * self.mean[3];
        let h = self.mean[3];
        let (l, t) = (self.mean[0] - w / 2.0, self.mean[1] - h / 2.0);
        [l, t, w + l, h + t]
    }

    fn take(&mut self, c: &Candidate, frame: u64) {
        (self.mean, self.covariance) = kalman::update(&self.mean, &self.covariance, c.xyah());
        self.state = TrackState::Tracked;
        self.activated = true;
        self.frame = frame;
        self.score = c.score;
        self.class_id = c.class_id;
        self.detection = c.index;
    }
}

/// ByteTrack over the frames of one stream.
#[derive(Debug, Clone, Default)]
pub struct ByteTracker {
    options: TrackerOptions,
    frame: u64,
    last_id: u64,
    tracked: Vec<Track>,
    lost: Vec<Track>,
}

impl ByteTracker {
    /// A tracker that has seen no frame.
    pub fn new(options: TrackerOptions) -> Self {
        Self {
            options,
            ..Default::default()
        }
    }

    /// New thresholds from the next frame on; the tracks go on.
    pub fn set_options(&mut self, options: TrackerOptions) {
        self.options = options;
    }

    /// Frames seen so far.
    pub fn frames(&self) -> u64 {
        self.frame
    }

    /// Takes one frame's detections; returns the tracks that took one of them, in the
    /// tracker's order.
    pub fn update(&mut self, detections: &[TrackInput]) -> Vec<TrackedObject> {
        self.frame += 1;
        let frame = self.frame;
        let o = self.options.clone();
        let mut high = Vec::new();
        let mut low = Vec::new();
        for (i, d) in detections.iter().enumerate() {
            let c = Candidate::new(d, i);
            if !(c.ltwh[2] > 0.0 && c.ltwh[3] > 0.0) {
                continue;
            }
            if d.score >= o.high_thresh {
                high.push(c);
            } else if d.score > o.low_thresh {
                low.push(c);
            }
        }

        // Every track lives in `all`; the lists below are indices into it.
        let mut all: Vec<Track> = std::mem::take(&mut self.tracked);
        let before_tracked = all.len();
        all.append(&mut self.lost);
        let (unconfirmed, confirmed): (Vec<usize>, Vec<usize>) =
            (0..before_tracked).partition(|&i| !all[i].activated);
        let lost_before: Vec<usize> = (before_tracked..all.len()).collect();
        let pool: Vec<usize> = confirmed.iter().chain(&lost_before).copied().collect();
        for &i in &pool {
            let t = &mut all[i];
            let mut mean = t.mean;
            if t.state != TrackState::Tracked {
                mean[7] = 0.0;
            }
            (t.mean, t.covariance) = kalman::predict(&mean, &t.covariance);
        }

        let mut activated: Vec<usize> = Vec::new();
        let mut refound: Vec<usize> = Vec::new();
        let mut lost_now: Vec<usize> = Vec::new();
        let mut removed: Vec<u64> = Vec::new();

        // 1. High-score detections against every live track.
        let costs = self.costs(&all, &pool, &high, o.fuse_score);
        let first = assign(&costs, pool.len(), high.len(), f64::from(o.match_thresh));
        let mut took =
            |all: &mut [Track], rows: &[usize], matches: &[(usize, usize)], from: &[Candidate]| {
                for &(t, d) in matches {
                    let track = &mut all[rows[t]];
                    let was_tracked = track.state == TrackState::Tracked;
                    track.take(&from[d], frame);
                    (if was_tracked {
                        &mut activated
                    } else {
                        &mut refound
                    })
                    .push(rows[t]);
                }
            };
        took(&mut all, &pool, &first.matches, &high);

        // 2. Low-score detections against the tracked tracks still unmatched.
        let remaining: Vec<usize> = first
            .unmatched_rows
            .iter()
            .map(|&t| pool[t])
            .filter(|&i| all[i].state == TrackState::Tracked)
            .collect();
        let mut unmatched: Vec<usize> = (0..remaining.len()).collect();
        if !remaining.is_empty() && !low.is_empty() {
            let costs = self.costs(&all, &remaining, &low, false);
            let second = assign(&costs, remaining.len(), low.len(), 0.5);
            took(&mut all, &remaining, &second.matches, &low);
            unmatched = second.unmatched_rows;
        }
        for t in unmatched {
            all[remaining[t]].state = TrackState::Lost;
            lost_now.push(remaining[t]);
        }

        // 3. Tracks born last frame against the high-score detections left.
        let left: Vec<Candidate> = first.unmatched_cols.iter().map(|&d| high[d]).collect();
        let mut newborn: Vec<usize> = (0..left.len()).collect();
        if !unconfirmed.is_empty() {
            let costs = self.costs(&all, &unconfirmed, &left, o.fuse_score);
            let third = assign(&costs, unconfirmed.len(), left.len(), 0.7);
            for &(t, d) in &third.matches {
                all[unconfirmed[t]].take(&left[d], frame);
                activated.push(unconfirmed[t]);
            }
            for t in third.unmatched_rows {
                all[unconfirmed[t]].state = TrackState::Removed;
                removed.push(all[unconfirmed[t]].id);
            }
            newborn = third.unmatched_cols;
        }

        // 4. New tracks from confident detections nobody took.
        for d in newborn {
            let c = &left[d];
            if c.score < o.new_track_thresh {
                continue;
            }
            self.last_id += 1;
            let (mean, covariance) = kalman::initiate(c.xyah());
            all.push(Track {
                id: self.last_id,
                mean,
                covariance,
                state: TrackState::Tracked,
                activated: frame == 1,
                score: c.score,
                class_id: c.class_id,
                detection: c.index,
                frame,
                start: frame,
            });
            activated.push(all.len() - 1);
        }

        // 5. Lost too long: ended.
        for &i in &lost_before {
            if frame - all[i].frame > u64::from(o.track_buffer) {
                all[i].state = TrackState::Removed;
                removed.push(all[i].id);
            }
        }

        // The lists for the next frame, merged by track id as the reference merges them.
        let mut tracked: Vec<usize> = (0..before_tracked)
            .filter(|&i| all[i].state == TrackState::Tracked)
            .collect();
        join(&all, &mut tracked, &activated);
        join(&all, &mut tracked, &refound);
        let tracked_ids: std::collections::HashSet<u64> =
            tracked.iter().map(|&i| all[i].id).collect();
        let mut lost: Vec<usize> = lost_before
            .iter()
            .copied()
            .filter(|&i| !tracked_ids.contains(&all[i].id))
            .collect();
        lost.extend(lost_now);
        lost.retain(|&i| !removed.contains(&all[i].id));
        let (tracked, lost) = remove_duplicates(&all, tracked, lost);

        let out = tracked
            .iter()
            .map(|&i| &all[i])
            .filter(|t| t.activated)
            .map(|t| TrackedObject {
                track_id: t.id,
                detection: t.detection,
                xyxy: t.xyxy().map(|v| v as f32),
                score: t.score,
                class_id: t.class_id,
                age: frame - t.start,
                velocity: [t.mean[4] as f32, t.mean[5] as f32],
            })
            .collect();
        let mut keep: Vec<Option<Track>> = all.into_iter().map(Some).collect();
        self.tracked = tracked.iter().filter_map(|&i| keep[i].take()).collect();
        self.lost = lost.iter().filter_map(|&i| keep[i].take()).collect();
        out
    }

    /// 1 − IoU of tracks × candidates (in float32, as the reference computes it), optionally
    /// fused with the candidates' scores.
    fn costs(
        &self,
        all: &[Track],
        tracks: &[usize],
        candidates: &[Candidate],
        fuse: bool,
    ) -> Vec<f32> {
        let mut out = Vec::with_capacity(tracks.len() * candidates.len());
        for &t in tracks {
            let a = all[t].xyxy().map(|v| v as f32);
            for c in candidates {
                let cost = 1.0 - iou(a, c.xyxy());
                out.push(if fuse {
                    1.0 - (1.0 - cost) * c.score
                } else {
                    cost
                });
            }
        }
        out
    }
}

/// IoU of two xyxy boxes in float32 with ultralytics' epsilon.
fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    if inter == 0.0 {
        // Most pairs do not touch: the division would give exactly 0.
        return 0.0;
    }
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    inter / (area_b + area_a - inter + 1e-7)
}

/// Appends the tracks of `more` whose id `list` does not hold yet.
fn join(all: &[Track], list: &mut Vec<usize>, more: &[usize]) {
    let mut ids: std::collections::HashSet<u64> = list.iter().map(|&j| all[j].id).collect();
    for &i in more {
        if ids.insert(all[i].id) {
            list.push(i);
        }
    }
}

/// A tracked and a lost track on the same object (IoU > 0.85): the younger one goes.
fn remove_duplicates(
    all: &[Track],
    tracked: Vec<usize>,
    lost: Vec<usize>,
) -> (Vec<usize>, Vec<usize>) {
    let mut drop_tracked = vec![false; tracked.len()];
    let mut drop_lost = vec![false; lost.len()];
    for (p, &a) in tracked.iter().enumerate() {
        let boxa = all[a].xyxy().map(|v| v as f32);
        for (q, &b) in lost.iter().enumerate() {
            if 1.0 - iou(boxa, all[b].xyxy().map(|v| v as f32)) < 0.15 {
                let age_p = all[a].frame - all[a].start;
                let age_q = all[b].frame - all[b].start;
                if age_p > age_q {
                    drop_lost[q] = true;
                } else {
                    drop_tracked[p] = true;
                }
            }
        }
    }
    let keep = |list: Vec<usize>, drop: Vec<bool>| {
        list.into_iter()
            .zip(drop)
            .filter(|&(_, d)| !d)
            .map(|(i, _)| i)
            .collect()
    };
    (keep(tracked, drop_tracked), keep(lost, drop_lost))
}
