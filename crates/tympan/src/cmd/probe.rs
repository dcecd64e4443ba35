//! `tympan probe`: a shallow fully connected classifier on fixed features (embeddings from
//! `tympan embed`, or raw patches with `tympan embed --raw`), Hershey et al. Sec. 4.4.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use tympan_audio::npy;
use tympan_models::Backend;
use tympan_train::probe::{ProbeConfig, Rows, fit};

const EXAMPLES: &str = "\
Examples:
  # embeddings of a CNN trained on UrbanSound8K, a classifier on FSDD
  tympan embed --arch hershey-fc-b128 --weights us8k/model-last.bpk --classes 10 \\
      --mean M --std S $(ls fsdd/recordings/*_[5-9]*.wav) -o train.npy
  cut -d/ -f3 train.txt | cut -d_ -f1 > train_labels.txt   # one label per row
  tympan probe --train train.npy --train-labels train_labels.txt \\
      --test test.npy --test-labels test_labels.txt";

/// Train and test a shallow classifier on feature rows.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Training features `[n, dim]` (.npy).
    #[arg(long)]
    train: PathBuf,
    /// One label per training row.
    #[arg(long)]
    train_labels: PathBuf,
    /// Test features `[m, dim]`.
    #[arg(long)]
    test: PathBuf,
    /// One label per test row.
    #[arg(long)]
    test_labels: PathBuf,
    /// Hidden ReLU layer widths, comma-separated; empty for logistic regression.
    #[arg(long, value_delimiter = ',', default_value = "256")]
    hidden: Vec<usize>,
    /// Epochs.
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Backend.
    #[arg(long, default_value = "flex", value_parser = super::BACKENDS)]
    backend: String,
}

fn labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    Ok(text
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

pub fn run(a: Args) -> Result<ExitCode> {
    let (tr, te) = (npy::read(&a.train)?, npy::read(&a.test)?);
    let (ltr, lte) = (labels(&a.train_labels)?, labels(&a.test_labels)?);
    for (m, l, p) in [(&tr, &ltr, &a.train), (&te, &lte, &a.test)] {
        if m.shape.len() != 2 || m.shape[0] != l.len() {
            bail!(
                "{}: shape {:?} does not match {} labels",
                p.display(),
                m.shape,
                l.len()
            );
        }
    }
    if tr.shape[1] != te.shape[1] {
        bail!(
            "train and test dimensions differ: {} vs {}",
            tr.shape[1],
            te.shape[1]
        );
    }
    let mut names: Vec<String> = ltr.iter().chain(&lte).cloned().collect();
    names.sort();
    names.dedup();
    let idx = |l: &[String]| -> Vec<usize> {
        l.iter()
            .map(|s| names.binary_search(s).unwrap_or(0))
            .collect()
    };
    let cfg = ProbeConfig {
        hidden: a.hidden.clone(),
        epochs: a.epochs,
        lr: a.lr,
        seed: a.seed,
        ..ProbeConfig::default()
    };
    let device = a.backend.parse::<Backend>()?.device()?;
    let (ytr, yte) = (idx(&ltr), idx(&lte));
    let r = fit(
        Rows {
            x: &tr.data,
            labels: &ytr,
        },
        Rows {
            x: &te.data,
            labels: &yte,
        },
        tr.shape[1],
        names.len(),
        &cfg,
        &device,
    )?;
    println!(
        "{} classes, {} training / {} test rows of dimension {}: train accuracy {:.4}, test accuracy {:.4}",
        names.len(),
        ltr.len(),
        lte.len(),
        tr.shape[1],
        r.train_accuracy,
        r.test_accuracy
    );
    Ok(ExitCode::SUCCESS)
}
