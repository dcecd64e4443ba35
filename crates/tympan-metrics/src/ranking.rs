//! Per-class ranking metrics: average precision and ROC AUC, exactly as scikit-learn computes them.
//!
//! Both follow sklearn's `_binary_clf_curve` (sklearn/metrics/_ranking.py): samples are sorted by
//! decreasing score and one operating point is emitted per *distinct* score, so tied scores are
//! counted together (never in an arbitrary order). Accumulation is in `f64`.

use crate::MetricsError;

/// Cumulative true/false positives at each distinct score threshold, in decreasing score order.
pub(crate) struct Curve {
    pub(crate) tps: Vec<f64>,
    pub(crate) fps: Vec<f64>,
    /// The score at each operating point (decreasing).
    pub(crate) thresholds: Vec<f32>,
}

/// sklearn `_binary_clf_curve(y_true, y_score)` with unit sample weights.
///
/// `targets` are binarised with `t > 0.5` (AudioSet/PSLA targets are 0/1, soft mixup targets never
/// reach evaluation).
pub(crate) fn binary_clf_curve(scores: &[f32], targets: &[f32]) -> Result<Curve, MetricsError> {
    if scores.len() != targets.len() {
        return Err(MetricsError::Shape(format!(
            "{} scores but {} targets",
            scores.len(),
            targets.len()
        )));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(MetricsError::NonFinite {
            what: "score",
            index: i,
        });
    }
    let mut order: Vec<u32> = (0..scores.len() as u32).collect();
    // Decreasing score. Ties are grouped below, so their internal order does not matter.
    order.sort_unstable_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
    let mut tps = Vec::new();
    let mut fps = Vec::new();
    let mut thresholds = Vec::new();
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    for (k, &i) in order.iter().enumerate() {
        if targets[i as usize] > 0.5 {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last = k + 1 == order.len();
        if last || scores[order[k + 1] as usize] != scores[i as usize] {
            tps.push(tp);
            fps.push(fp);
            thresholds.push(scores[i as usize]);
        }
    }
    Ok(Curve {
        tps,
        fps,
        thresholds,
    })
}

/// Average precision of one class, equal to `sklearn.metrics.average_precision_score`.
///
/// `AP = sum_n (R_n - R_{n-1}) P_n` over distinct thresholds in decreasing score order
/// (no interpolation). Returns [`MetricsError::NoPositives`] when the class has no positive
/// example, where sklearn's value is undefined (it warns and returns 0 or NaN by version).
pub fn average_precision(scores: &[f32], targets: &[f32]) -> Result<f64, MetricsError> {
    let c = binary_clf_curve(scores, targets)?;
    let total_pos = c.tps.last().copied().unwrap_or(0.0);
    if total_pos == 0.0 {
        return Err(MetricsError::NoPositives);
    }
    let mut ap = 0.0f64;
    let mut prev_recall = 0.0f64;
    for (&tp, &fp) in c.tps.iter().zip(&c.fps) {
        let recall = tp / total_pos;
        let precision = tp / (tp + fp);
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Ok(ap)
}

/// Area under the ROC curve of one class, equal to `sklearn.metrics.roc_auc_score`.
///
/// Trapezoidal area under (FPR, TPR) with one point per distinct score, so ties contribute half
/// (the Mann-Whitney convention). Needs at least one positive and one negative example.
pub fn roc_auc(scores: &[f32], targets: &[f32]) -> Result<f64, MetricsError> {
    let c = binary_clf_curve(scores, targets)?;
    let p = c.tps.last().copied().unwrap_or(0.0);
    let n = c.fps.last().copied().unwrap_or(0.0);
    if p == 0.0 {
        return Err(MetricsError::NoPositives);
    }
    if n == 0.0 {
        return Err(MetricsError::NoNegatives);
    }
    let (mut area, mut prev_tp, mut prev_fp) = (0.0f64, 0.0f64, 0.0f64);
    for (&tp, &fp) in c.tps.iter().zip(&c.fps) {
        area += (fp - prev_fp) * (tp + prev_tp) * 0.5;
        prev_tp = tp;
        prev_fp = fp;
    }
    Ok(area / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ap_textbook() {
        // sklearn docs example: average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.8333...
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[0., 0., 1., 1.]).unwrap();
        assert!((ap - 0.833_333_333_333_333_4).abs() < 1e-12);
        let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[0., 0., 1., 1.]).unwrap();
        assert!((auc - 0.75).abs() < 1e-12);
    }

    #[test]
    fn ties_count_half() {
        // All scores tied: AUC is exactly 0.5 and AP is the positive rate.
        let auc = roc_auc(&[0.3; 4], &[1., 0., 0., 1.]).unwrap();
        assert_eq!(auc, 0.5);
        let ap = average_precision(&[0.3; 4], &[1., 0., 0., 0.]).unwrap();
        assert_eq!(ap, 0.25);
    }

    #[test]
    fn undefined_classes_are_errors() {
        assert!(matches!(
            average_precision(&[0.1, 0.2], &[0., 0.]),
            Err(MetricsError::NoPositives)
        ));
        assert!(matches!(
            roc_auc(&[0.1, 0.2], &[1., 1.]),
            Err(MetricsError::NoNegatives)
        ));
        assert!(matches!(
            roc_auc(&[f32::NAN, 0.2], &[1., 0.]),
            Err(MetricsError::NonFinite { .. })
        ));
    }
}
