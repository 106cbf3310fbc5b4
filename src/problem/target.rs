//! The model problems' targets on `[-1, 1]²`, each named with its
//! parameters like a parametric activation: `checkerboard:c` (METHOD §4,
//! the default), `spirals:t` and `rings:k` (METHOD §8), all binary; and
//! the smooth regression target `sines:k` (METHOD §8), trained with MSE and
//! scored by R² instead of accuracy.

use std::f64::consts::{PI, SQRT_2};
use std::fmt;

use rand::RngExt;

use super::checkerboard::Checkerboard;
use super::data::{Dataset, INPUT_DIM};
use crate::seed::{derive_seed, host_rng};

/// The forms `--problem` and `train.problem` accept.
pub const PROBLEM_FORMS: &str = "checkerboard, checkerboard:c, spirals:t, rings:k, sines:k";

/// A labelling of the square: binary, or a smooth regression target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// `c × c` alternating cells.
    Checkerboard(Checkerboard),
    /// Two interleaved spiral arms winding `turns` times from the centre to
    /// radius 1: the label is the parity of the half-turn band of the phase
    /// `turns·r − θ/2π` a point lies in.
    Spirals {
        /// Turns of each spiral arm.
        turns: f64,
    },
    /// `count` concentric rings of width `1/count`, alternating labels
    /// (continued into the corners beyond radius 1).
    Rings {
        /// Number of rings.
        count: usize,
    },
    /// `t(x, y) = sin(kπx)·sin(kπy)`, a smooth target in `[−1, 1]`. Its
    /// label is stored as `(t + 1)/2`, so MSE's target `2·label − 1` is `t`
    /// exactly as it is `±1` for a binary label.
    Sines {
        /// `k`, the sines' frequency.
        frequency: f64,
    },
}

