//! Errors of the model zoo.

use std::path::PathBuf;

/// Errors from creating models and loading weights.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The registry has no model of that name.
    #[error("unknown model `{name}`; did you mean {known}? (`tympan models list` shows all)")]
    UnknownModel {
        /// Requested name.
        name: String,
        /// The nearest known names, comma-separated.
        known: String,
    },
    /// Bad argument to a model constructor.
    #[error("invalid model configuration: {0}")]
    Config(String),
    /// Weights could not be read or did not fit.
    #[error("weights {path}: {reason}")]
    Weights {
        /// File involved.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}
