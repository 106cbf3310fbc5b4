//! `variability`: what makes one fully connected network easier to train than
//! another at a fixed parameter budget.
//!
//! The library follows `METHOD.md` (the project's scientific contract):
//!
//! - [`activation`]: activation functions, their gain and active-unit rule;
//! - [`layer`]: hidden block types (dense, residual, layernorm-dense), the
//!   extension point for new ones;
//! - [`model`]: the MLP family as an ensemble of independent networks,
//!   fixed-budget sizing, initialisation schemes and seeding;
//! - [`problem`]: the landscape grid and the checkerboard model problem;
//! - [`measures`]: variability measures at initialisation, as tensor functions;
//! - [`measurement`]: measuring whole (activation, depth) points into records;
//! - [`backend`]: the compute backends, listed in one place;
//! - [`stats`]: small summaries (mean, std, median) over seeds;
//! - [`bench`]: the speed figures of `variability bench`.

pub mod activation;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod layer;
pub mod measurement;
pub mod measures;
pub mod model;
pub mod plot;
pub mod problem;
pub mod records;
pub mod registry;
pub mod report;
pub mod progress;
pub mod stats;
pub mod study;
pub mod sweep;
pub mod training;

/// The crate version, recorded with every result.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
