//! Hidden layers: the extension point for layer types.
//!
//! A network is `input → layer₁ → … → layer_L → linear output`. A layer
//! type (a dense layer, a residual block, a normalised layer) says which
//! parameters it has (so the fixed-budget sizing can count them), how to
//! draw them on the host (so the same seed gives the same network on every
//! backend), and its forward pass over an ensemble. Its forward calls
//! [`Activate::apply`] wherever it applies σ, which is how the measures see
//! its pre-activations without the layer knowing about them.
//!
//! To add a layer type: write a struct, implement [`Layer`] for it, and list
//! it in [`LayerRegistry::builtin`] — or, from outside the library, pass it
//! to [`LayerRegistry::register`] (see `examples/custom_extension.rs` and
//! `docs/extending.md`).
//!
//! [`LayerRegistry::builtin`]: crate::nn::LayerRegistry::builtin
//! [`LayerRegistry::register`]: crate::nn::LayerRegistry::register

use std::fmt;

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use rand_pcg::Pcg64Mcg;

use super::activation::TensorActivation;
use super::init::Init;
use super::kernels::{fast_affine, FastAffine, KernelBackend};

/// The shape of one parameter of a layer, for one network: `[rows, cols]`.
/// In an ensemble the parameter is `[members, rows, cols]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// Rows: the fan-in of a weight matrix, 1 for a per-unit vector.
    pub rows: usize,
    /// Columns: the units the parameter feeds.
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

    /// Entries of the parameter for one network.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether the parameter has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a layer's host initialisation may use: the network's init scheme,
/// the activation's gain, the network depth and its seeded generator.
///
/// A network's parameters are drawn on the host, in one sequence from one
/// generator seeded by the network seed: layer 1's parameters in the order
/// its [`Layer::params`] lists them, then layer 2's, …, then the output
/// layer's. That is what makes the same seed give the same network on every
/// backend. A layer may draw from [`HostInit::rng`] directly, in any fixed
/// order of its own; what it must not do is draw a number of values that
/// depends on anything but its arguments (`fan_in`, `width`, the fields
/// here), or every later layer's draws would shift.
pub struct HostInit<'a> {
    /// The init scheme of the run (METHOD §2).
    pub init: Init,
    /// The activation's gain `g` (METHOD §2).
    pub gain: f64,
    /// Number of hidden layers in the network.
    pub depth: usize,
    /// The network's generator, shared by all its layers in turn.
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
/// This is how a measure looks inside any layer type without the layer (or
/// this room) knowing about measures: the measure room implements it (e.g.
/// counting active units) and hands it to `Mlp::forward_observed`.
pub trait PreActivationObserver<B: Backend> {
    /// `z`: `[members, points, units]`.
    fn observe(&mut self, z: &Tensor<B, 3>);
}

/// Applies σ inside a layer, showing each pre-activation to the observer
/// (if any) first. A layer type receives one and calls [`Activate::apply`]
/// wherever it applies σ.
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

