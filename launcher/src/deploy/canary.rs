// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg deploy --canary N --soak T`: the new model first on N hosts, watched through the status
//! file the service's own `hmg detect` rewrites every two seconds (`out/detect/status.json`):
//! the new model must start, keep the same process for the whole soak (a crash restarts the
//! service with a new start time), keep frames going through, and run within `--max-fps-drop`
//! of the FPS the host had before. Times are the Pi's own clock, read in the same SSH call.

use std::time::{Duration, Instant};

use super::ssh::{Ssh, quote};

/// One reading of a host's status file.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub started_ms: u64,
    pub updated_ms: u64,
    /// The model file the service runs (its name, without folders).
    pub model: String,
    /// Frames of all streams so far.
    pub frames: u64,
}

/// A status older than this means the service is stuck or gone.
const STALE_MS: u64 = 10_000;
const POLL: Duration = Duration::from_secs(2);

/// What `cat status.json; echo; date +%s%3N` printed: the status (if any) and the Pi's time.
pub fn parse(output: &str) -> (Option<Sample>, Option<u64>) {
    let mut lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    let now = lines.pop().and_then(|l| l.trim().parse().ok());
    let status: Option<serde_json::Value> = serde_json::from_str(&lines.join("\n")).ok();
    let sample = status.and_then(|s| {
        let streams = s["streams"].as_array()?;
        Some(Sample {
            started_ms: s["started_unix_ms"].as_u64()?,
            updated_ms: s["updated_unix_ms"].as_u64()?,
            model: s["model"]
                .as_str()?
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            frames: streams.iter().filter_map(|v| v["frames"].as_u64()).sum(),
        })
    });
    (sample, now)
}

/// Reads the service's status on `ssh`'s host.
pub fn read(ssh: &Ssh, remote_dir: &str) -> anyhow::Result<(Option<Sample>, Option<u64>)> {
    let path = super::remote_path(remote_dir, "out/detect/status.json");
    let out = ssh.run(
        &format!("cat -- {} 2>/dev/null; echo; date +%s%3N", quote(&path)),
        None,
    )?;
    Ok(parse(&out))
}

/// The soak of one canary, fed reading by reading.
#[derive(Debug)]
pub struct Soak {
    /// The FPS of the host's service before the new model, if it was running then.
    baseline_fps: Option<f64>,
    /// The Pi's time just before the deploy: the new model's process starts after it.
    deployed_ms: u64,
    model: String,
    /// When the new model's process started (a different one later is a restart).
    started_ms: Option<u64>,
    /// The new model's latest status update.
    latest_ms: Option<u64>,
    first: Option<Sample>,
    last: Option<Sample>,
}

impl Soak {
    /// `before`: two readings of the service as it ran before the deploy, some seconds apart.
    pub fn new(before: [Option<Sample>; 2], deployed_ms: u64, model: String, now_ms: u64) -> Self {
        let baseline_fps = match before {
            // One process, alive, and frames went through it between the readings.
            [Some(a), Some(b)]
                if a.started_ms == b.started_ms
                    && now_ms.saturating_sub(b.updated_ms) <= STALE_MS =>
            {
                mean_fps(&a, &b)
            }
            _ => None,
        };
        Self {
            baseline_fps,
            deployed_ms,
            model,
            started_ms: None,
            latest_ms: None,
            first: None,
            last: None,
        }
    }

    /// One reading; `Err` ends the soak with the reason.
    pub fn observe(&mut self, sample: Option<Sample>, now_ms: u64) -> Result<(), String> {
        let new = sample
            .clone()
            .filter(|s| s.started_ms >= self.deployed_ms && s.model == self.model);
        let Some(s) = new else {
            // Not (yet, or no longer) the new model's status: only its silence counts.
            return match self.latest_ms {
                Some(seen) if now_ms.saturating_sub(seen) > STALE_MS => Err(format!(
                    "the new model's service stopped reporting {} s ago (the status now: {})",
                    (now_ms - seen) / 1000,
                    sample.map_or("none".to_string(), |s| format!(
                        "{} started at {}",
                        s.model, s.started_ms
                    ))
                )),
                _ => Ok(()),
            };
        };
        match self.started_ms {
            Some(started) if s.started_ms != started => {
                return Err(format!(
                    "the service restarted during the soak ({} s in): the new model crashed or stalled",
                    s.started_ms.saturating_sub(started) / 1000
                ));
            }
            _ => self.started_ms = Some(s.started_ms),
        }
        if now_ms.saturating_sub(s.updated_ms) > STALE_MS {
            return Err(format!(
                "the service stopped reporting {} s ago: stuck or gone",
                (now_ms - s.updated_ms) / 1000
            ));
        }
        self.latest_ms = Some(s.updated_ms);
        // The soak's figures start with the first frame (not the graph's start-up).
        if self.first.is_none() && s.frames > 0 {
            self.first = Some(s.clone());
        }
        if self.first.is_some() {
            self.last = Some(s);
        }
        Ok(())
    }

    /// After the soak: `Ok` with a line for the table, or the reason to roll back.
    pub fn verdict(&self, max_fps_drop: f64) -> Result<String, String> {
        let (Some(first), Some(last)) = (&self.first, &self.last) else {
            return Err(format!(
                "the new model ({}) never ran a frame within the soak: see `journalctl --user -u hmg-detect` on the host",
                self.model
            ));
        };
        if last.frames <= first.frames {
            return Err(format!(
                "no frame went through the new model in {} s",
                (last.updated_ms.saturating_sub(first.updated_ms)) / 1000
            ));
        }
        // Over the whole soak from its first frame: single readings of a camera's rate jitter.
        let fps = mean_fps(first, last).unwrap_or(0.0);
        match self.baseline_fps {
            Some(b) if fps < b * (1.0 - max_fps_drop / 100.0) => Err(format!(
                "{fps:.1} FPS with the new model, {b:.1} before: more than {max_fps_drop} % lower"
            )),
            Some(b) => Ok(format!(
                "soak passed: {fps:.1} FPS ({b:.1} before), {} frames, no restart",
                last.frames - first.frames
            )),
            None => Ok(format!(
                "soak passed: {fps:.1} FPS (no service ran before to compare with), {} frames, no restart",
                last.frames - first.frames
            )),
        }
    }
}

