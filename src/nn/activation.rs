//! Activation functions (METHOD §2–§3).
//!
//! An activation supplies its function and derivative twice: as plain `f64`
//! functions on the host, and as tensor functions for the networks. Its
//! **gain** `g = 1/sqrt(E[σ(z)²])` and its **active-unit threshold**
//! (`|σ'(z)| >= ½·sup|σ'|`) are then computed numerically, never typed in.
//!
//! To add an activation: write a unit struct, implement [`Activation`] for
//! it, and list it in [`ActivationRegistry::builtin`] — or, from outside the
//! library, pass it to [`ActivationRegistry::register`].
//!
//! [`ActivationRegistry::builtin`]: crate::nn::ActivationRegistry::builtin
//! [`ActivationRegistry::register`]: crate::nn::ActivationRegistry::register

use std::f64::consts::PI;
use std::fmt;

use burn::tensor::activation as act;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::kernels::moments::count_at_least;
use super::kernels::simd::simd_dispatch;
use super::kernels::{fast_tanh, tanh_f32, KernelBackend};

/// An activation function σ.
///
/// The tensor methods are generic over the backend and so are not callable
/// through `dyn`; the library reaches them through [`TensorActivation`],
/// which every `Activation` implements automatically. They may use Burn's
/// tensor ops and the kernels of [`KernelBackend`] (such as
/// [`crate::nn::kernels::fast_tanh`]).
///
/// # Example
///
/// `σ(z) = z²`, registered; the library computes its gain from the host
/// function:
///
/// ```
/// use burn::tensor::Tensor;
/// use variability::nn::{Activation, KernelBackend, Registry};
///
/// #[derive(Debug)]
/// struct Square;
///
/// impl Activation for Square {
///     fn name(&self) -> &str {
///         "square"
///     }
///     fn value(&self, z: f64) -> f64 {
///         z * z
///     }
///     fn derivative(&self, z: f64) -> f64 {
///         2.0 * z
///     }
///     fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
///         z.clone() * z
///     }
///     fn derivative_tensor<B: KernelBackend, const D: usize>(
///         &self,
///         z: Tensor<B, D>,
///     ) -> Tensor<B, D> {
///         z * 2.0
///     }
/// }
///
/// let registry = Registry::builtin().with_activation(Square);
/// let square = registry.activations.get("square").unwrap();
/// // E[z⁴] = 3 for z ~ N(0, 1): the gain 1/sqrt(E[σ(z)²]) is 1/√3.
/// assert!((square.gain - 1.0 / 3f64.sqrt()).abs() < 1e-9);
/// ```
pub trait Activation: fmt::Debug + Send + Sync + 'static {
    /// The name used on the command line and in results (with its
    /// parameters, for a parametric activation: `shifted-relu:0.5`).
    fn name(&self) -> &str;
    /// The label a network's seed derives from (METHOD §5): the name, unless
    /// the activation deliberately shares another's random weights (the
    /// relu family does: along a sweep of its parameter, only σ changes).
    fn seed_label(&self) -> &str {
        self.name()
    }
    /// σ(z) on the host.
    fn value(&self, z: f64) -> f64;
    /// σ'(z) on the host.
    fn derivative(&self, z: f64) -> f64;
    /// σ applied element-wise to a tensor.
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D>
    where
        Self: Sized;
    /// σ' applied element-wise to a tensor (used for the active-unit rule).
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D>
    where
        Self: Sized;
    /// `E[σ(u)·σ(v)]` for `(u, v)` jointly Gaussian with mean 0, variances
    /// `a` and `b` and covariance `c`, in closed form where one is known.
    /// The theory (METHOD §8) uses it; `None`, the default, has the theory
    /// integrate numerically, piece by piece between [`Activation::kinks`].
    fn gaussian_product(&self, a: f64, b: f64, c: f64) -> Option<f64> {
        let _ = (a, b, c);
        None
    }
    /// `E[σ′(u)·σ′(v)]` for the same pair, in closed form where one is known.
    fn gaussian_slope_product(&self, a: f64, b: f64, c: f64) -> Option<f64> {
        let _ = (a, b, c);
        None
    }
    /// The points where σ or σ′ is not smooth (a kink, a jump): the
    /// theory's quadrature splits its integrals there, because a kink inside
    /// one piece of a Gaussian quadrature costs most of its accuracy. Empty,
    /// the default, for a smooth σ.
    fn kinks(&self) -> Vec<f64> {
        Vec::new()
    }
    /// σ on `f32` slices, where this activation has them: a dense network
    /// with it then trains and is measured through the CPU's passes on host
    /// vectors (`nn/stack.rs`) instead of Burn's ops and autodiff. `None`,
    /// the default, goes through Burn's, as every activation can.
    fn slices(&self) -> Option<&dyn SliceActivation> {
        None
    }
}

