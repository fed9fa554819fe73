// SPDX-License-Identifier: MIT OR Apache-2.0
//! The constant-velocity Kalman filter ByteTrack (and ultralytics' `KalmanFilterXYAH`) runs on
//! a box's centre x, centre y, aspect ratio w/h and height, with their velocities: eight states,
//! in float64, noise scaled by the box's height.

// Small fixed-size matrix arithmetic reads best with explicit row/column indices.
#![allow(clippy::needless_range_loop)]

/// State: `[cx, cy, a, h, vcx, vcy, va, vh]`.
pub type Mean = [f64; 8];
/// 8×8 covariance, row-major.
pub type Covariance = [[f64; 8]; 8];

const STD_WEIGHT_POSITION: f64 = 1.0 / 20.0;
const STD_WEIGHT_VELOCITY: f64 = 1.0 / 160.0;

/// A new track's state from its first measurement `[cx, cy, a, h]` (velocities zero, wide
/// uncertainty on them).
pub fn initiate(measurement: [f64; 4]) -> (Mean, Covariance) {
    let h = measurement[3];
    let (p, v) = (STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY);
    let std = [
        2.0 * p * h,
        2.0 * p * h,
        1e-2,
        2.0 * p * h,
        10.0 * v * h,
        10.0 * v * h,
        1e-5,
        10.0 * v * h,
    ];
    let mut mean = [0.0; 8];
    mean[..4].copy_from_slice(&measurement);
    (mean, diagonal(std.map(|s| s * s)))
}

/// One frame ahead: position += velocity, uncertainty grows with the height of the box.
pub fn predict(mean: &Mean, covariance: &Covariance) -> (Mean, Covariance) {
    let h = mean[3];
    let (p, v) = (STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY);
    let std = [p * h, p * h, 1e-2, p * h, v * h, v * h, 1e-5, v * h];
    let mut next = *mean;
    for i in 0..4 {
        next[i] += mean[i + 4];
    }
    // F·P·Fᵀ with F = [[I, I], [0, I]], then the motion noise on the diagonal.
    let mut fp = [[0.0; 8]; 8];
    for r in 0..8 {
        for c in 0..8 {
            fp[r][c] = covariance[r][c] + if r < 4 { covariance[r + 4][c] } else { 0.0 };
        }
    }
    let mut out = [[0.0; 8]; 8];
    for r in 0..8 {
        for c in 0..8 {
            out[r][c] = fp[r][c] + if c < 4 { fp[r][c + 4] } else { 0.0 };
        }
        out[r][r] += std[r] * std[r];
    }
    (next, out)
}

/// The filter corrected by a measurement `[cx, cy, a, h]`.
pub fn update(mean: &Mean, covariance: &Covariance, measurement: [f64; 4]) -> (Mean, Covariance) {
    // Projection into measurement space: S = P[:4,:4] + R.
    let h = mean[3];
    let p = STD_WEIGHT_POSITION;
    let std = [p * h, p * h, 1e-1, p * h];
    let mut s = [[0.0; 4]; 4];
    for r in 0..4 {
        for c in 0..4 {
            s[r][c] = covariance[r][c];
        }
        s[r][r] += std[r] * std[r];
    }
    // Kalman gain K (8×4) solves S·Kᵀ = P[:, :4]ᵀ.
    let mut rhs = [[0.0; 8]; 4];
    for r in 0..4 {
        for c in 0..8 {
            rhs[r][c] = covariance[c][r];
        }
    }
    let kt = solve4(s, rhs);
    let innovation: [f64; 4] = std::array::from_fn(|i| measurement[i] - mean[i]);
    let mut next = *mean;
    for (r, value) in next.iter_mut().enumerate() {
        *value += (0..4).map(|k| innovation[k] * kt[k][r]).sum::<f64>();
    }
    // P − K·S·Kᵀ.
    let mut ks = [[0.0; 4]; 8];
    for r in 0..8 {
        for c in 0..4 {
            ks[r][c] = (0..4).map(|k| kt[k][r] * s[k][c]).sum();
        }
    }
    let mut out = *covariance;
    for r in 0..8 {
        for c in 0..8 {
            out[r][c] -= (0..4).map(|k| ks[r][k] * kt[k][c]).sum::<f64>();
        }
    }
    (next, out)
}

fn diagonal(values: [f64; 8]) -> Covariance {
    let mut m = [[0.0; 8]; 8];
    for (i, v) in values.into_iter().enumerate() {
        m[i][i] = v;
    }
    m
}

/// X with A·X = B for a 4×4 A (Gaussian elimination with partial pivoting, as LAPACK's gesv
/// that numpy.linalg.solve calls).
fn solve4(mut a: [[f64; 4]; 4], mut b: [[f64; 8]; 4]) -> [[f64; 8]; 4] {
    for col in 0..4 {
        let pivot = (col..4)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..4 {
            let f = a[row][col] / a[col][col];
            for k in col..4 {
                a[row][k] -= f * a[col][k];
            }
            for k in 0..8 {
                b[row][k] -= f * b[col][k];
            }
        }
    }
    for col in (0..4).rev() {
        for k in 0..8 {
            let mut v = b[col][k];
            for j in col + 1..4 {
                v -= a[col][j] * b[j][k];
            }
            b[col][k] = v / a[col][col];
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_still_box_measured_again_stays_put_and_grows_certain() {
        let z = [100.0, 50.0, 0.5, 40.0];
        let (mut mean, mut cov) = initiate(z);
        let first = cov[0][0];
        for _ in 0..10 {
            (mean, cov) = predict(&mean, &cov);
            (mean, cov) = update(&mean, &cov, z);
        }
        for i in 0..4 {
            assert!((mean[i] - z[i]).abs() < 1e-9, "{mean:?}");
        }
        assert!(cov[0][0] < first);
        // The covariance stays symmetric.
        for r in 0..8 {
            for c in 0..8 {
                assert!((cov[r][c] - cov[c][r]).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn a_moving_box_is_followed_with_its_velocity() {
        let (mut mean, mut cov) = initiate([0.0, 0.0, 1.0, 20.0]);
        for step in 1..=30 {
            (mean, cov) = predict(&mean, &cov);
            (mean, cov) = update(&mean, &cov, [3.0 * step as f64, 0.0, 1.0, 20.0]);
        }
        assert!((mean[4] - 3.0).abs() < 0.05, "vx {}", mean[4]);
        assert!((mean[0] - 90.0).abs() < 0.5, "x {}", mean[0]);
    }

    #[test]
    fn solve4_solves() {
        let a = [
            [4.0, 1.0, 0.0, 0.5],
            [1.0, 3.0, 0.2, 0.0],
            [0.0, 0.2, 2.0, 0.1],
            [0.5, 0.0, 0.1, 5.0],
        ];
        let mut b = [[0.0; 8]; 4];
        for (r, row) in b.iter_mut().enumerate() {
            row[0] = r as f64 + 1.0;
        }
        let x = solve4(a, b);
        for r in 0..4 {
            let v: f64 = (0..4).map(|k| a[r][k] * x[k][0]).sum();
            assert!((v - (r as f64 + 1.0)).abs() < 1e-12);
        }
    }
}
