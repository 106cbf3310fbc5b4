//! The model problem (METHOD §3–§4, §10): the landscape grid and the
//! planes through the data, data sets (drawn on the square, shipped, or
//! labelled by a teacher), losses and accuracy.

mod checkerboard;
mod data;
mod plane;
mod run_data;
mod shipped;
mod target;
mod teacher;

use std::fmt;

use burn::config::Config;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

pub use checkerboard::Checkerboard;
pub use data::{landscape_grid, outputs_for, Dataset, CHANCE_ACCURACY, INPUT_DIM};
pub use plane::{data_planes, DataPlane, LandscapeGrid};
pub use run_data::{ProblemData, RunDataError, SplitRecord};
pub use shipped::{data_dir, DataError, ShippedData, Split, Table, TEST_FRACTION};
pub use target::{SquareTarget, Target, PROBLEM_FORMS};
pub use teacher::Teacher;

/// The problem every network of a run is measured (gradient profile) and
/// trained on: its data sets and its loss (METHOD §4).
#[derive(Config, Debug, PartialEq)]
pub struct ProblemConfig {
    /// The target, with its parameters: `checkerboard`, `checkerboard:c`,
    /// `spirals:t`, `rings:k`, `sines:k`, `digits`, `breast-cancer`,
    /// `teacher:d[:w:L]` ([`PROBLEM_FORMS`]).
    #[config(default = "String::from(\"checkerboard\")")]
    pub problem: String,
    /// Checkerboard cells per side (when `problem` names none).
    #[config(default = "Checkerboard::default().cells")]
    pub cells: usize,
    /// Training-set size (also the gradient profile's data) of a drawn
    /// set; a shipped data set's split decides its own sizes.
    #[config(default = 2000)]
    pub train_size: usize,
    /// Test-set size of a drawn set: fresh points, never trained on.
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
        self.target()
            .unwrap_or(Target::Square(SquareTarget::Checkerboard(Checkerboard {
                cells: self.cells.max(1),
            })))
    }

    /// The input dimension `d` of the problem's points.
    pub fn inputs(&self) -> usize {
        self.checked_target().inputs()
    }

    /// Whether landscapes are drawn on the input square (see
    /// [`Target::draws_on_square`]).
    pub fn draws_on_square(&self) -> bool {
        self.checked_target().draws_on_square()
    }

    /// The logits of a network for the problem: one for two classes, `k`
    /// for `k > 2` (METHOD §10).
    pub fn outputs(&self) -> usize {
        outputs_for(self.checked_target().classes())
    }

    /// Whether the target is a regression target (scored by R²).
    pub fn is_regression(&self) -> bool {
        self.checked_target().is_regression()
    }

    /// The score of each member on a data set: accuracy for a classification
    /// target, `R² = 1 − Σ(f − t)²/Σ(t − t̄)²` for a regression target.
    ///
    /// # Shapes
    /// - `logits`: `[members, points, k]`, `labels`: as [`Loss::per_member`]'s
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

    /// The data of a run, with its landscape of `grid`² points on the square
    /// or on each of `planes` planes (see [`Target::data`]); the error says
    /// whether the data (a file, a teacher) or the planes cannot be had.
    pub fn data(
        &self,
        run_seed: u64,
        grid: usize,
        planes: usize,
    ) -> Result<ProblemData, RunDataError> {
        self.checked_target()
            .data([self.train_size, self.test_size], [grid, planes], run_seed)
    }

    /// The sizes of the training and test sets (see [`Target::set_sizes`]).
    pub fn set_sizes(&self) -> [usize; 2] {
        self.checked_target()
            .set_sizes(self.train_size, self.test_size)
    }
}