/// σ and the gradient through it on `f32` slices: what the CPU's passes on
/// host vectors run (`nn/stack.rs`). Both must compute what the
/// tensor forms compute on Flex — [`Activation::forward`], and the gradient
/// Burn's autodiff takes through it — in `f32`, operation for operation:
/// the trainer's tests train the shipped activations both ways and compare
/// the records bit for bit.
pub trait SliceActivation: Send + Sync {
    /// `h = σ(z)`, element by element.
    fn apply_slice(&self, z: &[f32], h: &mut [f32]);
    /// `grad ← grad·σ′(z)`, element by element, given `h = σ(z)`.
    fn backward_slice(&self, z: &[f32], h: &[f32], grad: &mut [f32]);
    /// How many values have `|σ′(z)| ≥ threshold`, given `h = σ(z)`: the
    /// active count of METHOD §3, σ′ as [`Activation::derivative_tensor`]
    /// computes it on the tensor path. The default takes σ′ from
    /// [`SliceActivation::backward_slice`] on a gradient of ones, which may
    /// differ from it at a kink (leaky relu's backward pass takes slope 1
    /// at 0, its derivative α); the shipped activations count in one pass
    /// (`count_slopes`) with their tensor form's σ′, which their tests
    /// check against it.
    fn count_active(&self, z: &[f32], h: &[f32], threshold: f32) -> u32 {
        let mut slopes = vec![1.0; z.len()];
        self.backward_slice(z, h, &mut slopes);
        count_at_least(&slopes, threshold)
    }
}

/// `h = σ(z)` for a σ given per element, compiled for the widest vector
/// unit the CPU has.
fn map_slice(z: &[f32], h: &mut [f32], sigma: impl Fn(f32) -> f32) {
    simd_dispatch!(for (h, &z) in h.iter_mut().zip(z) {
        *h = sigma(z)
    });
}

/// `grad ← grad·slope` for a slope given per element from `(z, σ(z))`.
fn scale_slice(z: &[f32], h: &[f32], grad: &mut [f32], slope: impl Fn(f32, f32) -> f32) {
    simd_dispatch!(for ((g, &z), &h) in grad.iter_mut().zip(z).zip(h) {
        *g *= slope(z, h)
    });
}

/// How many values have `|slope(z, σ(z))| ≥ threshold`: the active count
/// of an activation whose slope is given per element, in one pass.
fn count_slopes(z: &[f32], h: &[f32], threshold: f32, slope: impl Fn(f32, f32) -> f32) -> u32 {
    simd_dispatch!({
        let mut count = 0u32;
        for (&z, &h) in z.iter().zip(h) {
            count += u32::from(slope(z, h).abs() >= threshold);
        }
        count
    })
}

