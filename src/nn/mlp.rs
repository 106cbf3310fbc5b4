//! The MLP family (METHOD §1–§2).
//!
//! A [`Mlp`] holds an *ensemble* of independent networks of one architecture:
//! every weight has a leading member dimension (`[members, d_in, d_out]`),
//! so all seeds of one (activation, depth) point run as one batched tensor
//! program. A single network is an ensemble of one. Members never mix: each
//! one's output, loss and gradient depend on its own weights only.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Element, Tensor, TensorCreationOptions, TensorData};

use super::backend::SupportedBackend;
use super::init::Init;
use super::layer::{affine, Activate, HostInit, ParamSpec, PreActivationObserver};
use super::registry::{ActivationSpec, LayerSpec};
use crate::seed::host_rng;

pub use crate::problem::INPUT_DIM;
/// Output dimension: one logit.
pub const OUTPUT_DIM: usize = 1;
/// The model problem's `[inputs, outputs]`: a point of the plane, one logit.
pub const PLANE_DIMS: [usize; 2] = [INPUT_DIM, OUTPUT_DIM];

// ---------------------------------------------------------------------------
// Fixed-budget sizing

/// `P(L, n) = n(d+1) + (L-1)·n(n+1) + k(n+1)`: parameters of a dense MLP.
pub fn dense_param_count(depth: usize, width: usize, input_dim: usize, output_dim: usize) -> usize {
    width * (input_dim + 1) + (depth - 1) * width * (width + 1) + output_dim * (width + 1)
}

/// The width `n >= 1` whose parameter count `count(n)` is closest to the
/// budget (ties: the smaller `n`), solved numerically for any layer type;
/// `None` when even `count(1)` exceeds the budget. `count` must grow with `n`.
pub fn width_for_params(budget: usize, count: impl Fn(usize) -> usize) -> Option<usize> {
    if count(1) > budget {
        return None;
    }
    // The first width at or over the budget: double, then bisect (any budget
    // is sized in a few dozen evaluations).
    let (mut below, mut width) = (0, 1);
    while count(width) < budget {
        below = width;
        width = width.checked_mul(2)?;
    }
    while width - below > 1 {
        let middle = below + (width - below) / 2;
        if count(middle) < budget {
            below = middle
        } else {
            width = middle
        }
    }
    if width == 1 {
        return Some(1);
    }
    let over = count(width) - budget;
    let under = budget - count(width - 1);
    Some(if under <= over { width - 1 } else { width })
}

// ---------------------------------------------------------------------------
// Modules

/// A dense layer for an ensemble: `y = x·W + b` per member.
#[derive(Module, Debug)]
pub struct EnsembleLinear<B: Backend> {
    /// `[members, d_in, d_out]`
    pub weight: Param<Tensor<B, 3>>,
    /// `[members, 1, d_out]`
    pub bias: Param<Tensor<B, 3>>,
}

impl<B: Backend> EnsembleLinear<B> {
    /// A layer from host values: `weights` holds each member's `[d_in, d_out]`
    /// block in turn, `biases` each member's `[d_out]`.
    pub fn from_host(
        weights: Vec<f32>,
        biases: Vec<f32>,
        [members, d_in, d_out]: [usize; 3],
        device: &B::Device,
    ) -> Self {
        Self {
            weight: Param::from_data(TensorData::new(weights, [members, d_in, d_out]), device),
            bias: Param::from_data(TensorData::new(biases, [members, 1, d_out]), device),
        }
    }
}

impl<B: SupportedBackend> EnsembleLinear<B> {
    /// # Shapes
    /// - input: `[members, points, d_in]`
    /// - output: `[members, points, d_out]`
    pub fn forward(&self, input: Tensor<B, 3>) -> Tensor<B, 3> {
        affine(input, &self.weight.val(), &self.bias.val())
    }
}

