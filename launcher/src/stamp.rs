// SPDX-License-Identifier: MIT OR Apache-2.0
//! Time stamps in file names (run folders, logs, versioned models), in UTC.

/// Now in UTC as `format` (strftime-style, e.g. `%Y%m%d-%H%M%S`), or `fallback` if the clock
/// cannot be read.
pub fn utc(format: &str, fallback: &str) -> String {
    gst::glib::DateTime::now_utc()
        .and_then(|t| t.format(format))
        .map(|s| s.to_string())
        .unwrap_or_else(|_| fallback.into())
}