/// Relu's slope, from its output: Burn's relu passes the gradient where
/// the output is positive (so does the shifted relu's).
fn positive_slope(_z: f32, h: f32) -> f32 {
    if h > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// `sign(z)` (0 at 0): the slope of Burn's `abs`.
fn sign_slope(z: f32, _h: f32) -> f32 {
    if z > 0.0 {
        1.0
    } else if z < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Leaky relu's slope: `α` below 0, 1 from 0 on.
fn leaky_slope(z: f32, _h: f32) -> f32 {
    if z < 0.0 {
        LEAKY_SLOPE as f32
    } else {
        1.0
    }
}

/// `1 − h²`, from the output, as Flex's backward pass of tanh.
fn tanh_slope(_z: f32, h: f32) -> f32 {
    1.0 - h * h
}

/// The arc-cosine kernel of degree 1 (Cho & Saul 2009, "Kernel methods
/// for deep learning", NeurIPS): `E[relu(u)·relu(v)] = √(ab)/(2π)·(sin θ +
/// (π − θ)·cos θ)` with `cos θ = c/√(ab)`, for `(u, v)` jointly Gaussian with
/// variances `a`, `b` and covariance `c`.
pub fn relu_gaussian_product(a: f64, b: f64, c: f64) -> f64 {
    let (scale, theta) = gaussian_angle(a, b, c);
    scale / (2.0 * PI) * (theta.sin() + (PI - theta) * theta.cos())
}

/// The arc-cosine kernel of degree 0: `E[1{u>0}·1{v>0}] = (π − θ)/(2π)`,
/// the probability that both are positive.
pub fn step_gaussian_product(a: f64, b: f64, c: f64) -> f64 {
    let (_, theta) = gaussian_angle(a, b, c);
    (PI - theta) / (2.0 * PI)
}

/// `(√(ab), θ)` with `cos θ = c/√(ab)` (θ = π/2 where a variance is 0).
fn gaussian_angle(a: f64, b: f64, c: f64) -> (f64, f64) {
    let scale = (a.max(0.0) * b.max(0.0)).sqrt();
    let cosine = if scale > 0.0 {
        (c / scale).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    (scale, cosine.acos())
}

/// The tensor forms of an activation on one backend, callable through `dyn`.
///
/// Implemented for every [`Activation`]; an extension never implements it.
pub trait TensorActivation<B: Backend>: Send + Sync {
    /// σ(z). Shape: any `[members, points, units]`.
    fn apply(&self, z: Tensor<B, 3>) -> Tensor<B, 3>;
    /// σ'(z), same shape.
    fn slope(&self, z: Tensor<B, 3>) -> Tensor<B, 3>;
}

impl<B: KernelBackend, A: Activation> TensorActivation<B> for A {
    fn apply(&self, z: Tensor<B, 3>) -> Tensor<B, 3> {
        self.forward(z)
    }
    fn slope(&self, z: Tensor<B, 3>) -> Tensor<B, 3> {
        self.derivative_tensor(z)
    }
}

// ---------------------------------------------------------------------------
// Numerics: the gain by Gauss–Hermite quadrature, sup|σ'| by a fine scan.

/// Number of Gauss–Hermite nodes: exact for polynomials of degree < 2·160,
/// and accurate to ~1e-6 for the kinked activations (relu is exact anyway,
/// by symmetry of the nodes).
const HERMITE_NODES: usize = 160;

/// Nodes and weights of `n`-point Gauss–Legendre quadrature on `[−1, 1]`
/// (Newton's method on the Legendre recurrence from the classic cosine
/// guesses), exact for polynomials of degree below `2n`.
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut nodes, mut weights) = (vec![0.0; n], vec![0.0; n]);
    let nf = n as f64;
    for i in 0..n.div_ceil(2) {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        let mut derivative = 0.0;
        for _ in 0..100 {
            // P_n(x) and P_{n−1}(x) by the three-term recurrence.
            let (mut p, mut previous) = (1.0, 0.0);
            for k in 1..=n {
                let kf = k as f64;
                (p, previous) = (((2.0 * kf - 1.0) * x * p - (kf - 1.0) * previous) / kf, p);
            }
            derivative = nf * (x * p - previous) / (x * x - 1.0);
            let step = p / derivative;
            x -= step;
            if step.abs() < 1e-15 {
                break;
            }
        }
        let weight = 2.0 / ((1.0 - x * x) * derivative * derivative);
        (nodes[i], nodes[n - 1 - i]) = (x, -x);
        (weights[i], weights[n - 1 - i]) = (weight, weight);
    }
    (nodes, weights)
}

/// Nodes and weights of Gauss–Hermite quadrature for the weight `exp(-x²)`
/// (Newton's method on the orthonormal Hermite recurrence, with the classic
/// asymptotic starting guesses).
pub fn gauss_hermite(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    let pi_to_minus_quarter = std::f64::consts::PI.powf(-0.25);
    let nf = n as f64;
    let mut z = 0.0_f64;
    for i in 0..n.div_ceil(2) {
        z = match i {
            0 => (2.0 * nf + 1.0).sqrt() - 1.85575 * (2.0 * nf + 1.0).powf(-1.0 / 6.0),
            1 => z - 1.14 * nf.powf(0.426) / z,
            2 => 1.86 * z - 0.86 * nodes[0],
            3 => 1.91 * z - 0.91 * nodes[1],
            _ => 2.0 * z - nodes[i - 2],
        };
        let mut derivative = 0.0;
        for _ in 0..100 {
            // Orthonormal Hermite polynomials p_j(z) by their recurrence.
            let (mut p1, mut p2) = (pi_to_minus_quarter, 0.0);
            for j in 0..n {
                let p3 = p2;
                p2 = p1;
                let jf = j as f64;
                p1 = z * (2.0 / (jf + 1.0)).sqrt() * p2 - (jf / (jf + 1.0)).sqrt() * p3;
            }
            derivative = (2.0 * nf).sqrt() * p2;
            let step = p1 / derivative;
            z -= step;
            if step.abs() <= 1e-14 * z.abs().max(1.0) {
                break;
            }
        }
        nodes[i] = z;
        nodes[n - 1 - i] = -z;
        weights[i] = 2.0 / (derivative * derivative);
        weights[n - 1 - i] = weights[i];
    }
    (nodes, weights)
}

/// `E[f(z)]` for `z ~ N(0, 1)`.
pub fn gaussian_expectation(f: impl Fn(f64) -> f64) -> f64 {
    let (nodes, weights) = gauss_hermite(HERMITE_NODES);
    let sum: f64 = nodes
        .iter()
        .zip(&weights)
        .map(|(x, w)| w * f(std::f64::consts::SQRT_2 * x))
        .sum();
    sum / std::f64::consts::PI.sqrt()
}

/// The gain `1/sqrt(E[σ(z)²])` of an activation given by its host function.
pub fn gain_of(sigma: impl Fn(f64) -> f64) -> f64 {
    1.0 / gaussian_expectation(|z| sigma(z).powi(2)).sqrt()
}

/// `sup |f|` over `[-30, 30]`, by a scan fine enough for smooth maxima.
pub fn sup_abs(f: impl Fn(f64) -> f64) -> f64 {
    const HALF_WIDTH: f64 = 30.0;
    const STEPS: usize = 60_000;
    (0..=STEPS)
        .map(|k| f(-HALF_WIDTH + 2.0 * HALF_WIDTH * k as f64 / STEPS as f64).abs())
        .fold(0.0, f64::max)
}

fn standard_normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2))
}

