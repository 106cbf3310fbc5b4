//! Measuring networks at initialisation: from an architecture and seeds to
//! one [`NetworkMeasures`] per network, all members of a chunk in one
//! observed forward pass over the grid and one backward pass on the training
//! set.

use burn::config::Config;
use burn::module::{AutodiffModule, Param};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::functions::{frobenius_norm, relative_variation, third_order_variability, ActiveUnits};
use crate::nn::backend::members_per_chunk;
use crate::nn::{ActivationSpec, ComputeBackend, LayerSpec, Mlp, MlpConfig};
use crate::problem::{grid_tensor, ProblemConfig};

/// How networks are measured (METHOD §3). Every field has the METHOD default.
#[derive(Config, Debug, PartialEq)]
pub struct MeasureConfig {
    /// Landscape grid size `G` (`G × G` points).
    #[config(default = 101)]
    pub grid: usize,
    /// C2C threshold on `RV_out`.
    #[config(default = 1e-3)]
    pub epsilon: f64,
}

/// The measures of one network at initialisation (METHOD §3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkMeasures {
    /// Parameters of the network, counted from the module's own parameters.
    pub params: usize,
    #[serde(deserialize_with = "crate::json::f64_or_nan")]
    pub activation_ratio: f64,
    #[serde(deserialize_with = "crate::json::f64_or_nan")]
    pub activation_count: f64,
    #[serde(deserialize_with = "crate::json::f64_or_nan")]
    pub v3: f64,
    #[serde(deserialize_with = "crate::json::f64_or_nan")]
    pub rv_out: f64,
    /// `RV_l` of each hidden layer's output, input side first.
    pub rv_layers: Vec<f64>,
    pub c2c: bool,
    /// The first hidden layer (1-based) with `RV_l < ε`.
    pub collapse_layer: Option<usize>,
    /// Frobenius norm of the loss gradient with respect to the weights of
    /// each hidden block, then of the output layer, on the training set.
    pub grad_norms: Vec<f64>,
}

/// Measures networks on one device: holds the grid and the training set.
pub struct Measurer<B: ComputeBackend> {
    config: MeasureConfig,
    problem: ProblemConfig,
    grid_points: Tensor<B::InnerBackend, 2>,
    train_points: Tensor<B, 2>,
    train_labels: Tensor<B, 2>,
    chunk_elements: usize,
    device: B::Device,
}

impl<B: ComputeBackend> Measurer<B> {
    /// `run_seed` draws the training set of the gradient profile.
    pub fn new(config: MeasureConfig, problem: ProblemConfig, run_seed: u64, device: &B::Device) -> Self {
        let (train_points, train_labels) = problem.training_set(run_seed).tensors::<B>(device);
        Self {
            grid_points: grid_tensor(config.grid, device),
            train_points,
            train_labels,
            chunk_elements: B::CHUNK_ELEMENTS,
            config,
            problem,
            device: device.clone(),
        }
    }

    /// Overrides the chunk size (see [`crate::nn::SupportedBackend::CHUNK_ELEMENTS`]).
    pub fn with_chunk_elements(mut self, chunk_elements: usize) -> Self {
        self.chunk_elements = chunk_elements.max(1);
        self
    }

    /// How many networks of this architecture go in one chunk.
    pub fn chunk_members(&self, config: &MlpConfig) -> usize {
        members_per_chunk(self.chunk_elements, self.config.grid.pow(2), config.width.max(config.output_dim))
    }

    /// Measures one network per seed, in chunks; results in seed order.
    pub fn measure(&self, config: &MlpConfig, activation: &ActivationSpec, layer: &LayerSpec, seeds: &[u64]) -> Vec<NetworkMeasures> {
        seeds
            .chunks(self.chunk_members(config))
            .flat_map(|chunk| {
                let model: Mlp<B> = config.init(activation, layer, chunk, &self.device);
                self.measure_ensemble(&model)
            })
            .collect()
    }

