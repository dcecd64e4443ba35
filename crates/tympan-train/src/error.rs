//! Errors of the training engine.

use std::path::PathBuf;

/// Errors from recipes, data preparation, training and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A recipe could not be read or is invalid.
    #[error("recipe {path}: {reason}")]
    Recipe {
        /// Recipe file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The dataset is absent; `hint` says how to get it.
    #[error("dataset not found at {path}: {hint}")]
    MissingData {
        /// Expected location.
        path: PathBuf,
        /// How to fetch it.
        hint: String,
    },
    /// Data could not be prepared.
    #[error(transparent)]
    Data(#[from] tympan_data::DataError),
    /// Audio could not be decoded or featurised.
    #[error("{path}: {source}")]
    Audio {
        /// The clip.
        path: PathBuf,
        /// Why.
        source: tympan_audio::AudioError,
    },
    /// Model creation or weights.
    #[error(transparent)]
    Model(#[from] tympan_models::ModelError),
    /// Metrics failed.
    #[error("metrics: {0}")]
    Metrics(#[from] tympan_metrics::MetricsError),
    /// A checkpoint could not be written or read.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// I/O on the experiment folder.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Training diverged.
    #[error("training diverged: {0}")]
    Diverged(String),
    /// The thread of a data-parallel shard panicked (a backend error on that device).
    #[error("data-parallel shard {shard} (on {device}) failed: {reason}")]
    Shard {
        /// Shard index (0: the main device).
        shard: usize,
        /// The device, as Burn prints it.
        device: String,
        /// The panic message.
        reason: String,
    },
}
