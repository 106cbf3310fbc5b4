//! Measuring networks at initialisation: from an architecture and seeds to
//! one [`NetworkMeasures`] per network, all members of an ensemble in one
//! observed forward pass over the grid, streamed in chunks of points, and
//! one backward pass on the training set.

use burn::config::Config;
use burn::module::{AutodiffModule, Param};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use burn::tensor::backend::Backend;

use super::functions::{
    centred_sums, frobenius_norm, third_order_variability, ActiveUnits, UnitMoments,
};
use super::names::Measure;
use super::proxies::{self, Proxies, PROXY_BATCH};
use crate::nn::{ActivationSpec, ComputeBackend, LayerSpec, Mlp, MlpConfig, SupportedBackend};
use crate::problem::{grid_tensor, ProblemConfig};

/// How networks are measured (METHOD §3). Every field has the METHOD default.
#[derive(Config, Debug, PartialEq)]
pub struct MeasureConfig {
    /// Landscape grid size `G` (`G × G` points).
    #[config(default = 101)]
    pub grid: usize,
    /// The C2C threshold ε on `RV_out` (METHOD §3).
    #[config(default = 1e-3)]
    pub c2c_threshold: f64,
    /// Whether to compute the zero-cost proxies (docs/predictors.md), a
    /// large share of the time of measuring a network.
    #[config(default = true)]
    pub proxies: bool,
}

/// The measures of one network at initialisation (METHOD §3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkMeasures {
    /// Parameters of the network, counted from the module's own parameters.
    pub params: usize,
    /// Activation ratio `AR`: the fraction of (grid point, hidden unit) pairs
    /// that are active (METHOD §3).
    #[serde(deserialize_with = "crate::json::f64_or_nan")]
    pub activation_ratio: f64,
    /// Activation count `AC = AR × hidden units` (METHOD §3).
    #[serde(deserialize_with = "crate::json::f64_or_nan")]
    pub activation_count: f64,
    /// Third-order variability `V3` of the output landscape (METHOD §3).
    #[serde(deserialize_with = "crate::json::f64_or_nan")]
    pub v3: f64,
    /// Relative variation `RV_out` of the output (METHOD §3).
    #[serde(deserialize_with = "crate::json::f64_or_nan")]
    pub rv_out: f64,
    /// `RV_l` of each hidden layer's output, input side first.
    pub rv_layers: Vec<f64>,
    /// Collapsed to a constant: `RV_out < ε` (METHOD §3).
    pub c2c: bool,
    /// The first hidden layer (1-based) with `RV_l < ε`.
    pub collapse_layer: Option<usize>,
    /// Frobenius norm of the loss gradient with respect to the weights of
    /// each hidden layer, then of the output layer, on the training set.
    pub grad_norms: Vec<f64>,
    /// The field's zero-cost proxies (absent in records of older versions).
    #[serde(default)]
    pub proxies: Proxies,
}

impl NetworkMeasures {
    /// A measure or proxy (`None` for a null proxy).
    pub fn get(&self, measure: Measure) -> Option<f64> {
        match measure {
            Measure::V3 => Some(self.v3),
            Measure::ActivationRatio => Some(self.activation_ratio),
            Measure::ActivationCount => Some(self.activation_count),
            Measure::RvOut => Some(self.rv_out),
            proxy => self.proxies.get(proxy),
        }
    }
}

/// Measures networks on one device: holds the grid and the training set.
pub struct Measurer<B: ComputeBackend> {
    config: MeasureConfig,
    problem: ProblemConfig,
    grid_points: Tensor<B::InnerBackend, 2>,
    train_points: Tensor<B, 2>,
    train_labels: Tensor<B, 2>,
    /// The proxies' batch: the first examples of the training set.
    proxy_points: Tensor<B, 2>,
    proxy_labels: Tensor<B::InnerBackend, 2>,
    chunk_elements: usize,
    stream_elements: usize,
    device: B::Device,
}

/// The measures of an ensemble's members, and each member's output
/// landscape on the grid (`G × G`, rows y, columns x).
pub struct Measured {
    /// Each member's measures, in member order.
    pub networks: Vec<NetworkMeasures>,
    /// Each member's output landscape, `G × G` values.
    pub landscapes: Vec<Vec<f32>>,
}

