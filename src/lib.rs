//! `variability`: what makes one fully connected network easier to train than
//! another at a fixed parameter budget.
//!
//! The library follows `METHOD.md` (the project's scientific contract). It is
//! laid out in rooms, one concern each:
//!
//! - [`nn`]: the networks — activations and their gains, hidden layer types,
//!   init schemes, the ensemble MLP, the registry of names, the compute
//!   kernels ([`nn::kernels`]) and the one file that lists the compute
//!   backends ([`nn::backend`]);
//! - [`problem`]: the landscape grid, the checkerboard, losses, accuracy;
//! - [`measure`]: the measures at initialisation and the measurer;
//! - [`train`]: the trainer (Adam) and what a trained network records;
//! - [`study`]: configuration and its one checker, sweeps over worker
//!   threads, records, resumable results directories, summaries;
//! - [`report`]: figures and `summary.md` from a results directory;
//! - [`cli`]: arguments → checked plans → runs; errors → exit codes;
//! - [`bench`](mod@bench): the speed figures of `variability bench`;
//! - leaves everyone may use: [`seed`], [`json`], [`stats`], [`error`].
//!
//! Dependencies point one way (`tests/architecture.rs` checks it):
//!
//! 1. No import cycle between top-level modules, nor between the files of
//!    one folder.
//! 2. `nn` imports nothing of `measure`, `train`, `study`, `report`, `cli`
//!    or `bench`; a measure looks inside a forward pass through
//!    [`nn::PreActivationObserver`], which `measure` implements.
//! 3. `study` and `report` import nothing of `cli`; `report` imports nothing
//!    of `train` or `measure` but the measures' names
//!    ([`measure::names`]): it reads results, it never recomputes.
//! 4. The backends are named in `nn/backend.rs` only: adding one touches
//!    that file.
//! 5. A study file and the command-line flags become the same
//!    [`study::RunConfig`], checked by [`study::RunConfig::check`] alone.

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod bench;
pub mod cli;
pub mod error;
pub mod json;
pub mod measure;
pub mod nn;
pub mod problem;
pub mod report;
pub mod seed;
pub mod stats;
pub mod study;
pub mod theory;
pub mod train;

/// The crate version, recorded with every result.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git revision the binary was built from (`build.rs`), recorded with
/// every result: `unknown` outside a git checkout, `-dirty` with local edits.
pub const REVISION: &str = env!("VARIABILITY_REVISION");
