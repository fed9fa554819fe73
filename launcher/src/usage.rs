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
    if !model.is_file() {
        return Err(usage(format!(
            "model '{}' does not exist: give a .onnx or .hef with --model",
            model.display()
        )));
    }
    if let Some(l) = labels
        && !l.is_file()
    {
        return Err(usage(format!(
            "labels file '{}' does not exist",
            l.display()
        )));
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
