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

use std::fmt;
use std::sync::Arc;

use burn::tensor::activation as act;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::backend::{AnyActivation, SupportedBackend};
use super::tanh::fast_tanh;

/// An activation function σ.
///
/// The tensor methods are generic over the backend and so are not callable
/// through `dyn`; the library reaches them through [`TensorActivation`],
/// which every `Activation` implements automatically.
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
    fn forward<B: SupportedBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D>
    where
        Self: Sized;
    /// σ' applied element-wise to a tensor (used for the active-unit rule).
    fn derivative_tensor<B: SupportedBackend, const D: usize>(
        &self,
        z: Tensor<B, D>,
    ) -> Tensor<B, D>
    where
        Self: Sized;
}

/// The tensor forms of an activation on one backend, callable through `dyn`.
pub trait TensorActivation<B: Backend>: Send + Sync {
    /// σ(z). Shape: any `[members, points, units]`.
    fn apply(&self, z: Tensor<B, 3>) -> Tensor<B, 3>;
    /// σ'(z), same shape.
    fn slope(&self, z: Tensor<B, 3>) -> Tensor<B, 3>;
}

impl<B: SupportedBackend, A: Activation> TensorActivation<B> for A {
    fn apply(&self, z: Tensor<B, 3>) -> Tensor<B, 3> {
        self.forward(z)
    }
    fn slope(&self, z: Tensor<B, 3>) -> Tensor<B, 3> {
        self.derivative_tensor(z)
    }
}

/// An activation with its derived constants, ready to build networks with.
#[derive(Clone)]
pub struct ActivationSpec {
    pub function: Arc<dyn AnyActivation>,
    /// `g = 1/sqrt(E[σ(z)²])`, `z ~ N(0,1)`.
    pub gain: f64,
    /// A unit is active where `|σ'(z)| >= active_threshold` (= ½·sup|σ'|).
    pub active_threshold: f64,
}

impl ActivationSpec {
    pub fn new(function: Arc<dyn AnyActivation>) -> Self {
        let gain = gain_of(|z| function.value(z));
        let active_threshold = 0.5 * sup_abs(|z| function.derivative(z));
        Self {
            function,
            gain,
            active_threshold,
        }
    }

    pub fn name(&self) -> &str {
        self.function.name()
    }
}

impl fmt::Debug for ActivationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivationSpec")
            .field("name", &self.name())
            .field("gain", &self.gain)
            .field("active_threshold", &self.active_threshold)
            .finish()
    }
}

/// Builds a parametric activation from the numbers written after its name
/// (`shifted-relu:0.5` → `[0.5]`), or says what is wrong with them.
type ParseActivation =
    Arc<dyn Fn(&str, &[f64]) -> Result<Arc<dyn AnyActivation>, String> + Send + Sync>;

/// A family of activations with parameters in their names.
#[derive(Clone)]
struct Family {
    name: String,
    /// The allowed form, for error messages: `shifted-relu:τ (any real τ)`.
    form: String,
    parse: ParseActivation,
}

/// The activations the tool knows by name, and the parametric families it
/// can build from a name with parameters.
#[derive(Clone)]
pub struct ActivationRegistry {
    entries: Vec<Arc<dyn AnyActivation>>,
    families: Vec<Family>,
}

/// A name that no registered activation has, or a parametric name whose
/// parameters are wrong.
#[derive(Debug, thiserror::Error)]
pub enum UnknownActivation {
    #[error("unknown activation '{name}' (allowed: {allowed})")]
    Unknown { name: String, allowed: String },
    #[error("activation '{name}': {reason} (allowed form: {form})")]
    BadParameters {
        name: String,
        reason: String,
        form: String,
    },
}

impl ActivationRegistry {
    /// The activations shipped with the library.
    pub fn builtin() -> Self {
        let mut registry = Self {
            entries: Vec::new(),
            families: Vec::new(),
        };
        registry
            .register(Relu)
            .register(Abs)
            .register(LeakyRelu)
            .register(Tanh)
            .register(Sigmoid)
            .register(Elu)
            .register(Gelu)
            .register(Softplus)
            .register(Identity)
            .register_family(
                "shifted-relu",
                "shifted-relu:τ with any real τ",
                |name, p| match p {
                    [shift] => Ok(ShiftedRelu {
                        name: name.to_string(),
                        shift: *shift,
                    }),
                    _ => Err(format!("takes one parameter, got {}", p.len())),
                },
            )
            .register_family(
                "clipped-relu",
                "clipped-relu:τ:m with any real τ and m > 0",
                |name, p| match p {
                    [_, top] if *top <= 0.0 => Err(format!("m must be positive, got {top}")),
                    [shift, top] => Ok(ClippedRelu {
                        name: name.to_string(),
                        shift: *shift,
                        top: *top,
                    }),
                    _ => Err(format!("takes two parameters, got {}", p.len())),
                },
            );
        registry
    }

