// SPDX-License-Identifier: MIT OR Apache-2.0
//! ByteTrack (Zhang et al., 2022) as ultralytics runs it (`BYTETracker`, the reference our
//! parity test reads): high-confidence detections matched to all live tracks first (IoU fused
//! with the score), then the low-confidence ones to the tracks still unmatched, then the tracks
//! born last frame; a track lost for more than `track_buffer` frames ends.

use super::assignment::{Assignment, assign_edges};
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

/// The buffers one association needs, kept so that a frame allocates little.
#[derive(Debug, Clone, Default)]
struct Scratch {
    index: OverlapIndex,
    track_boxes: Vec<Xyxy>,
    candidate_boxes: Vec<Xyxy>,
    edges: Vec<(usize, usize, f64)>,
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
        let mut high = Vec::with_capacity(detections.len());
        let mut low = Vec::with_capacity(detections.len());
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

        let mut all = std::mem::take(&mut self.tracks);
        let (unconfirmed, confirmed): (Vec<usize>, Vec<usize>) =
            self.tracked.iter().partition(|&&i| !all[i].activated);
        let lost_before = std::mem::take(&mut self.lost);
        let pool: Vec<usize> = confirmed.iter().chain(&lost_before).copied().collect();
        for &i in &pool {
            let t = &mut all[i];
            if t.state != TrackState::Tracked {
                t.mean[7] = 0.0;
            }
            kalman::predict(&mut t.mean, &mut t.covariance);
        }

        let live = all.len() + detections.len();
        let mut activated: Vec<usize> = Vec::with_capacity(live);
        let mut refound: Vec<usize> = Vec::new();
        let mut lost_now: Vec<usize> = Vec::new();
        let mut removed: Vec<usize> = Vec::new();

        // 1. High-score detections against every live track.
        let first = associate(
            &mut self.scratch,
            &all,
            &pool,
            &high,
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
            let second = associate(&mut self.scratch, &all, &remaining, &low, false, 0.5);
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
            let third = associate(
                &mut self.scratch,
                &all,
                &unconfirmed,
                &left,
                o.fuse_score,
                0.7,
            );
            for &(t, d) in &third.matches {
                all[unconfirmed[t]].take(&left[d], frame);
                activated.push(unconfirmed[t]);
            }
            for t in third.unmatched_rows {
                all[unconfirmed[t]].state = TrackState::Removed;
                removed.push(unconfirmed[t]);
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
                removed.push(i);
            }
        }

        // The lists for the next frame, merged as the reference merges them by track id (a
        // track is one entry of `all`, so its index stands for its id).
        let mut in_tracked = vec![false; all.len()];
        let mut tracked: Vec<usize> = Vec::with_capacity(all.len());
        for i in self
            .tracked
            .iter()
            .copied()
            .filter(|&i| all[i].state == TrackState::Tracked)
            .chain(activated)
            .chain(refound)
        {
            if !std::mem::replace(&mut in_tracked[i], true) {
                tracked.push(i);
            }
        }
        let mut ended = vec![false; all.len()];
        for &i in &removed {
            ended[i] = true;
        }
        let lost: Vec<usize> = lost_before
            .iter()
            .copied()
            .filter(|&i| !in_tracked[i])
            .chain(lost_now)
            .filter(|&i| !ended[i])
            .collect();
        let (tracked, lost) = remove_duplicates(&mut self.scratch.index, &all, tracked, lost);

        let out = tracked
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
            })
            .collect();

        // The tracks on neither list have ended: the others close up, the lists follow.
        let mut new_index = vec![usize::MAX; all.len()];
        for &i in tracked.iter().chain(&lost) {
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
        self.tracked = tracked.into_iter().map(|i| new_index[i]).collect();
        self.lost = lost.into_iter().map(|i| new_index[i]).collect();
        out
    }
}

/// Matches `tracks` (indices into `all`) to `candidates` on 1 − IoU (in float32, as the
/// reference computes it), optionally fused with the candidates' scores, under `limit`.
fn associate(
    scratch: &mut Scratch,
    all: &[Track],
    tracks: &[usize],
    candidates: &[Candidate],
    fuse: bool,
    limit: f64,
) -> Assignment {
    let Scratch {
        index,
        track_boxes,
        candidate_boxes,
        edges,
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
    assign_edges(tracks.len(), candidates.len(), edges, cost, limit)
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

/// A tracked and a lost track on the same object (IoU > 0.85): the younger one goes.
fn remove_duplicates(
    index: &mut OverlapIndex,
    all: &[Track],
    tracked: Vec<usize>,
    lost: Vec<usize>,
) -> (Vec<usize>, Vec<usize>) {
    if lost.is_empty() {
        return (tracked, lost);
    }
    let mut drop_tracked = vec![false; tracked.len()];
    let mut drop_lost = vec![false; lost.len()];
    let lost_boxes: Vec<Xyxy> = lost.iter().map(|&b| all[b].xyxy_f32()).collect();
    // IoU above 0.85 needs boxes that overlap.
    index.rebuild(&lost_boxes);
    for (p, &a) in tracked.iter().enumerate() {
        let boxa = all[a].xyxy_f32();
        index.overlapping(&boxa, |q| {
            if 1.0 - iou(boxa, lost_boxes[q]) < 0.15 {
                let b = lost[q];
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
    let keep = |list: Vec<usize>, drop: Vec<bool>| {
        list.into_iter()
            .zip(drop)
            .filter(|&(_, d)| !d)
            .map(|(i, _)| i)
            .collect()
    };
    (keep(tracked, drop_tracked), keep(lost, drop_lost))
}
