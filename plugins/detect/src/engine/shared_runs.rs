// SPDX-License-Identifier: MIT OR Apache-2.0
//! The runs of one onnxruntime session that several streams share, with the frames of different
//! streams batched into one run when the model's batch axis is dynamic.
//!
//! The session runs one call at a time (onnxruntime's `Run` is not safe to call from two threads
//! at once). Without batching, N streams take turns: N runs of one frame. Here a stream that has
//! a frame to run queues it; whichever stream finds no run under way becomes the runner, waits a
//! moment for the other streams' frames (they come back from the same run, so they arrive within
//! a fraction of a millisecond of each other), then runs everything queued as one batch and hands
//! each stream its own frames' outputs. Streams that find a run under way wait for their results.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::tensor::Tensor;

/// Each frame's outputs, or why the run failed.
pub type RunResult = Result<Vec<Vec<Tensor>>, String>;

/// The longest a runner waits for the other streams' frames, whatever the last run took.
const MAX_GATHER: Duration = Duration::from_millis(20);

/// A stream that queued no frame for this long is not waited for (it ended, or runs far slower
/// than the others) until it queues one again.
const ACTIVE_FOR: Duration = Duration::from_millis(250);

/// One stream's frames waiting for a run.
struct Request {
    ticket: u64,
    /// `frames` images, CHW float, one after the other.
    input: Vec<f32>,
    frames: usize,
}

#[derive(Default)]
struct Pending {
    queue: VecDeque<Request>,
    running: bool,
    next_ticket: u64,
    results: HashMap<u64, RunResult>,
    /// How long the last run took: a runner waits at most half of it for more frames.
    last_run: Duration,
    /// When each stream last queued a frame.
    seen: HashMap<u64, Instant>,
}

impl Pending {
    /// The streams that queued a frame lately (the ones worth waiting for).
    fn active_streams(&mut self, now: Instant) -> usize {
        self.seen
            .retain(|_, &mut last| now.duration_since(last) < ACTIVE_FOR);
        self.seen.len()
    }

    /// Whether every active stream has a request queued.
    fn all_queued(&mut self, now: Instant) -> bool {
        let active = self.active_streams(now);
        self.queue.len() >= active
    }
}

/// The queue of one shared session.
#[derive(Default)]
pub struct SharedRuns {
    pending: Mutex<Pending>,
    changed: Condvar,
}

