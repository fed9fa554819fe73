// SPDX-License-Identifier: MIT OR Apache-2.0
//! Lines and zones over tracks: crossings with direction, zone entries and exits with dwell time,
//! counts per line, zone and class.

mod analyzer;
mod config;

pub use analyzer::{
    Counts, Direction, EventKind, LineCount, TrackPosition, ZoneAnalyzer, ZoneCount, ZoneEvent,
    ZoneState,
};
pub use config::{LineSpec, ZoneConfig, ZoneSpec};