/// Frames a second between two readings of one process.
fn mean_fps(a: &Sample, b: &Sample) -> Option<f64> {
    let seconds = b.updated_ms.checked_sub(a.updated_ms)? as f64 / 1000.0;
    (seconds > 0.0 && b.frames >= a.frames).then(|| (b.frames - a.frames) as f64 / seconds)
}

/// How far apart the two readings of the FPS before the deploy are.
pub const BASELINE_WINDOW: Duration = Duration::from_secs(8);

/// Watches `ssh`'s host for `soak`; a failure ends early.
pub fn watch(
    ssh: &Ssh,
    remote_dir: &str,
    mut soak: Soak,
    duration: Duration,
    max_fps_drop: f64,
) -> Result<String, String> {
    let end = Instant::now() + duration;
    loop {
        match read(ssh, remote_dir) {
            Ok((sample, Some(now))) => soak.observe(sample, now)?,
            Ok((_, None)) => return Err("the host did not report its time".into()),
            Err(e) => return Err(format!("{e:#}")),
        }
        if Instant::now() >= end {
            return soak.verdict(max_fps_drop);
        }
        std::thread::sleep(POLL.min(end.saturating_duration_since(Instant::now())));
    }
}

/// `--soak`: seconds, or a number with s, m or h.
pub fn soak_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1.0),
        Some('m') => (&s[..s.len() - 1], 60.0),
        Some('h') => (&s[..s.len() - 1], 3600.0),
        _ => (s, 1.0),
    };
    match number.parse::<f64>() {
        Ok(v) if v > 0.0 && v * unit <= 7.0 * 86_400.0 => Ok(Duration::from_secs_f64(v * unit)),
        _ => Err(format!("'{s}' is not a soak time: write 90s, 10m or 1h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(started: u64, updated: u64, frames: u64) -> Sample {
        Sample {
            started_ms: started,
            updated_ms: updated,
            model: "new.onnx".into(),
            frames,
        }
    }

    #[test]
    fn the_status_file_and_the_pis_time_are_read() {
        let text = r#"{"model":"models/new.onnx","started_unix_ms":5,"updated_unix_ms":9,"streams":[{"frames":3,"fps":1.5},{"frames":4,"fps":2.0}]}
1700000000123
"#;
        assert_eq!(
            parse(text),
            (Some(sample(5, 9, 7)), Some(1_700_000_000_123))
        );
        assert_eq!(parse("\n1700000000123\n"), (None, Some(1_700_000_000_123)));
    }

    #[test]
    fn a_healthy_canary_passes_and_a_slow_one_fails() {
        let old = |updated, frames| Sample {
            model: "old.onnx".into(),
            ..sample(0, updated, frames)
        };
        // Before: 80 frames in 8 s.
        let before = [Some(old(1000, 100)), Some(old(9000, 180))];
        let mut soak = Soak::new(before, 9500, "new.onnx".into(), 9500);
        // The old model's status until the new one starts: not a failure.
        soak.observe(Some(old(9000, 180)), 9600).unwrap();
        // Start-up without frames does not count; then 95 frames in 10 s.
        soak.observe(Some(sample(10000, 11000, 0)), 11000).unwrap();
        soak.observe(Some(sample(10000, 13000, 10)), 13000).unwrap();
        soak.observe(Some(sample(10000, 23000, 105)), 23000)
            .unwrap();
        assert!(
            soak.verdict(20.0)
                .unwrap()
                .contains("9.5 FPS (10.0 before)")
        );
        let err = soak.verdict(1.0).unwrap_err();
        assert!(err.contains("more than 1 % lower"), "{err}");
    }

    #[test]
    fn restarts_stalls_and_a_model_that_never_starts_fail() {
        let mut soak = Soak::new([None, None], 2000, "new.onnx".into(), 2000);
        assert!(
            soak.verdict(20.0)
                .unwrap_err()
                .contains("never ran a frame")
        );
        soak.observe(Some(sample(3000, 4000, 10)), 4000).unwrap();
        let err = soak.observe(Some(sample(9000, 9500, 2)), 9600).unwrap_err();
        assert!(err.contains("restarted"), "{err}");
        let mut soak = Soak::new([None, None], 2000, "new.onnx".into(), 2000);
        soak.observe(Some(sample(3000, 4000, 10)), 4000).unwrap();
        let err = soak
            .observe(Some(sample(3000, 4000, 10)), 20_000)
            .unwrap_err();
        assert!(err.contains("stopped reporting"), "{err}");
        let mut soak = Soak::new([None, None], 2000, "new.onnx".into(), 2000);
        soak.observe(Some(sample(3000, 4000, 10)), 4000).unwrap();
        soak.observe(Some(sample(3000, 8000, 10)), 8000).unwrap();
        assert!(soak.verdict(20.0).unwrap_err().contains("no frame"));
    }

    #[test]
    fn soak_times_read_as_users_write_them() {
        assert_eq!(soak_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(soak_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(soak_duration("8"), Ok(Duration::from_secs(8)));
        assert!(soak_duration("-1m").is_err());
        assert!(soak_duration("soon").is_err());
    }
}
