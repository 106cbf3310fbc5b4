//! Hidden blocks: the extension point for layer types.
//!
//! A network is `input → block₁ → … → block_L → linear output`. A block type
//! says which parameters it has (so the fixed-budget sizing can count them),
//! how to draw them on the host (so the same seed gives the same network on
//! every backend), and its forward pass over an ensemble. Its forward calls
//! [`Activate::apply`] wherever it applies σ, which is how the measures see
//! its pre-activations without the block knowing about them.
//!
//! To add a block type: write a struct, implement [`Layer`] for it, and list
//! it in [`LayerRegistry::builtin`] — or, from outside the library, pass it
//! to [`LayerRegistry::register`] (see `examples/custom_extension.rs`).

use std::fmt;
use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use rand_pcg::Pcg64Mcg;

use super::activation::TensorActivation;
use super::affine::fast_affine;
#[cfg(doc)]
use super::affine::FastAffine;
use super::backend::{AnyLayer, SupportedBackend};
use super::init::Init;

/// The shape of one parameter of a block, for one network: `[rows, cols]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    pub rows: usize,
    pub cols: usize,
    /// Whether the gradient profile counts it as a weight (METHOD §3: the
    /// gradient norm "with respect to each layer's weights").
    pub is_weight: bool,
}

impl ParamSpec {
    /// A weight matrix `[fan_in, fan_out]` (`y = x·W`).
    pub fn weight(fan_in: usize, fan_out: usize) -> Self {
        Self {
            rows: fan_in,
            cols: fan_out,
            is_weight: true,
        }
    }

    /// A per-unit vector (bias, gain, shift): `[1, units]`.
    pub fn vector(units: usize) -> Self {
        Self {
            rows: 1,
            cols: units,
            is_weight: false,
        }
    }

    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a block's host initialisation may use: the network's init scheme,
/// the activation's gain, the network depth and its seeded generator.
pub struct HostInit<'a> {
    pub init: Init,
    /// The activation's gain `g` (METHOD §2).
    pub gain: f64,
    /// Number of blocks in the network.
    pub depth: usize,
    pub rng: &'a mut Pcg64Mcg,
}

impl HostInit<'_> {
    /// A dense layer's weights `[fan_in, fan_out]` and bias `[fan_out]`,
    /// drawn by the init scheme with gain `g · scale`.
    pub fn dense(&mut self, fan_in: usize, fan_out: usize, scale: f64) -> (Vec<f32>, Vec<f32>) {
        self.init
            .sample_layer(self.rng, fan_in, fan_out, self.gain * scale)
    }
}

/// Sees every pre-activation `z` of a forward pass, just before σ is applied.
///
/// This is how a measure looks inside any block type without the block (or
/// this room) knowing about measures: the measure room implements it (e.g.
/// counting active units) and hands it to `Mlp::forward_observed`.
pub trait PreActivationObserver<B: Backend> {
    /// `z`: `[members, points, units]`.
    fn observe(&mut self, z: &Tensor<B, 3>);
}

/// Applies σ inside a block, showing each pre-activation to the observer
/// (if any) first.
pub struct Activate<'a, B: Backend> {
    sigma: &'a dyn TensorActivation<B>,
    observer: Option<&'a mut dyn PreActivationObserver<B>>,
}

impl<'a, B: Backend> Activate<'a, B> {
    pub(crate) fn new(
        sigma: &'a dyn TensorActivation<B>,
        observer: Option<&'a mut dyn PreActivationObserver<B>>,
    ) -> Self {
        Self { sigma, observer }
    }

    /// σ(z), element-wise. `z`: `[members, points, units]`.
    pub fn apply(&mut self, z: Tensor<B, 3>) -> Tensor<B, 3> {
        if let Some(observer) = self.observer.as_mut() {
            observer.observe(&z);
        }
        self.sigma.apply(z)
    }
}

