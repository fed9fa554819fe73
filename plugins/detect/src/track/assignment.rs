// SPDX-License-Identifier: MIT OR Apache-2.0
//! Minimum-cost matching of tracks to detections with a cost limit, as ByteTrack does it with
//! the `lap` package (`lapjv(cost, extend_cost=True, cost_limit=limit)`): the rows×cols costs are
//! embedded in a square problem where leaving a row or a column unmatched costs `limit / 2`, so a
//! pair is only matched when that beats leaving both alone. Solved by the Jonker–Volgenant
//! algorithm of the `lapjv` crate, one group of linked rows and columns at a time.
//!
//! The caller names the affordable pairs (for boxes, the ones that overlap: see `overlap`), so a
//! frame never builds the whole rows×cols matrix.

/// The result of one matching: (row, col) pairs, then the unmatched rows and columns, ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assignment {
    pub matches: Vec<(usize, usize)>,
    pub unmatched_rows: Vec<usize>,
    pub unmatched_cols: Vec<usize>,
}

/// Matches the `rows`×`cols` costs (row-major) under `limit`.
#[cfg(test)]
pub fn assign(costs: &[f32], rows: usize, cols: usize, limit: f64) -> Assignment {
    debug_assert_eq!(costs.len(), rows * cols);
    let cost = |r: usize, c: usize| payable(f64::from(costs[r * cols + c]));
    let mut edges = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            if cost(r, c) <= limit {
                edges.push((r, c, cost(r, c)));
            }
        }
    }
    assign_edges(rows, cols, &edges, cost, limit)
}

/// The buffers one matching needs, kept by the tracker so that a warm frame allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct AssignScratch {
    degree: Vec<u32>,
    row_match: Vec<usize>,
    parent: Vec<usize>,
    linked: Vec<usize>,
    keyed: Vec<(usize, usize)>,
    group_rows: Vec<usize>,
    group_cols: Vec<usize>,
}

/// [`assign_edges_into`] with fresh buffers.
#[cfg(test)]
pub fn assign_edges(
    rows: usize,
    cols: usize,
    edges: &[(usize, usize, f64)],
    cost: impl Fn(usize, usize) -> f64,
    limit: f64,
) -> Assignment {
    let mut out = Assignment::default();
    assign_edges_into(
        &mut AssignScratch::default(),
        &mut out,
        rows,
        cols,
        edges,
        cost,
        limit,
    );
    out
}

/// Matches `rows` to `cols` under `limit` into `out`, given every pair whose cost is within it
/// (`edges`: row, column, cost; in any order) and the cost of any pair.
///
/// A pair costing more than `limit` is never matched (leaving both alone costs `limit`), so the
/// problem falls apart into the groups of rows and columns linked by affordable pairs; each
/// group is solved on its own. In a tracker most tracks overlap one detection or none: the groups
/// are tiny, and a frame of 100 objects costs a hundred 1×1 problems, not one 200×200.
pub fn assign_edges_into(
    scratch: &mut AssignScratch,
    out: &mut Assignment,
    rows: usize,
    cols: usize,
    edges: &[(usize, usize, f64)],
    cost: impl Fn(usize, usize) -> f64,
    limit: f64,
) {
    let cost = |r: usize, c: usize| payable(cost(r, c));
    let AssignScratch {
        degree,
        row_match,
        parent,
        linked,
        keyed,
        group_rows,
        group_cols,
    } = scratch;
    // Edges at each row (0..rows) and column (rows..rows+cols).
    degree.clear();
    degree.resize(rows + cols, 0);
    for &(r, c, _) in edges {
        degree[r] += 1;
        degree[rows + c] += 1;
    }
    const NONE: usize = usize::MAX;
    row_match.clear();
    row_match.resize(rows, NONE);
    // Union-find over the rows (0..rows) and columns (rows..rows+cols) of the larger groups.
    parent.clear();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    linked.clear();
    for &(r, c, pair_cost) in edges {
        if degree[r] == 1 && degree[rows + c] == 1 {
            // A group of one row and one column: matching costs c, leaving both costs limit.
            if pair_cost < limit {
                row_match[r] = c;
            }
            continue;
        }
        if parent.is_empty() {
            parent.extend(0..rows + cols);
        }
        let (a, b) = (root(parent, r), root(parent, rows + c));
        parent[a] = b;
        linked.extend([r, rows + c]);
    }
    if !linked.is_empty() {
        // The linked nodes sorted by group, rows before columns within one.
        linked.sort_unstable();
        linked.dedup();
        keyed.clear();
        keyed.extend(linked.iter().map(|&i| (root(parent, i), i)));
        keyed.sort_unstable();
        for group in keyed.chunk_by(|a, b| a.0 == b.0) {
            let split = group.partition_point(|&(_, i)| i < rows);
            group_rows.clear();
            group_rows.extend(group[..split].iter().map(|&(_, i)| i));
            group_cols.clear();
            group_cols.extend(group[split..].iter().map(|&(_, i)| i - rows));
            for (r, c) in solve_group(group_rows, group_cols, &cost, limit) {
                row_match[r] = c;
            }
        }
    }
    out.matches.clear();
    out.unmatched_rows.clear();
    out.unmatched_cols.clear();
    let col_taken = &mut degree[rows..];
    for (r, &c) in row_match.iter().enumerate() {
        if c == NONE {
            out.unmatched_rows.push(r);
        } else {
            out.matches.push((r, c));
            col_taken[c] = u32::MAX;
        }
    }
    out.unmatched_cols
        .extend((0..cols).filter(|&c| col_taken[c] != u32::MAX));
}

