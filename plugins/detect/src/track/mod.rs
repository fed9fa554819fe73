// SPDX-License-Identifier: MIT OR Apache-2.0
//! Multi-object tracking: stable IDs for the detections of a stream, frame after frame.

mod assignment;
mod bytetrack;
mod kalman;
mod overlap;

pub use bytetrack::{ByteTracker, TrackInput, TrackState, TrackedObject, TrackerOptions};
