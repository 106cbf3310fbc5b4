//! The model problem's points: the landscape grid every network is drawn
//! over, and labelled data sets.

use super::shipped::Table;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// Input dimension of the model problem's points.
pub const INPUT_DIM: usize = 2;

/// The accuracy of a network that learnt nothing on a balanced binary
/// problem: it predicts one class everywhere.
pub const CHANCE_ACCURACY: f64 = 0.5;

/// The logits a network needs for `classes` classes (METHOD §10): one for
/// two classes (or a regression target), one per class beyond.
pub fn outputs_for(classes: usize) -> usize {
    if classes > 2 {
        classes
    } else {
        1
    }
}

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

/// Labelled points: `points` is `[n, inputs]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Input dimension `d`.
    pub inputs: usize,
    /// Number of classes `k` (2 for a regression target).
    pub classes: usize,
    /// The inputs, `[n, d]` row-major.
    pub points: Vec<f32>,
    /// One label per point, `[n]`: the class `0..k`, or `(t + 1)/2` for a
    /// regression target `t` (see `SquareTarget::Sines`).
    pub labels: Vec<f32>,
}

impl From<Table> for Dataset {
    fn from(table: Table) -> Self {
        Self {
            inputs: table.inputs,
            classes: table.classes,
            labels: table.labels.iter().map(|&class| class as f32).collect(),
            points: table.points,
        }
    }
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

    /// The logits a network needs for this set (see [`outputs_for`]).
    pub fn outputs(&self) -> usize {
        outputs_for(self.classes)
    }

    /// `([n, d] points, labels)` on a device: labels `[n, 1]` for one
    /// logit, one-hot `[n, k]` for `k > 2` classes.
    pub fn tensors<B: Backend>(&self, device: &B::Device) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let n = self.len();
        let outputs = self.outputs();
        let labels = if outputs == 1 {
            self.labels.clone()
        } else {
            let mut one_hot = vec![0.0; n * outputs];
            for (row, &label) in self.labels.iter().enumerate() {
                one_hot[row * outputs + label as usize] = 1.0;
            }
            one_hot
        };
        (
            Tensor::from_data(
                TensorData::new(self.points.clone(), [n, self.inputs]),
                device,
            ),
            Tensor::from_data(TensorData::new(labels, [n, outputs]), device),
        )
    }
}
