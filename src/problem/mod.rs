//! The model problem (METHOD §3–§4): the landscape grid, data sets, the
//! checkerboard, losses and accuracy.

mod checkerboard;
mod data;
mod plane;
mod shipped;
mod target;
mod teacher;

use std::fmt;

use burn::config::Config;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

pub use checkerboard::Checkerboard;
pub use data::{grid_tensor, landscape_grid, Dataset, INPUT_DIM};
pub use plane::{data_planes, DataPlane};
pub use shipped::{data_dir, DataError, ShippedData, Split, Table, TEST_FRACTION};
pub use target::{Target, PROBLEM_FORMS};
pub use teacher::Teacher;

/// The problem every network of a run is measured (gradient profile) and
/// trained on: its data sets and its loss (METHOD §4).
#[derive(Config, Debug, PartialEq)]
pub struct ProblemConfig {
    /// The target, with its parameters: `checkerboard`, `checkerboard:c`,
    /// `spirals:t`, `rings:k` ([`PROBLEM_FORMS`]).
    #[config(default = "String::from(\"checkerboard\")")]
    pub problem: String,
    /// Checkerboard cells per side (when `problem` names none).
    #[config(default = "Checkerboard::default().cells")]
    pub cells: usize,
    /// Training-set size (also the gradient profile's data).
    #[config(default = 2000)]
    pub train_size: usize,
    /// Test-set size: fresh points, never trained on.
    #[config(default = 10000)]
    pub test_size: usize,
    /// The training loss.
    #[config(default = "Loss::Bce")]
    pub loss: Loss,
}

impl ProblemConfig {
    /// The target `problem` names, or why it names none.
    pub fn target(&self) -> Result<Target, String> {
        Target::parse(&self.problem, self.cells)
    }

    /// The target of a checked config (an unchecked bad name falls back to
    /// the checkerboard rather than abort; `RunConfig::check` refuses it).
    fn checked_target(&self) -> Target {
        self.target().unwrap_or(Target::Checkerboard(Checkerboard {
            cells: self.cells.max(1),
        }))
    }

    /// Whether the target is a regression target (scored by R²).
    pub fn is_regression(&self) -> bool {
        self.checked_target().is_regression()
    }

    /// The score of each member on a data set: accuracy for a binary target,
    /// `R² = 1 − Σ(f − t)²/Σ(t − t̄)²` for a regression target.
    ///
    /// # Shapes
    /// - `logits`: `[members, points, 1]`, `labels`: `[points, 1]`
    /// - output: `[members]`
    pub fn score<B: Backend>(&self, logits: Tensor<B, 3>, labels: Tensor<B, 2>) -> Tensor<B, 1> {
        if self.is_regression() {
            r_squared(logits, labels)
        } else {
            accuracy(logits, labels)
        }
    }

    /// What [`ProblemConfig::score`] measures, for tables and figures.
    pub fn score_name(&self) -> &'static str {
        if self.is_regression() {
            "R²"
        } else {
            "accuracy"
        }
    }

    /// The score of a network that learnt nothing: chance on a balanced
    /// binary target, and R² = 0 (the mean) for a regression target.
    pub fn chance_score(&self) -> f64 {
        if self.is_regression() {
            0.0
        } else {
            0.5
        }
    }

    /// The training set of a run: the same for every network of the run, so
    /// architectures are compared on the same data.
    pub fn training_set(&self, run_seed: u64) -> Dataset {
        self.checked_target()
            .training_set(self.train_size, run_seed)
    }

    /// The test set of a run, independent of the training set.
    pub fn test_set(&self, run_seed: u64) -> Dataset {
        self.checked_target().test_set(self.test_size, run_seed)
    }
}

/// The training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Binary cross-entropy on the logit.
    #[default]
    Bce,
    /// Mean squared error against ±1 targets.
    Mse,
}

