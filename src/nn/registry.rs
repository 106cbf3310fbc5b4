//! Everything the tool can build, by name: activations and block types.
//! The binary uses [`Registry::builtin`]; a program that adds its own
//! registers them here and passes the registry to `cli::run`.

use super::activation::{Activation, ActivationRegistry};
use super::layer::{Layer, LayerRegistry};

#[derive(Clone, Default)]
pub struct Registry {
    pub activations: ActivationRegistry,
    pub layers: LayerRegistry,
}

impl Registry {
    /// The activations and block types shipped with the library.
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

    /// Adds a block type (replacing one of the same name).
    pub fn with_layer(mut self, layer: impl Layer) -> Self {
        self.layers.register(layer);
        self
    }
}