/// The training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Cross-entropy: binary on one logit, softmax over `k` logits for
    /// `k > 2` classes (METHOD §10), of which it is the two-class case.
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
    /// - `logits`: `[members, points, k]`
    /// - `labels`: `[points, 1]`, 0 or 1, for one logit; one-hot
    ///   `[points, k]` for `k > 2` logits (MSE needs one logit)
    /// - output: `[members]`
    pub fn per_member<B: Backend>(
        self,
        logits: Tensor<B, 3>,
        labels: Tensor<B, 2>,
    ) -> Tensor<B, 1> {
        let [members, _, outputs] = logits.dims();
        let labels = labels.unsqueeze::<3>();
        if outputs > 1 {
            // −Σ_j y_j log softmax(f)_j: the labels are one-hot.
            let log_probabilities = burn::tensor::activation::log_softmax(logits, 2);
            return (log_probabilities * labels)
                .sum_dim(2)
                .neg()
                .mean_dim(1)
                .reshape([members]);
        }
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

    /// `∂ℓ/∂f` of each point's loss at its logits (not averaged).
    ///
    /// # Shapes
    /// - `logits`: `[members, points, k]`
    /// - `labels`: as [`Loss::per_member`]'s
    /// - output: `[members, points, k]`
    pub fn slope<B: Backend>(self, logits: Tensor<B, 3>, labels: Tensor<B, 2>) -> Tensor<B, 3> {
        let labels = labels.unsqueeze::<3>();
        if logits.dims()[2] > 1 {
            return burn::tensor::activation::softmax(logits, 2) - labels;
        }
        match self {
            Loss::Bce => burn::tensor::activation::sigmoid(logits) - labels,
            Loss::Mse => (logits - (labels * 2.0 - 1.0)) * 2.0,
        }
    }

    /// [`Loss::slope`] on host vectors: `∂ℓ/∂f` of each row of `logits`
    /// (`rows × outputs`, row-major) against its `labels`, as long.
    pub fn slope_rows(self, logits: &[f32], labels: &[f32], outputs: usize) -> Vec<f32> {
        let mut slope = Vec::with_capacity(logits.len());
        if outputs > 1 {
            for (row, labels) in logits
                .chunks_exact(outputs)
                .zip(labels.chunks_exact(outputs))
            {
                let (exps, total) = shifted_exps(row);
                slope.extend(exps.iter().zip(labels).map(|(&e, &y)| e / total - y));
            }
            return slope;
        }
        slope.extend(logits.iter().zip(labels).map(|(&f, &y)| match self {
            Loss::Bce => 1.0 / (1.0 + (-f).exp()) - y,
            Loss::Mse => (f - (y * 2.0 - 1.0)) * 2.0,
        }));
        slope
    }

    /// The gradient of a member's loss — the mean over the `points` of a
    /// batch of [`Loss::per_member`]'s pointwise loss — with respect to the
    /// logits of some of its rows (`rows × outputs`, row-major), `labels` as
    /// the loss takes them; into `grad`. On host vectors, for the passes
    /// without autodiff (`nn/stack.rs`).
    pub fn logits_gradient(
        self,
        logits: &[f32],
        labels: &[f32],
        [points, outputs]: [usize; 2],
        grad: &mut Vec<f32>,
    ) {
        let share = 1.0 / points as f32;
        grad.clear();
        if outputs > 1 {
            // −Σ_j y_j·log softmax(f)_j, with Burn's log softmax (shifted by the
            // row's maximum): `−share·y_j + (share·Σ y)/Σ e · e_j`, each product
            // in the order autodiff forms it.
            for (row, labels) in logits
                .chunks_exact(outputs)
                .zip(labels.chunks_exact(outputs))
            {
                let (exps, total) = shifted_exps(row);
                let mass: f32 = labels.iter().map(|&y| -(-share * y)).sum();
                let scale = mass * (1.0 / total);
                grad.extend(
                    exps.iter()
                        .zip(labels)
                        .map(|(&e, &y)| -share * y + scale * e),
                );
            }
            return;
        }
        let pointwise = |f: f32, y: f32| match self {
            // max(f, 0) − f·y + log(1 + e^{−|f|}), term by term as Burn's
            // autodiff takes it: its clamp_min passes the gradient at f = 0,
            // sign(0) is 0, and the three terms are summed last to first.
            Loss::Bce => {
                let u = (-f.abs()).exp();
                let sign = if f > 0.0 {
                    1.0
                } else if f < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                let softplus = -(share * (1.0 / (u + 1.0)) * u) * sign;
                let linear = -(share * y);
                let relu = if f >= 0.0 { share } else { 0.0 };
                softplus + linear + relu
            }
            // (f − (2y − 1))².
            Loss::Mse => 2.0 * (f - (y * 2.0 - 1.0)) * share,
        };
        grad.extend(logits.iter().zip(labels).map(|(&f, &y)| pointwise(f, y)));
    }
}

