//! PSLA's per-class statistics: what `calculate_stats` (PSLA `src/utilities/stats.py`) returns and
//! `train` pickles as `stats_<epoch>.pickle` (`src/traintest.py`): one dict per class with
//! `precisions`, `recalls` (every 1000th point of sklearn's precision-recall curve), `AP`, `fpr`,
//! `fnr` (every 1000th point of the ROC curve, `fnr = 1 - tpr`), `auc` and `acc` (the accuracy of
//! the argmax of the scores against the argmax of the targets, the same in every dict).
//!
//! Differences a reader of the pickle sees: the curves are Python lists, not numpy arrays (PSLA's
//! own readers index them, `stat['precisions'][i]`, which both allow); a class whose AP or AUC is
//! undefined (no positive, or no negative, clip in the list) holds NaN there, where sklearn's
//! `roc_auc_score` raises and PSLA's script stops.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use tympan_metrics::{Matrix, average_precision, precision_recall_curve, roc_auc, roc_curve};

/// PSLA's `save_every_steps`.
const EVERY: usize = 1000;

#[derive(Serialize)]
struct ClassStats {
    precisions: Vec<f64>,
    recalls: Vec<f64>,
    #[serde(rename = "AP")]
    ap: f64,
    fpr: Vec<f64>,
    fnr: Vec<f64>,
    auc: f64,
    acc: f64,
}

/// numpy's `argmax`: the first index of the largest value.
fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

fn every_1000th(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().step_by(EVERY).collect()
}

/// The statistics of `scores` against `targets` (`[clips, classes]`, row-major), PSLA's way.
fn stats(scores: &[f32], targets: &[f32], classes: usize) -> Result<Vec<ClassStats>> {
    let rows = scores.len() / classes.max(1);
    let (scores, targets) = (
        Matrix::new(scores, rows, classes)?,
        Matrix::new(targets, rows, classes)?,
    );
    let hits = (0..rows)
        .filter(|&r| argmax(scores.row(r)) == argmax(targets.row(r)))
        .count();
    let acc = hits as f64 / rows as f64;
    (0..classes)
        .map(|c| {
            let (s, t) = (scores.column(c), targets.column(c));
            let pr = precision_recall_curve(&s, &t).with_context(|| format!("class {c}"))?;
            let roc = roc_curve(&s, &t).with_context(|| format!("class {c}"))?;
            Ok(ClassStats {
                precisions: every_1000th(pr.precision),
                recalls: every_1000th(pr.recall),
                ap: average_precision(&s, &t).unwrap_or(f64::NAN),
                fnr: every_1000th(roc.tpr.iter().map(|t| 1.0 - t).collect()),
                fpr: every_1000th(roc.fpr),
                auc: roc_auc(&s, &t).unwrap_or(f64::NAN),
                acc,
            })
        })
        .collect()
}

/// Write PSLA's statistics of a score matrix to `path` (a pickle, protocol 3).
pub fn write(path: &Path, scores: &[f32], targets: &[f32], classes: usize) -> Result<()> {
    let stats = stats(scores, targets, classes)?;
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| path.display().to_string())?,
    );
    serde_pickle::to_writer(&mut f, &stats, serde_pickle::SerOptions::new())
        .with_context(|| path.display().to_string())?;
    Ok(())
}
