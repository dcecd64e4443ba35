//! Single-label classification metrics: accuracy, top-k accuracy and MAP@k.

use crate::{Matrix, MetricsError};

fn check(scores: &Matrix<'_>, labels: &[usize]) -> Result<(), MetricsError> {
    if scores.rows() != labels.len() {
        return Err(MetricsError::Shape(format!(
            "{} score rows but {} labels",
            scores.rows(),
            labels.len()
        )));
    }
    if scores.rows() == 0 {
        return Err(MetricsError::Empty);
    }
    if let Some(&l) = labels.iter().find(|&&l| l >= scores.cols()) {
        return Err(MetricsError::Shape(format!(
            "label {l} out of range for {} classes",
            scores.cols()
        )));
    }
    if let Some(i) = scores.as_slice().iter().position(|s| !s.is_finite()) {
        return Err(MetricsError::NonFinite {
            what: "score",
            index: i,
        });
    }
    Ok(())
}

/// 1-based rank of `label` in `row` sorted by decreasing score; ties are broken pessimistically
/// (a class tied with the true one counts as ranked above it), so constant scores earn nothing.
fn rank_of(row: &[f32], label: usize) -> usize {
    let s = row[label];
    1 + row
        .iter()
        .enumerate()
        .filter(|&(j, &v)| j != label && v >= s)
        .count()
}

/// Fraction of samples whose true class has the highest score (ties count as misses).
pub fn accuracy(scores: Matrix<'_>, labels: &[usize]) -> Result<f64, MetricsError> {
    top_k_accuracy(scores, labels, 1)
}

/// Fraction of samples whose true class is among the `k` highest scores.
pub fn top_k_accuracy(scores: Matrix<'_>, labels: &[usize], k: usize) -> Result<f64, MetricsError> {
    check(&scores, labels)?;
    let hits = labels
        .iter()
        .enumerate()
        .filter(|&(r, &l)| rank_of(scores.row(r), l) <= k)
        .count();
    Ok(hits as f64 / labels.len() as f64)
}

/// Mean average precision at `k` for one true label per sample, as the DCASE 2018 task 2 Kaggle
/// leaderboard scored it (`k = 3`): a sample scores `1 / rank` when its label is ranked within the
/// top `k`, else 0.
pub fn map_at_k(scores: Matrix<'_>, labels: &[usize], k: usize) -> Result<f64, MetricsError> {
    check(&scores, labels)?;
    let total: f64 = labels
        .iter()
        .enumerate()
        .map(|(r, &l)| {
            let rank = rank_of(scores.row(r), l);
            if rank <= k { 1.0 / rank as f64 } else { 0.0 }
        })
        .sum();
    Ok(total / labels.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map3_by_hand() {
        // Labels ranked 1st, 2nd, 3rd and 4th -> (1 + 1/2 + 1/3 + 0) / 4.
        let s = [
            0.9, 0.1, 0.0, 0.0, //
            0.5, 0.9, 0.1, 0.0, //
            0.1, 0.9, 0.5, 0.0, //
            0.3, 0.9, 0.5, 0.4,
        ];
        let m = Matrix::new(&s, 4, 4).unwrap();
        let v = map_at_k(m, &[0, 0, 0, 0], 3).unwrap();
        assert!((v - (1.0 + 0.5 + 1.0 / 3.0) / 4.0).abs() < 1e-12);
        assert_eq!(accuracy(m, &[0, 1, 1, 1]).unwrap(), 1.0);
        assert_eq!(top_k_accuracy(m, &[0, 0, 0, 0], 2).unwrap(), 0.5);
        assert!(accuracy(m, &[0, 0, 0, 9]).is_err());
    }
}
