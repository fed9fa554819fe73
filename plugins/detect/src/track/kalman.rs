// SPDX-License-Identifier: MIT OR Apache-2.0
//! The constant-velocity Kalman filter ByteTrack (and ultralytics' `KalmanFilterXYAH`) runs on
//! a box's centre x, centre y, aspect ratio w/h and height, with their velocities: eight states,
//! in float64, noise scaled by the box's height.
//!
//! The motion model, the noises and the measurement all act on each coordinate and its own
//! velocity alone, so the 8×8 covariance is four independent 2×2 blocks from the first frame on.
//! Kept as blocks, a frame costs a small fraction of the 8×8 arithmetic with the very same
//! roundings: every term the matrix form adds beyond a block is an exact zero (the test below
//! checks the two forms bit for bit).

/// State: `[cx, cy, a, h, vcx, vcy, va, vh]`.
pub type Mean = [f64; 8];

/// The covariance as four blocks, one per coordinate `i`: `[P[i][i], P[i][i+4], P[i+4][i],
/// P[i+4][i+4]]` (both off-diagonal entries, which roundings make differ in the last bit, as
/// they do in the reference).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Covariance([[f64; 4]; 4]);

const STD_WEIGHT_POSITION: f64 = 1.0 / 20.0;
const STD_WEIGHT_VELOCITY: f64 = 1.0 / 160.0;

/// A new track's state from its first measurement `[cx, cy, a, h]` (velocities zero, wide
/// uncertainty on them).
pub fn initiate(measurement: [f64; 4]) -> (Mean, Covariance) {
    let h = measurement[3];
    let (p, v) = (STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY);
    let position = [2.0 * p * h, 2.0 * p * h, 1e-2, 2.0 * p * h];
    let velocity = [10.0 * v * h, 10.0 * v * h, 1e-5, 10.0 * v * h];
    let mut mean = [0.0; 8];
    mean[..4].copy_from_slice(&measurement);
    let blocks = std::array::from_fn(|i| {
        [
            position[i] * position[i],
            0.0,
            0.0,
            velocity[i] * velocity[i],
        ]
    });
    (mean, Covariance(blocks))
}

/// One frame ahead: position += velocity, uncertainty grows with the height of the box.
pub fn predict(mean: &mut Mean, covariance: &mut Covariance) {
    let h = mean[3];
    let (p, v) = (STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY);
    let position = [p * h, p * h, 1e-2, p * h];
    let velocity = [v * h, v * h, 1e-5, v * h];
    for i in 0..4 {
        mean[i] += mean[i + 4];
        // F·P·Fᵀ with F = [[1, 1], [0, 1]] per block, then the motion noise on the diagonal,
        // in the order the matrix form adds.
        let [pp, pv, vp, vv] = covariance.0[i];
        covariance.0[i] = [
            ((pp + vp) + (pv + vv)) + position[i] * position[i],
            pv + vv,
            vp + vv,
            vv + velocity[i] * velocity[i],
        ];
    }
}

/// The filter corrected by a measurement `[cx, cy, a, h]`.
pub fn update(mean: &mut Mean, covariance: &mut Covariance, measurement: [f64; 4]) {
    let h = mean[3];
    let p = STD_WEIGHT_POSITION;
    let noise = [p * h, p * h, 1e-1, p * h];
    for i in 0..4 {
        let [pp, pv, vp, vv] = covariance.0[i];
        // S = P + R, diagonal; the gain is P's column over it.
        let s = pp + noise[i] * noise[i];
        let (gain_p, gain_v) = (pp / s, vp / s);
        let innovation = measurement[i] - mean[i];
        mean[i] += innovation * gain_p;
        mean[i + 4] += innovation * gain_v;
        // P − K·S·Kᵀ.
        let (ks_p, ks_v) = (gain_p * s, gain_v * s);
        covariance.0[i] = [
            pp - ks_p * gain_p,
            pv - ks_p * gain_v,
            vp - ks_v * gain_p,
            vv - ks_v * gain_v,
        ];
    }
}

