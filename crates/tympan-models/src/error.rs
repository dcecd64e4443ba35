//! Errors of the model zoo.

use std::path::PathBuf;

/// Errors from creating models and loading weights.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The registry has no model of that name.
    #[error("unknown model `{name}`; known models: {known}")]
    UnknownModel {
        /// Requested name.
        name: String,
        /// Comma-separated list of known names.
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
