// SPDX-License-Identifier: MIT OR Apache-2.0
//! Which encoded samples go into which clip: a ring of the last seconds of encoded video, and
//! the clips of events in progress. No GStreamer here: a sample is any cheaply cloned handle
//! (a `gst::Buffer` in hmg detect).
//!
//! A clip starts at the last keyframe at or before `pre` ahead of its event (a clip must start
//! on a keyframe to play), and ends `post` after the event ended — or at `max_len`, so that a
//! track that never ends cannot hold memory for ever.

use std::collections::VecDeque;

/// One encoded frame.
#[derive(Debug, Clone)]
pub struct Sample<B> {
    /// Presentation time, nanoseconds of stream time.
    pub pts_ns: u64,
    /// Decodable on its own (an IDR frame with its parameter sets).
    pub keyframe: bool,
    /// Its size, for the ring's memory bound.
    pub bytes: usize,
    /// The data.
    pub data: B,
}

/// Lengths and bounds.
#[derive(Debug, Clone, Copy)]
pub struct ClipTiming {
    /// Video kept before the event starts.
    pub pre_ns: u64,
    /// Video kept after it ends.
    pub post_ns: u64,
    /// A clip longer than this is cut and written.
    pub max_len_ns: u64,
    /// The ring holds at most this many bytes (the oldest go first, keyframe to keyframe).
    pub ring_bytes: usize,
}

/// What a clip is about.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipEvent {
    /// The track.
    pub track_id: u64,
    /// Its class name.
    pub label: String,
    /// Wall-clock stamp of its start, for the file name.
    pub stamp: String,
}

/// A clip ready to be written.
#[derive(Debug)]
pub struct FinishedClip<B> {
    /// What it shows.
    pub event: ClipEvent,
    /// Its samples, the first a keyframe, in stream order.
    pub samples: Vec<Sample<B>>,
    /// Cut at `max_len` rather than ended.
    pub cut: bool,
}

struct OpenClip<B> {
    event: ClipEvent,
    samples: Vec<Sample<B>>,
    /// Stream time after which it ends (the event's end plus `post`), once the event ended.
    until_ns: Option<u64>,
}

/// The ring and the clips in progress of one stream.
pub struct Recorder<B> {
    timing: ClipTiming,
    ring: VecDeque<Sample<B>>,
    ring_bytes: usize,
    open: Vec<OpenClip<B>>,
}

impl<B: Clone> Recorder<B> {
    /// An empty ring, no clip open.
    pub fn new(timing: ClipTiming) -> Self {
        Self {
            timing,
            ring: VecDeque::new(),
            ring_bytes: 0,
            open: Vec::new(),
        }
    }

    /// Clips in progress.
    pub fn open_clips(&self) -> usize {
        self.open.len()
    }

    /// An event starts at stream time `at_ns`: its clip begins with what the ring holds from the
    /// last keyframe at or before `at_ns - pre`.
    pub fn start(&mut self, event: ClipEvent, at_ns: u64) {
        let from = at_ns.saturating_sub(self.timing.pre_ns);
        let first = self
            .ring
            .iter()
            .rposition(|s| s.keyframe && s.pts_ns <= from)
            // Less in the ring than `pre`: from its oldest keyframe.
            .or_else(|| self.ring.iter().position(|s| s.keyframe));
        let samples = match first {
            Some(i) => self.ring.iter().skip(i).cloned().collect(),
            None => Vec::new(),
        };
        self.open.push(OpenClip {
            event,
            samples,
            until_ns: None,
        });
    }

    /// The event of `track_id` ended at stream time `at_ns`; its clip runs `post` longer.
    pub fn end(&mut self, track_id: u64, at_ns: u64) {
        for clip in &mut self.open {
            if clip.event.track_id == track_id && clip.until_ns.is_none() {
                clip.until_ns = Some(at_ns.saturating_add(self.timing.post_ns));
            }
        }
    }

    /// One more encoded frame; returns the clips it completes.
    pub fn push(&mut self, sample: Sample<B>) -> Vec<FinishedClip<B>> {
        let now = sample.pts_ns;
        let mut finished = Vec::new();
        let mut i = 0;
        while i < self.open.len() {
            let clip = &mut self.open[i];
            let ended = clip.until_ns.is_some_and(|t| now > t);
            let start = clip.samples.first().map_or(now, |s| s.pts_ns);
            let too_long = now.saturating_sub(start) > self.timing.max_len_ns;
            if ended || too_long {
                let clip = self.open.swap_remove(i);
                finished.push(FinishedClip {
                    event: clip.event,
                    samples: clip.samples,
                    cut: !ended,
                });
                continue;
            }
            // A clip starts on a keyframe: until one came, frames are of no use to it.
            if !clip.samples.is_empty() || sample.keyframe {
                clip.samples.push(sample.clone());
            }
            i += 1;
        }
        self.ring_bytes += sample.bytes;
        self.ring.push_back(sample);
        self.trim(now);
        finished
    }

