//! Small summaries over seeds.

use serde::{Deserialize, Serialize};

/// Mean, sample standard deviation and median of a set of values.
/// Non-finite values are left out (a diverged run has no meaningful figure);
/// `count` says how many were used.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub mean: f64,
    pub std: f64,
    pub median: f64,
    pub count: usize,
}

impl Summary {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        let count = finite.len();
        if count == 0 {
            return Self { mean: f64::NAN, std: f64::NAN, median: f64::NAN, count };
        }
        let mean = finite.iter().sum::<f64>() / count as f64;
        let std = if count > 1 {
            (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1) as f64).sqrt()
        } else {
            0.0
        };
        Self { mean, std, median: median(&mut finite), count }
    }
}

/// The median (mean of the two middle values for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let s = Summary::of([1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.mean, 2.5);
        assert_eq!(s.median, 2.5);
        assert!((s.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(Summary::of([3.0, f64::NAN, 1.0, 2.0]).median, 2.0);
        assert_eq!(Summary::of([f64::NAN]).count, 0);
    }
}
// touch
