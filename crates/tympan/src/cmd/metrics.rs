//! `tympan metrics`: score a prediction matrix against targets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tympan_audio::npy;
use tympan_metrics::{Matrix, Report, accuracy, evaluate, map_at_k, top_k_accuracy};

const EXAMPLES: &str = "\
Examples:
  tympan metrics --scores preds.npy --targets labels.npy
  tympan metrics --scores preds.csv --targets labels.csv --format json > metrics.json
  tympan metrics --scores s.npy --targets t.npy --labels class_labels_indices.csv --format csv
  # name the classes with AudioSet's class_labels_indices.csv (index,mid,display_name)
  tympan metrics --scores s.npy --targets t.npy --labels class_labels_indices.csv --per-class
  # PSLA's per-class statistics (its stats_<epoch>.pickle) of PSLA's own CSV predictions
  tympan metrics --scores predictions.csv --targets target.csv --psla-stats stats.pickle

Targets are a [samples, classes] 0/1 matrix, or one integer class index per sample (then
accuracy, top-5 and MAP@3 are reported as well). CSV files hold one row per sample; a
non-numeric first row is taken as a header.";

/// Score predictions: mAP, mean AUC, d-prime (PSLA's stats.py) and per-class AP/AUC.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Scores [samples, classes], `.npy` or `.csv`.
    #[arg(long)]
    scores: PathBuf,
    /// Targets [samples, classes] (0/1) or [samples] class indices, `.npy` or `.csv`.
    #[arg(long)]
    targets: PathBuf,
    /// Output: text, JSON, or the per-class table as CSV.
    #[arg(long, value_enum, default_value_t = super::Format::Table)]
    format: super::Format,
    /// Same as `--format json`.
    #[arg(long, hide = true, conflicts_with = "format")]
    json: bool,
    /// Print the per-class table in text mode (always included in JSON).
    #[arg(long)]
    per_class: bool,
    /// Class names: `index,mid,display_name` rows (AudioSet) or one name per line.
    #[arg(long, alias = "class-names")]
    labels: Option<PathBuf>,
    /// Also write PSLA's per-class statistics to this file: a pickle of what PSLA's stats.py
    /// `calculate_stats` returns (precisions, recalls, AP, fpr, fnr, auc, acc per class).
    #[arg(long, value_name = "FILE")]
    psla_stats: Option<PathBuf>,
}

