// SPDX-License-Identifier: MIT OR Apache-2.0
//! YOLO label files: one `class cx cy w h` line per box, coordinates normalized to the image.

use std::path::Path;

use crate::atomic::write_atomic;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct YoloBox {
    pub class: u32,
    pub cx: f64,
    pub cy: f64,
    pub w: f64,
    pub h: f64,
}

/// One label line, or why it is not one.
pub fn parse_line(line: &str) -> Result<YoloBox, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "has {} fields, a box is 5 (class cx cy w h)",
            fields.len()
        ));
    }
    let class = fields[0]
        .parse::<u32>()
        .map_err(|_| format!("class '{}' is not a class number", fields[0]))?;
    let mut v = [0f64; 4];
    for (slot, f) in v.iter_mut().zip(&fields[1..]) {
        *slot = f
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("'{f}' is not a number"))?;
    }
    Ok(YoloBox {
        class,
        cx: v[0],
        cy: v[1],
        w: v[2],
        h: v[3],
    })
}

/// The file's text for `boxes` (6 decimals, as ultralytics writes them); empty = negative sample.
pub fn format(boxes: &[YoloBox]) -> String {
    boxes
        .iter()
        .map(|b| {
            format!(
                "{} {:.6} {:.6} {:.6} {:.6}\n",
                b.class, b.cx, b.cy, b.w, b.h
            )
        })
        .collect()
}

/// Writes a label file atomically.
pub fn write(path: &Path, boxes: &[YoloBox]) -> anyhow::Result<()> {
    let text = format(boxes);
    write_atomic(path, |w| Ok(std::io::Write::write_all(w, text.as_bytes())?))
}

/// Reads a label file, skipping lines that do not parse (the verifier reports those).
pub fn read_lenient(path: &Path) -> std::io::Result<Vec<YoloBox>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter_map(|l| parse_line(l).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_with_six_decimals() {
        let b = parse_line("1 0.5 0.25 0.1 0.2").unwrap();
        assert_eq!(format(&[b]), "1 0.500000 0.250000 0.100000 0.200000\n");
        assert_eq!(format(&[]), "");
        assert!(
            parse_line("1 0.5 0.5 0.1")
                .unwrap_err()
                .contains("4 fields")
        );
        assert!(parse_line("a 0.5 0.5 0.1 0.1").is_err());
        assert!(parse_line("-1 0.5 0.5 0.1 0.1").is_err());
        assert!(parse_line("0 nan 0.5 0.1 0.1").is_err());
    }
}
