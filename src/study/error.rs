//! The errors of a study run, and the atomic file write that reports one
//! with the file's name.

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