/// A hidden layer of an ensemble: the parameters of one layer type, each
/// `[members, rows, cols]`, in the order its [`Layer::params`](super::Layer::params) lists them.
#[derive(Module, Debug)]
pub struct HiddenLayer<B: Backend> {
    /// The layer's parameters, each `[members, rows, cols]`.
    pub params: Vec<Param<Tensor<B, 3>>>,
    /// Which of `params` are weights (for the gradient profile).
    #[module(skip)]
    pub is_weight: Vec<bool>,
}

impl<B: Backend> HiddenLayer<B> {
    /// The parameter values, for the layer type's forward pass.
    pub fn values(&self) -> Vec<Tensor<B, 3>> {
        self.params.iter().map(|p| p.val()).collect()
    }
}

/// The architecture of one point of the family: depth, width, layer type,
/// activation, initialisation. It builds an ensemble of networks with
/// [`MlpConfig::init`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Number of hidden layers `L` (hidden layers, for `dense`).
    pub depth: usize,
    /// Width `n` of every hidden layer.
    pub width: usize,
    /// Activation name (resolved through an `ActivationRegistry`).
    pub activation: String,
    /// Layer type name (resolved through a `LayerRegistry`).
    #[config(default = "String::from(super::layer::DEFAULT_LAYER)")]
    pub layer: String,
    /// How the weights are drawn (METHOD §2).
    #[config(default = "Init::default()")]
    pub init: Init,
    /// Inputs of the network.
    #[config(default = "INPUT_DIM")]
    pub input_dim: usize,
    /// Outputs (logits) of the network.
    #[config(default = "OUTPUT_DIM")]
    pub output_dim: usize,
}

impl MlpConfig {
    /// The config of the fixed-budget network at this depth for `inputs`
    /// inputs and `outputs` logits: the width whose parameter count, from
    /// the layer type's own parameters, is closest to the budget (METHOD §1,
    /// §10). `None` when the budget is too small for the depth.
    pub fn for_budget(
        budget: usize,
        depth: usize,
        activation: &str,
        layer: &LayerSpec,
        [inputs, outputs]: [usize; 2],
    ) -> Option<Self> {
        if depth == 0 {
            return None;
        }
        let width = width_for_params(budget, |n| layer.network_params(depth, n, inputs, outputs))?;
        Some(
            Self::new(depth, width, activation.to_string())
                .with_layer(layer.name().to_string())
                .with_input_dim(inputs)
                .with_output_dim(outputs),
        )
    }

    /// Parameters of one network, from its layer type's count.
    pub fn params(&self, layer: &LayerSpec) -> usize {
        layer.network_params(self.depth, self.width, self.input_dim, self.output_dim)
    }

    /// Networks of this architecture per ensemble so that one
    /// `[members, points, units]` intermediate over `points` inputs stays
    /// within `chunk_elements` (see [`SupportedBackend::members_per_ensemble`]).
    pub fn members_per_ensemble<B: SupportedBackend>(
        &self,
        chunk_elements: usize,
        points: usize,
    ) -> usize {
        let widest = self.width.max(self.input_dim).max(self.output_dim);
        B::members_per_ensemble(chunk_elements, points, widest)
    }