/// A NaN cost (a degenerate box) is one no match can pay.
fn payable(cost: f64) -> f64 {
    if cost.is_nan() { UNPAYABLE } else { cost }
}

/// One group as `lap.lapjv(extend_cost=True, cost_limit=limit)` poses it: the costs in a square
/// of side rows+cols where leaving a row or a column unmatched costs `limit / 2`.
fn solve_group(
    rows: &[usize],
    cols: &[usize],
    cost: &impl Fn(usize, usize) -> f64,
    limit: f64,
) -> Vec<(usize, usize)> {
    let (nr, nc) = (rows.len(), cols.len());
    if nr == 1 && nc == 1 {
        // Matching costs c, leaving both costs limit: the square problem's answer, directly.
        return if cost(rows[0], cols[0]) < limit {
            vec![(rows[0], cols[0])]
        } else {
            Vec::new()
        };
    }
    let n = nr + nc;
    let mut square = lapjv::Matrix::from_elem((n, n), limit / 2.0);
    for (i, &r) in rows.iter().enumerate() {
        for (j, &c) in cols.iter().enumerate() {
            square[[i, j]] = cost(r, c);
        }
    }
    for i in nr..n {
        for j in nc..n {
            square[[i, j]] = 0.0;
        }
    }
    // The solver refuses only malformed problems; match nothing rather than guess.
    let Ok((row_to_col, _)) = lapjv::lapjv(&square) else {
        return Vec::new();
    };
    row_to_col
        .iter()
        .take(nr)
        .enumerate()
        .filter(|&(_, &j)| j < nc)
        .map(|(i, &j)| (rows[i], cols[j]))
        .collect()
}

/// Far more than leaving a row and a column unmatched could cost.
const UNPAYABLE: f64 = 1e9;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_above_the_limit_stay_unmatched() {
        // Row 0 fits col 1 well; row 1's only option costs more than the limit.
        let costs = [0.9, 0.1, 0.95, 0.85];
        let a = assign(&costs, 2, 2, 0.8);
        assert_eq!(a.matches, vec![(0, 1)]);
        assert_eq!(a.unmatched_rows, vec![1]);
        assert_eq!(a.unmatched_cols, vec![0]);
    }

    #[test]
    fn the_total_cost_is_minimal_not_greedy() {
        // Greedy would take (0,0)=0.1 and leave row 1 with 0.9; the optimum is 0.2 + 0.3.
        let costs = [0.1, 0.2, 0.3, 0.9];
        let a = assign(&costs, 2, 2, 1.0);
        assert_eq!(a.matches, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn groups_solved_apart_give_the_whole_problem_s_answer() {
        // Two far-apart pairs of tracks and detections, and one track with nothing near.
        let costs = [
            0.2, 0.3, 1.0, 1.0, //
            0.25, 0.1, 1.0, 1.0, //
            1.0, 1.0, 0.4, 1.0, //
            1.0, 1.0, 1.0, 1.0,
        ];
        let a = assign(&costs, 4, 4, 0.8);
        assert_eq!(a.matches, vec![(0, 0), (1, 1), (2, 2)]);
        assert_eq!(a.unmatched_rows, vec![3]);
        assert_eq!(a.unmatched_cols, vec![3]);
    }

    /// The whole problem as one square, as `lap` poses it.
    fn assign_whole(costs: &[f32], rows: usize, cols: usize, limit: f64) -> Vec<(usize, usize)> {
        let all_rows: Vec<usize> = (0..rows).collect();
        let all_cols: Vec<usize> = (0..cols).collect();
        let cost = |r: usize, c: usize| f64::from(costs[r * cols + c]);
        let mut pairs = solve_group(&all_rows, &all_cols, &cost, limit);
        pairs.sort_unstable();
        pairs
    }

    #[test]
    fn solving_group_by_group_equals_solving_the_whole() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32
        };
        for trial in 0..2000 {
            let rows = 1 + (next() * 12.0) as usize;
            let cols = 1 + (next() * 12.0) as usize;
            // Mostly unaffordable pairs, as boxes that do not overlap give.
            let costs: Vec<f32> = (0..rows * cols)
                .map(|_| if next() < 0.7 { 1.0 } else { next() })
                .collect();
            let limit = [0.8, 0.5, 0.7][trial % 3];
            let a = assign(&costs, rows, cols, limit);
            assert_eq!(
                a.matches,
                assign_whole(&costs, rows, cols, limit),
                "{costs:?}"
            );
        }
    }

    #[test]
    fn empty_sides() {
        let a = assign(&[], 3, 0, 0.8);
        assert_eq!(a.unmatched_rows, vec![0, 1, 2]);
        assert!(a.matches.is_empty() && a.unmatched_cols.is_empty());
    }
}
