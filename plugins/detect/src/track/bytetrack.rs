// SPDX-License-Identifier: MIT OR Apache-2.0
//! ByteTrack (Zhang et al., 2022) as ultralytics runs it (`BYTETracker`, the reference our
//! parity test reads): high-confidence detections matched to all live tracks first (IoU fused
//! with the score), then the low-confidence ones to the tracks still unmatched, then the tracks
//! born last frame; a track lost for more than `track_buffer` frames ends.

use super::assignment::{AssignScratch, Assignment, assign_edges_into};
use super::kalman::{self, Covariance, Mean};
use super::overlap::{OverlapIndex, Xyxy};

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

    fn xyxy_f32(&self) -> Xyxy {
        self.xyxy().map(|v| v as f32)
    }

    fn take(&mut self, c: &Candidate, frame: u64) {
        kalman::update(&mut self.mean, &mut self.covariance, c.xyah());
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
    /// Every live track (tracked or lost), where it was born: the lists below index it, so a
    /// frame moves no track.
    tracks: Vec<Track>,
    /// The reference's `tracked_stracks`, in its order.
    tracked: Vec<usize>,
    /// The reference's `lost_stracks`, in its order.
    lost: Vec<usize>,
    /// Reused from frame to frame.
    scratch: Scratch,
}

/// Every buffer a frame needs, kept from frame to frame so that a warm frame allocates nothing
/// (a group of tracks and detections that overlap each other, which the `lapjv` solver takes,
/// is the exception).
#[derive(Debug, Clone, Default)]
struct Scratch {
    assoc: Assoc,
    high: Vec<Candidate>,
    low: Vec<Candidate>,
    /// High-score detections the first association left.
    left: Vec<Candidate>,
    unconfirmed: Vec<usize>,
    confirmed: Vec<usize>,
    lost_before: Vec<usize>,
    pool: Vec<usize>,
    activated: Vec<usize>,
    refound: Vec<usize>,
    lost_now: Vec<usize>,
    removed: Vec<usize>,
    remaining: Vec<usize>,
    tracked_next: Vec<usize>,
    lost_next: Vec<usize>,
    in_tracked: Vec<bool>,
    ended: Vec<bool>,
    new_index: Vec<usize>,
    first: Assignment,
    second: Assignment,
    third: Assignment,
    drop_tracked: Vec<bool>,
    drop_lost: Vec<bool>,
}

/// The buffers of one association.
#[derive(Debug, Clone, Default)]
struct Assoc {
    index: OverlapIndex,
    track_boxes: Vec<Xyxy>,
    candidate_boxes: Vec<Xyxy>,
    edges: Vec<(usize, usize, f64)>,
    assign: AssignScratch,
}

