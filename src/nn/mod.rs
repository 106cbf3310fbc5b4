//! The networks (METHOD §1–§2): activations with their numeric gains, hidden
//! layer types, initialisation schemes, the ensemble MLP, the registry of
//! names, the compute kernels and the one file that lists the backends.
//!
//! Inside this room, files depend on each other one way
//! (`tests/architecture.rs` checks it):
//! `kernels/` ← `activation`, `layer` ← `backend` ← `registry` ← `mlp` ←
//! `stack` (a dense ensemble as host vectors, for passes without autodiff).
//! The extension traits ([`Activation`], [`Layer`]) need only the kernel
//! traits ([`KernelBackend`]); `backend` type-erases them for its list of
//! backends; `registry` turns names into specs; `mlp` builds networks.
//!
//! This room imports nothing of `measure`, `train`, `study`, `report` or
//! `cli`: a measure looks inside a forward pass through
//! [`PreActivationObserver`], which the measure room implements.

pub mod activation;
pub mod backend;
pub mod init;
pub mod kernels;
pub mod layer;
pub mod mlp;
pub mod registry;
pub(crate) mod stack;

pub use activation::{Activation, SliceActivation, TensorActivation};
pub use backend::{
    f64_device, run_on, run_on_device, AnyActivation, AnyLayer, BackendJob, BackendKind,
    BackendUnavailable, ComputeBackend, F64Backend, SupportedBackend,
};
pub use init::Init;
pub use kernels::{FastAffine, FastMoments, FastTanh, KernelBackend, SimdLevel};
pub use layer::{
    affine, Activate, HostInit, Layer, LayerForward, ParamSpec, PreActivationObserver,
    DEFAULT_LAYER,
};
pub use mlp::{Mlp, MlpConfig, INPUT_DIM, OUTPUT_DIM, PLANE_DIMS};
pub use registry::{
    ActivationRegistry, ActivationSpec, LayerRegistry, LayerSpec, Registry, UnknownActivation,
    UnknownLayer,
};
