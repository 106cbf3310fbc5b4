//! The model problem's points: the landscape grid every network is drawn
//! over, and labelled data sets.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// Input dimension of the model problem's points.
pub const INPUT_DIM: usize = 2;

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
    Tensor::from_data(
        TensorData::new(landscape_grid(size), [size * size, INPUT_DIM]),
        device,
    )
}

/// Points with binary labels: `points` is `[n, 2]` row-major, `labels` 0 or 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The inputs, `[n, 2]` row-major.
    pub points: Vec<f32>,
    /// One label per point, `[n]`: 0 or 1, or `(t + 1)/2` for a regression
    /// target `t` (see `Target::Sines`).
    pub labels: Vec<f32>,
}

impl Dataset {
    /// Number of points `n`.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no points.
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
