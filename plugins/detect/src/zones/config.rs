// SPDX-License-Identifier: MIT OR Apache-2.0
//! The zones file: lines and polygons in normalized frame units (0..1 across and down), so a file
//! survives a change of resolution.
//!
//! ```json
//! {
//!   "min_frames": 2,
//!   "lines": [{"name": "door", "points": [[0.5, 0.1], [0.5, 0.9]], "classes": ["person"]}],
//!   "zones": [{"name": "loading", "polygon": [[0.1, 0.5], [0.4, 0.5], [0.4, 0.9], [0.1, 0.9]]}]
//! }
//! ```
//! A line counts "in" when an object crosses it towards the left of its direction A→B as seen on
//! the screen (for a line drawn top to bottom: moving right), "out" the other way.

use serde::{Deserialize, Serialize};

/// A counting line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSpec {
    /// Its name in counts and events.
    pub name: String,
    /// A and B, normalized; "in" is towards the left of A→B on the screen.
    pub points: [[f64; 2]; 2],
    /// Count only these classes (names or ids); empty counts all.
    #[serde(default)]
    pub classes: Vec<String>,
}

/// A zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    /// Its name in counts and events.
    pub name: String,
    /// Corners, normalized, in order (at least 3).
    pub polygon: Vec<[f64; 2]>,
    /// Watch only these classes (names or ids); empty watches all.
    #[serde(default)]
    pub classes: Vec<String>,
}

/// Everything a zones file says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Frames an object must stay on its new side (of a line) or state (in or out of a zone)
    /// before the event counts: a box jittering on a line counts once, not on every frame.
    #[serde(default = "default_min_frames")]
    pub min_frames: u32,
    /// Frames after which a track not seen is forgotten (and leaves the zones it was in).
    #[serde(default = "default_forget_frames")]
    pub forget_frames: u32,
    /// Counting lines.
    #[serde(default)]
    pub lines: Vec<LineSpec>,
    /// Zones.
    #[serde(default)]
    pub zones: Vec<ZoneSpec>,
}

fn default_min_frames() -> u32 {
    1
}

fn default_forget_frames() -> u32 {
    30
}

impl Default for ZoneConfig {
    fn default() -> Self {
        Self {
            min_frames: default_min_frames(),
            forget_frames: default_forget_frames(),
            lines: Vec::new(),
            zones: Vec::new(),
        }
    }
}

/// The largest zones file read (a hand-written one is a few KiB).
const MAX_BYTES: usize = 1 << 20;

impl ZoneConfig {
    /// Reads and checks a zones file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_BYTES {
            return Err(format!(
                "it is {} bytes; a zones file is at most {MAX_BYTES}",
                text.len()
            ));
        }
        let config: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        config.check()?;
        Ok(config)
    }

    /// Reads and checks a zones file.
    pub fn read(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read zones file '{}': {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("zones file '{}': {e}", path.display()))
    }

    fn check(&self) -> Result<(), String> {
        if self.min_frames == 0 {
            return Err("min_frames must be at least 1".into());
        }
        let mut names = std::collections::HashSet::new();
        let unit = |p: &[f64; 2]| p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v));
        for l in &self.lines {
            check_name(&l.name, &mut names)?;
            if !l.points.iter().all(unit) {
                return Err(format!(
                    "line '{}': points are normalized (0..1 across and down the frame)",
                    l.name
                ));
            }
            if l.points[0] == l.points[1] {
                return Err(format!("line '{}': its two points are the same", l.name));
            }
        }
        for z in &self.zones {
            check_name(&z.name, &mut names)?;
            if z.polygon.len() < 3 || z.polygon.len() > 1000 {
                return Err(format!(
                    "zone '{}': a polygon has 3 to 1000 corners, not {}",
                    z.name,
                    z.polygon.len()
                ));
            }
            if !z.polygon.iter().all(unit) {
                return Err(format!(
                    "zone '{}': corners are normalized (0..1 across and down the frame)",
                    z.name
                ));
            }
        }
        Ok(())
    }
}

fn check_name<'a>(
    name: &'a str,
    seen: &mut std::collections::HashSet<&'a str>,
) -> Result<(), String> {
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(format!(
            "{name:?}: a line or zone name is 1 to 100 characters, none a control character"
        ));
    }
    if !seen.insert(name) {
        return Err(format!(
            "two lines or zones are named '{name}': names must differ"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zones_file_reads_and_bad_ones_say_why() {
        let c = ZoneConfig::parse(
            r#"{"lines": [{"name": "door", "points": [[0.5, 0.1], [0.5, 0.9]]}],
                "zones": [{"name": "bay", "polygon": [[0, 0], [1, 0], [1, 1]], "classes": ["car"]}]}"#,
        )
        .unwrap();
        assert_eq!((c.min_frames, c.lines.len(), c.zones.len()), (1, 1, 1));
        for (text, why) in [
            (
                r#"{"lines": [{"name": "a", "points": [[0, 0], [2, 0]]}]}"#,
                "normalized",
            ),
            (
                r#"{"lines": [{"name": "a", "points": [[0, 0], [0, 0]]}]}"#,
                "the same",
            ),
            (
                r#"{"zones": [{"name": "z", "polygon": [[0, 0], [1, 1]]}]}"#,
                "3 to 1000",
            ),
            (
                r#"{"lines": [{"name": "a", "points": [[0, 0], [1, 0]]}], "zones": [{"name": "a", "polygon": [[0, 0], [1, 0], [1, 1]]}]}"#,
                "must differ",
            ),
            (r#"{"min_frames": 0}"#, "at least 1"),
            (r#"{"line": []}"#, "unknown field"),
        ] {
            let e = ZoneConfig::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
