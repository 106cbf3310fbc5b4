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
use super::host;
use super::names::Measure;
use super::proxies::{self, NtkAndZico, Proxies, PROXY_BATCH};
use crate::nn::stack::{DenseStack, Workspace};
use crate::nn::{ActivationSpec, ComputeBackend, LayerSpec, Mlp, MlpConfig, SupportedBackend};
use crate::problem::{ProblemConfig, ProblemData};

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
    /// Planes through the data a network is measured on when its inputs
    /// have more than two dimensions (METHOD §10); unused on the square.
    #[config(default = 4)]
    pub planes: usize,
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

/// Measures networks on one device: holds the landscape's points and the
/// training set.
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
    /// The grid and the training set as host vectors, where dense networks
    /// are measured on the host ([`SupportedBackend::HOST_PASSES`]).
    host: Option<HostSets>,
}

/// The landscape's points and the training set (points, labels), each
/// row-major: the inputs of the passes on host vectors (`host.rs`).
struct HostSets {
    grid: Vec<f32>,
    train: [Vec<f32>; 2],
}

/// The measures of an ensemble's members, and each member's output
/// landscape on the grid's first section (`G × G`, rows y, columns x; the
/// first logit of several).
pub struct Measured {
    /// Each member's measures, in member order.
    pub networks: Vec<NetworkMeasures>,
    /// Each member's output landscape, `G × G` values.
    pub landscapes: Vec<Vec<f32>>,
}