/// `flags` emptied, then `len` times `false`.
fn cleared(flags: &mut Vec<bool>, len: usize) -> &mut Vec<bool> {
    flags.clear();
    flags.resize(len, false);
    flags
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
        let mut out = Vec::new();
        self.update_into(detections, &mut out);
        out
    }

    /// [`update`](Self::update) into `out` (emptied first), so that a caller that keeps `out`
    /// allocates nothing once warm.
    pub fn update_into(&mut self, detections: &[TrackInput], out: &mut Vec<TrackedObject>) {
        self.frame += 1;
        let frame = self.frame;
        let o = self.options.clone();
        let mut s = std::mem::take(&mut self.scratch);
        s.high.clear();
        s.low.clear();
        for (i, d) in detections.iter().enumerate() {
            let c = Candidate::new(d, i);
            if !(c.ltwh[2] > 0.0 && c.ltwh[3] > 0.0) {
                continue;
            }
            if d.score >= o.high_thresh {
                s.high.push(c);
            } else if d.score > o.low_thresh {
                s.low.push(c);
            }
        }

        let mut all = std::mem::take(&mut self.tracks);
        s.unconfirmed.clear();
        s.confirmed.clear();
        for &i in &self.tracked {
            if all[i].activated {
                s.confirmed.push(i);
            } else {
                s.unconfirmed.push(i);
            }
        }
        s.lost_before.clear();
        s.lost_before.extend_from_slice(&self.lost);
        s.pool.clear();
        s.pool.extend(s.confirmed.iter().chain(&s.lost_before));
        for &i in &s.pool {
            let t = &mut all[i];
            if t.state != TrackState::Tracked {
                t.mean[7] = 0.0;
            }
            kalman::predict(&mut t.mean, &mut t.covariance);
        }
        s.activated.clear();
        s.refound.clear();
        s.lost_now.clear();
        s.removed.clear();

        // 1. High-score detections against every live track.
        associate(
            &mut s.assoc,
            &mut s.first,
            &all,
            &s.pool,
            &s.high,
            o.fuse_score,
            f64::from(o.match_thresh),
        );
        let mut took =
            |all: &mut [Track], rows: &[usize], matches: &[(usize, usize)], from: &[Candidate]| {
                for &(t, d) in matches {
                    let track = &mut all[rows[t]];
                    let was_tracked = track.state == TrackState::Tracked;
                    track.take(&from[d], frame);
                    (if was_tracked {
                        &mut s.activated
                    } else {
                        &mut s.refound
                    })
                    .push(rows[t]);
                }
            };
        took(&mut all, &s.pool, &s.first.matches, &s.high);

        // 2. Low-score detections against the tracked tracks still unmatched.
        s.remaining.clear();
        s.remaining.extend(
            s.first
                .unmatched_rows
                .iter()
                .map(|&t| s.pool[t])
                .filter(|&i| all[i].state == TrackState::Tracked),
        );
        let second = !s.remaining.is_empty() && !s.low.is_empty();
        if second {
            associate(
                &mut s.assoc,
                &mut s.second,
                &all,
                &s.remaining,
                &s.low,
                false,
                0.5,
            );
            took(&mut all, &s.remaining, &s.second.matches, &s.low);
        }
        let unmatched = if second {
            s.second.unmatched_rows.len()
        } else {
            s.remaining.len()
        };
        for k in 0..unmatched {
            let i = s.remaining[if second {
                s.second.unmatched_rows[k]
            } else {
                k
            }];
            all[i].state = TrackState::Lost;
            s.lost_now.push(i);
        }

        // 3. Tracks born last frame against the high-score detections left.
        s.left.clear();
        s.left
            .extend(s.first.unmatched_cols.iter().map(|&d| s.high[d]));
        let third = !s.unconfirmed.is_empty();
        if third {
            associate(
                &mut s.assoc,
                &mut s.third,
                &all,
                &s.unconfirmed,
                &s.left,
                o.fuse_score,
                0.7,
            );
            for &(t, d) in &s.third.matches {
                all[s.unconfirmed[t]].take(&s.left[d], frame);
                s.activated.push(s.unconfirmed[t]);
            }
            for &t in &s.third.unmatched_rows {
                all[s.unconfirmed[t]].state = TrackState::Removed;
                s.removed.push(s.unconfirmed[t]);
            }
        }

        // 4. New tracks from confident detections nobody took.
        let newborn = if third {
            s.third.unmatched_cols.len()
        } else {
            s.left.len()
        };
        for k in 0..newborn {
            let c = &s.left[if third { s.third.unmatched_cols[k] } else { k }];
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
            s.activated.push(all.len() - 1);
        }

        // 5. Lost too long: ended.
        for &i in &s.lost_before {
            if frame - all[i].frame > u64::from(o.track_buffer) {
                all[i].state = TrackState::Removed;
                s.removed.push(i);
            }
        }

        // The lists for the next frame, merged as the reference merges them by track id (a
        // track is one entry of `all`, so its index stands for its id).
        let in_tracked = cleared(&mut s.in_tracked, all.len());
        s.tracked_next.clear();
        for i in self
            .tracked
            .iter()
            .copied()
            .filter(|&i| all[i].state == TrackState::Tracked)
            .chain(s.activated.iter().copied())
            .chain(s.refound.iter().copied())
        {
            if !std::mem::replace(&mut in_tracked[i], true) {
                s.tracked_next.push(i);
            }
        }
        let ended = cleared(&mut s.ended, all.len());
        for &i in &s.removed {
            ended[i] = true;
        }
        s.lost_next.clear();
        s.lost_next.extend(
            s.lost_before
                .iter()
                .copied()
                .filter(|&i| !in_tracked[i])
                .chain(s.lost_now.iter().copied())
                .filter(|&i| !ended[i]),
        );
        remove_duplicates(&mut s, &all);

        out.clear();
        out.extend(
            s.tracked_next
                .iter()
                .map(|&i| &all[i])
                .filter(|t| t.activated)
                .map(|t| TrackedObject {
                    track_id: t.id,
                    detection: t.detection,
                    xyxy: t.xyxy_f32(),
                    score: t.score,
                    class_id: t.class_id,
                    age: frame - t.start,
                    velocity: [t.mean[4] as f32, t.mean[5] as f32],
                }),
        );

        if s.tracked_next.len() + s.lost_next.len() == all.len() {
            // No track ended (most frames): every track stays where it is.
            self.tracks = all;
            std::mem::swap(&mut self.tracked, &mut s.tracked_next);
            std::mem::swap(&mut self.lost, &mut s.lost_next);
            self.scratch = s;
            return;
        }
        // The tracks on neither list have ended: the others close up, the lists follow.
        let new_index = &mut s.new_index;
        new_index.clear();
        new_index.resize(all.len(), usize::MAX);
        for &i in s.tracked_next.iter().chain(&s.lost_next) {
            new_index[i] = 0;
        }
        for (next, slot) in new_index.iter_mut().filter(|slot| **slot == 0).enumerate() {
            *slot = next;
        }
        let mut k = 0;
        all.retain(|_| {
            k += 1;
            new_index[k - 1] != usize::MAX
        });
        self.tracks = all;
        self.tracked.clear();
        self.tracked
            .extend(s.tracked_next.iter().map(|&i| new_index[i]));
        self.lost.clear();
        self.lost.extend(s.lost_next.iter().map(|&i| new_index[i]));
        self.scratch = s;
    }
}

