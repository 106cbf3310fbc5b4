//! The library's input error: a mistake in what the user asked for, named by
//! the config key it came from (`grid`, `train.steps`, …). The command line
//! renames the key to its flag and exits with status 2.

/// A value the user gave that cannot be used: which key, and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    /// The config key (or, once the CLI has renamed it, the flag).
    pub field: String,
    /// What is wrong with the value, or what is allowed.
    pub message: String,
}

impl InputError {
    /// An error about the config key `field`.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Checks a count against its minimum.
    pub fn at_least(field: &str, value: usize, minimum: usize) -> Result<(), Self> {
        if value < minimum {
            return Err(Self::new(
                field,
                format!("must be at least {minimum}, got {value}"),
            ));
        }
        Ok(())
    }

    /// Checks that a number is finite and positive.
    pub fn positive(field: &str, value: f64) -> Result<(), Self> {
        if !(value.is_finite() && value > 0.0) {
            return Err(Self::new(
                field,
                format!("must be a positive number, got {value}"),
            ));
        }
        Ok(())
    }
}
