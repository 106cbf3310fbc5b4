//! The landscape grid and the checkerboard model problem (METHOD §3–§4).

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::model::{derive_seed, host_rng, INPUT_DIM};

/// The `G × G` grid of evenly spaced points covering `[-1, 1]²`, edges
/// included, as `[G·G, 2]` row-major: point `(i, j)` is `(x_j, y_i)` at row
/// `i·G + j`, so an output column reshapes to `[G, G]` with x along columns.
pub fn landscape_grid(size: usize) -> Vec<f32> {
    let coordinate = |k: usize| (-1.0 + 2.0 * k as f64 / (size - 1) as f64) as f32;
    let mut points = Vec::with_capacity(size * size * INPUT_DIM);
    for i in 0..size {
        for j in 0..size {
            points.extend([coordinate(j), coordinate(i)]);
        }
    }
    points
}

/// The landscape grid as a tensor `[G·G, 2]`.
pub fn grid_tensor<B: Backend>(size: usize, device: &B::Device) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(landscape_grid(size), [size * size, INPUT_DIM]), device)
}

/// Points with binary labels: `points` is `[n, 2]` row-major, `labels` 0 or 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub points: Vec<f32>,
    pub labels: Vec<f32>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `([n, 2] points, [n, 1] labels)` on a device.
    pub fn tensors<B: Backend>(&self, device: &B::Device) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let n = self.len();
        (
            Tensor::from_data(TensorData::new(self.points.clone(), [n, INPUT_DIM]), device),
            Tensor::from_data(TensorData::new(self.labels.clone(), [n, 1]), device),
        )
    }
}

/// The checkerboard on `[-1, 1]²` with `cells × cells` cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkerboard {
    pub cells: usize,
}

impl Default for Checkerboard {
    fn default() -> Self {
        Self { cells: 8 }
    }
}

impl Checkerboard {
    /// `(⌊(x₁+1)c/2⌋ + ⌊(x₂+1)c/2⌋) mod 2`, indices clamped to `c − 1`.
    pub fn label(&self, x1: f32, x2: f32) -> f32 {
        let cell = |x: f32| (((x as f64 + 1.0) * self.cells as f64 / 2.0).floor().max(0.0) as usize).min(self.cells - 1);
        ((cell(x1) + cell(x2)) % 2) as f32
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

/// The training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Binary cross-entropy on the logit.
    #[default]
    Bce,
    /// Mean squared error against ±1 targets.
    Mse,
}

impl Loss {
    pub const ALL: [Loss; 2] = [Loss::Bce, Loss::Mse];

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
    pub fn per_member<B: Backend>(self, logits: Tensor<B, 3>, labels: Tensor<B, 2>) -> Tensor<B, 1> {
        let members = logits.dims()[0];
        let labels = labels.unsqueeze::<3>();
        let pointwise = match self {
            // max(f, 0) − f·y + log(1 + e^{−|f|}): stable for large |f|.
            Loss::Bce => {
                logits.clone().clamp_min(0.0) - logits.clone() * labels + logits.abs().neg().exp().log1p()
            }
            Loss::Mse => (logits - (labels * 2.0 - 1.0)).square(),
        };
        pointwise.mean_dim(1).reshape([members])
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Loss {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Loss::ALL
            .into_iter()
            .find(|loss| loss.name() == s)
            .ok_or_else(|| format!("unknown loss '{s}' (allowed: bce, mse)"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    #[test]
    fn grid_covers_the_domain_with_its_edges() {
        let grid = landscape_grid(5);
        assert_eq!(grid.len(), 50);
        assert_eq!(&grid[..4], &[-1.0, -1.0, -0.5, -1.0]);
        assert_eq!(&grid[48..], &[1.0, 1.0]);
    }

    #[test]
    fn checkerboard_labels_alternate_and_clamp_the_right_edge() {
        let board = Checkerboard { cells: 2 };
        assert_eq!(board.label(-0.5, -0.5), 0.0);
        assert_eq!(board.label(0.5, -0.5), 1.0);
        assert_eq!(board.label(0.5, 0.5), 0.0);
        assert_eq!(board.label(1.0, -1.0), 1.0);
        assert_eq!(board.label(1.0, 1.0), 0.0);
    }

    #[test]
    fn datasets_are_reproducible_and_balanced() {
        let board = Checkerboard::default();
        let train = board.training_set(2000, 3);
        assert_eq!(train, board.training_set(2000, 3));
        assert_ne!(train, board.test_set(2000, 3));
        let ones = train.labels.iter().sum::<f32>() / 2000.0;
        assert!((ones - 0.5).abs() < 0.05, "fraction of ones {ones}");
    }

    #[test]
    fn bce_on_logits_matches_the_direct_formula() {
        let device = Default::default();
        let logits = Tensor::<NdArray, 1>::from_floats([-2.0, 0.5, 3.0, 0.0], &device).reshape([1, 4, 1]);
        let labels = Tensor::<NdArray, 1>::from_floats([0.0, 1.0, 0.0, 1.0], &device).reshape([4, 1]);
        let loss: f32 = Loss::Bce.per_member(logits, labels).into_scalar();
        let sigmoid = |f: f64| 1.0 / (1.0 + (-f).exp());
        let expected = (-(1.0 - sigmoid(-2.0)).ln() - sigmoid(0.5).ln() - (1.0 - sigmoid(3.0)).ln()
            - sigmoid(0.0).ln())
            / 4.0;
        assert!((loss as f64 - expected).abs() < 1e-6);
    }
}