impl<B: ComputeBackend> Measurer<B> {
    /// `run_seed` draws the training set of the gradient profile.
    pub fn new(
        config: MeasureConfig,
        problem: ProblemConfig,
        run_seed: u64,
        device: &B::Device,
    ) -> Self {
        let (train_points, train_labels) = problem.training_set(run_seed).tensors::<B>(device);
        let batch = PROXY_BATCH.min(problem.train_size);
        Self {
            proxy_points: train_points.clone().narrow(0, 0, batch),
            proxy_labels: train_labels.clone().narrow(0, 0, batch).inner(),
            grid_points: grid_tensor(config.grid, device),
            train_points,
            train_labels,
            chunk_elements: B::CHUNK_ELEMENTS,
            stream_elements: B::STREAM_ELEMENTS,
            config,
            problem,
            device: device.clone(),
        }
    }

    /// Overrides the ensemble and grid-chunk sizes (see
    /// [`crate::nn::SupportedBackend::CHUNK_ELEMENTS`]).
    pub fn with_chunk_elements(mut self, chunk_elements: usize) -> Self {
        self.chunk_elements = chunk_elements.max(1);
        self.stream_elements = chunk_elements.max(1);
        self
    }

    /// How many networks of this architecture go in one ensemble: the
    /// gradient profile's pass over the training set bounds it (the grid is
    /// streamed in chunks).
    pub fn ensemble_members(&self, config: &MlpConfig) -> usize {
        config.members_per_ensemble::<B>(self.chunk_elements, self.problem.train_size)
    }

    /// Measures one network per seed, in ensembles; results in seed order.
    pub fn measure(
        &self,
        config: &MlpConfig,
        activation: &ActivationSpec,
        layer: &LayerSpec,
        seeds: &[u64],
    ) -> Vec<NetworkMeasures> {
        seeds
            .chunks(self.ensemble_members(config))
            .flat_map(|chunk| {
                let model: Mlp<B> = config.init(activation, layer, chunk, &self.device);
                self.measure_ensemble(&model).networks
            })
            .collect()
    }

    /// Measures every member of a built ensemble.
    pub fn measure_ensemble(&self, model: &Mlp<B>) -> Measured {
        let pass = LandscapePass::run(&model.valid(), &self.grid_points, self.stream_elements);
        let (grad_norms, whole_gradient) = self.gradient_profile(model);
        let mut proxies = if self.config.proxies {
            proxies::proxies(
                model,
                self.proxy_points.clone(),
                self.proxy_labels.clone(),
                self.problem.loss,
                whole_gradient,
            )
        } else {
            vec![Proxies::not_computed(); model.members()]
        }
        .into_iter();
        let grid_points = (self.config.grid * self.config.grid) as f64;
        let params = model.params_per_member();
        let networks = (0..model.members())
            .map(|member| {
                let rv_of = |layer: &UnitMoments| layer.relative_variation();
                let moments = &pass.moments[member];
                let rv_layers: Vec<f64> = moments[..model.depth()].iter().map(rv_of).collect();
                let grid = pass.grid_measures(member, &self.config);
                NetworkMeasures {
                    params,
                    activation_ratio: grid.activation_ratio,
                    activation_count: pass.active[member] / grid_points,
                    v3: grid.v3,
                    rv_out: grid.rv_out,
                    collapse_layer: rv_layers
                        .iter()
                        .position(|rv| *rv < self.config.c2c_threshold)
                        .map(|l| l + 1),
                    rv_layers,
                    c2c: grid.c2c,
                    grad_norms: grad_norms[member].clone(),
                    proxies: proxies.next().expect("one per member"),
                }
            })
            .collect();
        Measured {
            networks,
            landscapes: pass.landscapes,
        }
    }

    /// The gradient profile, per member: the norm of the loss gradient with
    /// respect to each block's weights, then the output layer's; and from
    /// the same pass the whole gradient's norm and SNIP. Members are
    /// independent, so the gradient of the summed loss is each member's own.
    #[allow(clippy::type_complexity)]
    fn gradient_profile(&self, model: &Mlp<B>) -> (Vec<Vec<f64>>, (Vec<f64>, Vec<f64>)) {
        let logits = model.forward(model.broadcast_input(self.train_points.clone()));
        let loss = self
            .problem
            .loss
            .per_member(logits, self.train_labels.clone())
            .sum();
        let gradients = loss.backward();
        let norm = |weight: &Param<Tensor<B, 3>>| {
            frobenius_norm(
                weight
                    .val()
                    .grad(&gradients)
                    .expect("weights take part in the loss"),
            )
        };
        let mut columns = Vec::with_capacity(model.depth() + 1);
        for block in &model.hidden {
            let squares = block
                .params
                .iter()
                .zip(&block.is_weight)
                .filter(|(_, w)| **w)
                .map(|(p, _)| norm(p).square());
            columns.push(
                squares
                    .reduce(|a, b| a + b)
                    .expect("a block has a weight")
                    .sqrt(),
            );
        }
        columns.push(norm(&model.output.weight));
        (
            host_rows(Tensor::stack::<2>(columns, 1)),
            proxies::gradient_proxies(model, &gradients),
        )
    }
}

