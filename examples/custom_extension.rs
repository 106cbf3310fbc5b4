//! A new activation and a new layer type, written outside the library and
//! run through every command of the tool.
//!
//! ```sh
//! cargo run --release --example custom_extension -- measure --activation swish,relu --layer gated,dense --depth 1,4,16
//! cargo run --release --example custom_extension -- train --activation swish --layer gated --depth 4 --seeds 3 --steps 500
//! cargo run --release --example custom_extension -- study examples/custom_extension.toml
//! cargo run --release --example custom_extension -- report results/custom-extension
//! ```

use burn::tensor::activation::sigmoid;
use burn::tensor::Tensor;
use clap::Parser;
use variability::cli::{run, Cli};
use variability::nn::{
    affine, Activate, Activation, HostInit, KernelBackend, Layer, ParamSpec, Registry,
};

/// Swish, `σ(z) = z · sigmoid(z)`: a value and a derivative, on the host and
/// on tensors. Its gain and active-unit threshold are computed by the
/// library (METHOD §2–§3).
#[derive(Debug, Clone, Copy)]
struct Swish;

impl Activation for Swish {
    fn name(&self) -> &str {
        "swish"
    }
    fn value(&self, z: f64) -> f64 {
        z / (1.0 + (-z).exp())
    }
    fn derivative(&self, z: f64) -> f64 {
        let s = 1.0 / (1.0 + (-z).exp());
        s + z * s * (1.0 - s)
    }
    fn forward<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        z.clone() * sigmoid(z)
    }
    fn derivative_tensor<B: KernelBackend, const D: usize>(&self, z: Tensor<B, D>) -> Tensor<B, D> {
        let s = sigmoid(z.clone());
        s.clone() + z * s.clone() * (s.neg() + 1.0)
    }
}

/// A gated layer, `σ(h·W + b) ⊙ sigmoid(h·V + c)`: each unit's activation
/// is scaled by a learned gate in (0, 1).
#[derive(Debug, Clone, Copy)]
struct Gated;

impl Layer for Gated {
    fn name(&self) -> &str {
        "gated"
    }

    fn params(&self, fan_in: usize, width: usize) -> Vec<ParamSpec> {
        vec![
            ParamSpec::weight(fan_in, width),
            ParamSpec::vector(width),
            ParamSpec::weight(fan_in, width),
            ParamSpec::vector(width),
        ]
    }

    fn init(&self, fan_in: usize, width: usize, host: &mut HostInit) -> Vec<Vec<f32>> {
        let (weight, bias) = host.dense(fan_in, width, 1.0);
        // The gate's pre-activation gets unit gain: sigmoid near 0 is ≈ ½ + z/4.
        let (gate_weight, gate_bias) = host.dense(fan_in, width, 1.0 / host.gain);
        vec![weight, bias, gate_weight, gate_bias]
    }

    fn forward<B: KernelBackend>(
        &self,
        params: &[Tensor<B, 3>],
        input: Tensor<B, 3>,
        activate: &mut Activate<B>,
    ) -> Tensor<B, 3> {
        let gate = sigmoid(affine(input.clone(), &params[2], &params[3]));
        activate.apply(affine(input, &params[0], &params[1])) * gate
    }
}

// The allocator the `variability` binary uses: glibc's would page-fault
// every large intermediate in again (docs/backends.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let registry = Registry::builtin().with_activation(Swish).with_layer(Gated);
    if let Err(error) = run(Cli::parse(), &registry) {
        eprintln!("error: {error}");
        std::process::exit(error.exit_code());
    }
}
