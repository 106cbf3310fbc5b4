//! Measures at initialisation (METHOD §3): the measures as small tensor
//! functions over an ensemble ([`functions`]), and the [`Measurer`] that
//! takes them on whole ensembles of networks.

pub mod functions;
pub mod measurer;

pub use measurer::{MeasureConfig, Measurer, NetworkMeasures};