fn standard_normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

// ---------------------------------------------------------------------------
// The shipped activations. Each is one unit struct and one impl.

/// `max(z, 0)`.
#[derive(Debug, Clone, Copy)]
pub struct Relu;

impl Activation for Relu {
    fn name(&self) -> &str {
        "relu"
    }
    fn value(&self, z: f64) -> f64 {
        z.max(0.0)
    }
    fn derivative(&self, z: f64) -> f64 {
        if z > 0.0 {
            1.0
        } else {
            0.0
        }
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::relu(z)
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.greater_elem(0.0).float()
    }
    fn gaussian_product(&self, a: f64, b: f64, c: f64) -> Option<f64> {
        Some(relu_gaussian_product(a, b, c))
    }
    fn gaussian_slope_product(&self, a: f64, b: f64, c: f64) -> Option<f64> {
        Some(step_gaussian_product(a, b, c))
    }
    fn kinks(&self) -> Vec<f64> {
        vec![0.0]
    }
    fn slices(&self) -> Option<&dyn SliceActivation> {
        Some(self)
    }
}

impl SliceActivation for Relu {
    fn apply_slice(&self, z: &[f32], h: &mut [f32]) {
        map_slice(z, h, |z| z.max(0.0));
    }
    fn backward_slice(&self, _z: &[f32], h: &[f32], grad: &mut [f32]) {
        scale_slice(h, h, grad, positive_slope);
    }
    fn count_active(&self, _z: &[f32], h: &[f32], threshold: f32) -> u32 {
        count_slopes(h, h, threshold, positive_slope)
    }
}