impl Target {
    /// Parses `name[:parameter]`; `cells` is the checkerboard's size when
    /// its name carries none. The error names the allowed forms.
    pub fn parse(name: &str, cells: usize) -> Result<Self, String> {
        let (family, parameter) = match name.split_once(':') {
            Some((family, parameter)) => (family, Some(parameter)),
            None => (name, None),
        };
        let number = |what: &str| -> Result<f64, String> {
            let text = parameter.ok_or_else(|| {
                format!("'{name}' needs {what}: use {family}:N; allowed: {PROBLEM_FORMS}")
            })?;
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("'{name}': {what} must be a positive number, got '{text}'; allowed: {PROBLEM_FORMS}"))
        };
        let whole = |what: &str| -> Result<usize, String> {
            let value = number(what)?;
            if value.fract() != 0.0 || value > 1e6 {
                return Err(format!("'{name}': {what} must be a whole number up to 1000000; allowed: {PROBLEM_FORMS}"));
            }
            Ok(value as usize)
        };
        match family {
            "checkerboard" if parameter.is_none() => {
                Ok(Target::Checkerboard(Checkerboard { cells }))
            }
            "checkerboard" => Ok(Target::Checkerboard(Checkerboard {
                cells: whole("the cells per side")?,
            })),
            "spirals" => Ok(Target::Spirals {
                turns: number("the number of turns")?,
            }),
            "rings" => Ok(Target::Rings {
                count: whole("the number of rings")?,
            }),
            "sines" => Ok(Target::Sines {
                frequency: number("the frequency")?,
            }),
            _ => Err(format!(
                "unknown problem '{name}'; allowed: {PROBLEM_FORMS}"
            )),
        }
    }

    /// A regression target (MSE, R²) rather than a binary one.
    pub fn is_regression(&self) -> bool {
        matches!(self, Target::Sines { .. })
    }

    /// The label of a point: 0 or 1, or `(t + 1)/2` for a regression target.
    pub fn label(&self, x1: f32, x2: f32) -> f32 {
        let (x, y) = (x1 as f64, x2 as f64);
        let radius = x.hypot(y);
        let parity = |band: f64| band.floor().rem_euclid(2.0) as f32;
        match *self {
            Target::Checkerboard(board) => board.label(x1, x2),
            Target::Spirals { turns } => parity(2.0 * (turns * radius - y.atan2(x) / (2.0 * PI))),
            Target::Rings { count } => parity((count as f64 * radius).min(count as f64 * SQRT_2)),
            Target::Sines { frequency } => {
                (((frequency * PI * x).sin() * (frequency * PI * y).sin() + 1.0) / 2.0) as f32
            }
        }
    }

    /// `n` points uniform on the domain, labelled, drawn from `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Dataset {
        let mut rng = host_rng(seed);
        let mut points = Vec::with_capacity(n * INPUT_DIM);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let x1 = rng.random_range(-1.0f32..=1.0);
            let x2 = rng.random_range(-1.0f32..=1.0);
            points.extend([x1, x2]);
            labels.push(self.label(x1, x2));
        }
        Dataset { points, labels }
    }

    /// The training set of a run: the same for every network of the run, so
    /// architectures are compared on the same data.
    pub fn training_set(&self, size: usize, run_seed: u64) -> Dataset {
        self.sample(size, derive_seed(run_seed, &[b"training-set"]))
    }

    /// The test set of a run, independent of the training set.
    pub fn test_set(&self, size: usize, run_seed: u64) -> Dataset {
        self.sample(size, derive_seed(run_seed, &[b"test-set"]))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Checkerboard(board) => write!(f, "checkerboard:{}", board.cells),
            Target::Spirals { turns } => write!(f, "spirals:{turns}"),
            Target::Rings { count } => write!(f, "rings:{count}"),
            Target::Sines { frequency } => write!(f, "sines:{frequency}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_bad_parameters_name_the_forms() {
        assert_eq!(
            Target::parse("checkerboard", 8),
            Ok(Target::Checkerboard(Checkerboard { cells: 8 }))
        );
        assert_eq!(
            Target::parse("checkerboard:4", 8),
            Ok(Target::Checkerboard(Checkerboard { cells: 4 }))
        );
        assert_eq!(
            Target::parse("spirals:1.5", 8),
            Ok(Target::Spirals { turns: 1.5 })
        );
        assert_eq!(Target::parse("rings:4", 8), Ok(Target::Rings { count: 4 }));
        assert_eq!(
            Target::parse("sines:4", 8),
            Ok(Target::Sines { frequency: 4.0 })
        );
        assert!(
            Target::parse("sines:4", 8).unwrap().is_regression()
                && !Target::parse("rings:4", 8).unwrap().is_regression()
        );
        for bad in [
            "spirals",
            "spirals:x",
            "rings:0",
            "rings:2.5",
            "checkerboard:-1",
            "moons:2",
            "sines:nan",
        ] {
            let error = Target::parse(bad, 8).unwrap_err();
            assert!(
                error.contains("spirals:t") && error.contains(bad),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn rings_and_spirals_label_by_hand() {
        let rings = Target::Rings { count: 4 };
        // Radius 0.1 is in ring 0, 0.3 in ring 1, 0.6 in ring 2.
        assert_eq!(
            (
                rings.label(0.1, 0.0),
                rings.label(0.0, -0.3),
                rings.label(0.6, 0.0)
            ),
            (0.0, 1.0, 0.0)
        );
        let spirals = Target::Spirals { turns: 1.0 };
        // On the positive x axis θ = 0, so the phase is r: bands [0, ½) and [½, 1).
        assert_eq!(
            (spirals.label(0.2, 0.0), spirals.label(0.7, 0.0)),
            (0.0, 1.0)
        );
        // A quarter turn on, the band boundary moves out by a quarter: at θ = π/2
        // the phase is r − ¼, so r = 0.7 is in band [0, ½) again.
        assert_eq!(spirals.label(0.0, 0.7), 0.0);
        // The two arms are mirror images under a half turn (x ↦ −x): phase shifts by ½.
        assert_eq!(spirals.label(-0.2, -0.0001), 1.0);
    }

    #[test]
    fn the_sines_label_encodes_the_target_for_mse() {
        let sines = Target::Sines { frequency: 4.0 };
        // sin(4π·⅛)·sin(4π·⅛) = 1; at x = ¼ the first factor is sin(π) = 0.
        assert!((2.0 * sines.label(0.125, 0.125) - 1.0 - 1.0).abs() < 1e-6);
        assert!((2.0 * sines.label(0.25, 0.6) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn every_problem_is_roughly_balanced() {
        for name in ["checkerboard", "spirals:3", "rings:4"] {
            let target = Target::parse(name, 8).unwrap();
            let data = target.training_set(4000, 5);
            let ones = data.labels.iter().sum::<f32>() / 4000.0;
            assert!((ones - 0.5).abs() < 0.1, "{name}: fraction of ones {ones}");
        }
    }

    #[test]
    fn datasets_are_reproducible_and_balanced() {
        let board = Target::Checkerboard(Checkerboard::default());
        let train = board.training_set(2000, 3);
        assert_eq!(train, board.training_set(2000, 3));
        assert_ne!(train, board.test_set(2000, 3));
        let ones = train.labels.iter().sum::<f32>() / 2000.0;
        assert!((ones - 0.5).abs() < 0.05, "fraction of ones {ones}");
    }
}