impl SharedRuns {
    /// Runs `frames` images (`input`, CHW float each) of `stream` (any id, the same for all of a
    /// stream's calls) in one run together with what the other streams sharing the session queue
    /// meanwhile, and returns these frames' outputs. `run(input, frames)` runs one batch and
    /// returns each frame's outputs.
    pub fn run(
        &self,
        stream: u64,
        input: Vec<f32>,
        frames: usize,
        run: impl Fn(&[f32], usize) -> RunResult,
    ) -> RunResult {
        let mut pending = self.pending.lock().unwrap();
        pending.seen.insert(stream, Instant::now());
        let ticket = pending.next_ticket;
        pending.next_ticket += 1;
        pending.queue.push_back(Request {
            ticket,
            input,
            frames,
        });
        // A runner waiting for frames learns of this one.
        self.changed.notify_all();
        loop {
            if let Some(result) = pending.results.remove(&ticket) {
                return result;
            }
            if pending.running {
                pending = self.changed.wait(pending).unwrap();
                continue;
            }
            pending.running = true;
            // Wait for the other streams' frames, briefly: a stream that is slow or idle (a
            // camera at a lower frame rate, a stream at its end) delays the others at most this.
            let deadline = Instant::now() + (pending.last_run / 2).min(MAX_GATHER);
            loop {
                let now = Instant::now();
                if now >= deadline || pending.all_queued(now) {
                    break;
                }
                pending = self
                    .changed
                    .wait_timeout(pending, deadline - now)
                    .unwrap()
                    .0;
            }
            let batch: Vec<Request> = pending.queue.drain(..).collect();
            drop(pending);

            let started = Instant::now();
            let total: usize = batch.iter().map(|r| r.frames).sum();
            // A panic in the run must not leave the other streams waiting forever.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if batch.len() == 1 {
                    run(&batch[0].input, total)
                } else {
                    let joined: Vec<f32> = batch.iter().flat_map(|r| &r.input).copied().collect();
                    run(&joined, total)
                }
            }))
            .unwrap_or_else(|_| Err("the inference run panicked".into()));
            let took = started.elapsed();

            pending = self.pending.lock().unwrap();
            pending.last_run = took;
            match outcome {
                Ok(mut outputs) if outputs.len() == total => {
                    for r in batch.iter().rev() {
                        let mine = outputs.split_off(outputs.len() - r.frames);
                        pending.results.insert(r.ticket, Ok(mine));
                    }
                }
                Ok(outputs) => {
                    let why = format!("a run of {total} frames returned {}", outputs.len());
                    for r in &batch {
                        pending.results.insert(r.ticket, Err(why.clone()));
                    }
                }
                Err(why) => {
                    for r in &batch {
                        pending.results.insert(r.ticket, Err(why.clone()));
                    }
                }
            }
            pending.running = false;
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A run that answers each frame with its own first value, and records the batch sizes.
    fn echo(sizes: &Mutex<Vec<usize>>, side: usize) -> impl Fn(&[f32], usize) -> RunResult {
        move |input: &[f32], frames: usize| {
            sizes.lock().unwrap().push(frames);
            std::thread::sleep(Duration::from_millis(20));
            Ok((0..frames)
                .map(|f| vec![Tensor::f32("out", vec![1], vec![input[f * side]])])
                .collect())
        }
    }

    fn value(outputs: &[Vec<Tensor>]) -> Vec<f32> {
        outputs
            .iter()
            .map(|f| match &f[0].data {
                crate::tensor::TensorData::F32(v) => v[0],
                crate::tensor::TensorData::U8(_) => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn streams_running_together_share_runs_and_get_their_own_frames() {
        let runs = Arc::new(SharedRuns::default());
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let side = 4;
        let streams = 3;
        let handles: Vec<_> = (0..streams)
            .map(|s| {
                let (runs, sizes) = (runs.clone(), sizes.clone());
                std::thread::spawn(move || {
                    for frame in 0..10 {
                        let id = (s * 100 + frame) as f32;
                        let out = runs
                            .run(s as u64, vec![id; side], 1, echo(&sizes, side))
                            .unwrap();
                        assert_eq!(value(&out), [id], "stream {s} frame {frame}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 30, "every frame ran once");
        // Batched: far fewer runs than frames once the first run has set the gathering time.
        assert!(
            sizes.len() <= 15,
            "{} runs for 30 frames: {sizes:?}",
            sizes.len()
        );
    }

    #[test]
    fn a_request_of_several_frames_gets_them_in_order() {
        let runs = SharedRuns::default();
        let sizes = Mutex::new(Vec::new());
        let out = runs
            .run(0, vec![1.0, 0.0, 2.0, 0.0, 3.0, 0.0], 3, echo(&sizes, 2))
            .unwrap();
        assert_eq!(value(&out), [1.0, 2.0, 3.0]);
    }

    #[test]
    fn a_failed_run_fails_every_frame_in_it_and_the_next_run_goes_on() {
        let runs = SharedRuns::default();
        let calls = AtomicUsize::new(0);
        let flaky = |_: &[f32], frames: usize| -> RunResult {
            if calls.fetch_add(1, Ordering::Relaxed) == 0 {
                Err("the model failed".into())
            } else {
                Ok((0..frames).map(|_| Vec::new()).collect())
            }
        };
        assert_eq!(
            runs.run(0, vec![0.0], 1, flaky).unwrap_err(),
            "the model failed"
        );
        assert_eq!(runs.run(0, vec![0.0], 1, flaky).unwrap().len(), 1);
        // A run that loses frames is an error, not a shifted answer.
        let short = |_: &[f32], _: usize| -> RunResult { Ok(vec![Vec::new()]) };
        assert!(runs.run(0, vec![0.0; 2], 2, short).is_err());
    }
}
