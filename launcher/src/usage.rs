// SPDX-License-Identifier: MIT OR Apache-2.0
//! Usage errors: wrong arguments found before anything starts (exit code 2, like clap's).

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Long work stopped by Ctrl-C (exit code 130, as a shell reports SIGINT); the text says how
/// to continue.
#[derive(Debug, Clone, PartialEq)]
pub struct Interrupted(pub String);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// Exit code for an error: 2 for usage errors, 130 after Ctrl-C, 1 for failures while running.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else if err.downcast_ref::<Interrupted>().is_some() {
        130
    } else {
        1
    }
}

/// A usage error with this text.
pub fn usage(text: impl Into<String>) -> anyhow::Error {
    UsageError(text.into()).into()
}

/// Checks shared by the commands that run a model: the model and labels files exist and the
/// thresholds (`("--conf", 0.25)`, …) lie in [0, 1].
pub fn check_model_args(
    model: &std::path::Path,
    labels: Option<&std::path::Path>,
    thresholds: &[(&str, f64)],
) -> anyhow::Result<()> {
    if let Some(why) = hmg_detect::paths::not_a_file(model) {
        return Err(usage(format!(
            "model '{}' {why}: give a .onnx or .hef with --model",
            model.display()
        )));
    }
    if let Some(l) = labels
        && let Some(why) = hmg_detect::paths::not_a_file(l)
    {
        return Err(usage(format!("labels file '{}' {why}", l.display())));
    }
    check_thresholds(thresholds)
}

/// Every threshold lies in [0, 1].
pub fn check_thresholds(thresholds: &[(&str, f64)]) -> anyhow::Result<()> {
    for (name, v) in thresholds {
        if !(0.0..=1.0).contains(v) {
            return Err(usage(format!("{name} {v} must be between 0 and 1")));
        }
    }
    Ok(())
}

/// `--conf`/`--iou` and the like: a number from 0 to 1 (NaN and infinities refused).
pub fn threshold(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{s} is not between 0 and 1"));
    }
    Ok(v)
}

/// [`threshold`] for the commands that keep thresholds as f32.
pub fn threshold_f32(s: &str) -> Result<f32, String> {
    threshold(s).map(|v| v as f32)
}

/// The longest time hmg takes as a duration or an interval: a year.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// A duration in seconds: above 0, at most a year (NaN, infinities and negatives refused).
pub fn seconds(s: &str) -> Result<f64, String> {
    let v = seconds_or_zero(s)?;
    if v == 0.0 {
        return Err(format!("{s} seconds: give a time above 0"));
    }
    Ok(v)
}

/// [`seconds`], where 0 means "never".
pub fn seconds_or_zero(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.0..=MAX_SECONDS).contains(&v) {
        return Err(format!(
            "{s} seconds: give a time from 0 to {MAX_SECONDS} (a year)"
        ));
    }
    Ok(v)
}

/// Worker threads: at most 1024 (more only exhausts the machine).
pub fn threads(s: &str) -> Result<u32, String> {
    let v: u32 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number"))?;
    if v > 1024 {
        return Err(format!("{v} threads: give at most 1024"));
    }
    Ok(v)
}

#[cfg(test)]
mod parser_tests {
    use super::*;

    #[test]
    fn numbers_from_the_command_line_are_bounded() {
        for bad in ["nan", "inf", "-inf", "-5", "1e300", "x"] {
            assert!(seconds(bad).is_err(), "{bad}");
            assert!(threshold(bad).is_err(), "{bad}");
        }
        assert!(seconds("0").is_err());
        assert_eq!(seconds_or_zero("0"), Ok(0.0));
        assert_eq!(seconds("2.5"), Ok(2.5));
        assert_eq!(threshold("0.25"), Ok(0.25));
        assert!(threads("100000").is_err());
        assert_eq!(threads("4"), Ok(4));
    }
}