/// Matches `tracks` (indices into `all`) to `candidates` on 1 − IoU (in float32, as the
/// reference computes it), optionally fused with the candidates' scores, under `limit`.
fn associate(
    scratch: &mut Assoc,
    out: &mut Assignment,
    all: &[Track],
    tracks: &[usize],
    candidates: &[Candidate],
    fuse: bool,
    limit: f64,
) {
    let Assoc {
        index,
        track_boxes,
        candidate_boxes,
        edges,
        assign,
    } = scratch;
    track_boxes.clear();
    track_boxes.extend(tracks.iter().map(|&t| all[t].xyxy_f32()));
    candidate_boxes.clear();
    candidate_boxes.extend(candidates.iter().map(Candidate::xyxy));
    let cost = |t: usize, c: usize| {
        let cost = 1.0 - iou(track_boxes[t], candidate_boxes[c]);
        f64::from(if fuse {
            1.0 - (1.0 - cost) * candidates[c].score
        } else {
            cost
        })
    };
    edges.clear();
    if limit < 1.0 {
        // Boxes that share no area cost exactly 1: only overlapping pairs can be matched.
        index.rebuild(candidate_boxes);
        for (t, boxt) in track_boxes.iter().enumerate() {
            index.overlapping(boxt, |c| {
                let pair = cost(t, c);
                if pair <= limit {
                    edges.push((t, c, pair));
                }
            });
        }
    } else {
        for t in 0..tracks.len() {
            edges.extend(
                (0..candidates.len())
                    .map(|c| (t, c, cost(t, c)))
                    .filter(|&(_, _, pair)| pair <= limit),
            );
        }
    }
    assign_edges_into(
        assign,
        out,
        tracks.len(),
        candidates.len(),
        edges,
        cost,
        limit,
    );
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

/// A tracked and a lost track on the same object (IoU > 0.85): the younger one goes (from
/// `tracked_next` and `lost_next`).
fn remove_duplicates(s: &mut Scratch, all: &[Track]) {
    if s.lost_next.is_empty() {
        return;
    }
    let drop_tracked = cleared(&mut s.drop_tracked, s.tracked_next.len());
    let drop_lost = cleared(&mut s.drop_lost, s.lost_next.len());
    let lost_boxes = &mut s.assoc.candidate_boxes;
    lost_boxes.clear();
    lost_boxes.extend(s.lost_next.iter().map(|&b| all[b].xyxy_f32()));
    // IoU above 0.85 needs boxes that overlap.
    let index = &mut s.assoc.index;
    index.rebuild(lost_boxes);
    for (p, &a) in s.tracked_next.iter().enumerate() {
        let boxa = all[a].xyxy_f32();
        index.overlapping(&boxa, |q| {
            if 1.0 - iou(boxa, lost_boxes[q]) < 0.15 {
                let b = s.lost_next[q];
                let age_p = all[a].frame - all[a].start;
                let age_q = all[b].frame - all[b].start;
                if age_p > age_q {
                    drop_lost[q] = true;
                } else {
                    drop_tracked[p] = true;
                }
            }
        });
    }
    let mut k = 0;
    s.tracked_next.retain(|_| {
        k += 1;
        !drop_tracked[k - 1]
    });
    let mut k = 0;
    s.lost_next.retain(|_| {
        k += 1;
        !drop_lost[k - 1]
    });
}
