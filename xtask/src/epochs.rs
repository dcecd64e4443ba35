//! `cargo xtask epochs RUN`: what a finished run's epochs did, from the test predictions it
//! keeps for every epoch (`predictions/epoch-NNN.npy`, beside `targets.npy`, `card.json` and
//! `class_counts.csv`), so it needs no checkpoint.
//!
//! - `epochs.csv`: each epoch's test mAP, mean AUC and d-prime, and those of the checkpoint
//!   ensemble of epochs 1..=e (the mean of their predictions): PSLA Fig. 7's two curves and
//!   Table X's "avg" (the mean of the per-epoch mAPs, printed) and "ensemble" (the last row).
//! - `class_ap.csv`: each class's training labels, test labels, AP of the last epoch and of the
//!   ensemble: AP against label count (PSLA Table VII); the Spearman correlation of AP with the
//!   training count is printed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tympan::metrics::{Matrix, evaluate};
use tympan_audio::npy;

/// `cargo xtask epochs`.
#[derive(clap::Args)]
pub struct EpochsArgs {
    /// A finished run's folder (`experiments/runs/NAME`).
    pub run: PathBuf,
    /// Where `epochs.csv` and `class_ap.csv` go (default: the run's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: &EpochsArgs) -> Result<()> {
    let targets = npy::read(&a.run.join("targets.npy"))
        .with_context(|| format!("{}: not a finished run", a.run.display()))?;
    let [n, k] = [targets.shape[0], targets.shape[1]];
    let epochs = epoch_files(&a.run)?;
    let t = Matrix::new(&targets.data, n, k)?;
    let out = a.out.clone().unwrap_or_else(|| a.run.clone());
    std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
    let mut sum = vec![0f64; n * k];
    let mut rows = csv_writer(&out.join("epochs.csv"))?;
    rows.write_record([
        "epoch",
        "map",
        "auc",
        "d_prime",
        "ensemble_map",
        "ensemble_auc",
        "ensemble_d_prime",
    ])?;
    let mut maps = Vec::new();
    // The last epoch's report and the ensemble's over every epoch.
    let mut last = None;
    for (i, (epoch, path)) in epochs.iter().enumerate() {
        let p = npy::read(path).with_context(|| path.display().to_string())?;
        if p.shape != [n, k] {
            bail!(
                "{}: shape {:?}, targets.npy is [{n}, {k}]",
                path.display(),
                p.shape
            );
        }
        let one = evaluate(Matrix::new(&p.data, n, k)?, t)?;
        sum.iter_mut()
            .zip(&p.data)
            .for_each(|(s, v)| *s += *v as f64);
        let mean: Vec<f32> = sum.iter().map(|s| (s / (i + 1) as f64) as f32).collect();
        let ens = evaluate(Matrix::new(&mean, n, k)?, t)?;
        rows.write_record([
            epoch.to_string(),
            six(one.map),
            six(one.mean_auc),
            six(one.d_prime),
            six(ens.map),
            six(ens.mean_auc),
            six(ens.d_prime),
        ])?;
        maps.extend(one.map);
        last = Some((one, ens));
    }
    rows.flush()?;
    let (last, ens) = last.context("no epoch")?;
    let counts = class_counts(&a.run, k)?;
    let mut classes = csv_writer(&out.join("class_ap.csv"))?;
    classes.write_record([
        "class",
        "train_labels",
        "test_labels",
        "ap_last",
        "ap_ensemble",
    ])?;
    for (c, (name, train, test)) in counts.iter().enumerate() {
        classes.write_record([
            name.clone(),
            train.to_string(),
            test.to_string(),
            six(last.classes[c].ap),
            six(ens.classes[c].ap),
        ])?;
    }
    classes.flush()?;
    let avg = maps.iter().sum::<f64>() / maps.len().max(1) as f64;
    println!(
        "{} epochs: mean of the per-epoch test mAPs {avg:.4} (PSLA Table X \"avg\"), last {}, ensemble of all {}",
        epochs.len(),
        six(last.map),
        six(ens.map),
    );
    let pairs: Vec<(f64, f64)> = counts
        .iter()
        .zip(&last.classes)
        .filter_map(|((_, train, _), c)| c.ap.map(|ap| (*train as f64, ap)))
        .collect();
    match spearman(&pairs) {
        Some(rho) => println!(
            "Spearman correlation of the last epoch's AP with the training label count over {} classes: {rho:.3}",
            pairs.len()
        ),
        None => println!(
            "Spearman correlation of AP with the training label count: undefined over {} classes (fewer than 3, or every class as frequent)",
            pairs.len()
        ),
    }
    println!(
        "wrote {} and {}",
        out.join("epochs.csv").display(),
        out.join("class_ap.csv").display()
    );
    Ok(())
}