/// A matrix read from `.npy` or `.csv`.
struct Table {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

fn read_table(path: &Path) -> Result<Table> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "npy" {
        let a = npy::read(path)?;
        return match a.shape.as_slice() {
            [n] => Ok(Table {
                rows: *n,
                cols: 1,
                data: a.data,
            }),
            [r, c] => Ok(Table {
                rows: *r,
                cols: *c,
                data: a.data,
            }),
            s => bail!(
                "{}: expected a 1-D or 2-D array, found shape {s:?}",
                path.display()
            ),
        };
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    // Comma, tab or semicolon separated, whichever the first line uses most; read by the csv crate.
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let delimiter = [b',', b'\t', b';']
        .into_iter()
        .max_by_key(|&d| first.bytes().filter(|&b| b == d).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut data = Vec::new();
    let (mut rows, mut cols) = (0usize, None);
    for record in reader.records() {
        let record = record.with_context(|| format!("{}: not CSV", path.display()))?;
        let line = record.position().map_or(0, |p| p.line());
        let parsed: Result<Vec<f32>, _> = record.iter().map(|f| f.parse::<f32>()).collect();
        let values = match parsed {
            Ok(v) => v,
            Err(_) if rows == 0 && data.is_empty() => continue, // header
            Err(e) => bail!(
                "{}: line {line}: {e} in {:?}",
                path.display(),
                record.iter().collect::<Vec<_>>()
            ),
        };
        match cols {
            None => cols = Some(values.len()),
            Some(c) if c != values.len() => {
                bail!(
                    "{}: line {line} has {} values, earlier lines {c}",
                    path.display(),
                    values.len()
                )
            }
            _ => {}
        }
        data.extend(values);
        rows += 1;
    }
    let Some(cols) = cols else {
        bail!("{}: no numeric rows", path.display())
    };
    Ok(Table { rows, cols, data })
}

#[derive(Serialize)]
struct Output {
    scores: String,
    targets: String,
    #[serde(flatten)]
    report: Report,
    /// Single-label metrics, when targets are class indices or one-hot rows.
    accuracy: Option<f64>,
    top5_accuracy: Option<f64>,
    map_at_3: Option<f64>,
    class_names: Option<Vec<String>>,
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.6}"))
}

pub fn run(a: Args) -> Result<ExitCode> {
    let s = read_table(&a.scores)?;
    let t = read_table(&a.targets)?;
    if s.rows != t.rows {
        bail!(
            "{} has {} rows but {} has {}",
            a.scores.display(),
            s.rows,
            a.targets.display(),
            t.rows
        );
    }
    // Targets as class indices -> one-hot.
    let (targets, labels): (Vec<f32>, Option<Vec<usize>>) = if t.cols == 1 && s.cols > 1 {
        let mut onehot = vec![0.0; s.rows * s.cols];
        let mut labels = Vec::with_capacity(s.rows);
        for (r, &v) in t.data.iter().enumerate() {
            if v < 0.0 || v.fract() != 0.0 || v as usize >= s.cols {
                bail!(
                    "{}: row {r}: {v} is not a class index below {}",
                    a.targets.display(),
                    s.cols
                );
            }
            onehot[r * s.cols + v as usize] = 1.0;
            labels.push(v as usize);
        }
        (onehot, Some(labels))
    } else {
        if t.cols != s.cols {
            bail!(
                "{} has {} classes but {} has {}",
                a.scores.display(),
                s.cols,
                a.targets.display(),
                t.cols
            );
        }
        // One positive per row: single-label data given as one-hot.
        let single = t
            .data
            .chunks(t.cols)
            .all(|r| r.iter().filter(|&&v| v > 0.5).count() == 1);
        let labels = single.then(|| {
            t.data
                .chunks(t.cols)
                .map(|r| r.iter().position(|&v| v > 0.5).unwrap_or(0))
                .collect()
        });
        (t.data, labels)
    };
    let sm = Matrix::new(&s.data, s.rows, s.cols)?;
    let tm = Matrix::new(&targets, s.rows, s.cols)?;
    if let Some(p) = &a.psla_stats {
        super::psla_stats::write(p, &s.data, &targets, s.cols)?;
    }
    let report = evaluate(sm, tm)
        .with_context(|| format!("{} vs {}", a.scores.display(), a.targets.display()))?;
    let (acc, top5, map3) = match &labels {
        Some(l) => (
            Some(accuracy(sm, l)?),
            Some(top_k_accuracy(sm, l, 5.min(s.cols))?),
            Some(map_at_k(sm, l, 3)?),
        ),
        None => (None, None, None),
    };
    let names = a
        .labels
        .as_deref()
        .map(super::read_class_names)
        .transpose()?;
    if let Some(n) = &names
        && n.len() != s.cols
    {
        bail!(
            "{}: {} class names for {} classes",
            a.labels.unwrap_or_default().display(),
            n.len(),
            s.cols
        );
    }
    let format = if a.json {
        super::Format::Json
    } else {
        a.format
    };
    if format == super::Format::Csv {
        let mut w = csv::Writer::from_writer(std::io::stdout());
        w.write_record(["class", "name", "positives", "ap", "auc"])?;
        for c in &report.classes {
            let name = names.as_ref().map_or("", |n| n[c.index].as_str());
            w.write_record([
                c.index.to_string(),
                name.to_string(),
                c.positives.to_string(),
                fmt(c.ap),
                fmt(c.auc),
            ])?;
        }
        w.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    if format == super::Format::Json {
        let out = Output {
            scores: a.scores.display().to_string(),
            targets: a.targets.display().to_string(),
            report,
            accuracy: acc,
            top5_accuracy: top5,
            map_at_3: map3,
            class_names: names,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let r = &report;
    println!("samples      {}", r.samples);
    println!("classes      {}", r.classes.len());
    println!("mAP          {}", fmt(r.map));
    println!("mean AUC     {}", fmt(r.mean_auc));
    println!("d-prime      {}", fmt(r.d_prime));
    if labels.is_some() {
        println!("accuracy     {}", fmt(acc));
        println!("top-5 acc    {}", fmt(top5));
        println!("MAP@3        {}", fmt(map3));
    }
    if !r.excluded_ap.is_empty() {
        println!(
            "excluded     {} class(es) without positive examples left out of mAP and mean AUC: {:?}",
            r.excluded_ap.len(),
            r.excluded_ap
        );
    }
    let no_neg: Vec<usize> = r
        .excluded_auc
        .iter()
        .copied()
        .filter(|c| !r.excluded_ap.contains(c))
        .collect();
    if !no_neg.is_empty() {
        println!(
            "excluded     {} class(es) without negative examples left out of mean AUC: {no_neg:?}",
            no_neg.len()
        );
    }
    if a.per_class {
        println!(
            "\n{:>5}  {:>9}  {:>8}  {:>8}  name",
            "class", "positives", "AP", "AUC"
        );
        for c in &r.classes {
            let name = names.as_ref().map_or("", |n| n[c.index].as_str());
            println!(
                "{:>5}  {:>9}  {:>8}  {:>8}  {name}",
                c.index,
                c.positives,
                fmt(c.ap),
                fmt(c.auc)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