/// A hidden block type.
///
/// The tensor method is generic over the backend and so is not callable
/// through `dyn`; the library reaches it through [`LayerForward`], which
/// every `Layer` implements automatically.
pub trait Layer: fmt::Debug + Send + Sync + 'static {
    /// The name used on the command line (`--layer`) and in results.
    fn name(&self) -> &str;

    /// The parameters of one block taking `fan_in` inputs to `width` units,
    /// in the order [`Layer::init`] returns and [`Layer::forward`] receives
    /// them. The fixed-budget sizing counts these.
    fn params(&self, fan_in: usize, width: usize) -> Vec<ParamSpec>;

    /// Draws the parameters of one network's block on the host, in the order
    /// of [`Layer::params`], each row-major.
    fn init(&self, fan_in: usize, width: usize, host: &mut HostInit) -> Vec<Vec<f32>>;

    /// The block over an ensemble: `input` is `[members, points, fan_in]`,
    /// `params[i]` is `[members, rows, cols]`; returns `[members, points, width]`.
    fn forward<B: SupportedBackend>(
        &self,
        params: &[Tensor<B, 3>],
        input: Tensor<B, 3>,
        activate: &mut Activate<B>,
    ) -> Tensor<B, 3>
    where
        Self: Sized;
}

/// The forward pass of a block type on one backend, callable through `dyn`.
pub trait LayerForward<B: Backend>: Send + Sync {
    fn forward_block(
        &self,
        params: &[Tensor<B, 3>],
        input: Tensor<B, 3>,
        activate: &mut Activate<B>,
    ) -> Tensor<B, 3>;
}

impl<B: SupportedBackend, L: Layer> LayerForward<B> for L {
    fn forward_block(
        &self,
        params: &[Tensor<B, 3>],
        input: Tensor<B, 3>,
        activate: &mut Activate<B>,
    ) -> Tensor<B, 3> {
        self.forward(params, input, activate)
    }
}

/// A registered block type, ready to build networks with.
#[derive(Clone)]
pub struct LayerSpec {
    pub function: Arc<dyn AnyLayer>,
}

impl LayerSpec {
    pub fn name(&self) -> &str {
        self.function.name()
    }

    /// Parameters of one network of `depth` blocks of `width` units, with
    /// the linear output layer, counted from the block's own parameters.
    pub fn network_params(
        &self,
        depth: usize,
        width: usize,
        input_dim: usize,
        output_dim: usize,
    ) -> usize {
        let block = |fan_in| {
            self.function
                .params(fan_in, width)
                .iter()
                .map(ParamSpec::len)
                .sum::<usize>()
        };
        let hidden = if depth == 0 {
            0
        } else {
            block(input_dim) + (depth - 1) * block(width)
        };
        hidden + output_dim * (width + 1)
    }
}

impl fmt::Debug for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerSpec")
            .field("name", &self.name())
            .finish()
    }
}

/// The block types the tool knows by name.
#[derive(Clone)]
pub struct LayerRegistry {
    entries: Vec<Arc<dyn AnyLayer>>,
}

/// A name that no registered block type has.
#[derive(Debug, thiserror::Error)]
#[error("unknown layer '{name}' (allowed: {allowed})")]
pub struct UnknownLayer {
    pub name: String,
    pub allowed: String,
}

impl LayerRegistry {
    /// The block types shipped with the library.
    pub fn builtin() -> Self {
        let mut registry = Self {
            entries: Vec::new(),
        };
        registry
            .register(Dense)
            .register(Residual)
            .register(LayerNormDense);
        registry
    }

    /// Adds a block type; one with the same name is replaced.
    pub fn register(&mut self, layer: impl Layer) -> &mut Self {
        self.entries.retain(|entry| entry.name() != layer.name());
        self.entries.push(Arc::new(layer));
        self
    }

    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|entry| entry.name()).collect()
    }

    pub fn get(&self, name: &str) -> Result<LayerSpec, UnknownLayer> {
        self.entries
            .iter()
            .find(|entry| entry.name() == name)
            .map(|function| LayerSpec {
                function: function.clone(),
            })
            .ok_or_else(|| UnknownLayer {
                name: name.to_string(),
                allowed: self.names().join(", "),
            })
    }
}

impl Default for LayerRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

// ---------------------------------------------------------------------------
// The shipped block types.

/// `h·W + b` per member: `input` `[members, points, d_in]`, `weight`
/// `[members, d_in, d_out]`, `bias` `[members, 1, d_out]`. One operation
/// with its own backward pass ([`FastAffine`]), which every dense layer of
/// the shipped blocks uses, and a custom block can.
pub fn affine<B: SupportedBackend>(
    input: Tensor<B, 3>,
    weight: &Tensor<B, 3>,
    bias: &Tensor<B, 3>,
) -> Tensor<B, 3> {
    fast_affine(input, weight, bias)
}

/// `σ(h·W + b)`: the dense layer of METHOD §1.
#[derive(Debug, Clone, Copy)]
pub struct Dense;