    /// Fan-in of every hidden layer, input side first.
    fn block_fan_ins(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.depth).map(|l| if l == 0 { self.input_dim } else { self.width })
    }

    /// Builds one network per seed, weights drawn on the host so that the
    /// same seed gives the same network on every backend.
    pub fn init<B: Backend>(
        &self,
        activation: &ActivationSpec,
        layer: &LayerSpec,
        member_seeds: &[u64],
        device: &B::Device,
    ) -> Mlp<B> {
        assert_eq!(
            activation.name(),
            self.activation,
            "activation spec does not match the config"
        );
        assert_eq!(
            layer.name(),
            self.layer,
            "layer spec does not match the config"
        );
        let members = member_seeds.len();
        let specs: Vec<Vec<ParamSpec>> = self
            .block_fan_ins()
            .map(|fan_in| layer.function.params(fan_in, self.width))
            .collect();
        let mut blocks: Vec<Vec<Vec<f32>>> = specs
            .iter()
            .map(|block| {
                block
                    .iter()
                    .map(|p| Vec::with_capacity(members * p.len()))
                    .collect()
            })
            .collect();
        let (mut output_weight, mut output_bias) = (Vec::new(), Vec::new());
        for &seed in member_seeds {
            let mut rng = host_rng(seed);
            let mut host = HostInit {
                init: self.init,
                gain: activation.gain,
                depth: self.depth,
                rng: &mut rng,
            };
            for ((fan_in, spec), values) in self.block_fan_ins().zip(&specs).zip(blocks.iter_mut())
            {
                let drawn = layer.function.init(fan_in, self.width, &mut host);
                assert_eq!(
                    drawn.len(),
                    spec.len(),
                    "layer '{}' drew a different number of parameters than it lists",
                    self.layer
                );
                for ((value, p), all) in drawn.into_iter().zip(spec).zip(values.iter_mut()) {
                    assert_eq!(
                        value.len(),
                        p.len(),
                        "layer '{}' drew a parameter of the wrong size",
                        self.layer
                    );
                    all.extend(value);
                }
            }
            let (w, b) = self
                .init
                .sample_layer(host.rng, self.width, self.output_dim, 1.0);
            output_weight.extend(w);
            output_bias.extend(b);
        }
        let hidden = blocks
            .into_iter()
            .zip(&specs)
            .map(|(values, spec)| HiddenLayer {
                is_weight: spec.iter().map(|p| p.is_weight).collect(),
                params: values
                    .into_iter()
                    .zip(spec)
                    .map(|(v, p)| {
                        Param::from_data(TensorData::new(v, [members, p.rows, p.cols]), device)
                    })
                    .collect(),
            })
            .collect();
        let output = EnsembleLinear::from_host(
            output_weight,
            output_bias,
            [members, self.width, self.output_dim],
            device,
        );
        Mlp {
            hidden,
            output,
            activation: activation.clone(),
            layer: layer.clone(),
        }
    }
}

/// An ensemble of independent networks of one architecture.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// The hidden layers, input side first.
    pub hidden: Vec<HiddenLayer<B>>,
    /// The linear output layer (no activation).
    pub output: EnsembleLinear<B>,
    /// The activation of every hidden layer.
    #[module(skip)]
    pub activation: ActivationSpec,
    /// The hidden layer type.
    #[module(skip)]
    pub layer: LayerSpec,
}

impl<B: Backend> Mlp<B> {
    /// Number of networks in the ensemble.
    pub fn members(&self) -> usize {
        self.output.weight.dims()[0]
    }

    /// Number of hidden layers `L`.
    pub fn depth(&self) -> usize {
        self.hidden.len()
    }

    /// Parameters of one member, counted from the module's own parameters.
    pub fn params_per_member(&self) -> usize {
        self.num_params() / self.members()
    }

    /// Every parameter, grouped by layer: the hidden layers input side
    /// first, then the output layer (weight, bias).
    pub fn param_groups(&self) -> Vec<Vec<&Param<Tensor<B, 3>>>> {
        let mut groups: Vec<Vec<&Param<Tensor<B, 3>>>> = self
            .hidden
            .iter()
            .map(|b| b.params.iter().collect())
            .collect();
        groups.push(vec![&self.output.weight, &self.output.bias]);
        groups
    }

    /// The same architecture with every parameter `[members, rows, cols]`
    /// replaced by `map(value)` as a fresh leaf parameter: `|θ|` for
    /// SynFlow, members repeated or narrowed for the proxies' passes.
    pub fn map_params(&self, map: impl Fn(Tensor<B, 3>) -> Tensor<B, 3>) -> Self {
        let fresh = |p: &Param<Tensor<B, 3>>| Param::from_tensor(map(p.val().detach()).detach());
        Self {
            hidden: self
                .hidden
                .iter()
                .map(|b| HiddenLayer {
                    params: b.params.iter().map(fresh).collect(),
                    is_weight: b.is_weight.clone(),
                })
                .collect(),
            output: EnsembleLinear {
                weight: fresh(&self.output.weight),
                bias: fresh(&self.output.bias),
            },
            activation: self.activation.clone(),
            layer: self.layer.clone(),
        }
    }