impl<B: ComputeBackend> Measurer<B> {
    /// Measures on `data`'s landscape; its training set is the gradient
    /// profile's and the proxies' data.
    pub fn new(
        config: MeasureConfig,
        problem: ProblemConfig,
        data: &ProblemData,
        device: &B::Device,
    ) -> Self {
        let (train_points, train_labels) = data.train.tensors::<B>(device);
        let batch = PROXY_BATCH.min(data.train.len());
        let grid_points = data.landscape.tensor(device);
        let host = B::HOST_PASSES.then(|| HostSets {
            grid: host_floats(grid_points.clone()),
            train: [
                host_floats(train_points.clone().inner()),
                host_floats(train_labels.clone().inner()),
            ],
        });
        Self {
            proxy_points: train_points.clone().narrow(0, 0, batch),
            proxy_labels: train_labels.clone().narrow(0, 0, batch).inner(),
            grid_points,
            train_points,
            train_labels,
            chunk_elements: B::CHUNK_ELEMENTS,
            stream_elements: B::STREAM_ELEMENTS,
            config,
            problem,
            device: device.clone(),
            host,
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
        config.members_per_ensemble::<B>(self.chunk_elements, self.train_points.dims()[0])
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
        let on_host = self.host.as_ref().zip(DenseStack::of(model));
        let (pass, (grad_norms, whole_gradient), jacobians) = match on_host {
            Some((sets, stack)) => self.host_passes(model, &stack, sets),
            None => (
                LandscapePass::run(&model.valid(), &self.grid_points, self.stream_elements),
                self.gradient_profile(model),
                None,
            ),
        };
        let mut proxies = if self.config.proxies {
            proxies::proxies(
                model,
                self.proxy_points.clone(),
                self.proxy_labels.clone(),
                self.problem.loss,
                whole_gradient,
                self.grid_points.dims()[1],
                jacobians,
            )
        } else {
            vec![Proxies::not_computed(); model.members()]
        }
        .into_iter();
        let landscape_points = pass.points as f64;
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
                    activation_count: pass.active[member] / landscape_points,
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
        let landscapes = (0..model.members())
            .map(|member| pass.section(member, 0, 0, self.config.grid))
            .collect();
        Measured {
            networks,
            landscapes,
        }
    }

    /// The landscape pass, the gradient profile and, with the proxies,
    /// `ntk_cond` and `zico` of a dense stack, member by member on host
    /// vectors (`host.rs`).
    #[allow(clippy::type_complexity)]
    fn host_passes(
        &self,
        model: &Mlp<B>,
        stack: &DenseStack,
        sets: &HostSets,
    ) -> (
        LandscapePass,
        (Vec<Vec<f64>>, (Vec<f64>, Vec<f64>)),
        Option<Vec<NtkAndZico>>,
    ) {
        let sigma = model
            .activation
            .function
            .slices()
            .expect("a dense stack's activation");
        let threshold = model.activation.active_threshold;
        let units = stack.units();
        let mut pass = LandscapePass {
            points: sets.grid.len() / units[0],
            outputs: units[units.len() - 1],
            active: Vec::new(),
            hidden_units: units[1..units.len() - 1].iter().sum(),
            moments: Vec::new(),
            landscapes: Vec::new(),
        };
        let (mut grad_norms, mut whole, mut snip) = (Vec::new(), Vec::new(), Vec::new());
        let mut work = Workspace::default();
        let (train, loss) = ([&sets.train[0][..], &sets.train[1][..]], self.problem.loss);
        // The proxies' batch: the training set's first points.
        let batch = self.proxy_points.dims()[0];
        let proxy_set = [
            &train[0][..batch * units[0]],
            &train[1][..batch * pass.outputs],
        ];
        let mut jacobians = Vec::new();
        for member in 0..stack.members() {
            let member_pass = host::landscape_pass(stack, member, &sets.grid, sigma, threshold);
            pass.active.push(member_pass.active);
            pass.moments.push(member_pass.moments);
            pass.landscapes.push(member_pass.logits);
            let profile = host::gradient_profile(stack, member, train, loss, sigma, &mut work);
            grad_norms.push(profile.0);
            whole.push(profile.1);
            snip.push(profile.2);
            if self.config.proxies {
                let proxies =
                    host::jacobian_proxies(stack, member, proxy_set, loss, sigma, &mut work);
                jacobians.push(proxies);
            }
        }
        let jacobians = self.config.proxies.then_some(jacobians);
        (pass, (grad_norms, (whole, snip)), jacobians)
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

/// A tensor's values as a host vector of `f32`, row-major.
fn host_floats<Bk: Backend, const D: usize>(tensor: Tensor<Bk, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("float data")
}

/// Grid points per chunk so that one `[members, points, width]`
/// intermediate stays within `elements`.
fn points_per_chunk(elements: usize, members: usize, width: usize, total: usize) -> usize {
    (elements / (members * width).max(1)).clamp(1, total.max(1))
}

/// Points per chunk of `grid_points` streamed through `model`: its widest
/// intermediate is the input, a hidden layer or the logits.
fn chunk_of<B: Backend>(model: &Mlp<B>, grid_points: &Tensor<B, 2>, elements: usize) -> usize {
    let [members, width, outputs] = model.output.weight.dims();
    let [total, inputs] = grid_points.dims();
    points_per_chunk(elements, members, width.max(outputs).max(inputs), total)
}

/// What one streamed pass over the landscape's points gathers, per member:
/// active pairs, the moments of every hidden layer's output and of the
/// network output (last), and the outputs at every point (`[points, k]`
/// row-major, section by section).
struct LandscapePass {
    points: usize,
    outputs: usize,
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
/// `config.grid`² grid on the square, or on each of several planes),
/// streamed in chunks of `stream_elements`.
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
    /// One member's grid measures: AR and `RV_out` over every point of
    /// every section, V3 the mean over sections and logits (METHOD §10).
    fn grid_measures(&self, member: usize, config: &MeasureConfig) -> GridMeasures {
        let rv_out = self.moments[member]
            .last()
            .expect("the output's moments")
            .relative_variation();
        let sections = self.points / (config.grid * config.grid).max(1);
        let mut v3 = 0.0;
        for section in 0..sections {
            for logit in 0..self.outputs {
                let landscape = self.section(member, section, logit, config.grid);
                v3 += third_order_variability(&landscape, config.grid);
            }
        }
        GridMeasures {
            activation_ratio: self.active[member] / (self.points as f64 * self.hidden_units as f64),
            v3: v3 / (sections * self.outputs).max(1) as f64,
            rv_out,
            c2c: rv_out < config.c2c_threshold,
        }
    }

    /// One logit's `G × G` landscape on one section.
    fn section(&self, member: usize, section: usize, logit: usize, size: usize) -> Vec<f32> {
        section_landscape(&self.landscapes[member], self.outputs, section, logit, size)
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
        let outputs = model.output.weight.dims()[2];
        let chunk = chunk_of(model, grid_points, elements);
        let mut pass = Self {
            points: total,
            outputs,
            active: vec![0.0; members],
            hidden_units: 0,
            moments: Vec::new(),
            landscapes: vec![Vec::with_capacity(total * outputs); members],
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
            columns.push(output.reshape([members, len * outputs]));
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

/// One logit's `G × G` landscape on one section, from a member's outputs
/// at every point (`[points, k]` row-major, section by section).
pub fn section_landscape(
    outputs_at_points: &[f32],
    outputs: usize,
    section: usize,
    logit: usize,
    size: usize,
) -> Vec<f32> {
    let start = section * size * size;
    (start..start + size * size)
        .map(|point| outputs_at_points[point * outputs + logit])
        .collect()
}

/// Each member's outputs at every grid point (`[points, k]` row-major),
/// streamed in chunks of at most `elements` per intermediate.
pub fn output_landscapes<B: SupportedBackend>(
    model: &Mlp<B>,
    grid_points: &Tensor<B, 2>,
    elements: usize,
) -> Vec<Vec<f32>> {
    let members = model.members();
    let total = grid_points.dims()[0];
    let outputs = model.output.weight.dims()[2];
    let chunk = chunk_of(model, grid_points, elements);
    let mut landscapes = vec![Vec::with_capacity(total * outputs); members];
    for start in (0..total).step_by(chunk) {
        let len = chunk.min(total - start);
        let output =
            model.forward(model.broadcast_input(grid_points.clone().narrow(0, start, len)));
        for (landscape, row) in landscapes
            .iter_mut()
            .zip(host_rows(output.reshape([members, len * outputs])))
        {
            landscape.extend(row.iter().map(|&v| v as f32));
        }
    }
    landscapes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{ActivationRegistry, LayerRegistry, PLANE_DIMS};
    use crate::problem::{DataPlane, Dataset, LandscapeGrid, Loss, ProblemConfig};
    use crate::seed::network_seed;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::TensorData;

    type B = Autodiff<NdArray>;

    fn layer(name: &str) -> LayerSpec {
        LayerRegistry::builtin().get(name).unwrap()
    }

    fn measurer(grid: usize) -> Measurer<B> {
        measurer_on(ProblemConfig::new().with_train_size(256), grid)
    }

    fn measurer_on(problem: ProblemConfig, grid: usize) -> Measurer<B> {
        let config = MeasureConfig::new().with_grid(grid);
        let data = problem.data(0, grid, config.planes).unwrap();
        Measurer::new(config, problem, &data, &Default::default())
    }

    fn seeds(activation: &str, depth: usize, count: usize) -> Vec<u64> {
        (0..count)
            .map(|i| network_seed(0, activation, depth, i))
            .collect()
    }

    /// A measurer on hand-made planes in three dimensions.
    fn measurer_on_planes(planes: Vec<DataPlane>, grid: usize) -> Measurer<B> {
        let problem = ProblemConfig::new().with_problem("teacher:3".into());
        let mut data = problem.data(0, grid, 1).unwrap();
        data.landscape = LandscapeGrid {
            size: grid,
            inputs: 3,
            planes,
        };
        let config = MeasureConfig::new().with_grid(grid).with_proxies(false);
        Measurer::new(config, problem, &data, &Default::default())
    }

    fn host_values(param: &Param<Tensor<B, 3>>) -> Vec<f32> {
        param.val().into_data().to_vec::<f32>().unwrap()
    }

    #[test]
    fn a_network_that_reads_one_input_has_the_v3_of_its_1d_function() {
        let relu = ActivationRegistry::builtin().get("relu").unwrap();
        let config = MlpConfig::new(1, 6, "relu".into()).with_input_dim(3);
        let mut model: Mlp<B> = config.init(&relu, &layer("dense"), &[5], &Default::default());
        // Keep only the first input's row of the first layer's weights.
        let mut weights = host_values(&model.hidden[0].params[0]);
        weights[6..].iter_mut().for_each(|w| *w = 0.0);
        model.hidden[0].params[0] = Param::from_data(
            TensorData::new(weights.clone(), [1, 3, 6]),
            &Default::default(),
        );
        let biases = host_values(&model.hidden[0].params[1]);
        let (readout, offset) = (
            host_values(&model.output.weight),
            host_values(&model.output.bias),
        );
        let one_d = |x: f64| -> f64 {
            (0..6)
                .map(|j| {
                    f64::from(readout[j])
                        * (f64::from(weights[j]) * x + f64::from(biases[j])).max(0.0)
                })
                .sum::<f64>()
                + f64::from(offset[0])
        };
        let data = Dataset {
            inputs: 3,
            classes: 2,
            points: vec![
                0.3, -1.2, 0.5, -0.8, 0.4, 1.1, 1.5, 0.9, -0.7, -0.2, 0.1, 0.6,
            ],
            labels: vec![0.0; 4],
        };
        let grid = 41;
        let planes = crate::problem::data_planes(&data, 3, 7);
        assert_eq!(planes.len(), 3);
        // V3 of each plane's landscape of the 1-D function, computed on the
        // host from the plane's geometry alone, then averaged.
        let coordinate = |k: usize| -1.0 + 2.0 * k as f64 / (grid - 1) as f64;
        let expected = planes
            .iter()
            .map(|plane| {
                let landscape: Vec<f64> = (0..grid * grid)
                    .map(|k| one_d(plane.point(coordinate(k % grid), coordinate(k / grid))[0]))
                    .collect();
                third_order_variability(&landscape, grid)
            })
            .sum::<f64>()
            / 3.0;
        let measured = measurer_on_planes(planes, grid)
            .measure_ensemble(&model)
            .networks[0]
            .v3;
        assert!(expected > 1e-4, "a kinked function: {expected}");
        assert!(
            (measured - expected).abs() <= 1e-3 * expected,
            "{measured} vs {expected}"
        );
    }

    #[test]
    fn the_order_of_the_three_points_changes_only_the_planes_orientation() {
        // A right isosceles triangle at a: swapping b and c transposes the
        // plane's grid (u ↔ v), a symmetry of every measure.
        let a = vec![0.2, -0.4, 0.9];
        let (b, c) = (vec![1.2, -0.4, 0.9], vec![0.2, 0.6, 0.9]);
        let one = DataPlane::through(&a, &b, &c).unwrap();
        let other = DataPlane::through(&a, &c, &b).unwrap();
        let tanh = ActivationRegistry::builtin().get("tanh").unwrap();
        let config = MlpConfig::new(3, 8, "tanh".into()).with_input_dim(3);
        let model: Mlp<B> = config.init(&tanh, &layer("dense"), &[3, 4], &Default::default());
        let first = measurer_on_planes(vec![one], 33)
            .measure_ensemble(&model)
            .networks;
        let second = measurer_on_planes(vec![other], 33)
            .measure_ensemble(&model)
            .networks;
        for (x, y) in first.iter().zip(&second) {
            assert!(
                x.v3 > 0.0 && (x.v3 - y.v3).abs() <= 1e-5 * x.v3,
                "{} vs {}",
                x.v3,
                y.v3
            );
            assert!((x.rv_out - y.rv_out).abs() <= 1e-5 * x.rv_out);
            assert!((x.activation_ratio - y.activation_ratio).abs() < 1e-12);
        }
    }

    #[test]
    fn several_logits_average_their_v3_and_share_rv_out() {
        // Two logits that are the same function: the mean of their V3 is
        // that V3, and RV over the two units is the one unit's.
        let abs = ActivationRegistry::builtin().get("abs").unwrap();
        let single: Mlp<B> = MlpConfig::new(2, 8, "abs".into()).init(
            &abs,
            &layer("dense"),
            &[9],
            &Default::default(),
        );
        let mut double: Mlp<B> = MlpConfig::new(2, 8, "abs".into()).with_output_dim(2).init(
            &abs,
            &layer("dense"),
            &[9],
            &Default::default(),
        );
        double.hidden = single.hidden.clone();
        let twice = |p: &Param<Tensor<B, 3>>| {
            Param::from_tensor(Tensor::cat(vec![p.val(), p.val()], 2).detach())
        };
        double.output.weight = twice(&single.output.weight);
        double.output.bias = twice(&single.output.bias);
        let one = measurer(21).measure_ensemble(&single).networks[0].clone();
        let two = measurer(21).measure_ensemble(&double).networks[0].clone();
        assert!(
            (one.v3 - two.v3).abs() <= 1e-9 * one.v3,
            "{} vs {}",
            one.v3,
            two.v3
        );
        assert!((one.rv_out - two.rv_out).abs() <= 1e-9);
        assert_eq!(one.activation_ratio, two.activation_ratio);
    }

    #[test]
    fn abs_has_activation_ratio_exactly_one() {
        let abs = ActivationRegistry::builtin().get("abs").unwrap();
        let config = MlpConfig::for_budget(2000, 4, "abs", &layer("dense"), PLANE_DIMS).unwrap();
        for m in measurer(21).measure(&config, &abs, &layer("dense"), &seeds("abs", 4, 5)) {
            assert_eq!(m.activation_ratio, 1.0);
            assert_eq!(m.activation_count, 4.0 * config.width as f64);
        }
    }

    #[test]
    fn relu_activation_ratio_is_one_half_over_fifty_seeds() {
        let relu = ActivationRegistry::builtin().get("relu").unwrap();
        let config = MlpConfig::for_budget(2000, 2, "relu", &layer("dense"), PLANE_DIMS).unwrap();
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
        let config = MlpConfig::for_budget(2000, 64, "relu", &residual, PLANE_DIMS).unwrap();
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
        let config = MlpConfig::for_budget(200, 3, "tanh", &layer("dense"), PLANE_DIMS).unwrap();
        let seeds = seeds("tanh", 3, 4);
        let first = measurer(16).measure(&config, &tanh, &layer("dense"), &seeds);
        let second = measurer(16).measure(&config, &tanh, &layer("dense"), &seeds);
        assert_eq!(first, second);
    }

    /// The passes on host vectors (`host.rs`, Flex) against the tensor
    /// path on the same networks: a wide layer, a stack stored in chunks
    /// for training, ten logits, a collapsed network; with the proxies,
    /// which take the host path's whole gradient.
    #[test]
    fn host_passes_match_the_tensor_path() {
        use burn::backend::Flex;
        type F = Autodiff<Flex>;
        let square = ProblemConfig::new().with_train_size(300);
        let digits = ProblemConfig::new().with_problem("digits".into());
        let cases = [
            ("relu", 1, 2000, square.clone()),
            ("abs", 3, 400, square.clone()),
            ("tanh", 12, 2000, square.clone()),
            // 100 points: the proxies' batch ends in a part of a chunk.
            ("tanh", 12, 2000, square.clone().with_train_size(100)),
            ("relu", 2, 1500, digits),
            // Zero biases put z = 0 at the grid's centre, leaky relu's kink.
            ("leaky_relu", 2, 600, square.clone()),
            ("clipped-relu:0.2:1", 4, 600, square.clone()),
            ("tanh", 2, 600, square.clone().with_loss(Loss::Mse)),
        ];
        for (activation, depth, budget, problem) in cases {
            let config = MeasureConfig::new().with_grid(23);
            let data = problem.data(0, 23, config.planes).unwrap();
            let problem_dims = (problem.inputs(), problem.outputs());
            let host =
                Measurer::<F>::new(config.clone(), problem.clone(), &data, &Default::default());
            let mut tensor = Measurer::<F>::new(config, problem, &data, &Default::default());
            tensor.host = None;
            let spec = ActivationRegistry::builtin().get(activation).unwrap();
            let dims = [problem_dims.0, problem_dims.1];
            let mut mlp =
                MlpConfig::for_budget(budget, depth, activation, &layer("dense"), dims).unwrap();
            if activation == "leaky_relu" {
                mlp.init = crate::nn::Init::He;
            }
            let mut model: Mlp<F> = mlp.init(&spec, &layer("dense"), &[7, 8], &Default::default());
            if depth == 3 {
                let zero = |p: &Param<Tensor<F, 3>>| Param::from_tensor(p.val().zeros_like());
                model.hidden[1].params = model.hidden[1].params.iter().map(zero).collect();
            }
            assert!(host.host.is_some() && DenseStack::of(&model).is_some());
            let (a, b) = (
                host.measure_ensemble(&model),
                tensor.measure_ensemble(&model),
            );
            if depth == 3 {
                assert_eq!(a.networks[0].collapse_layer, Some(2), "the zeroed layer");
            }
            assert_eq!(a.networks.len(), 2);
            for (member, (a, b)) in a.networks.iter().zip(&b.networks).enumerate() {
                let what = (activation, depth, member);
                let close = |name: &str, x: f64, y: f64, tolerance: f64| {
                    assert!(
                        (x - y).abs() <= tolerance * y.abs().max(1e-12),
                        "{what:?} {name}: {x} vs {y}"
                    )
                };
                close(
                    "activation ratio",
                    a.activation_ratio,
                    b.activation_ratio,
                    1e-9,
                );
                close("v3", a.v3, b.v3, 1e-4);
                close("rv_out", a.rv_out, b.rv_out, 1e-5);
                assert_eq!(
                    (a.c2c, a.collapse_layer),
                    (b.c2c, b.collapse_layer),
                    "{what:?}"
                );
                for (x, y) in a.rv_layers.iter().zip(&b.rv_layers) {
                    close("rv_layers", *x, *y, 1e-5);
                }
                assert_eq!(a.grad_norms.len(), b.grad_norms.len());
                // Behind the zeroed layer the output is constant, and the
                // output layer's gradient h·Σᵢ(σ(f) − yᵢ) a sum that cancels.
                let gradients = if depth == 3 { 1e-3 } else { 1e-5 };
                for (x, y) in a.grad_norms.iter().zip(&b.grad_norms) {
                    close("grad_norms", *x, *y, gradients);
                }
                // The NTK and ZiCo from the Jacobian's factors (`host.rs`): in
                // `f64`, where the tensor path rounds each entry of `J` to `f32`;
                // the NTK's condition number magnifies that rounding, ZiCo's
                // ratios of batch means do not.
                let proxies = [
                    (Measure::GradNorm, gradients),
                    (Measure::Snip, gradients),
                    (Measure::Naswot, 1e-5),
                    (Measure::NtkCond, 1e-5),
                    (Measure::Zico, 1e-6),
                ];
                for (measure, tolerance) in proxies {
                    match (a.get(measure), b.get(measure)) {
                        (Some(x), Some(y)) => close(measure.name(), x, y, tolerance),
                        (x, y) => assert_eq!(x, y, "{what:?} {measure:?}"),
                    }
                }
            }
            assert_eq!(
                host.measure_ensemble(&model).landscapes,
                tensor.measure_ensemble(&model).landscapes
            );
        }
    }

    #[test]
    fn chunking_does_not_change_the_measures() {
        let tanh = ActivationRegistry::builtin().get("tanh").unwrap();
        let config = MlpConfig::for_budget(300, 3, "tanh", &layer("dense"), PLANE_DIMS).unwrap();
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
