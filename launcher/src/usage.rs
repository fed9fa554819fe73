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

/// Exit code for an error: 2 for usage errors, 1 for failures while running.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}
