//! Everything the tool can build, by name: activations and layer types,
//! each resolved into a spec ready to build networks with.
//!
//! The binary uses [`Registry::builtin`]; a program that adds its own
//! registers them here and passes the registry to `cli::run` (see
//! `examples/custom_extension.rs`).

use std::fmt;
use std::sync::Arc;

use super::activation::{
    gain_of, sup_abs, Abs, Activation, ClippedRelu, Elu, Gelu, Identity, LeakyRelu, Relu,
    ShiftedRelu, Sigmoid, Softplus, Tanh,
};
use super::backend::{AnyActivation, AnyLayer};
use super::layer::{Dense, Layer, LayerNormDense, ParamSpec, Residual};

/// The activations and layer types a run may name.
#[derive(Clone, Default)]
pub struct Registry {
    /// Activations by name (and parametric families).
    pub activations: ActivationRegistry,
    /// Layer types by name.
    pub layers: LayerRegistry,
}

impl Registry {
    /// The activations and layer types shipped with the library.
    pub fn builtin() -> Self {
        Self {
            activations: ActivationRegistry::builtin(),
            layers: LayerRegistry::builtin(),
        }
    }

    /// Adds an activation (replacing one of the same name).
    pub fn with_activation(mut self, activation: impl Activation) -> Self {
        self.activations.register(activation);
        self
    }

    /// Adds a layer type (replacing one of the same name).
    pub fn with_layer(mut self, layer: impl Layer) -> Self {
        self.layers.register(layer);
        self
    }
}

// ---------------------------------------------------------------------------
// Activations

/// An activation with its derived constants, ready to build networks with.
#[derive(Clone)]
pub struct ActivationSpec {
    /// The activation function.
    pub function: Arc<dyn AnyActivation>,
    /// `g = 1/sqrt(E[σ(z)²])`, `z ~ N(0,1)`.
    pub gain: f64,
    /// A unit is active where `|σ'(z)| >= active_threshold` (= ½·sup|σ'|).
    pub active_threshold: f64,
}

impl ActivationSpec {
    /// Wraps `function`, computing its gain (METHOD §2) and active threshold
    /// (METHOD §3) numerically.
    pub fn new(function: Arc<dyn AnyActivation>) -> Self {
        let gain = gain_of(|z| function.value(z));
        let active_threshold = 0.5 * sup_abs(|z| function.derivative(z));
        Self {
            function,
            gain,
            active_threshold,
        }
    }

    /// The activation's name.
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
    /// No activation or family has this name.
    #[error("unknown activation '{name}' (allowed: {allowed})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The registered names and families' forms, comma-separated.
        allowed: String,
    },
    /// A family's name with parameters it cannot take.
    #[error("activation '{name}': {reason} (allowed form: {form})")]
    BadParameters {
        /// The name asked for.
        name: String,
        /// What is wrong with the parameters.
        reason: String,
        /// The family's allowed form, e.g. `shifted-relu:τ (any real τ)`.
        form: String,
    },
    /// An activation that (almost) vanishes on its standard normal inputs:
    /// every network would be dead, and the gain `1/sqrt(E[σ(z)²])`
    /// (METHOD §2) meaningless.
    #[error("activation '{name}': E[σ(z)²] for z ~ N(0, 1) is {second_moment:.1e}, so σ vanishes on the inputs it is given, every network would be dead and the gain 1/√E[σ²] is meaningless; a usable activation has E[σ²] above {MIN_SECOND_MOMENT:.0e}")]
    Unusable {
        /// The name asked for.
        name: String,
        /// `E[σ(z)²]`, `z ~ N(0, 1)`, as computed (`1/gain²`).
        second_moment: f64,
    },
}

