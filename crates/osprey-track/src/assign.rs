//! Minimum-cost assignment on a rectangular cost matrix (shortest augmenting paths with
//! potentials, O(n²m)), plus the two ways callers use it: "at most this cost" (tracker
//! association, as `lap.lapjv(..., extend_cost=True, cost_limit=L)`) and "as many pairs as
//! possible, then cheapest" with forbidden pairs (the scorer, as motmetrics).

/// Solves min-cost assignment for `rows × cols` (`cost[r * cols + c]`, finite). Every row is
/// assigned when `rows <= cols`, every column otherwise. Returns `(row, col)` pairs.
pub fn solve(cost: &[f64], rows: usize, cols: usize) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    if rows > cols {
        let mut t = vec![0.0; rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = cost[r * cols + c];
            }
        }
        return solve(&t, cols, rows)
            .into_iter()
            .map(|(c, r)| (r, c))
            .collect();
    }
    // 1-based arrays, column 0 is the virtual start.
    let (n, m) = (rows, cols);
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            if j1 == 0 {
                break; // only with NaN costs; callers pass finite ones
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    (1..=m)
        .filter(|&j| p[j] != 0)
        .map(|j| (p[j] - 1, j - 1))
        .collect()
}

/// Pairs with cost below `limit`, minimising the total cost where leaving a row or a column
/// unmatched costs `limit / 2` each (so a pair is taken only when it beats leaving both alone).
pub fn solve_limited(cost: &[f64], rows: usize, cols: usize, limit: f64) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let n = rows + cols;
    let big = limit * 2.0 + 1e6;
    let mut ext = vec![0.0; n * n];
    for r in 0..n {
        for c in 0..n {
            ext[r * n + c] = if r < rows && c < cols {
                let x = cost[r * cols + c];
                if x.is_finite() && x <= limit {
                    x
                } else {
                    big
                }
            } else if r < rows {
                // row r left unmatched (its own dummy column only)
                if c - cols == r {
                    limit / 2.0
                } else {
                    big
                }
            } else if c < cols {
                if r - rows == c {
                    limit / 2.0
                } else {
                    big
                }
            } else {
                0.0
            };
        }
    }
    solve(&ext, n, n)
        .into_iter()
        .filter(|&(r, c)| r < rows && c < cols && ext[r * n + c] < big)
        .collect()
}

/// As many pairs as possible among the allowed (finite) ones, then the cheapest such set; NaN or
/// infinite costs are forbidden pairs (motmetrics' convention).
pub fn solve_max_cardinality(cost: &[f64], rows: usize, cols: usize) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let finite_max = cost
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f64, |a, &x| a.max(x.abs()));
    // Larger than any total of finite costs: one more allowed pair always wins.
    let big = (finite_max + 1.0) * (rows.min(cols) as f64 + 1.0) * 2.0;
    let c: Vec<f64> = cost
        .iter()
        .map(|&x| if x.is_finite() { x } else { big })
        .collect();
    solve(&c, rows, cols)
        .into_iter()
        .filter(|&(r, col)| cost[r * cols + col].is_finite())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(cost: &[f64], rows: usize, cols: usize) -> f64 {
        // every injection of rows into cols (rows <= cols), small sizes only
        fn rec(r: usize, rows: usize, cols: usize, used: &mut Vec<bool>, cost: &[f64]) -> f64 {
            if r == rows {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for c in 0..cols {
                if !used[c] {
                    used[c] = true;
                    best = best.min(cost[r * cols + c] + rec(r + 1, rows, cols, used, cost));
                    used[c] = false;
                }
            }
            best
        }
        rec(0, rows, cols, &mut vec![false; cols], cost)
    }

    #[test]
    fn optimal_on_random_matrices() {
        let mut seed = 7u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 1000) as f64 / 100.0
        };
        for rows in 1..=5 {
            for cols in rows..=6 {
                for _ in 0..20 {
                    let c: Vec<f64> = (0..rows * cols).map(|_| rnd()).collect();
                    let pairs = solve(&c, rows, cols);
                    assert_eq!(pairs.len(), rows);
                    let total: f64 = pairs.iter().map(|&(r, k)| c[r * cols + k]).sum();
                    assert!((total - brute(&c, rows, cols)).abs() < 1e-9);
                    // transposed problem gives the same optimum
                    let mut t = vec![0.0; rows * cols];
                    for r in 0..rows {
                        for k in 0..cols {
                            t[k * rows + r] = c[r * cols + k];
                        }
                    }
                    let tp = solve(&t, cols, rows);
                    let tt: f64 = tp.iter().map(|&(r, k)| t[r * rows + k]).sum();
                    assert!((tt - total).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn limited_leaves_expensive_pairs_alone() {
        // 2x2: the diagonal is cheap for row 0 only; row 1's pair is above the limit.
        let c = [0.1, 0.9, 0.95, 0.99];
        assert_eq!(solve_limited(&c, 2, 2, 0.8), vec![(0, 0)]);
        // Taking (0,1)+(1,0) would cost more than (0,0) and leaving row 1 alone.
        let c = [0.2, 0.3, 0.3, 0.9];
        let mut p = solve_limited(&c, 2, 2, 0.8);
        p.sort();
        assert_eq!(p, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn max_cardinality_prefers_more_pairs() {
        let nan = f64::NAN;
        // Greedy-cheapest would take (0,0) and leave row 1 without a partner.
        let c = [0.0, 0.4, 0.1, nan];
        let mut p = solve_max_cardinality(&c, 2, 2);
        p.sort();
        assert_eq!(p, vec![(0, 1), (1, 0)]);
        assert!(solve_max_cardinality(&[nan, nan], 1, 2).is_empty());
    }
}
