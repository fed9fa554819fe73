// SPDX-License-Identifier: MIT OR Apache-2.0
//! Which boxes of one set overlap which of another, without trying every pair: a frame of 100
//! tracks and 100 detections has 10 000 pairs, of which a few hundred share any area. Only those
//! can have an IoU above zero, so only those can ever be matched.

/// A box `[x1, y1, x2, y2]`.
pub type Xyxy = [f32; 4];

/// A set of boxes sorted by left edge, to find the ones each box of another set overlaps.
/// Kept by its owner and rebuilt for each set, so a frame allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct OverlapIndex {
    /// Left edge and index packed in one integer that sorts as the edge does (a plain integer
    /// sort, not one that looks each box up to compare).
    keys: Vec<u64>,
    /// The boxes by left edge, beside their index in the set.
    sorted: Vec<Xyxy>,
    index: Vec<usize>,
    /// The largest right edge among `sorted[..=k]`: rises with k, so the first box that can
    /// reach past a given x is where it first exceeds x.
    reach: Vec<f32>,
    /// Where to start looking for a box reaching past x, by x on a coarse grid: `starts[k]` is
    /// the first box whose reach exceeds `grid[k]` (a table lookup, then a step or two, instead
    /// of a binary search per query).
    grid: Vec<f32>,
    starts: Vec<usize>,
}

impl OverlapIndex {
    /// An index of `boxes`.
    #[cfg(test)]
    pub fn new(boxes: &[Xyxy]) -> Self {
        let mut index = Self::default();
        index.rebuild(boxes);
        index
    }

    /// Indexes `boxes` instead of the set before (boxes without an area, or with a NaN
    /// coordinate, overlap nothing and are left out).
    pub fn rebuild(&mut self, boxes: &[Xyxy]) {
        self.keys.clear();
        self.keys.extend(
            (0..boxes.len())
                .filter(|&i| has_area(&boxes[i]))
                .map(|i| u64::from(ordered_bits(boxes[i][0])) << 32 | i as u64),
        );
        self.keys.sort_unstable();
        self.index.clear();
        self.index
            .extend(self.keys.iter().map(|&k| (k & 0xffff_ffff) as usize));
        self.sorted.clear();
        self.sorted.extend(self.index.iter().map(|&i| boxes[i]));
        let mut furthest = f32::NEG_INFINITY;
        self.reach.clear();
        self.reach.extend(self.sorted.iter().map(|b| {
            furthest = furthest.max(b[2]);
            furthest
        }));
        self.grid.clear();
        self.starts.clear();
        if let (Some(first), Some(&last)) = (self.sorted.first(), self.reach.last()) {
            let cells = self.sorted.len();
            let width = (last - first[0]) / cells as f32;
            if width.is_finite() && width > 0.0 {
                let origin = first[0];
                self.grid
                    .extend((0..cells).map(|k| origin + k as f32 * width));
                let mut start = 0;
                for &x in &self.grid {
                    while start < self.reach.len() && self.reach[start] <= x {
                        start += 1;
                    }
                    self.starts.push(start);
                }
            }
        }
    }

    /// The first box whose reach exceeds `x`.
    fn first_reaching(&self, x: f32) -> usize {
        let Some(&origin) = self.grid.first() else {
            return self.reach.partition_point(|&r| r <= x);
        };
        if x < origin {
            return 0;
        }
        let width = self.grid.get(1).map_or(f32::INFINITY, |&g| g - origin);
        let mut cell = (((x - origin) / width) as usize).min(self.grid.len() - 1);
        // Rounding may put x a cell too far: the cell's left edge must not pass it.
        while cell > 0 && self.grid[cell] > x {
            cell -= 1;
        }
        let mut k = self.starts[cell];
        while k < self.reach.len() && self.reach[k] <= x {
            k += 1;
        }
        k
    }

    /// Calls `found(j)` for every indexed box `j` that shares an area with `a` (both spans open:
    /// boxes that only touch at an edge share none), in ascending left edge.
    pub fn overlapping(&self, a: &Xyxy, mut found: impl FnMut(usize)) {
        if !has_area(a) {
            return;
        }
        let first = self.first_reaching(a[0]);
        for (b, &j) in self.sorted[first..].iter().zip(&self.index[first..]) {
            if b[0] >= a[2] {
                break;
            }
            // Both boxes have an area: they share one when each span starts before the other
            // ends (what `overlap` says, in four comparisons).
            if b[2] > a[0] && a[3] > b[1] && b[3] > a[1] {
                found(j);
            }
        }
    }
}

/// The bits of a (non-NaN) float as an integer that orders as the float does.
fn ordered_bits(v: f32) -> u32 {
    let bits = v.to_bits();
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | 1 << 31
    }
}

/// True for a box with a positive width and height (false with a NaN coordinate).
fn has_area(b: &Xyxy) -> bool {
    b[2] > b[0] && b[3] > b[1]
}

/// True when `a` and `b` share an area: exactly when the IoU's intersection is above zero.
#[cfg(test)]
fn overlap(a: &Xyxy, b: &Xyxy) -> bool {
    a[2].min(b[2]) > a[0].max(b[0]) && a[3].min(b[3]) > a[1].max(b[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_boxes(next: &mut impl FnMut() -> f32, n: usize) -> Vec<Xyxy> {
        (0..n)
            .map(|_| {
                let (x, y) = (next() * 1000.0, next() * 600.0);
                // Mostly small boxes, some wide ones, some degenerate or inverted.
                let w = if next() < 0.1 {
                    next() * 900.0
                } else {
                    next() * 80.0 - 5.0
                };
                let h = next() * 60.0 - 5.0;
                [x, y, x + w, y + h]
            })
            .collect()
    }

    #[test]
    fn finds_exactly_the_pairs_every_pair_tried_finds() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32
        };
        for _ in 0..300 {
            let (na, nb) = (1 + (next() * 60.0) as usize, (next() * 60.0) as usize);
            let a = random_boxes(&mut next, na);
            let mut b = random_boxes(&mut next, nb);
            if next() < 0.2 {
                // Shared edges, and a NaN box, too.
                b.push(a[0]);
                b.push([a[0][2], a[0][1], a[0][2] + 10.0, a[0][3]]);
                b.push([f32::NAN, 0.0, 10.0, 10.0]);
                // Unbounded and far-off boxes.
                b.push([0.0, 0.0, f32::INFINITY, 10.0]);
                b.push([f32::NEG_INFINITY, 5.0, 50.0, 40.0]);
                b.push([1e30, 1e30, 2e30, 2e30]);
            }
            let index = OverlapIndex::new(&b);
            for boxa in &a {
                let mut found = Vec::new();
                index.overlapping(boxa, |j| found.push(j));
                found.sort_unstable();
                let every: Vec<usize> = (0..b.len()).filter(|&j| overlap(boxa, &b[j])).collect();
                assert_eq!(found, every, "{boxa:?} in {b:?}");
            }
        }
    }
}
