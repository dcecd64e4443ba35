//! `tympan enhance-labels`: PSLA label enhancement (Algorithm 2).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use tympan_data::enhance::{EnhanceType, Threshold, enhance, thresholds};
use tympan_data::{ClassList, Datafile, Ontology};

const EXAMPLES: &str = "\
Examples:
  tympan enhance-labels --datafile train.json --predictions teacher_train.npy \\
      --ontology ontology.json --labels class_labels_indices.csv --type 12 --threshold mean -o train_enh.json
  # a lower threshold adds more labels
  tympan enhance-labels ... --threshold 10 -o train_enh_p10.json

--predictions holds the teacher's scores on the datafile's clips, [clips, classes], in datafile order:
.npy (tympan evaluate's scores.npy), or PSLA's CSV (np.savetxt, as its released
predictions_as_bal/predictions.csv, for PSLA's own datafile).";

/// Add missing labels supported by the ontology and a teacher's predictions (PSLA Algorithm 2).
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// PSLA JSON datafile to enhance.
    #[arg(long)]
    datafile: PathBuf,
    /// Teacher predictions on the datafile's clips, [clips, classes]: `.npy`, or PSLA's `.csv`.
    #[arg(long)]
    predictions: PathBuf,
    /// AudioSet `ontology.json`.
    #[arg(long)]
    ontology: PathBuf,
    /// `class_labels_indices.csv` (`--labels` names a class list in every command).
    #[arg(long, alias = "classes")]
    labels: PathBuf,
    /// 1: add children, 2: add ancestors, 12: both.
    #[arg(long = "type", value_parser = ["1", "2", "12"])]
    kind: String,
    /// mean, median, or a percentile such as 25, 10, 5.
    #[arg(long, default_value = "mean")]
    threshold: String,
    /// Enhanced datafile to write.
    #[arg(short, long)]
    output: PathBuf,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let threshold: Threshold = a.threshold.parse()?;
    let kind = match a.kind.as_str() {
        "1" => EnhanceType::TypeI,
        "2" => EnhanceType::TypeII,
        _ => EnhanceType::Both,
    };
    let data = Datafile::load(&a.datafile)?;
    let onto = Ontology::load(&a.ontology)?;
    let classes = ClassList::load(&a.labels)?;
    let preds = super::scores::read(&a.predictions)?;
    if preds.shape != [data.data.len(), classes.len()] {
        bail!(
            "{}: shape {:?}, expected [{}, {}] ({} clips in {}, {} classes)",
            a.predictions.display(),
            preds.shape,
            data.data.len(),
            classes.len(),
            data.data.len(),
            a.datafile.display(),
            classes.len()
        );
    }
    let ctx = || format!("{}", a.datafile.display());
    let t = thresholds(&data, &preds.data, &classes, threshold).with_context(ctx)?;
    let (out, report) = enhance(&data, &preds.data, &classes, &onto, &t, kind).with_context(ctx)?;
    out.save(&a.output)?;
    let original: usize = data.data.iter().map(|e| e.label_list().count()).sum();
    println!(
        "added {} labels to {} of {} clips ({} original labels, +{:.1} %); wrote {}",
        report.total_added,
        report.clips_changed,
        data.data.len(),
        original,
        100.0 * report.total_added as f64 / original.max(1) as f64,
        a.output.display()
    );
    let mut top: Vec<(usize, usize)> = report
        .added_per_class
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, n)| n > 0)
        .collect();
    top.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    for (k, n) in top.iter().take(10) {
        println!("  +{n:<6} {}", classes.classes()[*k].name);
    }
    Ok(ExitCode::SUCCESS)
}