/// `|z|`.
#[derive(Debug, Clone, Copy)]
pub struct Abs;

impl Activation for Abs {
    fn name(&self) -> &str {
        "abs"
    }
    fn value(&self, z: f64) -> f64 {
        z.abs()
    }
    fn derivative(&self, z: f64) -> f64 {
        if z == 0.0 {
            0.0
        } else {
            z.signum()
        }
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.abs()
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.sign()
    }
    /// `|u| = relu(u) + relu(−u)`, and by symmetry
    /// `E[|u|·|v|] = 2·(k(c) + k(−c))` with `k` relu's kernel.
    fn gaussian_product(&self, a: f64, b: f64, c: f64) -> Option<f64> {
        Some(2.0 * (relu_gaussian_product(a, b, c) + relu_gaussian_product(a, b, -c)))
    }
    /// `E[sign(u)·sign(v)] = P(same sign) − P(opposite) = 4·s(c) − 1`.
    fn gaussian_slope_product(&self, a: f64, b: f64, c: f64) -> Option<f64> {
        Some(4.0 * step_gaussian_product(a, b, c) - 1.0)
    }
    fn kinks(&self) -> Vec<f64> {
        vec![0.0]
    }
    fn slices(&self) -> Option<&dyn SliceActivation> {
        Some(self)
    }
}

impl SliceActivation for Abs {
    fn apply_slice(&self, z: &[f32], h: &mut [f32]) {
        map_slice(z, h, f32::abs);
    }
    fn backward_slice(&self, z: &[f32], h: &[f32], grad: &mut [f32]) {
        scale_slice(z, h, grad, sign_slope);
    }
    fn count_active(&self, z: &[f32], h: &[f32], threshold: f32) -> u32 {
        count_slopes(z, h, threshold, sign_slope)
    }
}

/// `z` for `z > 0`, `0.01·z` otherwise.
#[derive(Debug, Clone, Copy)]
pub struct LeakyRelu;

const LEAKY_SLOPE: f64 = 0.01;

impl Activation for LeakyRelu {
    fn name(&self) -> &str {
        "leaky_relu"
    }
    fn value(&self, z: f64) -> f64 {
        if z > 0.0 {
            z
        } else {
            LEAKY_SLOPE * z
        }
    }
    fn derivative(&self, z: f64) -> f64 {
        if z > 0.0 {
            1.0
        } else {
            LEAKY_SLOPE
        }
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::leaky_relu(z, LEAKY_SLOPE)
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.greater_elem(0.0).float() * (1.0 - LEAKY_SLOPE) + LEAKY_SLOPE
    }
    /// `σ(u) = relu(u) − α·relu(−u)`: `(1 + α²)·k(c) − 2α·k(−c)`.
    fn gaussian_product(&self, a: f64, b: f64, c: f64) -> Option<f64> {
        let alpha = LEAKY_SLOPE;
        Some(
            (1.0 + alpha * alpha) * relu_gaussian_product(a, b, c)
                - 2.0 * alpha * relu_gaussian_product(a, b, -c),
        )
    }
    /// `σ′ = 1` or `α`: `(1 + α²)·s(c) + 2α·(½ − s(c))`.
    fn gaussian_slope_product(&self, a: f64, b: f64, c: f64) -> Option<f64> {
        let (alpha, both) = (LEAKY_SLOPE, step_gaussian_product(a, b, c));
        Some((1.0 + alpha * alpha) * both + 2.0 * alpha * (0.5 - both))
    }
    fn kinks(&self) -> Vec<f64> {
        vec![0.0]
    }
    fn slices(&self) -> Option<&dyn SliceActivation> {
        Some(self)
    }
}

impl SliceActivation for LeakyRelu {
    fn apply_slice(&self, z: &[f32], h: &mut [f32]) {
        let slope = LEAKY_SLOPE as f32;
        map_slice(z, h, |z| if z < 0.0 { z * slope } else { z });
    }
    fn backward_slice(&self, z: &[f32], h: &[f32], grad: &mut [f32]) {
        scale_slice(z, h, grad, leaky_slope);
    }
    fn count_active(&self, z: &[f32], h: &[f32], threshold: f32) -> u32 {
        let (above, below) = ((1.0 - LEAKY_SLOPE) as f32, LEAKY_SLOPE as f32);
        let step = |z: f32| if z > 0.0 { 1.0 } else { 0.0 };
        count_slopes(z, h, threshold, |z, _| step(z) * above + below)
    }
}

