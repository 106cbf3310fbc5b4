//! Measures at initialisation (METHOD §3): the measures as small tensor
//! functions over an ensemble ([`functions`]), and the [`Measurer`] that
//! takes them on whole ensembles of networks; the field's zero-cost
//! proxies beside them ([`proxies`]).

pub mod functions;
mod host;
pub mod measurer;
pub mod names;
pub mod proxies;

pub use measurer::{grid_measures, GridMeasures, MeasureConfig, Measurer, NetworkMeasures};
pub use names::Measure;
pub use proxies::Proxies;