/// A tensor `[members, columns]` as one host row per member (one read-back,
/// so one device sync on a GPU).
fn host_rows<B: Backend>(table: Tensor<B, 2>) -> Vec<Vec<f64>> {
    let [_, columns] = table.dims();
    let values = table
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("float data");
    values.chunks(columns).map(<[f64]>::to_vec).collect()
}

/// Grid points per chunk so that one `[members, points, width]`
/// intermediate stays within `elements`.
fn points_per_chunk(elements: usize, members: usize, width: usize, total: usize) -> usize {
    (elements / (members * width).max(1)).clamp(1, total.max(1))
}

/// What one streamed pass over the grid gathers, per member: active
/// pairs, the moments of every hidden layer.s output and of the network output
/// (last), and the output landscape.
struct LandscapePass {
    active: Vec<f64>,
    hidden_units: usize,
    moments: Vec<Vec<UnitMoments>>,
    landscapes: Vec<Vec<f32>>,
}

/// The measures of one network on the landscape grid alone (METHOD §3):
/// what tracking records through training (METHOD §9).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridMeasures {
    /// Activation ratio `AR`.
    pub activation_ratio: f64,
    /// `V3` of the output landscape.
    pub v3: f64,
    /// `RV_out`.
    pub rv_out: f64,
    /// `RV_out < ε`: collapsed to a constant.
    pub c2c: bool,
}

/// The [`GridMeasures`] of every member of `model` on `grid_points` (the
/// `config.grid`² grid), streamed in chunks of `stream_elements`.
pub fn grid_measures<B: SupportedBackend>(
    model: &Mlp<B>,
    grid_points: &Tensor<B, 2>,
    config: &MeasureConfig,
    stream_elements: usize,
) -> Vec<GridMeasures> {
    let pass = LandscapePass::run(model, grid_points, stream_elements);
    (0..model.members())
        .map(|member| pass.grid_measures(member, config))
        .collect()
}

impl LandscapePass {
    /// One member's grid measures.
    fn grid_measures(&self, member: usize, config: &MeasureConfig) -> GridMeasures {
        let grid_points = (config.grid * config.grid) as f64;
        let rv_out = self.moments[member]
            .last()
            .expect("the output's moments")
            .relative_variation();
        GridMeasures {
            activation_ratio: self.active[member] / (grid_points * self.hidden_units as f64),
            v3: third_order_variability(&self.landscapes[member], config.grid),
            rv_out,
            c2c: rv_out < config.c2c_threshold,
        }
    }

    /// Streams the grid through `model` in chunks of at most `elements`
    /// per intermediate: memory stays bounded for any grid.
    fn run<B: SupportedBackend>(
        model: &Mlp<B>,
        grid_points: &Tensor<B, 2>,
        elements: usize,
    ) -> Self {
        let members = model.members();
        let total = grid_points.dims()[0];
        let width = model.output.weight.dims()[1];
        let chunk = points_per_chunk(elements, members, width, total);
        let mut pass = Self {
            active: vec![0.0; members],
            hidden_units: 0,
            moments: Vec::new(),
            landscapes: vec![Vec::with_capacity(total); members],
        };
        let mut shifts: Vec<Tensor<B, 3>> = Vec::new();
        for start in (0..total).step_by(chunk) {
            let len = chunk.min(total - start);
            let mut active_units = ActiveUnits::new(&model.activation);
            let input = model.broadcast_input(grid_points.clone().narrow(0, start, len));
            let (hidden, output) = model.forward_observed(input, &mut active_units);
            let (counts, hidden_units) = active_units.finish();
            let representations: Vec<Tensor<B, 3>> =
                hidden.into_iter().chain([output.clone()]).collect();
            if shifts.is_empty() {
                shifts = representations
                    .iter()
                    .map(|h| h.clone().narrow(1, 0, 1))
                    .collect();
                pass.start(&shifts, hidden_units);
            }
            let observations = counts.len();
            let mut columns: Vec<Tensor<B, 2>> = counts
                .into_iter()
                .map(|count| count.reshape([members, 1]))
                .collect();
            columns.extend(
                representations
                    .into_iter()
                    .zip(&shifts)
                    .map(|(h, shift)| centred_sums(h, shift.clone())),
            );
            columns.push(output.reshape([members, len]));
            pass.add_chunk(&host_rows(Tensor::cat(columns, 1)), observations, len);
        }
        pass
    }

