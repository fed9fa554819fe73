// SPDX-License-Identifier: MIT OR Apache-2.0
//! The time frames spend in the engine, apart from the letterbox and the rest of the graph: what
//! the `inference-ms` property reports.

use std::collections::VecDeque;
use std::time::Duration;

/// How many of the latest inferred frames the mean covers: a second or so of video.
const WINDOW: usize = 30;

#[derive(Debug, Default)]
pub struct InferenceTimes {
    recent: VecDeque<Duration>,
}

impl InferenceTimes {
    pub fn push(&mut self, took: Duration) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(took);
    }

    /// The mean over the latest frames, in milliseconds; 0 before the first.
    pub fn mean_ms(&self) -> f64 {
        if self.recent.is_empty() {
            return 0.0;
        }
        let total: Duration = self.recent.iter().sum();
        total.as_secs_f64() * 1000.0 / self.recent.len() as f64
    }

    pub fn clear(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_covers_the_latest_frames_only() {
        let mut t = InferenceTimes::default();
        assert_eq!(t.mean_ms(), 0.0);
        for _ in 0..WINDOW {
            t.push(Duration::from_millis(100));
        }
        assert_eq!(t.mean_ms(), 100.0);
        for _ in 0..WINDOW {
            t.push(Duration::from_millis(10));
        }
        assert_eq!(t.mean_ms(), 10.0);
        t.push(Duration::from_millis(40));
        assert!((t.mean_ms() - (29.0 * 10.0 + 40.0) / 30.0).abs() < 1e-9);
    }
}