/// `e^{f − max f}` of a row of logits and their sum: a softmax's terms,
/// shifted by the row's maximum as Burn's softmax is.
fn shifted_exps(row: &[f32]) -> (Vec<f32>, f32) {
    let top = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|&f| (f - top).exp()).collect();
    let total = exps.iter().sum();
    (exps, total)
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Fraction of points each member classifies correctly: logit > 0 ⇔
/// label 1 for one logit, the arg-max logit for `k > 2` (METHOD §10).
///
/// # Shapes
/// - `logits`: `[members, points, k]`, `labels`: as [`Loss::per_member`]'s
/// - output: `[members]`
pub fn accuracy<B: Backend>(logits: Tensor<B, 3>, labels: Tensor<B, 2>) -> Tensor<B, 1> {
    let [members, _, outputs] = logits.dims();
    if outputs > 1 {
        // The arg-max's one-hot picks the label's entry: 1 when they agree.
        let predicted = logits.argmax(2);
        let hit = labels
            .unsqueeze::<3>()
            .repeat_dim(0, members)
            .gather(2, predicted);
        return hit.mean_dim(1).reshape([members]);
    }
    let predicted = logits.greater_elem(0.0).float();
    let wrong = (predicted - labels.unsqueeze::<3>()).abs();
    (wrong.neg() + 1.0).mean_dim(1).reshape([members])
}

/// `R² = 1 − Σ(f − t)²/Σ(t − t̄)²` of each member, with the targets
/// `t = 2·label − 1` (see [`SquareTarget::Sines`]).
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
    use burn::backend::{Autodiff, NdArray};
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
    fn softmax_cross_entropy_and_arg_max_accuracy_by_hand() {
        let device = Default::default();
        // One member, two points, three classes; labels 2 and 0.
        let logits = Tensor::<NdArray, 1>::from_floats([1.0, 2.0, 3.0, 0.5, 0.0, -1.0], &device)
            .reshape([1, 2, 3]);
        let labels = Tensor::<NdArray, 1>::from_floats([0.0, 0.0, 1.0, 1.0, 0.0, 0.0], &device)
            .reshape([2, 3]);
        let log_sum_exp = |v: [f64; 3]| v.iter().map(|x| x.exp()).sum::<f64>().ln();
        let expected =
            (log_sum_exp([1.0, 2.0, 3.0]) - 3.0 + log_sum_exp([0.5, 0.0, -1.0]) - 0.5) / 2.0;
        let loss: f32 = Loss::Bce
            .per_member(logits.clone(), labels.clone())
            .into_scalar();
        assert!(
            (loss as f64 - expected).abs() < 1e-6,
            "{loss} vs {expected}"
        );
        // Both arg-maxes are right; a third point of label 1 would not be.
        let correct: f32 = accuracy(logits.clone(), labels.clone()).into_scalar();
        assert_eq!(correct, 1.0);
        let wrong = Tensor::<NdArray, 1>::from_floats([0.0, 1.0, 0.0, 0.0, 1.0, 0.0], &device)
            .reshape([2, 3]);
        assert_eq!(accuracy(logits.clone(), wrong).into_scalar(), 0.0f32);
        // The slope is softmax minus the one-hot label: its rows sum to 0.
        let slope = Loss::Bce.slope(logits, labels).sum_dim(2);
        assert!(slope.abs().max().into_scalar() < 1e-6f32);
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

    /// [`Loss::logits_gradient`] against Burn's autodiff through
    /// [`Loss::per_member`], for one and for several logits.
    #[test]
    fn the_loss_gradient_is_the_autodiff_one() {
        let device = Default::default();
        let logits: Vec<f32> = (0..24).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.9).collect();
        for (loss, outputs) in [(Loss::Bce, 1), (Loss::Mse, 1), (Loss::Bce, 3)] {
            let points = logits.len() / outputs;
            let labels: Vec<f32> = (0..logits.len())
                .map(|i| match outputs {
                    1 => (i % 2) as f32,
                    _ => (i % outputs == (i / outputs) % outputs) as u8 as f32,
                })
                .collect();
            let tensor = Tensor::<Autodiff<NdArray>, 3>::from_data(
                TensorData::new(logits.clone(), [1, points, outputs]),
                &device,
            )
            .require_grad();
            let label_tensor = Tensor::<Autodiff<NdArray>, 2>::from_data(
                TensorData::new(labels.clone(), [points, outputs]),
                &device,
            );
            let grads = loss
                .per_member(tensor.clone(), label_tensor)
                .sum()
                .backward();
            let expected = tensor
                .grad(&grads)
                .unwrap()
                .into_data()
                .to_vec::<f32>()
                .unwrap();
            let mut computed = Vec::new();
            loss.logits_gradient(&logits, &labels, [points, outputs], &mut computed);
            for (a, b) in computed.iter().zip(&expected) {
                assert_eq!(a.to_bits(), b.to_bits(), "{loss:?}, {outputs}: {a} vs {b}");
            }
        }
    }
}