impl Layer for Dense {
    fn name(&self) -> &str {
        "dense"
    }

    fn params(&self, fan_in: usize, width: usize) -> Vec<ParamSpec> {
        vec![ParamSpec::weight(fan_in, width), ParamSpec::vector(width)]
    }

    fn init(&self, fan_in: usize, width: usize, host: &mut HostInit) -> Vec<Vec<f32>> {
        let (weight, bias) = host.dense(fan_in, width, 1.0);
        vec![weight, bias]
    }

    fn forward<B: SupportedBackend>(
        &self,
        params: &[Tensor<B, 3>],
        input: Tensor<B, 3>,
        activate: &mut Activate<B>,
    ) -> Tensor<B, 3> {
        activate.apply(affine(input, &params[0], &params[1]))
    }
}

/// `h + W₂σ(W₁h + b₁) + b₂`: two dense layers with an identity skip.
///
/// The branch's second layer is drawn with gain `g/√L` (`L` blocks) instead
/// of `g`. Each block adds about `1/L` of the signal's variance, so the
/// variance at the top stays within `(1 + 1/L)^L < e` of the input's at any
/// depth, instead of doubling per block. The forward pass itself is the
/// plain formula, so training sees an ordinary residual network.
///
/// The first block maps the input (2 coordinates) to `width` units, where
/// an identity skip has no meaning; it is a dense layer there.
#[derive(Debug, Clone, Copy)]
pub struct Residual;

impl Layer for Residual {
    fn name(&self) -> &str {
        "residual"
    }

    fn params(&self, fan_in: usize, width: usize) -> Vec<ParamSpec> {
        if fan_in != width {
            return Dense.params(fan_in, width);
        }
        vec![
            ParamSpec::weight(width, width),
            ParamSpec::vector(width),
            ParamSpec::weight(width, width),
            ParamSpec::vector(width),
        ]
    }

    fn init(&self, fan_in: usize, width: usize, host: &mut HostInit) -> Vec<Vec<f32>> {
        if fan_in != width {
            return Dense.init(fan_in, width, host);
        }
        let (w1, b1) = host.dense(width, width, 1.0);
        let (w2, b2) = host.dense(width, width, 1.0 / (host.depth as f64).sqrt());
        vec![w1, b1, w2, b2]
    }

    fn forward<B: SupportedBackend>(
        &self,
        params: &[Tensor<B, 3>],
        input: Tensor<B, 3>,
        activate: &mut Activate<B>,
    ) -> Tensor<B, 3> {
        if params.len() == 2 {
            return Dense.forward(params, input, activate);
        }
        let inner = activate.apply(affine(input.clone(), &params[0], &params[1]));
        input + affine(inner, &params[2], &params[3])
    }
}

/// `σ(LayerNorm(h·W + b))`: a dense layer whose pre-activations are
/// normalised over the units (mean 0, variance 1, then a learned gain
/// `γ`, initially 1, and shift `β`, initially 0) before σ.
#[derive(Debug, Clone, Copy)]
pub struct LayerNormDense;

/// Added to the variance before dividing, as in PyTorch's `LayerNorm`.
const LAYER_NORM_EPSILON: f64 = 1e-5;

impl Layer for LayerNormDense {
    fn name(&self) -> &str {
        "layernorm-dense"
    }

    fn params(&self, fan_in: usize, width: usize) -> Vec<ParamSpec> {
        let mut params = Dense.params(fan_in, width);
        params.extend([ParamSpec::vector(width), ParamSpec::vector(width)]);
        params
    }

    fn init(&self, fan_in: usize, width: usize, host: &mut HostInit) -> Vec<Vec<f32>> {
        let mut params = Dense.init(fan_in, width, host);
        params.extend([vec![1.0; width], vec![0.0; width]]);
        params
    }

    fn forward<B: SupportedBackend>(
        &self,
        params: &[Tensor<B, 3>],
        input: Tensor<B, 3>,
        activate: &mut Activate<B>,
    ) -> Tensor<B, 3> {
        let z = affine(input, &params[0], &params[1]);
        let centred = z.clone() - z.mean_dim(2);
        let variance = centred.clone().square().mean_dim(2);
        let normalised = centred / (variance + LAYER_NORM_EPSILON).sqrt();
        activate.apply(normalised * params[2].clone() + params[3].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::mlp::{width_for_params, INPUT_DIM, OUTPUT_DIM};

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
        // Every shipped block fits the budget to within one width step.
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