    /// Adds a family of parametric activations, written `family:p1:p2…` on
    /// the command line: `parse` gets the full name and the numbers and
    /// builds the activation or says what is wrong (`form` is shown then).
    pub fn register_family<A: Activation>(
        &mut self,
        family: &str,
        form: &str,
        parse: impl Fn(&str, &[f64]) -> Result<A, String> + Send + Sync + 'static,
    ) -> &mut Self {
        self.families.retain(|f| f.name != family);
        let parse: ParseActivation = Arc::new(move |name: &str, params: &[f64]| {
            parse(name, params).map(|activation| Arc::new(activation) as Arc<dyn AnyActivation>)
        });
        self.families.push(Family {
            name: family.to_string(),
            form: form.to_string(),
            parse,
        });
        self
    }

    /// Adds an activation; one with the same name is replaced.
    pub fn register(&mut self, activation: impl Activation) -> &mut Self {
        self.entries
            .retain(|entry| entry.name() != activation.name());
        self.entries.push(Arc::new(activation));
        self
    }

    /// The names, then the parametric families' forms.
    pub fn names(&self) -> Vec<&str> {
        let families = self
            .families
            .iter()
            .map(|f| f.form.split(' ').next().unwrap_or(&f.name));
        self.entries
            .iter()
            .map(|entry| entry.name())
            .chain(families)
            .collect()
    }

    /// Looks an activation up by name (or builds a parametric one) and
    /// computes its gain and threshold.
    pub fn get(&self, name: &str) -> Result<ActivationSpec, UnknownActivation> {
        if let Some(entry) = self.entries.iter().find(|entry| entry.name() == name) {
            return Ok(ActivationSpec::new(entry.clone()));
        }
        let unknown = || UnknownActivation::Unknown {
            name: name.to_string(),
            allowed: self.names().join(", "),
        };
        let (family_name, params) = name.split_once(':').ok_or_else(unknown)?;
        let family = self
            .families
            .iter()
            .find(|f| f.name == family_name)
            .ok_or_else(unknown)?;
        let bad = |reason: String| UnknownActivation::BadParameters {
            name: name.to_string(),
            reason,
            form: family.form.clone(),
        };
        let numbers = params
            .split(':')
            .map(|p| {
                p.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad(format!("'{p}' is not a number")))
            })
            .collect::<Result<Vec<f64>, _>>()?;
        (family.parse)(name, &numbers)
            .map(ActivationSpec::new)
            .map_err(bad)
    }
}

impl Default for ActivationRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

// ---------------------------------------------------------------------------
// Numerics: the gain by Gauss–Hermite quadrature, sup|σ'| by a fine scan.

