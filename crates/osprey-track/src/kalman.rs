//! Constant-velocity Kalman filter on (centre x, centre y, aspect ratio w/h, height) and their
//! velocities — the state ByteTrack and SORT-family trackers use, with noise proportional to the
//! box height.

// Small fixed-size matrix algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

pub(crate) type Vec8 = [f64; 8];
pub(crate) type Mat8 = [[f64; 8]; 8];

const W_POS: f64 = 1.0 / 20.0;
const W_VEL: f64 = 1.0 / 160.0;

/// Mean and covariance of one track.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub mean: Vec8,
    pub cov: Mat8,
}

fn diag(v: &Vec8) -> Mat8 {
    let mut m = [[0.0; 8]; 8];
    for i in 0..8 {
        m[i][i] = v[i] * v[i];
    }
    m
}

impl State {
    /// A new track from a measurement (x, y, a, h): unknown velocity, wide uncertainty.
    pub fn new(z: [f64; 4]) -> State {
        let h = z[3];
        let std = [
            2.0 * W_POS * h,
            2.0 * W_POS * h,
            1e-2,
            2.0 * W_POS * h,
            10.0 * W_VEL * h,
            10.0 * W_VEL * h,
            1e-5,
            10.0 * W_VEL * h,
        ];
        State {
            mean: [z[0], z[1], z[2], z[3], 0.0, 0.0, 0.0, 0.0],
            cov: diag(&std),
        }
    }

    /// One frame ahead.
    pub fn predict(&mut self) {
        let h = self.mean[3];
        let q = diag(&[
            W_POS * h,
            W_POS * h,
            1e-2,
            W_POS * h,
            W_VEL * h,
            W_VEL * h,
            1e-5,
            W_VEL * h,
        ]);
        for i in 0..4 {
            self.mean[i] += self.mean[i + 4];
        }
        // P = F P F^T + Q with F = [[I, I], [0, I]]
        let p = self.cov;
        let mut fp = p;
        for i in 0..4 {
            for j in 0..8 {
                fp[i][j] = p[i][j] + p[i + 4][j];
            }
        }
        let mut out = fp;
        for i in 0..8 {
            for j in 0..4 {
                out[i][j] = fp[i][j] + fp[i][j + 4];
            }
        }
        for i in 0..8 {
            for j in 0..8 {
                out[i][j] += q[i][j];
            }
        }
        self.cov = out;
    }

    /// Corrects with a measurement (x, y, a, h).
    pub fn update(&mut self, z: [f64; 4]) {
        let h = self.mean[3];
        let r = [W_POS * h, W_POS * h, 1e-1, W_POS * h];
        // S = H P H^T + R (top-left 4x4), PHt = P H^T (8x4)
        let mut s = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                s[i][j] = self.cov[i][j];
            }
            s[i][i] += r[i] * r[i];
        }
        let Some(si) = invert4(&s) else { return };
        // K = P H^T S^-1 (8x4)
        let mut k = [[0.0; 4]; 8];
        for i in 0..8 {
            for j in 0..4 {
                k[i][j] = (0..4).map(|m| self.cov[i][m] * si[m][j]).sum();
            }
        }
        let innov: [f64; 4] = std::array::from_fn(|i| z[i] - self.mean[i]);
        for i in 0..8 {
            self.mean[i] += (0..4).map(|j| k[i][j] * innov[j]).sum::<f64>();
        }
        // P = P - K S K^T = P - K H P (since K S = P H^T)
        let p = self.cov;
        for i in 0..8 {
            for j in 0..8 {
                self.cov[i][j] = p[i][j] - (0..4).map(|m| k[i][m] * p[m][j]).sum::<f64>();
            }
        }
    }
}

fn invert4(a: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut m = *a;
    let mut inv = [[0.0; 4]; 4];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for c in 0..4 {
        let p = (c..4).max_by(|&x, &y| m[x][c].abs().total_cmp(&m[y][c].abs()))?;
        if m[p][c].abs() < 1e-12 {
            return None;
        }
        m.swap(c, p);
        inv.swap(c, p);
        let d = m[c][c];
        for j in 0..4 {
            m[c][j] /= d;
            inv[c][j] /= d;
        }
        for r in 0..4 {
            if r != c {
                let f = m[r][c];
                for j in 0..4 {
                    m[r][j] -= f * m[c][j];
                    inv[r][j] -= f * inv[c][j];
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_constant_velocity() {
        let mut s = State::new([100.0, 50.0, 0.5, 80.0]);
        for t in 1..=30 {
            s.predict();
            s.update([100.0 + 3.0 * t as f64, 50.0 - 1.0 * t as f64, 0.5, 80.0]);
        }
        assert!((s.mean[4] - 3.0).abs() < 0.05, "vx {}", s.mean[4]);
        assert!((s.mean[5] + 1.0).abs() < 0.05, "vy {}", s.mean[5]);
        s.predict();
        assert!((s.mean[0] - 193.0).abs() < 0.5);
        // covariance stays symmetric and positive on the diagonal
        for i in 0..8 {
            assert!(s.cov[i][i] > 0.0);
            for j in 0..8 {
                assert!((s.cov[i][j] - s.cov[j][i]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn inverse_is_an_inverse() {
        let a = [
            [4.0, 1.0, 0.0, 0.5],
            [1.0, 3.0, 0.2, 0.0],
            [0.0, 0.2, 2.0, 0.1],
            [0.5, 0.0, 0.1, 5.0],
        ];
        let i = invert4(&a).expect("invertible");
        for r in 0..4 {
            for c in 0..4 {
                let v: f64 = (0..4).map(|k| a[r][k] * i[k][c]).sum();
                assert!((v - if r == c { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }
}