impl Loss {
    /// The loss's name, as in configs and records (`bce`, `mse`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::Bce => "bce",
            Loss::Mse => "mse",
        }
    }

    /// The loss of each member, averaged over points.
    ///
    /// # Shapes
    /// - `logits`: `[members, points, 1]`
    /// - `labels`: `[points, 1]`, 0 or 1
    /// - output: `[members]`
    pub fn per_member<B: Backend>(
        self,
        logits: Tensor<B, 3>,
        labels: Tensor<B, 2>,
    ) -> Tensor<B, 1> {
        let members = logits.dims()[0];
        let labels = labels.unsqueeze::<3>();
        let pointwise = match self {
            // max(f, 0) − f·y + log(1 + e^{−|f|}): stable for large |f|.
            Loss::Bce => {
                logits.clone().clamp_min(0.0) - logits.clone() * labels
                    + logits.abs().neg().exp().log1p()
            }
            Loss::Mse => (logits - (labels * 2.0 - 1.0)).square(),
        };
        pointwise.mean_dim(1).reshape([members])
    }

    /// `∂ℓ/∂f` of each point's loss at its logit (not averaged).
    ///
    /// # Shapes
    /// - `logits`: `[members, points, 1]`
    /// - `labels`: `[points, 1]`
    /// - output: `[members, points, 1]`
    pub fn slope<B: Backend>(self, logits: Tensor<B, 3>, labels: Tensor<B, 2>) -> Tensor<B, 3> {
        let labels = labels.unsqueeze::<3>();
        match self {
            Loss::Bce => burn::tensor::activation::sigmoid(logits) - labels,
            Loss::Mse => (logits - (labels * 2.0 - 1.0)) * 2.0,
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Fraction of points each member classifies correctly (logit > 0 ⇔ label 1).
///
/// # Shapes
/// - `logits`: `[members, points, 1]`, `labels`: `[points, 1]`
/// - output: `[members]`
pub fn accuracy<B: Backend>(logits: Tensor<B, 3>, labels: Tensor<B, 2>) -> Tensor<B, 1> {
    let members = logits.dims()[0];
    let predicted = logits.greater_elem(0.0).float();
    let wrong = (predicted - labels.unsqueeze::<3>()).abs();
    (wrong.neg() + 1.0).mean_dim(1).reshape([members])
}

/// `R² = 1 − Σ(f − t)²/Σ(t − t̄)²` of each member, with the targets
/// `t = 2·label − 1` (see [`Target::Sines`]).
///
/// # Shapes
/// - `logits`: `[members, points, 1]`, `labels`: `[points, 1]`
/// - output: `[members]`
pub fn r_squared<B: Backend>(logits: Tensor<B, 3>, labels: Tensor<B, 2>) -> Tensor<B, 1> {
    let members = logits.dims()[0];
    let targets = labels * 2.0 - 1.0;
    let total = (targets.clone() - targets.clone().mean().unsqueeze::<2>())
        .square()
        .sum();
    let residual = (logits - targets.unsqueeze::<3>())
        .square()
        .sum_dim(1)
        .reshape([members]);
    (residual / total.clamp_min(1e-30)).neg() + 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    #[test]
    fn r_squared_is_one_for_the_target_and_zero_for_its_mean() {
        let device = Default::default();
        // Labels (t + 1)/2 for targets t = −1, 0, 0.5, 1 (mean 0.125).
        let labels = Tensor::<NdArray, 2>::from_data(
            TensorData::new(vec![0.0f32, 0.5, 0.75, 1.0], [4, 1]),
            &device,
        );
        let logits = Tensor::<NdArray, 3>::from_data(
            TensorData::new(
                vec![
                    -1.0f32, 0.0, 0.5, 1.0, 0.125, 0.125, 0.125, 0.125, 1.0, 0.0, 0.5, -1.0,
                ],
                [3, 4, 1],
            ),
            &device,
        );
        let scores = r_squared(logits, labels)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        // Σ(t − t̄)² = 1.265625 + 0.015625 + 0.140625 + 0.765625 = 2.1875;
        // the third member's residuals are (2, 0, 0, −2): 1 − 8/2.1875.
        let expected = [1.0, 0.0, 1.0 - 8.0 / 2.1875];
        for (score, want) in scores.iter().zip(expected) {
            assert!((*score as f64 - want).abs() < 1e-5, "{scores:?}");
        }
    }

    #[test]
    fn grid_covers_the_domain_with_its_edges() {
        let grid = landscape_grid(5);
        assert_eq!(grid.len(), 50);
        assert_eq!(&grid[..4], &[-1.0, -1.0, -0.5, -1.0]);
        assert_eq!(&grid[48..], &[1.0, 1.0]);
    }

    #[test]
    fn bce_on_logits_matches_the_direct_formula() {
        let device = Default::default();
        let logits =
            Tensor::<NdArray, 1>::from_floats([-2.0, 0.5, 3.0, 0.0], &device).reshape([1, 4, 1]);
        let labels =
            Tensor::<NdArray, 1>::from_floats([0.0, 1.0, 0.0, 1.0], &device).reshape([4, 1]);
        let loss: f32 = Loss::Bce.per_member(logits, labels).into_scalar();
        let sigmoid = |f: f64| 1.0 / (1.0 + (-f).exp());
        let expected = (-(1.0 - sigmoid(-2.0)).ln()
            - sigmoid(0.5).ln()
            - (1.0 - sigmoid(3.0)).ln()
            - sigmoid(0.0).ln())
            / 4.0;
        assert!((loss as f64 - expected).abs() < 1e-6);
    }
}
