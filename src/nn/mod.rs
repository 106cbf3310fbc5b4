//! The networks (METHOD §1–§2): activations with their numeric gains, hidden
//! block types, initialisation schemes, the ensemble MLP, the registry of
//! names, and the one file that lists the compute backends.
//!
//! This room imports nothing of `measure`, `train`, `study`, `report` or
//! `cli`: a measure looks inside a forward pass through
//! [`layer::PreActivationObserver`], which the measure room implements.

pub mod activation;
pub mod affine;
pub mod backend;
mod flex;
pub mod init;
pub mod layer;
pub mod mlp;
pub mod moments;
mod narrow;
pub mod registry;
mod simd;
pub mod tanh;

pub use activation::{Activation, ActivationRegistry, ActivationSpec};
pub use affine::FastAffine;
pub use backend::{
    f64_device, run_on, run_on_device, BackendJob, BackendKind, BackendUnavailable, ComputeBackend,
    F64Backend, SupportedBackend,
};
pub use init::Init;
pub use layer::{
    affine, Activate, HostInit, Layer, LayerRegistry, LayerSpec, ParamSpec, PreActivationObserver,
};
pub use mlp::{Mlp, MlpConfig, INPUT_DIM, OUTPUT_DIM};
pub use moments::FastMoments;
pub use registry::Registry;
pub use tanh::FastTanh;