    /// Measures every member of a built ensemble.
    pub fn measure_ensemble(&self, model: &Mlp<B>) -> Vec<NetworkMeasures> {
        let (mut columns, hidden_units) = self.landscape_columns(model);
        columns.extend(self.gradient_columns(model));
        // One read-back for everything (one device sync on a GPU).
        let width = columns.len();
        let table = Tensor::stack::<2>(columns, 1).into_data().convert::<f64>().to_vec::<f64>().expect("float data");
        let params = model.params_per_member();
        table.chunks(width).map(|row| self.network_measures(row, model.depth(), hidden_units, params)).collect()
    }

    /// One observed forward pass over the grid: per member, the active
    /// pairs, `RV_l` of each block, `RV_out` and V3; and the hidden units.
    fn landscape_columns(&self, model: &Mlp<B>) -> (Vec<Tensor<B::InnerBackend, 1>>, usize) {
        let (members, grid) = (model.members(), self.config.grid);
        let valid = model.valid();
        let mut active_units = ActiveUnits::new(&valid.activation);
        let (hidden, output) = valid.forward_observed(valid.broadcast_input(self.grid_points.clone()), &mut active_units);
        let (active, hidden_units) = active_units.finish(members, &output.device());
        let mut columns = vec![active];
        columns.extend(hidden.into_iter().map(relative_variation));
        columns.push(relative_variation(output.clone()));
        let landscapes = output.narrow(2, 0, 1).reshape([members, grid, grid]);
        columns.push(third_order_variability(landscapes));
        (columns, hidden_units)
    }

    /// The gradient profile: the norm of the loss gradient with respect to
    /// each block's weights, then the output layer's. Members are
    /// independent, so the gradient of the summed loss is each member's own.
    fn gradient_columns(&self, model: &Mlp<B>) -> Vec<Tensor<B::InnerBackend, 1>> {
        let logits = model.forward(model.broadcast_input(self.train_points.clone()));
        let loss = self.problem.loss.per_member(logits, self.train_labels.clone()).sum();
        let gradients = loss.backward();
        let norm = |weight: &Param<Tensor<B, 3>>| frobenius_norm(weight.val().grad(&gradients).expect("weights take part in the loss"));
        let mut columns = Vec::with_capacity(model.depth() + 1);
        for block in &model.hidden {
            let squares = block.params.iter().zip(&block.is_weight).filter(|(_, w)| **w).map(|(p, _)| norm(p).square());
            columns.push(squares.reduce(|a, b| a + b).expect("a block has a weight").sqrt());
        }
        columns.push(norm(&model.output.weight));
        columns
    }

