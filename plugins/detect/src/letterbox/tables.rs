// SPDX-License-Identifier: MIT OR Apache-2.0
//! Per-axis resize tables: source offsets and fixed-point weights, as `cv::resize` builds them
//! for `INTER_LINEAR`, plus the facts about them that let the resize take a shortcut.

use super::kernels::Taps;

pub(super) const COEF_BITS: u32 = 11;
pub(super) const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;
/// A weight pair that takes the first pixel only.
const WHOLE: [i16; 2] = [1 << COEF_BITS, 0];
/// A weight pair that takes both pixels equally.
const HALVES: [i16; 2] = [1 << (COEF_BITS - 1), 1 << (COEF_BITS - 1)];

#[derive(Debug, Default)]
pub(super) struct Tables {
    key: (usize, usize, usize, usize, usize),
    /// Byte offsets of the two source pixels of each output column (the second equals the
    /// first where its weight is 0: it contributes exactly nothing).
    pub x0: Vec<u32>,
    pub x1: Vec<u32>,
    /// The largest offset in `x0`/`x1`.
    pub x_max: u32,
    pub alpha: Vec<[i16; 2]>,
    /// The source columns the resize reads, ascending (the YUV path converts only these), and
    /// the same two pixels per output column as indices into `columns`.
    pub columns: Vec<u32>,
    pub c0: Vec<u32>,
    pub c1: Vec<u32>,
    pub c_max: u32,
    /// The two source rows of each output row (already clamped) and their weights.
    pub y0: Vec<u32>,
    pub y1: Vec<u32>,
    pub beta: Vec<[i16; 2]>,
    /// Every weight on both axes is (2048, 0), as for an exact 3× downscale (1920×1080 → 640):
    /// OpenCV's arithmetic then returns the sampled pixel unchanged
    /// (`((p·2048 >> 4)·2048 >> 16) = 4p`, `(4p + 2) >> 2 = p`): the resize is a gather.
    pub nearest: bool,
    /// Every weight on both axes is (1024, 1024), as for exact 2× and 6× downscales (720p →
    /// 640, 1080p → 320): the arithmetic then equals `(a + b + c + d + 2) >> 2` of the four
    /// sampled pixels (each `h` is `(a + b)·64`, and `(h·1024) >> 16` is `a + b`).
    pub halves: bool,
    /// With `halves`: output column `dx` reads source pixels `2dx` and `2dx + 1` (an exact 2×
    /// downscale), so a row is read in order, a pixel pair at a time.
    pub pairs: bool,
    /// With `nearest`: output column `dx` reads source pixel `3dx + 1` (an exact 3× downscale,
    /// 1080p → 640), so a row is read in order, one pixel of every three.
    pub thirds: bool,
}

fn interval_start(d: usize, scale: f64) -> (i64, f32) {
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let s = f.floor();
    (s as i64, f - s)
}

fn weights(f: f32) -> [i16; 2] {
    // Each weight rounded on its own (cvRound), not 2048 - a0.
    [
        ((1.0 - f) * COEF_SCALE).round_ties_even() as i16,
        (f * COEF_SCALE).round_ties_even() as i16,
    ]
}

impl Tables {
    /// The two taps of each output column as byte offsets into a packed source row.
    pub fn pixel_taps(&self) -> Taps<'_> {
        Taps {
            first: &self.x0,
            second: &self.x1,
            max: self.x_max,
        }
    }

    /// The two taps of each output column as indices into the sampled `columns`.
    pub fn column_taps(&self) -> Taps<'_> {
        Taps {
            first: &self.c0,
            second: &self.c1,
            max: self.c_max,
        }
    }

    /// Tables for a `sw`×`sh` source of `bpp` bytes per pixel resized to `dw`×`dh` (kept
    /// when the same sizes come again).
    pub fn build(&mut self, sw: usize, sh: usize, dw: usize, dh: usize, bpp: usize) {
        let key = (sw, sh, dw, dh, bpp);
        if self.key == key && !self.x0.is_empty() {
            return;
        }
        self.key = key;
        self.build_columns(sw, dw, bpp);
        self.build_rows(sh, dh);
        self.nearest = self.alpha.iter().chain(&self.beta).all(|&w| w == WHOLE);
        self.halves = self.alpha.iter().chain(&self.beta).all(|&w| w == HALVES);
        self.pairs = self.halves
            && (0..dw).all(|dx| {
                self.x0[dx] as usize == 2 * dx * bpp && self.x1[dx] as usize == (2 * dx + 1) * bpp
            });
        self.thirds = self.nearest && (0..dw).all(|dx| self.x0[dx] as usize == (3 * dx + 1) * bpp);
    }

    fn build_columns(&mut self, sw: usize, dw: usize, bpp: usize) {
        let scale = 1.0 / (dw as f64 / sw as f64);
        self.x0.clear();
        self.x1.clear();
        self.alpha.clear();
        self.columns.clear();
        self.c0.clear();
        self.c1.clear();
        let last = sw as i64 - 1;
        for dx in 0..dw {
            let (mut sx, mut fx) = interval_start(dx, scale);
            if sx < 0 {
                sx = 0;
                fx = 0.0;
            }
            if sx >= last {
                sx = last;
                fx = 0.0;
            }
            let alpha = if sx == last { WHOLE } else { weights(fx) };
            let sx1 = if alpha[1] == 0 { sx } else { sx + 1 };
            self.x0.push((sx as usize * bpp) as u32);
            self.x1.push((sx1 as usize * bpp) as u32);
            self.alpha.push(alpha);
            for (col, index) in [(sx, &mut self.c0), (sx1, &mut self.c1)] {
                if self.columns.last() != Some(&(col as u32)) {
                    self.columns.push(col as u32);
                }
                index.push((self.columns.len() - 1) as u32);
            }
        }
        self.x_max = self.x0.iter().chain(&self.x1).copied().max().unwrap_or(0);
        self.c_max = self.c0.iter().chain(&self.c1).copied().max().unwrap_or(0);
    }

    fn build_rows(&mut self, sh: usize, dh: usize) {
        let scale = 1.0 / (dh as f64 / sh as f64);
        self.y0.clear();
        self.y1.clear();
        self.beta.clear();
        let last = sh as i64 - 1;
        for dy in 0..dh {
            let (sy, fy) = interval_start(dy, scale);
            self.y0.push(sy.clamp(0, last) as u32);
            self.y1.push((sy + 1).clamp(0, last) as u32);
            self.beta.push(weights(fy));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_are_found_for_the_exact_ratios() {
        let mut t = Tables::default();
        t.build(1920, 1080, 640, 360, 3);
        assert!(t.nearest && !t.halves && t.thirds);
        assert_eq!((t.x0[0], t.y0[0], t.y0[1]), (3, 1, 4));
        t.build(1280, 720, 640, 360, 3);
        assert!(t.halves && t.pairs && !t.nearest);
        t.build(1920, 1080, 320, 180, 4);
        assert!(t.halves && !t.pairs);
        t.build(1000, 700, 640, 448, 3);
        assert!(!t.halves && !t.nearest);
        // Only the sampled columns are listed, each once.
        t.build(1920, 1080, 640, 360, 3);
        assert_eq!(t.columns.len(), 640);
        assert!(t.columns.windows(2).all(|w| w[0] < w[1]));
    }
}