/// The smallest `E[σ(z)²]`, `z ~ N(0, 1)`, an activation may have: below it
/// the gain exceeds 10⁶ and scaled float32 weights carry no signal
/// (`shifted-relu:τ` crosses it at τ ≈ 6.6).
pub const MIN_SECOND_MOMENT: f64 = 1e-12;

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
                "shifted-relu:τ with real τ below about 6.6",
                |name, p| match p {
                    [shift] => Ok(ShiftedRelu::new(name, *shift)),
                    _ => Err(format!("takes one parameter, got {}", p.len())),
                },
            )
            .register_family(
                "clipped-relu",
                "clipped-relu:τ:m with real τ below about 6.6 and m > 0",
                |name, p| match p {
                    [_, top] if *top <= 0.0 => Err(format!("m must be positive, got {top}")),
                    [shift, top] => Ok(ClippedRelu::new(name, *shift, *top)),
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

    /// The name by which two spellings of one activation compare equal: the
    /// name itself, or for a parametric one its family and its numbers as
    /// parsed (`shifted-relu:-0`, `shifted-relu:0.0` → `shifted-relu:0`).
    /// A name that is neither is returned as it is.
    pub fn canonical_name(&self, name: &str) -> String {
        if self.entries.iter().any(|entry| entry.name() == name) {
            return name.to_string();
        }
        let Some((family, params)) = name.split_once(':') else {
            return name.to_string();
        };
        let numbers: Option<Vec<String>> = params
            .split(':')
            // `+ 0.0` turns −0 into 0.
            .map(|p| p.trim().parse::<f64>().ok().map(|v| (v + 0.0).to_string()))
            .collect();
        match numbers {
            Some(numbers) if self.families.iter().any(|f| f.name == family) => {
                format!("{family}:{}", numbers.join(":"))
            }
            _ => name.to_string(),
        }
    }

    /// Looks an activation up by name (or builds a parametric one) and
    /// computes its gain and threshold.
    pub fn get(&self, name: &str) -> Result<ActivationSpec, UnknownActivation> {
        let spec = self.build(name)?;
        let second_moment = spec.gain.powi(-2);
        if second_moment.is_finite() && second_moment > MIN_SECOND_MOMENT {
            Ok(spec)
        } else {
            Err(UnknownActivation::Unusable {
                name: name.to_string(),
                second_moment,
            })
        }
    }

    /// The activation named `name`, usable or not.
    fn build(&self, name: &str) -> Result<ActivationSpec, UnknownActivation> {
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
// Layer types

/// A registered layer type, ready to build networks with.
#[derive(Clone)]
pub struct LayerSpec {
    /// The layer type.
    pub function: Arc<dyn AnyLayer>,
}

impl LayerSpec {
    /// The layer type's name.
    pub fn name(&self) -> &str {
        self.function.name()
    }

    /// Parameters of one network of `depth` blocks of `width` units, with
    /// the linear output layer, counted from the layer type.s own parameters.
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

/// The layer types the tool knows by name.
#[derive(Clone)]
pub struct LayerRegistry {
    entries: Vec<Arc<dyn AnyLayer>>,
}

/// A name that no registered layer type has.
#[derive(Debug, thiserror::Error)]
#[error("unknown layer '{name}' (allowed: {allowed})")]
pub struct UnknownLayer {
    /// The name asked for.
    pub name: String,
    /// The registered names, comma-separated.
    pub allowed: String,
}

impl LayerRegistry {
    /// The layer types shipped with the library.
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

    /// Adds a layer type; one with the same name is replaced.
    pub fn register(&mut self, layer: impl Layer) -> &mut Self {
        self.entries.retain(|entry| entry.name() != layer.name());
        self.entries.push(Arc::new(layer));
        self
    }

    /// The registered layer types' names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|entry| entry.name()).collect()
    }

    /// Looks a layer type up by name.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::activation::Tanh;
    use crate::nn::backend::SupportedBackend;
    use burn::backend::NdArray;
    use burn::tensor::Tensor;

    type TestBackend = NdArray;

    fn spec(name: &str) -> ActivationSpec {
        ActivationRegistry::builtin().get(name).unwrap()
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
    fn an_activation_that_vanishes_on_its_inputs_is_refused() {
        let registry = ActivationRegistry::builtin();
        for name in ["shifted-relu:40", "shifted-relu:8", "clipped-relu:9:1"] {
            let message = registry.get(name).unwrap_err().to_string();
            assert!(
                message.contains(name) && message.contains("E[σ(z)²]"),
                "{name}: {message}"
            );
        }
        // E[(z − 6)₊²] ≈ 4.8e-11 is small but usable.
        assert!(registry.get("shifted-relu:6").is_ok());
        assert!(registry.get("shifted-relu:-40").is_ok());
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
