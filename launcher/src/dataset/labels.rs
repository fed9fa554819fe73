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

/// One label line, or why it is not one. Reads what ultralytics' detect training reads: `class
/// cx cy w h`, or a polygon `class x1 y1 x2 y2 x3 y3 …` (a segmentation label), which becomes
/// the box around its points; a class may be written as an integral number (`1.0`).
pub fn parse_line(line: &str) -> Result<YoloBox, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let polygon = fields.len() > 6;
    if fields.len() != 5 && !(polygon && fields.len() % 2 == 1) {
        return Err(if polygon {
            format!(
                "has {} fields: a polygon is a class and x y pairs",
                fields.len()
            )
        } else {
            format!("has {} fields, a box is 5 (class cx cy w h)", fields.len())
        });
    }
    let class = parse_class(fields[0])?;
    let mut v = Vec::with_capacity(fields.len() - 1);
    for f in &fields[1..] {
        v.push(
            f.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("'{f}' is not a number"))?,
        );
    }
    if polygon {
        let (xs, ys): (Vec<f64>, Vec<f64>) = v.chunks_exact(2).map(|p| (p[0], p[1])).unzip();
        let (x0, x1) = min_max(&xs);
        let (y0, y1) = min_max(&ys);
        v = vec![(x0 + x1) / 2.0, (y0 + y1) / 2.0, x1 - x0, y1 - y0];
    }
    Ok(YoloBox {
        class,
        cx: v[0],
        cy: v[1],
        w: v[2],
        h: v[3],
    })
}

/// Whether a line is a polygon (segmentation) label rather than a box.
pub fn is_polygon(line: &str) -> bool {
    line.split_whitespace().count() > 6
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn parse_class(field: &str) -> Result<u32, String> {
    field
        .parse::<u32>()
        .ok()
        .or_else(|| {
            field
                .parse::<f64>()
                .ok()
                .filter(|c| c.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(c))
                .map(|c| c as u32)
        })
        .ok_or_else(|| format!("class '{field}' is not a class number"))
}

/// A label file's text, without the byte-order mark some editors write first.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
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
    Ok(read_text(path)?
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
