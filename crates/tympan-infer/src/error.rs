//! What can go wrong between a file and its scores. Each error names the file or clip.

use std::path::PathBuf;

use tympan_models::ModelError;

/// Why a model card could not be read or a clip not scored.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// A file could not be decoded, or its features not computed.
    #[error("{path}: {source}")]
    Audio {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: tympan_audio::AudioError,
    },
    /// A clip in memory could not be resampled, or its features not computed.
    #[error("clip {index}: {source}")]
    Clip {
        /// The clip's place in the call's list.
        index: usize,
        /// The cause.
        source: tympan_audio::AudioError,
    },
    /// The model could not be built or its weights not loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A model card is missing, unreadable or inconsistent.
    #[error("{path}: {reason}")]
    Card {
        /// The card (or the folder that lacks one).
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The model's outputs could not be read back from the device.
    #[error("reading the model's outputs back: {0}")]
    ReadBack(String),
    /// A call's arguments do not fit (a clip without samples, a hop that is not positive).
    #[error("{0}")]
    Input(String),
}

impl InferError {
    /// An audio error of `path`.
    pub(crate) fn audio(path: &std::path::Path) -> impl FnOnce(tympan_audio::AudioError) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Audio { path, source }
    }

    /// This error with a clip error renamed: clip `index` becomes `map(index)`'s error.
    pub fn map_clip(self, map: impl FnOnce(usize, tympan_audio::AudioError) -> Self) -> Self {
        match self {
            Self::Clip { index, source } => map(index, source),
            e => e,
        }
    }
}