/// Number of Gauss–Hermite nodes: exact for polynomials of degree < 2·160,
/// and accurate to ~1e-6 for the kinked activations (relu is exact anyway,
/// by symmetry of the nodes).
const HERMITE_NODES: usize = 160;

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
fn sup_abs(f: impl Fn(f64) -> f64) -> f64 {
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
    fn forward<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::relu(z)
    }
    fn derivative_tensor<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.greater_elem(0.0).float()
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
    fn forward<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.abs()
    }
    fn derivative_tensor<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.sign()
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
    fn forward<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::leaky_relu(z, LEAKY_SLOPE)
    }
    fn derivative_tensor<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.greater_elem(0.0).float() * (1.0 - LEAKY_SLOPE) + LEAKY_SLOPE
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
    fn forward<B: SupportedBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        fast_tanh(z)
    }
    fn derivative_tensor<B: SupportedBackend, const D: usize>(
        &self,
        z: Tensor<B, D>,
    ) -> Tensor<B, D> {
        fast_tanh(z).square().neg() + 1.0
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
    fn forward<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::sigmoid(z)
    }
    fn derivative_tensor<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
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
    fn forward<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        let positive = z.clone().greater_elem(0.0);
        (z.clone().exp() - 1.0).mask_where(positive, z)
    }
    fn derivative_tensor<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        // e^min(z, 0): 1 for z > 0, e^z otherwise.
        z.clamp_max(0.0).exp()
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
    fn forward<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::gelu(z)
    }
    fn derivative_tensor<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
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
    fn forward<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::softplus(z, 1.0)
    }
    fn derivative_tensor<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
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
    fn forward<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z
    }
    fn derivative_tensor<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.ones_like()
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
    fn forward<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        act::relu(z - self.shift)
    }
    fn derivative_tensor<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.greater_elem(self.shift).float()
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
    fn forward<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        (z - self.shift).clamp(0.0, self.top)
    }
    fn derivative_tensor<B: Backend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.clone().greater_elem(self.shift).float() * z.lower_elem(self.shift + self.top).float()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::backend::SupportedBackend;
    use burn::backend::NdArray;

    type TestBackend = NdArray;

    fn spec(name: &str) -> ActivationSpec {
        ActivationRegistry::builtin().get(name).unwrap()
    }

    #[test]
    fn hermite_weights_integrate_the_gaussian_moments() {
        assert!((gaussian_expectation(|_| 1.0) - 1.0).abs() < 1e-12);
        assert!((gaussian_expectation(|z| z * z) - 1.0).abs() < 1e-12);
        assert!((gaussian_expectation(|z| z.powi(4)) - 3.0).abs() < 1e-10);
        assert!(gaussian_expectation(|z| z.powi(3)).abs() < 1e-12);
    }

    #[test]
    fn gain_of_relu_is_sqrt_two() {
        assert!((spec("relu").gain - 2f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn gain_of_abs_and_identity_is_one() {
        assert!((spec("abs").gain - 1.0).abs() < 1e-9);
        assert!((spec("identity").gain - 1.0).abs() < 1e-9);
    }

    #[test]
    fn gain_of_tanh_is_about_1_59() {
        let gain = spec("tanh").gain;
        assert!((gain - 1.5925).abs() < 2e-3, "tanh gain {gain}");
    }

    #[test]
    fn tanh_is_active_inside_0_8814() {
        // |tanh'(z)| = 1/2 at z = asinh(1) = 0.88137...
        let tanh = spec("tanh");
        assert!((tanh.active_threshold - 0.5).abs() < 1e-9);
        assert!(Tanh.derivative(0.8813) >= tanh.active_threshold);
        assert!(Tanh.derivative(0.8815) < tanh.active_threshold);
    }

    #[test]
    fn host_and_tensor_forms_agree() {
        let device = Default::default();
        let points: Vec<f32> = (-40..=40).map(|k| k as f32 * 0.1 + 0.05).collect();
        let z = Tensor::<TestBackend, 1>::from_floats(points.as_slice(), &device).reshape([
            1,
            1,
            points.len(),
        ]);
        let registry = ActivationRegistry::builtin();
        let names = registry
            .names()
            .into_iter()
            .filter(|n| !n.contains(':'))
            .chain(["shifted-relu:0.33", "clipped-relu:-0.47:1.21"]);
        for name in names {
            let spec = registry.get(name).unwrap();
            let tensor =
                <TestBackend as SupportedBackend>::tensor_activation(spec.function.as_ref());
            let values = tensor.apply(z.clone()).into_data().to_vec::<f32>().unwrap();
            let slopes = tensor.slope(z.clone()).into_data().to_vec::<f32>().unwrap();
            for (k, &x) in points.iter().enumerate() {
                let x = x as f64;
                let value = spec.function.value(x);
                let slope = spec.function.derivative(x);
                assert!((values[k] as f64 - value).abs() < 1e-4, "{name}({x})");
                assert!((slopes[k] as f64 - slope).abs() < 1e-4, "{name}'({x})");
            }
            // The host derivative is the derivative of the host function.
            for x in [-1.3, -0.4, 0.3, 1.7] {
                let h = 1e-6;
                let numeric = (spec.function.value(x + h) - spec.function.value(x - h)) / (2.0 * h);
                assert!(
                    (numeric - spec.function.derivative(x)).abs() < 1e-5,
                    "{name}'({x})"
                );
            }
        }
    }

    #[test]
    fn parametric_activations_are_built_from_their_names() {
        let registry = ActivationRegistry::builtin();
        let shifted = registry.get("shifted-relu:0.5").unwrap();
        assert_eq!(shifted.name(), "shifted-relu:0.5");
        assert_eq!(shifted.function.value(1.25), 0.75);
        assert_eq!(shifted.function.value(0.4), 0.0);
        assert!((shifted.active_threshold - 0.5).abs() < 1e-12);
        // shifted-relu:0 is relu: the same gain, to the last bit.
        assert_eq!(
            registry.get("shifted-relu:0").unwrap().gain,
            registry.get("relu").unwrap().gain
        );
        // Shifting right lowers E[σ²], so the gain grows.
        assert!(
            registry.get("shifted-relu:1").unwrap().gain
                > registry.get("shifted-relu:-1").unwrap().gain
        );
        let clipped = registry.get("clipped-relu:-0.5:1").unwrap();
        assert_eq!(
            (
                clipped.function.value(0.0),
                clipped.function.value(3.0),
                clipped.function.value(-2.0)
            ),
            (0.5, 1.0, 0.0)
        );
        assert_eq!(clipped.function.seed_label(), "relu");
    }

    #[test]
    fn bad_parameters_name_the_allowed_form() {
        let registry = ActivationRegistry::builtin();
        for (name, hint) in [
            ("shifted-relu:x", "'x' is not a number"),
            ("shifted-relu:", "is not a number"),
            ("shifted-relu:1:2", "takes one parameter"),
            ("clipped-relu:0:-1", "m must be positive"),
            ("clipped-relu:0", "takes two parameters"),
        ] {
            let message = registry.get(name).unwrap_err().to_string();
            assert!(
                message.contains(hint) && message.contains("allowed form"),
                "{name}: {message}"
            );
        }
        let message = registry.get("swish:1").unwrap_err().to_string();
        assert!(
            message.contains("unknown activation") && message.contains("shifted-relu:τ"),
            "{message}"
        );
    }

    #[test]
    fn unknown_activation_names_the_allowed_ones() {
        let error = ActivationRegistry::builtin().get("swish").unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("'swish'") && message.contains("relu, abs"),
            "{message}"
        );
    }
}
