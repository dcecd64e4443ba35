//! Errors of dataset handling. Every error names the file, and the line where there is one.

use std::path::PathBuf;

/// What went wrong reading or writing dataset metadata.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A malformed line of a CSV file (1-based line number).
    #[error("{path}:{line}: {reason}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Why the line was rejected.
        reason: String,
    },
    /// Malformed JSON (line and column from the parser).
    #[error("{path}:{line}:{column}: invalid JSON: {reason}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        reason: String,
    },
    /// Inputs that do not fit together, with no file involved: predictions of the wrong size,
    /// labels missing from a class list, a class without clips, invalid sampling weights.
    #[error("{0}")]
    Mismatch(String),
    /// A worker thread could not be started.
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        /// Which thread (loader, loader workers, prefetch).
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Content that parses but is inconsistent (unknown ids, duplicates...).
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

pub(crate) fn read_text(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn json_error(path: &std::path::Path, e: serde_json::Error) -> DataError {
    DataError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    }
}

/// Messages of mismatched inputs (`Err(format!(...))?` inside the crate) become
/// [`DataError::Mismatch`].
impl From<String> for DataError {
    fn from(reason: String) -> Self {
        Self::Mismatch(reason)
    }
}
