//! # tympan-metrics
//!
//! Evaluation metrics for audio tagging, part of [tympan](https://github.com/tympan-audio/tympan).
//! Dependency-free apart from `rayon`; usable on its own.
//!
//! - [`average_precision`] and [`roc_auc`] equal scikit-learn's `average_precision_score` and
//!   `roc_auc_score` (ties handled as sklearn does, `f64` accumulation).
//! - [`evaluate`] computes them per class over a `[samples, classes]` score matrix and reduces to
//!   mAP, mean AUC and d-prime = sqrt(2) * Phi^-1(mean AUC), as PSLA's `stats.py` does. Classes
//!   without positive examples (or, for AUC, without negatives) are excluded and reported.
//! - [`precision_recall_curve`] and [`roc_curve`] equal sklearn's (for PSLA's per-class stats).
//! - [`accuracy`], [`top_k_accuracy`] and [`map_at_k`] (MAP@3 as scored in DCASE 2018 task 2).
//!
//! ```
//! use tympan_metrics::{evaluate, Matrix};
//! let scores = [0.9, 0.1, 0.2, 0.8, 0.7, 0.3];
//! let targets = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0];
//! let report = evaluate(Matrix::new(&scores, 3, 2)?, Matrix::new(&targets, 3, 2)?)?;
//! assert_eq!(report.map, Some(1.0));
//! assert_eq!(report.excluded_ap, vec![] as Vec<usize>);
//! # Ok::<(), tympan_metrics::MetricsError>(())
//! ```
#![warn(missing_docs)]

mod classification;
mod curves;
mod normal;
mod ranking;
mod report;

pub use classification::{accuracy, map_at_k, top_k_accuracy};
pub use curves::{PrecisionRecall, Roc, precision_recall_curve, roc_curve};
pub use normal::normal_ppf;
pub use ranking::{average_precision, roc_auc};
pub use report::{ClassMetrics, Report, d_prime, evaluate};

/// What went wrong while computing a metric.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricsError {
    /// Inputs of incompatible shapes.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A score or target is NaN or infinite.
    #[error("non-finite {what} at flat index {index}")]
    NonFinite {
        /// `score` or `target`.
        what: &'static str,
        /// Flat (row-major) index of the first offending value.
        index: usize,
    },
    /// The class has no positive example, so AP and AUC are undefined.
    #[error("class has no positive example")]
    NoPositives,
    /// The class has no negative example, so AUC is undefined.
    #[error("class has no negative example")]
    NoNegatives,
    /// No class had a defined value, so the mean is undefined.
    #[error("no sample or class to evaluate")]
    Empty,
}

/// A borrowed row-major `[rows, cols]` matrix (samples x classes).
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
}

impl<'a> Matrix<'a> {
    /// Wraps `data`, checking that it holds exactly `rows * cols` values.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, MetricsError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(MetricsError::Shape(format!(
                "{} values cannot form a {rows}x{cols} matrix",
                data.len()
            )));
        }
        Ok(Self { data, rows, cols })
    }
    /// Number of rows (samples).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns (classes).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Row `r`.
    pub fn row(&self, r: usize) -> &'a [f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
    /// The whole buffer, row-major.
    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }
    /// Copies column `c` out.
    pub fn column(&self, c: usize) -> Vec<f32> {
        (0..self.rows)
            .map(|r| self.data[r * self.cols + c])
            .collect()
    }
}

/// The README's examples, compiled (and run unless marked `no_run`) as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