/// `tanh(z)`.
#[derive(Debug, Clone, Copy)]
pub struct Tanh;

impl Activation for Tanh {
    fn name(&self) -> &str {
        "tanh"
    }
    fn value(&self, z: f64) -> f64 {
        z.tanh()
    }
    fn derivative(&self, z: f64) -> f64 {
        1.0 - z.tanh().powi(2)
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        fast_tanh(z)
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        fast_tanh(z).square().neg() + 1.0
    }
    fn slices(&self) -> Option<&dyn SliceActivation> {
        Some(self)
    }
}

impl SliceActivation for Tanh {
    /// The kernel Flex's tanh runs ([`tanh_f32`]).
    fn apply_slice(&self, z: &[f32], h: &mut [f32]) {
        map_slice(z, h, tanh_f32);
    }
    fn backward_slice(&self, _z: &[f32], h: &[f32], grad: &mut [f32]) {
        scale_slice(h, h, grad, tanh_slope);
    }
    fn count_active(&self, _z: &[f32], h: &[f32], threshold: f32) -> u32 {
        count_slopes(h, h, threshold, tanh_slope)
    }
}

/// `1/(1 + e^{-z})`.
#[derive(Debug, Clone, Copy)]
pub struct Sigmoid;

impl Activation for Sigmoid {
    fn name(&self) -> &str {
        "sigmoid"
    }
    fn value(&self, z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }
    fn derivative(&self, z: f64) -> f64 {
        let s = self.value(z);
        s * (1.0 - s)
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::sigmoid(z)
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        let s = act::sigmoid(z);
        s.clone() * (s.neg() + 1.0)
    }
}

/// `z` for `z > 0`, `e^z − 1` otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Elu;

impl Activation for Elu {
    fn name(&self) -> &str {
        "elu"
    }
    fn value(&self, z: f64) -> f64 {
        if z > 0.0 {
            z
        } else {
            z.exp_m1()
        }
    }
    fn derivative(&self, z: f64) -> f64 {
        if z > 0.0 {
            1.0
        } else {
            z.exp()
        }
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        let positive = z.clone().greater_elem(0.0);
        (z.clone().exp() - 1.0).mask_where(positive, z)
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        // e^min(z, 0): 1 for z > 0, e^z otherwise.
        z.clamp_max(0.0).exp()
    }
    fn kinks(&self) -> Vec<f64> {
        vec![0.0]
    }
}

/// `z·Φ(z)` (exact, erf-based GELU).
#[derive(Debug, Clone, Copy)]
pub struct Gelu;

impl Activation for Gelu {
    fn name(&self) -> &str {
        "gelu"
    }
    fn value(&self, z: f64) -> f64 {
        z * standard_normal_cdf(z)
    }
    fn derivative(&self, z: f64) -> f64 {
        standard_normal_cdf(z) + z * standard_normal_pdf(z)
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::gelu(z)
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        let cdf = (z.clone() / std::f64::consts::SQRT_2).erf() / 2.0 + 0.5;
        let pdf = (z.clone().square() * -0.5).exp() / (2.0 * std::f64::consts::PI).sqrt();
        cdf + z * pdf
    }
}

/// `ln(1 + e^z)`.
#[derive(Debug, Clone, Copy)]
pub struct Softplus;

impl Activation for Softplus {
    fn name(&self) -> &str {
        "softplus"
    }
    fn value(&self, z: f64) -> f64 {
        z.max(0.0) + (-z.abs()).exp().ln_1p()
    }
    fn derivative(&self, z: f64) -> f64 {
        Sigmoid.value(z)
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::softplus(z, 1.0)
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::sigmoid(z)
    }
}

/// `z` (a linear network: the reference with no nonlinearity).
#[derive(Debug, Clone, Copy)]
pub struct Identity;