/// A hidden layer type: a dense layer, a residual block, a normalised layer.
///
/// The tensor method is generic over the backend and so is not callable
/// through `dyn`; the library reaches it through [`LayerForward`], which
/// every `Layer` implements automatically. It may use Burn's tensor ops and
/// the kernels of [`KernelBackend`] (such as [`affine`]).
///
/// # Example
///
/// A dense layer without a bias, `σ(h·W)`, registered and sized:
///
/// ```
/// use burn::tensor::Tensor;
/// use variability::nn::{Activate, HostInit, KernelBackend, Layer, ParamSpec, Registry};
///
/// #[derive(Debug)]
/// struct NoBias;
///
/// impl Layer for NoBias {
///     fn name(&self) -> &str {
///         "no-bias"
///     }
///     fn params(&self, fan_in: usize, width: usize) -> Vec<ParamSpec> {
///         vec![ParamSpec::weight(fan_in, width)]
///     }
///     fn init(&self, fan_in: usize, width: usize, host: &mut HostInit) -> Vec<Vec<f32>> {
///         let (weight, _bias) = host.dense(fan_in, width, 1.0);
///         vec![weight]
///     }
///     fn forward<B: KernelBackend>(
///         &self,
///         params: &[Tensor<B, 3>],
///         input: Tensor<B, 3>,
///         activate: &mut Activate<B>,
///     ) -> Tensor<B, 3> {
///         activate.apply(input.matmul(params[0].clone()))
///     }
/// }
///
/// let registry = Registry::builtin().with_layer(NoBias);
/// let layer = registry.layers.get("no-bias").unwrap();
/// // Depth 2, width 10, 2 inputs, 1 output: 2·10 + 10·10 + the output's 11.
/// assert_eq!(layer.network_params(2, 10, 2, 1), 20 + 100 + 11);
/// ```
pub trait Layer: fmt::Debug + Send + Sync + 'static {
    /// The name used on the command line (`--layer`) and in results.
    fn name(&self) -> &str;

    /// The parameters of one layer taking `fan_in` inputs to `width` units,
    /// in the order [`Layer::init`] returns and [`Layer::forward`] receives
    /// them. The fixed-budget sizing counts these.
    fn params(&self, fan_in: usize, width: usize) -> Vec<ParamSpec>;

    /// Draws the parameters of one network's layer on the host, in the
    /// order of [`Layer::params`], each row-major (see [`HostInit`] for what
    /// keeps the draws identical on every backend).
    fn init(&self, fan_in: usize, width: usize, host: &mut HostInit) -> Vec<Vec<f32>>;

    /// The layer over an ensemble: `input` is `[members, points, fan_in]`,
    /// `params[i]` is `[members, rows, cols]`; returns `[members, points, width]`.
    fn forward<B: KernelBackend>(
        &self,
        params: &[Tensor<B, 3>],
        input: Tensor<B, 3>,
        activate: &mut Activate<B>,
    ) -> Tensor<B, 3>
    where
        Self: Sized;

    /// Whether this layer is exactly the shipped dense layer, `σ(h·W + b)`
    /// with the parameters `[W, b]`: networks of it may then train and be
    /// measured through the CPU's passes on host vectors (`nn/stack.rs`).
    /// `false`, the default, goes through Burn's ops and autodiff, as every
    /// layer type can.
    fn is_dense(&self) -> bool {
        false
    }
}

/// The forward pass of a layer type on one backend, callable through `dyn`.
///
/// Implemented for every [`Layer`]; an extension never implements it. The
/// networks call it for each hidden layer, on whichever backend they run.
pub trait LayerForward<B: Backend>: Send + Sync {
    /// [`Layer::forward`] on backend `B`.
    fn forward_layer(
        &self,
        params: &[Tensor<B, 3>],
        input: Tensor<B, 3>,
        activate: &mut Activate<B>,
    ) -> Tensor<B, 3>;
}

impl<B: KernelBackend, L: Layer> LayerForward<B> for L {
    fn forward_layer(
        &self,
        params: &[Tensor<B, 3>],
        input: Tensor<B, 3>,
        activate: &mut Activate<B>,
    ) -> Tensor<B, 3> {
        self.forward(params, input, activate)
    }
}

// ---------------------------------------------------------------------------
// The shipped layer types.

/// `h·W + b` per member: `input` `[members, points, d_in]`, `weight`
/// `[members, d_in, d_out]`, `bias` `[members, 1, d_out]`. One operation
/// with its own backward pass ([`FastAffine`]), which every dense layer of
/// the shipped layer types uses, and a custom one can.
pub fn affine<B: FastAffine>(
    input: Tensor<B, 3>,
    weight: &Tensor<B, 3>,
    bias: &Tensor<B, 3>,
) -> Tensor<B, 3> {
    fast_affine(input, weight, bias)
}

/// The layer type of a network, a record or a study file that names none.
pub const DEFAULT_LAYER: &str = "dense";

/// `σ(h·W + b)`: the dense layer of METHOD §1.
#[derive(Debug, Clone, Copy)]
pub struct Dense;

impl Layer for Dense {
    fn name(&self) -> &str {
        DEFAULT_LAYER
    }

    fn params(&self, fan_in: usize, width: usize) -> Vec<ParamSpec> {
        vec![ParamSpec::weight(fan_in, width), ParamSpec::vector(width)]
    }

    fn init(&self, fan_in: usize, width: usize, host: &mut HostInit) -> Vec<Vec<f32>> {
        let (weight, bias) = host.dense(fan_in, width, 1.0);
        vec![weight, bias]
    }

    fn forward<B: KernelBackend>(
        &self,
        params: &[Tensor<B, 3>],
        input: Tensor<B, 3>,
        activate: &mut Activate<B>,
    ) -> Tensor<B, 3> {
        activate.apply(affine(input, &params[0], &params[1]))
    }

    fn is_dense(&self) -> bool {
        true
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

    fn forward<B: KernelBackend>(
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

    fn forward<B: KernelBackend>(
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