    /// One member's measures from its row of the read-back table.
    fn network_measures(&self, row: &[f64], depth: usize, hidden_units: usize, params: usize) -> NetworkMeasures {
        let grid_points = (self.config.grid * self.config.grid) as f64;
        let active = row[0];
        let rv_layers = row[1..=depth].to_vec();
        let rv_out = row[depth + 1];
        let collapse_layer = rv_layers.iter().position(|rv| *rv < self.config.epsilon).map(|l| l + 1);
        NetworkMeasures {
            params,
            activation_ratio: active / (grid_points * hidden_units as f64),
            activation_count: active / grid_points,
            v3: row[depth + 2],
            rv_out,
            rv_layers,
            c2c: rv_out < self.config.epsilon,
            collapse_layer,
            grad_norms: row[depth + 3..].to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{ActivationRegistry, LayerRegistry};
    use crate::problem::ProblemConfig;
    use crate::seed::network_seed;
    use burn::backend::{Autodiff, NdArray};

    type B = Autodiff<NdArray>;

    fn layer(name: &str) -> LayerSpec {
        LayerRegistry::builtin().get(name).unwrap()
    }

    fn measurer(grid: usize) -> Measurer<B> {
        let problem = ProblemConfig::new().with_train_size(256);
        Measurer::new(MeasureConfig::new().with_grid(grid), problem, 0, &Default::default())
    }

    fn seeds(activation: &str, depth: usize, count: usize) -> Vec<u64> {
        (0..count).map(|i| network_seed(0, activation, depth, i)).collect()
    }

    #[test]
    fn abs_has_activation_ratio_exactly_one() {
        let abs = ActivationRegistry::builtin().get("abs").unwrap();
        let config = MlpConfig::for_budget(2000, 4, "abs", &layer("dense")).unwrap();
        for m in measurer(21).measure(&config, &abs, &layer("dense"), &seeds("abs", 4, 5)) {
            assert_eq!(m.activation_ratio, 1.0);
            assert_eq!(m.activation_count, 4.0 * config.width as f64);
        }
    }

    #[test]
    fn relu_activation_ratio_is_one_half_over_fifty_seeds() {
        let relu = ActivationRegistry::builtin().get("relu").unwrap();
        let config = MlpConfig::for_budget(2000, 2, "relu", &layer("dense")).unwrap();
        let measures = measurer(31).measure(&config, &relu, &layer("dense"), &seeds("relu", 2, 50));
        let mean = measures.iter().map(|m| m.activation_ratio).sum::<f64>() / 50.0;
        assert!((mean - 0.5).abs() < 0.02, "mean relu activation ratio {mean}");
    }

    #[test]
    fn a_hand_zeroed_hidden_layer_collapses_there() {
        let relu = ActivationRegistry::builtin().get("relu").unwrap();
        let config = MlpConfig::new(4, 8, "relu".into());
        let mut model: Mlp<B> = config.init(&relu, &layer("dense"), &[1, 2], &Default::default());
        let zero = |p: &Param<Tensor<B, 3>>| Param::from_tensor(p.val().zeros_like());
        model.hidden[2].params = model.hidden[2].params.iter().map(zero).collect();
        for m in measurer(21).measure_ensemble(&model) {
            assert!(m.c2c, "rv_out {}", m.rv_out);
            assert_eq!(m.collapse_layer, Some(3));
            assert!(m.rv_layers[0] > 0.01 && m.rv_layers[1] > 0.01);
            assert_eq!(m.v3, 0.0);
        }
    }

    #[test]
    fn residual_networks_at_depth_64_have_finite_measures() {
        let relu = ActivationRegistry::builtin().get("relu").unwrap();
        let residual = layer("residual");
        let config = MlpConfig::for_budget(2000, 64, "relu", &residual).unwrap();
        let measures = measurer(21).measure(&config, &relu, &residual, &seeds("relu", 64, 3));
        for m in measures {
            let finite = [m.activation_ratio, m.v3, m.rv_out].iter().chain(&m.rv_layers).chain(&m.grad_norms).all(|v| v.is_finite());
            assert!(finite, "{m:?}");
            assert_eq!(m.rv_layers.len(), 64);
            assert_eq!(m.grad_norms.len(), 65);
            // The skip connections keep the signal: no collapse at depth 64.
            assert!(!m.c2c && m.rv_out > 0.01, "{m:?}");
        }
    }

    #[test]
    fn the_same_seeds_give_identical_measures() {
        let tanh = ActivationRegistry::builtin().get("tanh").unwrap();
        let config = MlpConfig::for_budget(200, 3, "tanh", &layer("dense")).unwrap();
        let seeds = seeds("tanh", 3, 4);
        let first = measurer(16).measure(&config, &tanh, &layer("dense"), &seeds);
        let second = measurer(16).measure(&config, &tanh, &layer("dense"), &seeds);
        assert_eq!(first, second);
    }

    #[test]
    fn chunking_does_not_change_the_measures() {
        let tanh = ActivationRegistry::builtin().get("tanh").unwrap();
        let config = MlpConfig::for_budget(300, 3, "tanh", &layer("dense")).unwrap();
        let seeds = seeds("tanh", 3, 5);
        let whole = measurer(21).measure(&config, &tanh, &layer("dense"), &seeds);
        let chunked = measurer(21).with_chunk_elements(1).measure(&config, &tanh, &layer("dense"), &seeds);
        for (a, b) in whole.iter().zip(&chunked) {
            assert!((a.v3 - b.v3).abs() <= 1e-5 * a.v3.abs().max(1e-3), "{} vs {}", a.v3, b.v3);
            assert!((a.rv_out - b.rv_out).abs() < 1e-5);
            assert_eq!(a.activation_ratio, b.activation_ratio);
            for (x, y) in a.grad_norms.iter().zip(&b.grad_norms) {
                assert!((x - y).abs() <= 1e-4 * x.abs().max(1e-6));
            }
        }
    }
}
