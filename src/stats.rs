//! Small summaries over seeds.

use serde::{Deserialize, Serialize};

/// Mean, sample standard deviation, median and quartiles of a set of values.
/// Non-finite values are left out of the figures and counted in `missing`;
/// `count` says how many were used.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Mean of the finite values.
    pub mean: f64,
    /// Sample standard deviation (divisor `count − 1`; 0 for one value).
    pub std: f64,
    /// Median of the finite values.
    pub median: f64,
    /// First and third quartiles (linear interpolation between order statistics).
    pub q25: f64,
    /// Third quartile (see `q25`).
    pub q75: f64,
    /// Number of finite values the figures are computed from.
    pub count: usize,
    /// Values left out because they were not finite.
    #[serde(default)]
    pub missing: usize,
}

impl Summary {
    /// Summarises `values`, leaving non-finite ones out; every figure is NaN
    /// when none is finite.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let (mut finite, non_finite): (Vec<f64>, Vec<f64>) =
            values.into_iter().partition(|v| v.is_finite());
        let (count, missing) = (finite.len(), non_finite.len());
        if count == 0 {
            return Self {
                mean: f64::NAN,
                std: f64::NAN,
                median: f64::NAN,
                q25: f64::NAN,
                q75: f64::NAN,
                count,
                missing,
            };
        }
        let mean = finite.iter().sum::<f64>() / count as f64;
        let std = if count > 1 {
            (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1) as f64).sqrt()
        } else {
            0.0
        };
        finite.sort_by(f64::total_cmp);
        Self {
            mean,
            std,
            median: quantile(&finite, 0.5),
            q25: quantile(&finite, 0.25),
            q75: quantile(&finite, 0.75),
            count,
            missing,
        }
    }
}

/// The `q`-quantile of sorted values, interpolating linearly between order
/// statistics (the median of an even count is the mean of the middle two).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// Ranks from 1, ties sharing the average of their ranks.
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let average = (start + end + 1) as f64 / 2.0; // mean of ranks start+1 ..= end
        for &index in &order[start..end] {
            ranks[index] = average;
        }
        start = end;
    }
    ranks
}

/// Pearson correlation; NaN when either side is constant or shorter than 2.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "paired samples");
    let n = x.len() as f64;
    let (mean_x, mean_y) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mean_x) * (b - mean_y);
        sxx += (a - mean_x).powi(2);
        syy += (b - mean_y).powi(2);
    }
    if x.len() < 2 || sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

/// Spearman's rank correlation: Pearson's on the (tie-averaged) ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Two-sided permutation p-value of Spearman's ρ: the share of random
/// pairings (seeded, so reproducible) at least as extreme as the observed
/// one, counting the observed pairing itself.
pub fn spearman_p_value(x: &[f64], y: &[f64], permutations: usize, seed: u64) -> f64 {
    use rand::seq::SliceRandom;
    let observed = spearman(x, y);
    if !observed.is_finite() {
        return f64::NAN;
    }
    let (rank_x, mut rank_y) = (ranks(x), ranks(y));
    let mut rng = crate::seed::host_rng(seed);
    let extreme = (0..permutations)
        .filter(|_| {
            rank_y.shuffle(&mut rng);
            pearson(&rank_x, &rank_y).abs() >= observed.abs() - 1e-12
        })
        .count();
    (extreme + 1) as f64 / (permutations + 1) as f64
}

/// Kendall's τ_b: `(C − D) / sqrt((n₀ − n_x)(n₀ − n_y))` over the pairs of
/// points (concordant, discordant, and those tied in x or y), as
/// NAS-Bench-Suite-Zero reports beside Spearman's ρ. NaN without variation.
pub fn kendall_tau(x: &[f64], y: &[f64]) -> f64 {
    let (mut concordant, mut discordant, mut tied_x, mut tied_y, mut pairs) =
        (0i64, 0i64, 0i64, 0i64, 0i64);
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let (dx, dy) = (x[i] - x[j], y[i] - y[j]);
            pairs += 1;
            tied_x += i64::from(dx == 0.0);
            tied_y += i64::from(dy == 0.0);
            let sign = dx * dy;
            concordant += i64::from(sign > 0.0);
            discordant += i64::from(sign < 0.0);
        }
    }
    let denominator = (((pairs - tied_x) * (pairs - tied_y)) as f64).sqrt();
    if denominator > 0.0 {
        (concordant - discordant) as f64 / denominator
    } else {
        f64::NAN
    }
}