#[cfg(test)]
// The 8×8 reference reads best with explicit row/column indices.
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    /// The covariance as the 8×8 matrix it stands for.
    fn matrix(c: &Covariance) -> [[f64; 8]; 8] {
        let mut m = [[0.0; 8]; 8];
        for (i, [pp, pv, vp, vv]) in c.0.into_iter().enumerate() {
            m[i][i] = pp;
            m[i][i + 4] = pv;
            m[i + 4][i] = vp;
            m[i + 4][i + 4] = vv;
        }
        m
    }

    /// The filter in general 8×8 form, as ultralytics writes it: F·P·Fᵀ + Q, then
    /// K = P·Hᵀ·S⁻¹ by Gaussian elimination with partial pivoting, P − K·S·Kᵀ.
    mod matrix_form {
        pub type M8 = [[f64; 8]; 8];

        pub fn predict(mean: &[f64; 8], cov: &M8) -> ([f64; 8], M8) {
            let h = mean[3];
            let (p, v) = (super::STD_WEIGHT_POSITION, super::STD_WEIGHT_VELOCITY);
            let std = [p * h, p * h, 1e-2, p * h, v * h, v * h, 1e-5, v * h];
            let f = |r: usize, c: usize| f64::from(u8::from(r == c || c == r + 4));
            let mut next = [0.0; 8];
            for r in 0..8 {
                next[r] = (0..8).map(|k| f(r, k) * mean[k]).sum();
            }
            let mut fp = [[0.0; 8]; 8];
            for r in 0..8 {
                for c in 0..8 {
                    fp[r][c] = (0..8).map(|k| f(r, k) * cov[k][c]).sum();
                }
            }
            let mut out = [[0.0; 8]; 8];
            for r in 0..8 {
                for c in 0..8 {
                    out[r][c] = (0..8).map(|k| fp[r][k] * f(c, k)).sum();
                }
                out[r][r] += std[r] * std[r];
            }
            (next, out)
        }

        pub fn update(mean: &[f64; 8], cov: &M8, z: [f64; 4]) -> ([f64; 8], M8) {
            let h = mean[3];
            let p = super::STD_WEIGHT_POSITION;
            let std = [p * h, p * h, 1e-1, p * h];
            let mut s = [[0.0; 4]; 4];
            for r in 0..4 {
                s[r].copy_from_slice(&cov[r][..4]);
                s[r][r] += std[r] * std[r];
            }
            let mut a = s;
            let mut kt = [[0.0; 8]; 4];
            for r in 0..4 {
                for c in 0..8 {
                    kt[r][c] = cov[c][r];
                }
            }
            for col in 0..4 {
                let pivot = (col..4)
                    .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
                    .unwrap_or(col);
                a.swap(col, pivot);
                kt.swap(col, pivot);
                for row in col + 1..4 {
                    let f = a[row][col] / a[col][col];
                    for k in col..4 {
                        a[row][k] -= f * a[col][k];
                    }
                    for k in 0..8 {
                        kt[row][k] -= f * kt[col][k];
                    }
                }
            }
            for col in (0..4).rev() {
                for k in 0..8 {
                    let mut v = kt[col][k];
                    for j in col + 1..4 {
                        v -= a[col][j] * kt[j][k];
                    }
                    kt[col][k] = v / a[col][col];
                }
            }
            let innovation: [f64; 4] = std::array::from_fn(|i| z[i] - mean[i]);
            let mut next = *mean;
            for (r, value) in next.iter_mut().enumerate() {
                *value += (0..4).map(|k| innovation[k] * kt[k][r]).sum::<f64>();
            }
            let mut ks = [[0.0; 4]; 8];
            for r in 0..8 {
                for c in 0..4 {
                    ks[r][c] = (0..4).map(|k| kt[k][r] * s[k][c]).sum();
                }
            }
            let mut out = *cov;
            for r in 0..8 {
                for c in 0..8 {
                    out[r][c] -= (0..4).map(|k| ks[r][k] * kt[k][c]).sum::<f64>();
                }
            }
            (next, out)
        }
    }

    #[test]
    fn the_block_form_equals_the_matrix_form_bit_for_bit() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..200 {
            let mut z = [
                next() * 1920.0,
                next() * 1080.0,
                0.2 + next() * 2.0,
                5.0 + next() * 400.0,
            ];
            let (mut mean, mut cov) = initiate(z);
            let (mut ref_mean, mut ref_cov) = (mean, matrix(&cov));
            for _ in 0..40 {
                predict(&mut mean, &mut cov);
                (ref_mean, ref_cov) = matrix_form::predict(&ref_mean, &ref_cov);
                assert_eq!(mean, ref_mean);
                assert_eq!(matrix(&cov), ref_cov);
                // Some frames without a measurement, as a lost track has.
                if next() < 0.8 {
                    for (k, zk) in z.iter_mut().enumerate() {
                        *zk += (next() - 0.5) * [12.0, 8.0, 0.05, 6.0][k];
                    }
                    z[3] = z[3].max(1.0);
                    update(&mut mean, &mut cov, z);
                    (ref_mean, ref_cov) = matrix_form::update(&ref_mean, &ref_cov, z);
                    assert_eq!(mean, ref_mean);
                    assert_eq!(matrix(&cov), ref_cov);
                }
            }
        }
    }

    #[test]
    fn a_still_box_measured_again_stays_put_and_grows_certain() {
        let z = [100.0, 50.0, 0.5, 40.0];
        let (mut mean, mut cov) = initiate(z);
        let first = cov.0[0][0];
        for _ in 0..10 {
            predict(&mut mean, &mut cov);
            update(&mut mean, &mut cov, z);
        }
        for i in 0..4 {
            assert!((mean[i] - z[i]).abs() < 1e-9, "{mean:?}");
        }
        assert!(cov.0[0][0] < first);
        // The covariance stays symmetric.
        let m = matrix(&cov);
        for r in 0..8 {
            for c in 0..8 {
                assert!((m[r][c] - m[c][r]).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn a_moving_box_is_followed_with_its_velocity() {
        let (mut mean, mut cov) = initiate([0.0, 0.0, 1.0, 20.0]);
        for step in 1..=30 {
            predict(&mut mean, &mut cov);
            update(&mut mean, &mut cov, [3.0 * step as f64, 0.0, 1.0, 20.0]);
        }
        assert!((mean[4] - 3.0).abs() < 0.05, "vx {}", mean[4]);
        assert!((mean[0] - 90.0).abs() < 0.5, "x {}", mean[0]);
    }
}