    /// The same networks on another backend (parameters copied through the
    /// host, converted to its float type).
    pub fn to_backend<B2: Backend>(&self, device: &B2::Device) -> Mlp<B2> {
        // The target's float type explicitly: the device's default dtype
        // may be another backend's (ndarray's CPU device serves f32 and f64).
        let options = || {
            TensorCreationOptions::<B2>::new(device.clone())
                .with_dtype(<B2::FloatElem as Element>::dtype())
        };
        let copy = |p: &Param<Tensor<B, 3>>| {
            Param::from_tensor(Tensor::from_data(
                p.val().into_data().convert::<B2::FloatElem>(),
                options(),
            ))
        };
        Mlp {
            hidden: self
                .hidden
                .iter()
                .map(|b| HiddenLayer {
                    params: b.params.iter().map(copy).collect(),
                    is_weight: b.is_weight.clone(),
                })
                .collect(),
            output: EnsembleLinear {
                weight: copy(&self.output.weight),
                bias: copy(&self.output.bias),
            },
            activation: self.activation.clone(),
            layer: self.layer.clone(),
        }
    }

    /// The same points for every member: `[points, d]` → `[members, points, d]`.
    pub fn broadcast_input(&self, points: Tensor<B, 2>) -> Tensor<B, 3> {
        let [n, d] = points.dims();
        points.unsqueeze::<3>().expand([self.members(), n, d])
    }
}

impl<B: SupportedBackend> Mlp<B> {
    /// # Shapes
    /// - input: `[members, points, d]`
    /// - output: `[members, points, k]`
    pub fn forward(&self, input: Tensor<B, 3>) -> Tensor<B, 3> {
        let mut activate = Activate::new(
            B::tensor_activation(self.activation.function.as_ref()),
            None,
        );
        let block = B::layer_forward(self.layer.function.as_ref());
        let hidden = self.hidden.iter().fold(input, |h, b| {
            block.forward_layer(&b.values(), h, &mut activate)
        });
        self.output.forward(hidden)
    }