impl Activation for Identity {
    fn name(&self) -> &str {
        "identity"
    }
    fn value(&self, z: f64) -> f64 {
        z
    }
    fn derivative(&self, _z: f64) -> f64 {
        1.0
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.ones_like()
    }
    fn slices(&self) -> Option<&dyn SliceActivation> {
        Some(self)
    }
}

impl SliceActivation for Identity {
    fn apply_slice(&self, z: &[f32], h: &mut [f32]) {
        h.copy_from_slice(z);
    }
    fn backward_slice(&self, _z: &[f32], _h: &[f32], _grad: &mut [f32]) {}
    fn count_active(&self, z: &[f32], h: &[f32], threshold: f32) -> u32 {
        count_slopes(z, h, threshold, |_, _| 1.0)
    }
}

/// `max(z − τ, 0)`: relu shifted right by τ (`shifted-relu:τ`). Its
/// activation ratio is `P(z > τ)`, so τ moves the ratio continuously with
/// everything else fixed; it draws relu's random weights.
#[derive(Debug, Clone)]
pub struct ShiftedRelu {
    name: String,
    shift: f64,
}

impl ShiftedRelu {
    /// The shifted relu named `name` (its full name, `shifted-relu:τ`).
    pub fn new(name: &str, shift: f64) -> Self {
        Self {
            name: name.to_string(),
            shift,
        }
    }
}

impl Activation for ShiftedRelu {
    fn name(&self) -> &str {
        &self.name
    }
    fn seed_label(&self) -> &str {
        "relu"
    }
    fn value(&self, z: f64) -> f64 {
        (z - self.shift).max(0.0)
    }
    fn derivative(&self, z: f64) -> f64 {
        if z > self.shift {
            1.0
        } else {
            0.0
        }
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::relu(z - self.shift)
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.greater_elem(self.shift).float()
    }
    fn kinks(&self) -> Vec<f64> {
        vec![self.shift]
    }
    fn slices(&self) -> Option<&dyn SliceActivation> {
        Some(self)
    }
}

impl SliceActivation for ShiftedRelu {
    /// `relu(z − τ)`, with `z − τ` in `f32` as the tensor form computes it.
    fn apply_slice(&self, z: &[f32], h: &mut [f32]) {
        let shift = self.shift as f32;
        map_slice(z, h, |z| (z - shift).max(0.0));
    }
    fn backward_slice(&self, _z: &[f32], h: &[f32], grad: &mut [f32]) {
        scale_slice(h, h, grad, positive_slope);
    }
    fn count_active(&self, _z: &[f32], h: &[f32], threshold: f32) -> u32 {
        count_slopes(h, h, threshold, positive_slope)
    }
}

/// `min(max(z − τ, 0), m)`: a shifted relu clipped at `m`
/// (`clipped-relu:τ:m`; CReLU of Dent & Tanner). Draws relu's random weights.
#[derive(Debug, Clone)]
pub struct ClippedRelu {
    name: String,
    shift: f64,
    top: f64,
}

impl ClippedRelu {
    /// The clipped relu named `name` (`clipped-relu:τ:m`); `top` is `m > 0`.
    pub fn new(name: &str, shift: f64, top: f64) -> Self {
        Self {
            name: name.to_string(),
            shift,
            top,
        }
    }
}

impl Activation for ClippedRelu {
    fn name(&self) -> &str {
        &self.name
    }
    fn seed_label(&self) -> &str {
        "relu"
    }
    fn value(&self, z: f64) -> f64 {
        (z - self.shift).clamp(0.0, self.top)
    }
    fn derivative(&self, z: f64) -> f64 {
        if z > self.shift && z < self.shift + self.top {
            1.0
        } else {
            0.0
        }
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        (z - self.shift).clamp(0.0, self.top)
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.clone().greater_elem(self.shift).float() * z.lower_elem(self.shift + self.top).float()
    }
    fn kinks(&self) -> Vec<f64> {
        vec![self.shift, self.shift + self.top]
    }
    fn slices(&self) -> Option<&dyn SliceActivation> {
        Some(self)
    }
}

