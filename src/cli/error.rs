//! The errors of a command and the exit status of each: 2 for bad input,
//! 1 for a failure while running.

use crate::error::InputError;
use crate::nn::BackendUnavailable;
use crate::report::plot::PlotError;
use crate::report::ReportError;
use crate::study::{MergeError, StudyError};

/// Errors of a command: bad input (exit status 2) or a failure while running
/// (exit status 1).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A value the user gave that cannot be used: exit status 2.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A file could not be read or written: exit status 1.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The work is not finished (shards still missing networks): exit 1.
    #[error("{0}")]
    Incomplete(String),
}

impl CliError {
    /// The process exit status: 2 for bad input, 1 for a failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Input(_) => 2,
            CliError::Io { .. } | CliError::Incomplete(_) => 1,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| CliError::Io { context, source }
    }
}

impl From<BackendUnavailable> for CliError {
    fn from(error: BackendUnavailable) -> Self {
        CliError::Input(InputError::new(
            &format!("--backend {}", error.backend),
            error.reason,
        ))
    }
}

impl From<StudyError> for CliError {
    fn from(error: StudyError) -> Self {
        match error {
            StudyError::Input(input) => CliError::Input(input),
            StudyError::Io { context, source } => CliError::Io { context, source },
        }
    }
}

impl From<MergeError> for CliError {
    fn from(error: MergeError) -> Self {
        match error {
            MergeError::Study(study) => study.into(),
            MergeError::Incomplete(message) => CliError::Incomplete(message),
        }
    }
}

impl From<PlotError> for CliError {
    fn from(plot: PlotError) -> Self {
        CliError::Io {
            context: plot.path,
            source: std::io::Error::other(plot.message),
        }
    }
}

impl From<ReportError> for CliError {
    fn from(error: ReportError) -> Self {
        match error {
            ReportError::Study(study) => study.into(),
            ReportError::Plot(plot) => plot.into(),
            ReportError::Missing(message) => CliError::Input(InputError::new("results", message)),
        }
    }
}