    /// The centres of the moments: every unit's value at the first grid point.
    fn start<B: Backend>(&mut self, shifts: &[Tensor<B, 3>], hidden_units: usize) {
        self.hidden_units = hidden_units;
        let members = self.active.len();
        let per_layer: Vec<Vec<Vec<f64>>> = shifts
            .iter()
            .map(|s| host_rows(s.clone().reshape([members, s.dims()[2]])))
            .collect();
        self.moments = (0..members)
            .map(|m| {
                per_layer
                    .iter()
                    .map(|layer| UnitMoments::new(layer[m].clone()))
                    .collect()
            })
            .collect();
    }

    /// Adds one chunk of `points` points: each member's row holds the active
    /// count of each of the `observations` pre-activations, then the
    /// centred sums of each representation, then the output values.
    fn add_chunk(&mut self, rows: &[Vec<f64>], observations: usize, points: usize) {
        for (member, row) in rows.iter().enumerate() {
            self.active[member] += row[..observations].iter().sum::<f64>();
            let mut at = observations;
            for moments in &mut self.moments[member] {
                let units = moments.shift.len();
                moments.add(&row[at..at + 2 * units], points);
                at += 2 * units;
            }
            self.landscapes[member].extend(row[at..].iter().map(|&v| v as f32));
        }
    }
}

/// Each member's output on the grid (`G × G` row-major), streamed in chunks
/// of at most `elements` per intermediate.
pub fn output_landscapes<B: SupportedBackend>(
    model: &Mlp<B>,
    grid_points: &Tensor<B, 2>,
    elements: usize,
) -> Vec<Vec<f32>> {
    let members = model.members();
    let total = grid_points.dims()[0];
    let chunk = points_per_chunk(elements, members, model.output.weight.dims()[1], total);
    let mut landscapes = vec![Vec::with_capacity(total); members];
    for start in (0..total).step_by(chunk) {
        let len = chunk.min(total - start);
        let output =
            model.forward(model.broadcast_input(grid_points.clone().narrow(0, start, len)));
        for (landscape, row) in landscapes
            .iter_mut()
            .zip(host_rows(output.reshape([members, len])))
        {
            landscape.extend(row.iter().map(|&v| v as f32));
        }
    }
    landscapes
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
        Measurer::new(
            MeasureConfig::new().with_grid(grid),
            problem,
            0,
            &Default::default(),
        )
    }

    fn seeds(activation: &str, depth: usize, count: usize) -> Vec<u64> {
        (0..count)
            .map(|i| network_seed(0, activation, depth, i))
            .collect()
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
        assert!(
            (mean - 0.5).abs() < 0.02,
            "mean relu activation ratio {mean}"
        );
    }

    #[test]
    fn a_hand_zeroed_hidden_layer_collapses_there() {
        let relu = ActivationRegistry::builtin().get("relu").unwrap();
        let config = MlpConfig::new(4, 8, "relu".into());
        let mut model: Mlp<B> = config.init(&relu, &layer("dense"), &[1, 2], &Default::default());
        let zero = |p: &Param<Tensor<B, 3>>| Param::from_tensor(p.val().zeros_like());
        model.hidden[2].params = model.hidden[2].params.iter().map(zero).collect();
        for m in measurer(21).measure_ensemble(&model).networks {
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
            let finite = [m.activation_ratio, m.v3, m.rv_out]
                .iter()
                .chain(&m.rv_layers)
                .chain(&m.grad_norms)
                .all(|v| v.is_finite());
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
        let chunked =
            measurer(21)
                .with_chunk_elements(1)
                .measure(&config, &tanh, &layer("dense"), &seeds);
        for (a, b) in whole.iter().zip(&chunked) {
            assert!(
                (a.v3 - b.v3).abs() <= 1e-5 * a.v3.abs().max(1e-3),
                "{} vs {}",
                a.v3,
                b.v3
            );
            assert!((a.rv_out - b.rv_out).abs() < 1e-5);
            assert_eq!(a.activation_ratio, b.activation_ratio);
            for (x, y) in a.grad_norms.iter().zip(&b.grad_norms) {
                assert!((x - y).abs() <= 1e-4 * x.abs().max(1e-6));
            }
        }
    }
}