    /// The stream ended: every open clip is written as it is.
    pub fn finish(&mut self) -> Vec<FinishedClip<B>> {
        self.open
            .drain(..)
            .map(|clip| FinishedClip {
                event: clip.event,
                samples: clip.samples,
                cut: false,
            })
            .collect()
    }

    /// Keeps the last keyframe at or before `now - pre` and everything after it, within the
    /// byte bound.
    fn trim(&mut self, now: u64) {
        let keep_from = now.saturating_sub(self.timing.pre_ns);
        loop {
            // The second keyframe: dropping up to it still leaves a keyframe to start from.
            let Some(next_key) = self.ring.iter().skip(1).position(|s| s.keyframe) else {
                return;
            };
            let next_key = next_key + 1;
            let over_bytes = self.ring_bytes > self.timing.ring_bytes;
            if self.ring[next_key].pts_ns > keep_from && !over_bytes {
                return;
            }
            for s in self.ring.drain(..next_key) {
                self.ring_bytes -= s.bytes;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    /// 10 frames a second, a keyframe each second; the data is the frame number.
    fn frame(n: u64) -> Sample<u64> {
        Sample {
            pts_ns: n * S / 10,
            keyframe: n.is_multiple_of(10),
            bytes: 1000,
            data: n,
        }
    }

    fn timing() -> ClipTiming {
        ClipTiming {
            pre_ns: 2 * S,
            post_ns: S,
            max_len_ns: 60 * S,
            ring_bytes: 1 << 20,
        }
    }

    fn event(id: u64) -> ClipEvent {
        ClipEvent {
            track_id: id,
            label: "person".into(),
            stamp: "20261204-010203".into(),
        }
    }

    #[test]
    fn a_clip_runs_from_a_keyframe_before_pre_to_post_after_the_end() {
        let mut r = Recorder::new(timing());
        let mut done = Vec::new();
        for n in 0..200 {
            if n == 55 {
                // Event at 5.5 s: pre-roll back to 3.5 s, so from the keyframe at 3.0 s.
                r.start(event(7), frame(n).pts_ns);
            }
            if n == 80 {
                r.end(7, frame(n).pts_ns);
            }
            done.extend(r.push(frame(n)));
        }
        assert_eq!(done.len(), 1);
        let frames: Vec<u64> = done[0].samples.iter().map(|s| s.data).collect();
        assert_eq!(frames.first(), Some(&30));
        // Ended at 8.0 s, plus 1 s: the last frame is 9.0 s.
        assert_eq!(frames.last(), Some(&90));
        assert_eq!(frames, (30..=90).collect::<Vec<_>>());
        assert!(!done[0].cut);
    }

    #[test]
    fn the_ring_holds_pre_and_a_keyframe_interval_at_most() {
        let mut r = Recorder::new(timing());
        for n in 0..500 {
            r.push(frame(n));
            let span = r.ring.back().unwrap().pts_ns - r.ring.front().unwrap().pts_ns;
            assert!(span < 3 * S, "{span}");
            assert!(r.ring.front().unwrap().keyframe);
        }
        // And within its byte bound, even with a small one.
        let mut small = Recorder::new(ClipTiming {
            ring_bytes: 15_000,
            ..timing()
        });
        for n in 0..100 {
            small.push(frame(n));
            assert!(small.ring_bytes <= 15_000 + 10_000, "{}", small.ring_bytes);
        }
    }

    #[test]
    fn an_event_at_the_start_begins_at_the_first_keyframe_and_eos_writes_it() {
        let mut r = Recorder::new(timing());
        r.start(event(1), 0);
        for n in 0..25 {
            assert!(r.push(frame(n)).is_empty());
        }
        let done = r.finish();
        assert_eq!(done[0].samples.len(), 25);
        assert!(done[0].samples[0].keyframe);
    }

    #[test]
    fn a_clip_that_never_ends_is_cut_at_max_len() {
        let mut r = Recorder::new(ClipTiming {
            max_len_ns: 5 * S,
            ..timing()
        });
        r.start(event(1), 0);
        let mut done = Vec::new();
        for n in 0..100 {
            done.extend(r.push(frame(n)));
        }
        assert_eq!(done.len(), 1);
        assert!(done[0].cut);
        assert!(done[0].samples.len() <= 51);
    }
}