    /// Like [`Mlp::forward`], showing every pre-activation to `observer`
    /// and keeping every hidden layer.s output.
    ///
    /// # Shapes
    /// - input: `[members, points, d]`
    /// - output: each block's output `[members, points, width]`, input side
    ///   first, and the network output `[members, points, k]`
    pub fn forward_observed(
        &self,
        input: Tensor<B, 3>,
        observer: &mut dyn PreActivationObserver<B>,
    ) -> (Vec<Tensor<B, 3>>, Tensor<B, 3>) {
        let mut activate = Activate::new(
            B::tensor_activation(self.activation.function.as_ref()),
            Some(observer),
        );
        let block = B::layer_forward(self.layer.function.as_ref());
        let mut hidden = Vec::with_capacity(self.depth());
        let mut h = input;
        for b in &self.hidden {
            h = block.forward_layer(&b.values(), h, &mut activate);
            hidden.push(h.clone());
        }
        (hidden, self.output.forward(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::registry::{ActivationRegistry, LayerRegistry};
    use burn::backend::NdArray;

    /// The fixed-budget width of a dense network, from METHOD §1's formula.
    fn width_for(budget: usize, depth: usize) -> Option<usize> {
        width_for_params(budget, |width| {
            dense_param_count(depth, width, INPUT_DIM, OUTPUT_DIM)
        })
    }

    fn dense() -> LayerSpec {
        LayerRegistry::builtin().get("dense").unwrap()
    }

    #[test]
    fn width_for_reproduces_the_method_examples() {
        assert_eq!(width_for(2000, 1), Some(500));
        assert_eq!(dense_param_count(1, 500, 2, 1), 2001);
        assert_eq!(width_for(2000, 8), Some(16));
        assert_eq!(dense_param_count(8, 16, 2, 1), 1969);
        assert_eq!(width_for(2000, 32), Some(7));
        assert_eq!(dense_param_count(32, 7, 2, 1), 1765);
    }

    #[test]
    fn width_for_breaks_ties_towards_the_smaller_width() {
        // depth 1: P = 4n + 1, so budget 7 sits between n=1 (5) and n=2 (9).
        assert_eq!(width_for(7, 1), Some(1));
        assert_eq!(width_for(8, 1), Some(2));
    }

    #[test]
    fn width_for_refuses_a_budget_below_one_unit() {
        // depth 8 with width 1 already has 2·8 + 3 = 19 parameters.
        assert_eq!(width_for(18, 8), None);
        assert_eq!(width_for(19, 8), Some(1));
        assert!(MlpConfig::for_budget(100, 0, "relu", &dense(), PLANE_DIMS).is_none());
    }

    #[test]
    fn param_count_of_the_module_equals_the_formula() {
        let registry = ActivationRegistry::builtin();
        let relu = registry.get("relu").unwrap();
        for (depth, width) in [(1, 500), (3, 9), (8, 16), (32, 7)] {
            let config = MlpConfig::new(depth, width, "relu".into());
            let model: Mlp<NdArray> = config.init(&relu, &dense(), &[1, 2, 3], &Default::default());
            assert_eq!(model.members(), 3);
            assert_eq!(
                model.params_per_member(),
                dense_param_count(depth, width, 2, 1)
            );
        }
    }

    #[test]
    fn scaled_init_has_the_method_variance() {
        // Every entry of W and b ~ N(0, g²/(fan_in + 1)): check the sample variance.
        let relu = ActivationRegistry::builtin().get("relu").unwrap();
        let config = MlpConfig::new(2, 64, "relu".into());
        let seeds: Vec<u64> = (0..20).collect();
        let model: Mlp<NdArray> = config.init(&relu, &dense(), &seeds, &Default::default());
        let layer = &model.hidden[1];
        let mut values = layer.params[0].val().into_data().to_vec::<f32>().unwrap();
        values.extend(layer.params[1].val().into_data().to_vec::<f32>().unwrap());
        let variance =
            values.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / values.len() as f64;
        let expected = 2.0 / 65.0;
        assert!(
            (variance / expected - 1.0).abs() < 0.03,
            "variance {variance} vs {expected}"
        );
    }

    #[test]
    fn scaled_init_of_the_first_layer_counts_the_bias_as_an_input() {
        // A 2 → n layer: every entry of W and b ~ N(0, g²/3), not He's g²/2
        // (with a zero bias) nor Xavier's g²·2/(2 + n).
        let relu = ActivationRegistry::builtin().get("relu").unwrap();
        let config = MlpConfig::new(1, 64, "relu".into());
        let seeds: Vec<u64> = (0..20).collect();
        let model: Mlp<NdArray> = config.init(&relu, &dense(), &seeds, &Default::default());
        let values = |p: usize| {
            model.hidden[0].params[p]
                .val()
                .into_data()
                .to_vec::<f32>()
                .unwrap()
        };
        let variance =
            |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len() as f64;
        let expected = 2.0 / 3.0;
        let (weights, biases) = (values(0), values(1));
        assert!(
            (variance(&weights) / expected - 1.0).abs() < 0.08,
            "weights: {} vs {expected}",
            variance(&weights)
        );
        assert!(
            (variance(&biases) / expected - 1.0).abs() < 0.12,
            "biases: {} vs {expected}",
            variance(&biases)
        );
    }

    #[test]
    fn members_are_the_networks_their_seeds_give_alone() {
        let abs = ActivationRegistry::builtin().get("abs").unwrap();
        let config = MlpConfig::new(3, 5, "abs".into());
        let device = Default::default();
        let ensemble: Mlp<NdArray> = config.init(&abs, &dense(), &[7, 11, 13], &device);
        let alone: Mlp<NdArray> = config.init(&abs, &dense(), &[11], &device);
        let member = ensemble.hidden[2].params[0].val().narrow(0, 1, 1);
        member
            .into_data()
            .assert_eq(&alone.hidden[2].params[0].val().into_data(), true);
    }

    fn params(name: &str, depth: usize, width: usize) -> usize {
        LayerRegistry::builtin()
            .get(name)
            .unwrap()
            .network_params(depth, width, INPUT_DIM, OUTPUT_DIM)
    }

    #[test]
    fn dense_params_follow_the_method_formula() {
        // P(L, n) = n(d+1) + (L-1)·n(n+1) + k(n+1)
        for (depth, width) in [(1, 500), (8, 16), (32, 7), (3, 1)] {
            let formula = width * 3 + (depth - 1) * width * (width + 1) + (width + 1);
            assert_eq!(
                params("dense", depth, width),
                formula,
                "depth {depth} width {width}"
            );
        }
    }

    #[test]
    fn the_budget_counts_the_problems_inputs_and_outputs() {
        // d = 64, k = 10, P* = 5000, L = 2: P(n) = 65n + n(n+1) + 10(n+1),
        // so P(41) = 4,807, P(42) = 4,966, P(43) = 5,127: 42 is closest.
        let config = MlpConfig::for_budget(5000, 2, "relu", &dense(), [64, 10]).unwrap();
        assert_eq!(
            (config.width, config.input_dim, config.output_dim),
            (42, 64, 10)
        );
        assert_eq!(config.params(&dense()), 4966);
        // The same budget on the plane is a wider network.
        let plane = MlpConfig::for_budget(5000, 2, "relu", &dense(), PLANE_DIMS).unwrap();
        assert!(plane.width > 42 && plane.input_dim == 2 && plane.output_dim == 1);
    }

    #[test]
    fn residual_blocks_hold_two_dense_layers_after_the_first() {
        // first block dense: 3n; then (L-1) blocks of 2·n(n+1); output n+1.
        assert_eq!(params("residual", 1, 10), 30 + 11);
        assert_eq!(params("residual", 4, 10), 30 + 3 * 2 * 110 + 11);
    }

    #[test]
    fn layernorm_dense_adds_a_gain_and_shift_per_unit() {
        assert_eq!(params("layernorm-dense", 1, 10), 30 + 20 + 11);
        assert_eq!(params("layernorm-dense", 3, 10), 30 + 2 * 110 + 3 * 20 + 11);
    }

    #[test]
    fn numeric_width_solving_reproduces_the_dense_examples() {
        let dense = LayerRegistry::builtin().get("dense").unwrap();
        let width = |budget, depth| {
            width_for_params(budget, |n| {
                dense.network_params(depth, n, INPUT_DIM, OUTPUT_DIM)
            })
        };
        assert_eq!(width(2000, 1), Some(500));
        assert_eq!(width(2000, 8), Some(16));
        assert_eq!(width(2000, 32), Some(7));
        // Every shipped layer type fits the budget to within one width step.
        for name in ["residual", "layernorm-dense"] {
            let layer = LayerRegistry::builtin().get(name).unwrap();
            for depth in [1, 8, 64] {
                let count = |n| layer.network_params(depth, n, INPUT_DIM, OUTPUT_DIM);
                let n = width_for_params(2000, count).unwrap();
                assert!(
                    count(n).abs_diff(2000) <= count(n + 1).abs_diff(2000),
                    "{name} depth {depth}"
                );
                assert!(
                    n == 1 || count(n).abs_diff(2000) <= count(n - 1).abs_diff(2000),
                    "{name} depth {depth}"
                );
            }
        }
    }

    #[test]
    fn unknown_layer_names_the_allowed_ones() {
        let error = LayerRegistry::builtin()
            .get("conv")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "unknown layer 'conv' (allowed: dense, residual, layernorm-dense)"
        );
    }
}
