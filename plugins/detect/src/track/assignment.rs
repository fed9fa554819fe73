// SPDX-License-Identifier: MIT OR Apache-2.0
//! Minimum-cost matching of tracks to detections with a cost limit, as ByteTrack does it with
//! the `lap` package (`lapjv(cost, extend_cost=True, cost_limit=limit)`): the rows×cols costs are
//! embedded in a square problem where leaving a row or a column unmatched costs `limit / 2`, so a
//! pair is only matched when that beats leaving both alone. Solved by the Jonker–Volgenant
//! algorithm of the `lapjv` crate.

/// The result of one matching: (row, col) pairs, then the unmatched rows and columns, ascending.
#[derive(Debug, Default, PartialEq)]
pub struct Assignment {
    pub matches: Vec<(usize, usize)>,
    pub unmatched_rows: Vec<usize>,
    pub unmatched_cols: Vec<usize>,
}

/// Matches the `rows`×`cols` costs (row-major) under `limit`.
pub fn assign(costs: &[f32], rows: usize, cols: usize, limit: f64) -> Assignment {
    debug_assert_eq!(costs.len(), rows * cols);
    if rows == 0 || cols == 0 {
        return Assignment {
            matches: Vec::new(),
            unmatched_rows: (0..rows).collect(),
            unmatched_cols: (0..cols).collect(),
        };
    }
    let n = rows + cols;
    let mut square = lapjv::Matrix::from_elem((n, n), limit / 2.0);
    for r in 0..rows {
        for c in 0..cols {
            // A NaN cost (a degenerate box) is one no match can pay.
            let cost = f64::from(costs[r * cols + c]);
            square[[r, c]] = if cost.is_nan() { UNPAYABLE } else { cost };
        }
    }
    for r in rows..n {
        for c in cols..n {
            square[[r, c]] = 0.0;
        }
    }
    let Ok((row_to_col, col_to_row)) = lapjv::lapjv(&square) else {
        // The solver refuses only malformed problems; match nothing rather than guess.
        return assign(&[], rows, 0, limit).with_cols(cols);
    };
    let mut out = Assignment::default();
    for (r, &c) in row_to_col.iter().take(rows).enumerate() {
        if c < cols {
            out.matches.push((r, c));
        } else {
            out.unmatched_rows.push(r);
        }
    }
    out.unmatched_cols = (0..cols).filter(|&c| col_to_row[c] >= rows).collect();
    out
}

/// Far more than leaving a row and a column unmatched could cost.
const UNPAYABLE: f64 = 1e9;

impl Assignment {
    fn with_cols(mut self, cols: usize) -> Self {
        self.unmatched_cols = (0..cols).collect();
        self
    }
}

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
    fn empty_sides() {
        let a = assign(&[], 3, 0, 0.8);
        assert_eq!(a.unmatched_rows, vec![0, 1, 2]);
        assert!(a.matches.is_empty() && a.unmatched_cols.is_empty());
    }
}
