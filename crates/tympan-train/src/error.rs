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
    /// The ImageNet weights a recipe asks for are not there; `hint` says where to get them.
    #[error("ImageNet weights not found at {path}: {hint}")]
    MissingWeights {
        /// Expected location.
        path: PathBuf,
        /// How to get them.
        hint: String,
    },
    /// Data could not be prepared.
    #[error(transparent)]
    Data(#[from] tympan_data::DataError),
    /// Audio could not be decoded or featurised.
    #[error("{}", with_path(path, source))]
    Audio {
        /// The clip.
        path: PathBuf,
        /// Why.
        source: tympan_audio::AudioError,
    },
    /// Model creation or weights.
    #[error(transparent)]
    Model(#[from] tympan_models::ModelError),
    /// Evaluation through the inference layer, or the model card.
    #[error(transparent)]
    Infer(#[from] tympan_infer::InferError),
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
    /// The loss became non-finite.
    #[error(
        "training diverged: loss {loss} at epoch {epoch}, batch {batch}; nothing of epoch \
         {epoch} was kept, the last good checkpoint is epoch {committed} (resume from it with \
         --resume, e.g. at a lower rate)"
    )]
    Diverged {
        /// The loss value (NaN or infinite).
        loss: f32,
        /// 1-based epoch.
        epoch: usize,
        /// 0-based batch within the epoch.
        batch: usize,
        /// The last committed epoch (0: none), whose checkpoint is intact.
        committed: usize,
    },
    /// A tensor could not be read back from the device.
    #[error("reading a tensor back from the device: {0}")]
    ReadBack(String),
    /// The batch-building thread ended without sending the batch (it panicked).
    #[error("the batch loader stopped before batch {batch} of epoch {epoch}")]
    LoaderStopped {
        /// 1-based epoch.
        epoch: usize,
        /// 0-based batch within the epoch.
        batch: usize,
    },
    /// A probe's inputs do not fit together.
    #[error("probe: {0}")]
    Probe(String),
    /// The run stopped on request (`RunOptions::stop_after`) before its last epoch; the
    /// experiment folder holds a resumable state.
    #[error("{out_dir}: stopped after epoch {done} of {epochs} (resume with --resume)")]
    Stopped {
        /// Experiment folder.
        out_dir: PathBuf,
        /// Epochs completed and checkpointed.
        done: usize,
        /// Epochs of the recipe.
        epochs: usize,
    },
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

/// `source`'s message, prefixed with `path` unless it names the file already (every
/// [`tympan_audio::AudioError`] about a file does).
fn with_path(path: &std::path::Path, source: &tympan_audio::AudioError) -> String {
    let msg = source.to_string();
    let shown = path.display().to_string();
    if msg.contains(&shown) {
        msg
    } else {
        format!("{shown}: {msg}")
    }
}
