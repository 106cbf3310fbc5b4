//! Initialisation schemes (METHOD §2): how the weights of a fresh network
//! are drawn on the host, so the same seed gives the same network on every
//! backend.

use std::fmt;

use rand::RngExt;
use rand_distr::StandardNormal;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

/// How the weights of a fresh network are drawn (METHOD §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
pub enum Init {
    /// `W` and `b` i.i.d. `N(0, g²/(fan_in + 1))`: the bias is one more input.
    #[default]
    #[serde(rename = "scaled")]
    Scaled,
    /// `W ~ N(0, g²/fan_in)`, zero bias.
    #[serde(rename = "he")]
    He,
    /// `W` and `b` uniform on `±1/sqrt(fan_in)` (PyTorch's `nn.Linear`).
    #[serde(rename = "torch-default")]
    #[value(name = "torch-default")]
    TorchDefault,
    /// `W ~ N(0, g²·2/(fan_in + fan_out))`, zero bias.
    #[serde(rename = "xavier")]
    Xavier,
}

impl Init {
    /// The scheme's name, as in configs and records (`scaled`, `he`, …).
    pub fn name(self) -> &'static str {
        match self {
            Init::Scaled => "scaled",
            Init::He => "he",
            Init::TorchDefault => "torch-default",
            Init::Xavier => "xavier",
        }
    }

    /// Draws one layer's weights (`[fan_in, fan_out]`, row-major) and bias.
    /// `gain` is the activation's gain for hidden layers and 1 for the output.
    pub fn sample_layer(
        self,
        rng: &mut Pcg64Mcg,
        fan_in: usize,
        fan_out: usize,
        gain: f64,
    ) -> (Vec<f32>, Vec<f32>) {
        let mut normal = |std: f64, count: usize| -> Vec<f32> {
            (0..count)
                .map(|_| (std * rng.sample::<f64, _>(StandardNormal)) as f32)
                .collect()
        };
        let (fan_in_f, fan_out_f) = (fan_in as f64, fan_out as f64);
        match self {
            Init::Scaled => {
                let std = gain / (fan_in_f + 1.0).sqrt();
                (normal(std, fan_in * fan_out), normal(std, fan_out))
            }
            Init::He => (
                normal(gain / fan_in_f.sqrt(), fan_in * fan_out),
                vec![0.0; fan_out],
            ),
            Init::Xavier => {
                let std = gain * (2.0 / (fan_in_f + fan_out_f)).sqrt();
                (normal(std, fan_in * fan_out), vec![0.0; fan_out])
            }
            Init::TorchDefault => {
                let bound = 1.0 / fan_in_f.sqrt();
                let mut uniform = |count: usize| -> Vec<f32> {
                    (0..count)
                        .map(|_| rng.random_range(-bound..bound) as f32)
                        .collect()
                };
                let weights = uniform(fan_in * fan_out);
                (weights, uniform(fan_out))
            }
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