impl SliceActivation for ClippedRelu {
    fn apply_slice(&self, z: &[f32], h: &mut [f32]) {
        let (shift, top) = (self.shift as f32, self.top as f32);
        map_slice(z, h, |z| (z - shift).clamp(0.0, top));
    }
    /// Burn's `clamp` passes the gradient where `0 ≤ z − τ ≤ m`.
    fn backward_slice(&self, z: &[f32], h: &[f32], grad: &mut [f32]) {
        let (shift, top) = (self.shift as f32, self.top as f32);
        scale_slice(z, h, grad, |z, _| {
            if (0.0..=top).contains(&(z - shift)) {
                1.0
            } else {
                0.0
            }
        });
    }
    /// σ′ as the tensor form computes it: 1 where `τ < z < τ + m`, so 0 at
    /// the kinks, where the backward pass of `clamp` passes the gradient.
    fn count_active(&self, z: &[f32], h: &[f32], threshold: f32) -> u32 {
        let (low, high) = (self.shift as f32, (self.shift + self.top) as f32);
        count_slopes(
            z,
            h,
            threshold,
            |z, _| {
                if z > low && z < high {
                    1.0
                } else {
                    0.0
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hermite_weights_integrate_the_gaussian_moments() {
        assert!((gaussian_expectation(|_| 1.0) - 1.0).abs() < 1e-12);
        assert!((gaussian_expectation(|z| z * z) - 1.0).abs() < 1e-12);
        assert!((gaussian_expectation(|z| z.powi(4)) - 3.0).abs() < 1e-10);
        assert!(gaussian_expectation(|z| z.powi(3)).abs() < 1e-12);
    }

    #[test]
    fn legendre_rules_integrate_polynomials_exactly() {
        for n in [1, 2, 5, 16] {
            let (nodes, weights) = gauss_legendre(n);
            for degree in 0..2 * n as i32 {
                let rule: f64 = nodes
                    .iter()
                    .zip(&weights)
                    .map(|(x, w)| w * x.powi(degree))
                    .sum();
                let exact = if degree % 2 == 0 {
                    2.0 / (degree + 1) as f64
                } else {
                    0.0
                };
                assert!((rule - exact).abs() < 1e-13, "n = {n}, x^{degree}: {rule}");
            }
        }
    }

    /// Every shipped activation's one-pass count equals the count of the
    /// slopes its tensor form gives on Flex (what the tensor path counts),
    /// at its kinks too, at thresholds that fall on its slopes exactly.
    #[test]
    fn active_counts_match_the_tensor_forms_slopes() {
        check_active_counts(Relu);
        check_active_counts(Abs);
        check_active_counts(LeakyRelu);
        check_active_counts(Tanh);
        check_active_counts(Identity);
        check_active_counts(ShiftedRelu::new("shifted-relu:0.5", 0.5));
        check_active_counts(ClippedRelu::new("clipped-relu:0.5:0.75", 0.5, 0.75));
    }

    fn check_active_counts<A: Activation + TensorActivation<burn::backend::Flex>>(activation: A) {
        let name = activation.name();
        let slices = activation.slices().expect("a shipped sliced activation");
        // The kinks and 0 exactly, and a length that leaves a partial vector.
        let mut z: Vec<f32> = (0..1001).map(|i| -3.0 + 0.006 * i as f32).collect();
        z.extend([0.0, -0.0, 0.5, 1.25, 1e-30, -1e-30]);
        let mut h = vec![0.0; z.len()];
        slices.apply_slice(&z, &mut h);
        let data = burn::tensor::TensorData::new(z.clone(), [1, 1, z.len()]);
        let slopes = activation
            .slope(Tensor::from_data(data, &Default::default()))
            .into_data()
            .to_vec::<f32>()
            .expect("f32 slopes");
        let mut counts = Vec::new();
        for threshold in [0.0, 1e-3, LEAKY_SLOPE as f32, 0.5, 1.0, 1.5] {
            let count = slices.count_active(&z, &h, threshold);
            let expected = count_at_least(&slopes, threshold);
            assert_eq!(count, expected, "{name} at threshold {threshold}");
            counts.push(count);
        }
        assert!(
            counts.windows(2).any(|w| w[0] != w[1]),
            "{name}: {counts:?}"
        );
    }
}