/// The 95% percentile bootstrap interval of Spearman's ρ: points resampled
/// with replacement `resamples` times (seeded); resamples without variation
/// are skipped. NaN bounds with fewer than three points.
pub fn spearman_interval(x: &[f64], y: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    use rand::RngExt;
    let n = x.len();
    if n < 3 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = crate::seed::host_rng(seed);
    let (mut xs, mut ys) = (vec![0.0; n], vec![0.0; n]);
    let mut rhos: Vec<f64> = (0..resamples)
        .filter_map(|_| {
            for k in 0..n {
                let pick = rng.random_range(0..n);
                (xs[k], ys[k]) = (x[pick], y[pick]);
            }
            Some(spearman(&xs, &ys)).filter(|r| r.is_finite())
        })
        .collect();
    if rhos.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    rhos.sort_by(f64::total_cmp);
    (quantile(&rhos, 0.025), quantile(&rhos, 0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[10.0, 30.0, 20.0, 30.0]), vec![1.0, 3.5, 2.0, 3.5]);
        assert_eq!(ranks(&[5.0, 5.0, 5.0]), vec![2.0, 2.0, 2.0]);
    }

    #[test]
    fn spearman_of_hand_computed_cases() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(spearman(&x, &[2.0, 4.0, 8.0, 16.0, 32.0]), 1.0);
        assert_eq!(spearman(&x, &[9.0, 7.0, 5.0, 3.0, 1.0]), -1.0);
        // y ranks with a tie: [1, 2, 3.5, 5, 3.5]; ρ = 8 / sqrt(10 · 9.5).
        let rho = spearman(&x, &[5.0, 6.0, 7.0, 8.0, 7.0]);
        assert!((rho - 8.0 / 95f64.sqrt()).abs() < 1e-12, "{rho}");
        assert!(spearman(&x, &[1.0; 5]).is_nan());
    }

    #[test]
    fn permutation_p_value_separates_strong_from_no_correlation() {
        let x: Vec<f64> = (0..12).map(f64::from).collect();
        let strong: Vec<f64> = x.iter().map(|v| v * v).collect();
        assert!(spearman_p_value(&x, &strong, 2000, 1) < 0.01);
        let unrelated = [3.0, 9.0, 1.0, 7.0, 5.0, 11.0, 0.0, 8.0, 2.0, 10.0, 4.0, 6.0];
        assert!(spearman_p_value(&x, &unrelated, 2000, 1) > 0.1);
    }

    #[test]
    fn kendall_of_hand_computed_cases() {
        // Two discordant pairs of ten: τ = (8 − 2)/10.
        assert!(
            (kendall_tau(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0, 3.0, 2.0, 5.0, 4.0]) - 0.6).abs()
                < 1e-12
        );
        // A tie in y: C = 2, D = 0, n₀ = 3, n_y = 1: τ_b = 2/√(3·2).
        let tied = kendall_tau(&[1.0, 2.0, 3.0], &[1.0, 1.0, 2.0]);
        assert!((tied - 2.0 / 6f64.sqrt()).abs() < 1e-12, "{tied}");
        assert!(kendall_tau(&[1.0, 2.0], &[3.0, 3.0]).is_nan());
    }

    #[test]
    fn bootstrap_interval_brackets_rho() {
        let x: Vec<f64> = (0..30).map(f64::from).collect();
        let monotone: Vec<f64> = x.iter().map(|v| v.exp()).collect();
        assert_eq!(spearman_interval(&x, &monotone, 500, 3), (1.0, 1.0));
        let noisy: Vec<f64> = x.iter().map(|v| v + 12.0 * ((v * 7.3).sin())).collect();
        let rho = spearman(&x, &noisy);
        let (low, high) = spearman_interval(&x, &noisy, 2000, 3);
        assert!(
            low < rho && rho < high && high - low > 0.05,
            "{low} < {rho} < {high}"
        );
        assert!(spearman_interval(&x[..2], &noisy[..2], 100, 3).0.is_nan());
    }

    #[test]
    fn summary_of_known_values() {
        let s = Summary::of([1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.mean, 2.5);
        assert_eq!(s.median, 2.5);
        assert!((s.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let with_nan = Summary::of([3.0, f64::NAN, 1.0, 2.0]);
        assert_eq!(
            (with_nan.median, with_nan.count, with_nan.missing),
            (2.0, 3, 1)
        );
        let quartiles = Summary::of([1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!((quartiles.q25, quartiles.q75), (2.0, 4.0));
        assert_eq!(Summary::of([f64::NAN]).count, 0);
    }
}
