//! Studies (METHOD §5): configuration and its one checker, the sweep over
//! worker threads, result records, the resumable results directory, the
//! summaries, and shards of a study merged back into one.

pub mod config;
pub mod progress;
pub mod records;
pub mod results;
pub mod shard;
pub mod summary;
pub mod sweep;

pub use config::{ModelConfig, RunConfig, StudyConfig, StudyPlan};
pub use progress::{Progress, ProgressMode};
pub use records::{MeasureRecord, NetworkKey, RunRecord};
pub use results::{landscape_file_name, run_study, ResultsDir};
pub use shard::{merge_shards, MergeError, MergeReport, Shard};
pub use summary::{Correlation, PointSummary, StudySummary};
pub use sweep::{Landscape, Point, Sweep, Task, TaskOutput};

use crate::error::InputError;

/// Errors of a study run: bad input, or a file that could not be read or
/// written.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// Wraps an I/O error with what was being done.
pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StudyError {
    let context = context.into();
    move |source| StudyError::Io { context, source }
}
