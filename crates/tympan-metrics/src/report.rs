//! Multi-label evaluation over a score matrix: per-class AP/AUC, mAP, mean AUC, d-prime.

use rayon::prelude::*;
use serde::Serialize;

use crate::{Matrix, MetricsError, average_precision, normal_ppf, roc_auc};

/// Metrics of one class.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassMetrics {
    /// Column index of the class.
    pub index: usize,
    /// Number of positive examples.
    pub positives: usize,
    /// Average precision; `None` when the class has no positive example.
    pub ap: Option<f64>,
    /// ROC AUC; `None` when the class has no positive or no negative example.
    pub auc: Option<f64>,
}

/// Evaluation of a `[samples, classes]` score matrix against binary targets.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Number of samples (rows).
    pub samples: usize,
    /// Per-class values, in column order.
    pub classes: Vec<ClassMetrics>,
    /// Mean AP over the classes that have one; `None` if no class does.
    pub map: Option<f64>,
    /// Mean ROC AUC over the classes that have one.
    pub mean_auc: Option<f64>,
    /// `sqrt(2) * Phi^-1(mean_auc)`, PSLA's d-prime.
    pub d_prime: Option<f64>,
    /// Classes left out of mAP because they have no positive example.
    pub excluded_ap: Vec<usize>,
    /// Classes left out of mean AUC because they lack positives or negatives.
    pub excluded_auc: Vec<usize>,
}

/// d-prime from an AUC, as PSLA's `stats.py`: `norm.ppf(auc) * sqrt(2)`.
pub fn d_prime(auc: f64) -> f64 {
    normal_ppf(auc) * std::f64::consts::SQRT_2
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Per-class AP and AUC (in parallel over classes) and their means.
///
/// Targets are binarised at 0.5. Classes without positives are excluded from mAP and mean AUC,
/// and classes without negatives from mean AUC; both are listed in the report.
pub fn evaluate(scores: Matrix<'_>, targets: Matrix<'_>) -> Result<Report, MetricsError> {
    if scores.rows() != targets.rows() || scores.cols() != targets.cols() {
        return Err(MetricsError::Shape(format!(
            "scores are {}x{} but targets are {}x{}",
            scores.rows(),
            scores.cols(),
            targets.rows(),
            targets.cols()
        )));
    }
    if scores.rows() == 0 || scores.cols() == 0 {
        return Err(MetricsError::Empty);
    }
    for (what, m) in [("score", &scores), ("target", &targets)] {
        if let Some(index) = m.as_slice().iter().position(|v| !v.is_finite()) {
            return Err(MetricsError::NonFinite { what, index });
        }
    }
    let classes = (0..scores.cols())
        .into_par_iter()
        .map(|c| {
            let s = scores.column(c);
            let t = targets.column(c);
            let positives = t.iter().filter(|&&v| v > 0.5).count();
            let ap = match average_precision(&s, &t) {
                Ok(v) => Some(v),
                Err(MetricsError::NoPositives) => None,
                Err(e) => return Err(e),
            };
            let auc = match roc_auc(&s, &t) {
                Ok(v) => Some(v),
                Err(MetricsError::NoPositives | MetricsError::NoNegatives) => None,
                Err(e) => return Err(e),
            };
            Ok(ClassMetrics {
                index: c,
                positives,
                ap,
                auc,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let map = mean(classes.iter().filter_map(|c| c.ap));
    let mean_auc = mean(classes.iter().filter_map(|c| c.auc));
    Ok(Report {
        samples: scores.rows(),
        map,
        mean_auc,
        d_prime: mean_auc.map(d_prime),
        excluded_ap: classes
            .iter()
            .filter(|c| c.ap.is_none())
            .map(|c| c.index)
            .collect(),
        excluded_auc: classes
            .iter()
            .filter(|c| c.auc.is_none())
            .map(|c| c.index)
            .collect(),
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_and_counts_undefined_classes() {
        // Class 1 has no positives, class 2 no negatives.
        let s = [0.9, 0.2, 0.5, 0.1, 0.3, 0.6];
        let t = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let r = evaluate(
            Matrix::new(&s, 2, 3).unwrap(),
            Matrix::new(&t, 2, 3).unwrap(),
        )
        .unwrap();
        assert_eq!(r.excluded_ap, vec![1]);
        assert_eq!(r.excluded_auc, vec![1, 2]);
        assert_eq!(r.classes[0].ap, Some(1.0));
        assert_eq!(r.map, Some(1.0));
        assert_eq!(r.mean_auc, Some(1.0));
        assert_eq!(r.d_prime, Some(f64::INFINITY));
    }
}
