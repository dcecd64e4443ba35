//! Per-class precision-recall and ROC curves, as scikit-learn returns them, for PSLA's per-class
//! statistics (`src/utilities/stats.py` keeps every 1000th point of both curves).
//!
//! Both start from the operating points of [`average_precision`](crate::average_precision) (one
//! per distinct score, sklearn's `_binary_clf_curve`) and follow `precision_recall_curve` and
//! `roc_curve` of sklearn/metrics/_ranking.py (sklearn 1.1 and later: no truncation of the
//! precision-recall curve at full recall; `roc_curve` with `drop_intermediate=True` and an
//! infinite first threshold).

use crate::MetricsError;
use crate::ranking::binary_clf_curve;

/// A precision-recall curve, in sklearn's order: thresholds increasing, recall decreasing, and a
/// last point (precision 1, recall 0) without a threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionRecall {
    /// Precision at each threshold, then 1.
    pub precision: Vec<f64>,
    /// Recall at each threshold, then 0. All 1 when the class has no positive (sklearn warns).
    pub recall: Vec<f64>,
    /// The distinct scores, increasing (one fewer than `precision`).
    pub thresholds: Vec<f32>,
}

/// A ROC curve, in sklearn's order: from (0, 0) at an infinite threshold to (1, 1), keeping only
/// the corners (`drop_intermediate=True`).
#[derive(Debug, Clone, PartialEq)]
pub struct Roc {
    /// False positive rate; NaN everywhere when the class has no negative (sklearn warns).
    pub fpr: Vec<f64>,
    /// True positive rate; NaN everywhere when the class has no positive.
    pub tpr: Vec<f64>,
    /// `inf`, then the kept distinct scores, decreasing.
    pub thresholds: Vec<f64>,
}

/// `sklearn.metrics.precision_recall_curve(targets, scores)`.
pub fn precision_recall_curve(
    scores: &[f32],
    targets: &[f32],
) -> Result<PrecisionRecall, MetricsError> {
    let c = binary_clf_curve(scores, targets)?;
    let total = c.tps.last().copied().ok_or(MetricsError::Empty)?;
    let mut precision: Vec<f64> = c
        .tps
        .iter()
        .zip(&c.fps)
        .rev()
        .map(|(&tp, &fp)| tp / (tp + fp))
        .collect();
    let mut recall: Vec<f64> = c
        .tps
        .iter()
        .rev()
        .map(|&tp| if total == 0.0 { 1.0 } else { tp / total })
        .collect();
    precision.push(1.0);
    recall.push(0.0);
    let thresholds = c.thresholds.iter().rev().copied().collect();
    Ok(PrecisionRecall {
        precision,
        recall,
        thresholds,
    })
}

/// `sklearn.metrics.roc_curve(targets, scores)` (`drop_intermediate=True`).
pub fn roc_curve(scores: &[f32], targets: &[f32]) -> Result<Roc, MetricsError> {
    let c = binary_clf_curve(scores, targets)?;
    let n = c.tps.len();
    if n == 0 {
        return Err(MetricsError::Empty);
    }
    // Keep the first and last points and every point where the curve bends: a non-zero second
    // difference of the false or the true positive counts.
    let keep: Vec<usize> = if n > 2 {
        let bends = |v: &[f64], i: usize| v[i + 1] - 2.0 * v[i] + v[i - 1] != 0.0;
        (0..n)
            .filter(|&i| i == 0 || i == n - 1 || bends(&c.fps, i) || bends(&c.tps, i))
            .collect()
    } else {
        (0..n).collect()
    };
    let rate = |v: &[f64]| -> Vec<f64> {
        let total = v[n - 1];
        std::iter::once(0.0)
            .chain(keep.iter().map(|&i| v[i]))
            .map(|x| if total > 0.0 { x / total } else { f64::NAN })
            .collect()
    };
    let thresholds = std::iter::once(f64::INFINITY)
        .chain(keep.iter().map(|&i| f64::from(c.thresholds[i])))
        .collect();
    Ok(Roc {
        fpr: rate(&c.fps),
        tpr: rate(&c.tps),
        thresholds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sklearn_docs_examples() {
        // sklearn's docstrings: precision_recall_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]).
        let pr = precision_recall_curve(&[0.1, 0.4, 0.35, 0.8], &[0., 0., 1., 1.]).unwrap();
        assert_eq!(pr.precision, vec![0.5, 2.0 / 3.0, 0.5, 1.0, 1.0]);
        assert_eq!(pr.recall, vec![1.0, 1.0, 0.5, 0.5, 0.0]);
        assert_eq!(pr.thresholds, vec![0.1, 0.35, 0.4, 0.8]);
        // roc_curve([1, 1, 2, 2], [0.1, 0.4, 0.35, 0.8], pos_label=2).
        let roc = roc_curve(&[0.1, 0.4, 0.35, 0.8], &[0., 0., 1., 1.]).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, 0.5, 0.5, 1.0, 1.0]);
        assert_eq!(roc.thresholds[0], f64::INFINITY);
        assert_eq!(
            &roc.thresholds[1..],
            &[0.8, 0.4, 0.35, 0.1].map(|t: f32| t as f64)
        );
    }

    #[test]
    fn straight_runs_are_dropped() {
        // Four positives ranked first: the points between the corners lie on one segment.
        let s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        let t = [1., 1., 1., 1., 0., 0.];
        let roc = roc_curve(&s, &t).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, 0.25, 1.0, 1.0]);
    }
}
