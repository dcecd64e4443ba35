//! Errors of the audio frontend. Every error that concerns a file names the file.

use std::path::PathBuf;

/// What went wrong in the audio frontend.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read file: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty (zero bytes) or holds no audio samples.
    #[error("{path}: empty: {reason}")]
    Empty {
        /// The file.
        path: PathBuf,
        /// Why it counts as empty.
        reason: String,
    },
    /// The file is not in a format tympan can decode (not audio at all, or an unsupported codec).
    #[error("{path}: unsupported or unrecognised format: {reason}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The decoder's reason.
        reason: String,
    },
    /// The file is audio but its stream is damaged or cut short.
    #[error("{path}: corrupt or truncated: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The decoder's reason.
        reason: String,
    },
    /// The decoded samples include NaN or infinite values.
    #[error(
        "{path}: invalid samples: {count} non-finite (NaN/inf) value(s), first at frame {first_frame}"
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// How many non-finite values were found.
        count: usize,
        /// The frame index of the first one.
        first_frame: usize,
    },
    /// Resampling failed or was asked for an impossible rate.
    #[error("resampling {from} Hz -> {to} Hz failed: {reason}")]
    Resample {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// Why.
        reason: String,
    },
    /// Feature extraction options are inconsistent, or the signal is too short for them.
    #[error("invalid feature options: {0}")]
    InvalidOptions(String),
}

/// Result type of the audio frontend.
pub type Result<T, E = AudioError> = std::result::Result<T, E>;