/// The run's `predictions/epoch-NNN.npy`, by epoch.
fn epoch_files(run: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let dir = run.join("predictions");
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}: the run keeps no per-epoch predictions", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let stem = p
                .file_stem()?
                .to_str()?
                .strip_prefix("epoch-")?
                .parse()
                .ok()?;
            (p.extension()? == "npy").then_some((stem, p))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no epoch-NNN.npy", dir.display());
    }
    Ok(files)
}

/// `class_counts.csv` as (class, training labels, test labels), `k` rows.
fn class_counts(run: &Path, k: usize) -> Result<Vec<(String, usize, usize)>> {
    let path = run.join("class_counts.csv");
    let mut r = csv::Reader::from_path(&path).with_context(|| path.display().to_string())?;
    let mut out = Vec::new();
    for row in r.records() {
        let row = row.with_context(|| path.display().to_string())?;
        let num = |i: usize| -> Result<usize> {
            row.get(i)
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("{}: bad row {row:?}", path.display()))
        };
        out.push((row.get(0).unwrap_or_default().to_string(), num(1)?, num(3)?));
    }
    if out.len() != k {
        bail!(
            "{}: {} classes, the predictions have {k}",
            path.display(),
            out.len()
        );
    }
    Ok(out)
}

fn csv_writer(path: &Path) -> Result<csv::Writer<std::fs::File>> {
    csv::Writer::from_path(path).with_context(|| path.display().to_string())
}

/// A score with six decimals; empty where there is none (a class without positives).
fn six(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_default()
}

/// Spearman's rank correlation (ties given their mean rank); `None` under 3 pairs or without
/// spread.
fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let ranks = |v: Vec<f64>| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for &t in &idx[i..=j] {
                r[t] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    };
    let a = ranks(pairs.iter().map(|p| p.0).collect());
    let b = ranks(pairs.iter().map(|p| p.1).collect());
    let m = (a.len() - 1) as f64 / 2.0;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(&b) {
        sab += (x - m) * (y - m);
        saa += (x - m) * (x - m);
        sbb += (y - m) * (y - m);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::spearman;

    #[test]
    fn spearman_by_hand() {
        // Monotone: 1; reversed: -1; with a tie (ranks 0.5, 0.5, 2, 3 against 0, 1, 2, 3).
        let up = [(1.0, 10.0), (2.0, 20.0), (3.0, 25.0)];
        assert!((spearman(&up).unwrap() - 1.0).abs() < 1e-12);
        let down = [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)];
        assert!((spearman(&down).unwrap() + 1.0).abs() < 1e-12);
        let tie = [(1.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0)];
        // ranks a = [0.5, 0.5, 2, 3], b = [0, 1, 2, 3], mean 1.5: sab = 4.5, saa = 4.5, sbb = 5.
        assert!((spearman(&tie).unwrap() - 4.5 / (4.5f64 * 5.0).sqrt()).abs() < 1e-12);
        assert_eq!(spearman(&up[..2]), None);
    }
}
