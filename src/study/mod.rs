//! Studies (METHOD §5): configuration and its one checker, the sweep over
//! worker threads, result records, the resumable results directory, the
//! summaries, and shards of a study merged back into one.

pub mod config;
pub mod merge;
pub mod progress;
pub mod records;
pub mod results;
pub mod shard;
pub mod summary;
pub mod sweep;

/// The measure names summaries are keyed by, for readers of results (the
/// report room reads them here, never from the measuring room).
pub use crate::measure::Measure;
pub use config::{ModelConfig, RunConfig, StudyConfig, StudyPlan};
pub use merge::{merge_shards, MergeError, MergeReport};
pub use progress::{Progress, ProgressMode};
pub use records::{MeasureRecord, NetworkKey, RunRecord};
pub use results::{landscape_file_name, run_study, ResultsDir};
pub use shard::Shard;
pub use summary::{Correlation, PointSummary, StudySummary};
pub use sweep::{Landscape, Point, Sweep, Task, TaskOutput};

use crate::error::InputError;

/// Errors of a study run: bad input, or a file that could not be read or
/// written.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// A value the user gave that cannot be used.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

/// Wraps an I/O error with what was being done.
pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StudyError {
    let context = context.into();
    move |source| StudyError::Io { context, source }
}

/// Writes a whole file atomically ([`crate::json::write_atomically`]),
/// naming the file in the error.
pub fn write_file(path: &std::path::Path, contents: &[u8]) -> Result<(), StudyError> {
    crate::json::write_atomically(path, contents)
        .map_err(io_error(format!("writing {}", path.display())))
}
