//! `tympan evaluate`: score a model (a run folder, a released model, or weights) on a list of
//! clips with known labels (a PSLA datafile, a CSV manifest, or a folder of class folders), as
//! PSLA's `validate` does: mAP, mean AUC, d-prime, per-class AP and AUC, and the score matrix in
//! the order of the list.
//!
//! Clips go through the model's evaluation path (`tympan_infer::predict`, the one training's
//! end-of-run evaluation takes): each clip cut or padded to the model's input, so the scores of a
//! run's test list equal its `predictions.npy`. `--hop-s` scores windows over long clips instead
//! and takes their mean, as `tympan tag` does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tympan::infer::Pool;
use tympan_audio::npy;
use tympan_data::audioset::Datafile;
use tympan_metrics::{Matrix, accuracy, evaluate};
use tympan_models::Backend;

const EXAMPLES: &str = "\
Examples:
  tympan evaluate --pretrained psla-audioset --datafile eval_data.json -o eval-psla/
  tympan evaluate --run experiments/runs/us8k-psla --checkpoint wa --manifest clips.csv --fold 10 -o e/
  tympan evaluate --arch psla-effnet-b2 --weights as_mdl_0.pth --labels class_labels_indices.csv \\
      --mean -4.6476 --std 4.5699 --datafile eval_data.json -o e/

The list: a PSLA datafile ({\"data\": [{\"wav\": ..., \"labels\": \"/m/..,/m/..\"}]}; its label
mids are read with the model's AudioSet class list: a released model's, --labels when it is
AudioSet's class_labels_indices.csv, a run folder's copy of the list its training read, else
--class-list), a CSV manifest (path,label[;label] and an optional fold column; --fold keeps one
fold), or a folder with one sub-folder of clips per class.
Classes are matched to the model's by name. Listed files that are absent are skipped and counted.

Writes into OUT: scores.npy [clips, classes] in list order, targets.npy, files.txt (the clips, in
that order), summary.json (mAP, mean AUC, d-prime, accuracy for single-label lists, per-class AP
and AUC) and per_class.csv (index, name, positives, AP, AUC); with --psla-csv also PSLA's
predictions.csv and target.csv; with --psla-stats PSLA's per-class statistics, stats.pickle (what
PSLA's traintest.py pickles as stats_<epoch>.pickle: a list of dicts with precisions, recalls, AP,
fpr, fnr, auc, acc).";

/// Score a model on a labelled list: mAP, AUC, d-prime, per-class AP, the score matrix.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
#[command(group(clap::ArgGroup::new("list").required(true).args(["datafile", "manifest", "folder"])))]
pub struct Args {
    /// The model: a run folder, a released model, or weights with their settings.
    #[command(flatten)]
    source: super::source::ModelSource,
    /// A PSLA datafile (JSON) of clips and label mids.
    #[arg(long)]
    datafile: Option<PathBuf>,
    /// AudioSet's class_labels_indices.csv, to read a datafile's mids (default: the model's).
    #[arg(long, requires = "datafile")]
    class_list: Option<PathBuf>,
    /// A CSV manifest: `path,label[;label...]`, optional `fold`.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// With --manifest: keep only this fold.
    #[arg(long, requires = "manifest")]
    fold: Option<u32>,
    /// A folder with one sub-folder of clips per class.
    #[arg(long)]
    folder: Option<PathBuf>,
    /// Score windows every this many seconds over long clips and take their mean, as `tympan
    /// tag` does (default: each clip cut or padded to the model's input, as training evaluates).
    #[arg(long)]
    hop_s: Option<f64>,
    /// Output folder.
    #[arg(short, long)]
    out: PathBuf,
    /// Also write the scores and targets as PSLA does (`predictions.csv`, `target.csv`:
    /// np.savetxt text, what PSLA's label enhancement scripts read).
    #[arg(long)]
    psla_csv: bool,
    /// Also write PSLA's per-class statistics, `stats.pickle` (`calculate_stats` of PSLA's
    /// stats.py, as its traintest.py pickles them; curves as Python lists, NaN where a class's AP
    /// or AUC is undefined).
    #[arg(long)]
    psla_stats: bool,
    /// Backend.
    #[arg(long, default_value = "flex", value_parser = super::BACKENDS)]
    backend: String,
}

/// A labelled list: files, their multi-hot targets over the model's classes, absent files.
struct List {
    files: Vec<PathBuf>,
    targets: Vec<f32>,
    missing: usize,
}

/// Per-class row of `summary.json` and `per_class.csv`.
#[derive(Serialize)]
struct ClassRow<'a> {
    index: usize,
    name: &'a str,
    positives: usize,
    ap: Option<f64>,
    auc: Option<f64>,
}

#[derive(Serialize)]
struct Summary<'a> {
    model: String,
    list: String,
    clips: usize,
    missing: usize,
    classes: usize,
    map: Option<f64>,
    mean_auc: Option<f64>,
    d_prime: Option<f64>,
    /// Single-label lists: top-1 accuracy.
    accuracy: Option<f64>,
    per_class: Vec<ClassRow<'a>>,
}

/// Clips decoded and scored per group: bounded memory, and a forward batch full of clips.
const GROUP: usize = 64;

pub fn run(a: Args) -> Result<ExitCode> {
    let backend: Backend = a.backend.parse()?;
    let device = backend.device()?;
    let tagger = a.source.tagger(&device)?.with_hop(a.hop_s)?;
    let labels = tagger.labels().to_vec();
    let k = labels.len();
    let (list, what) = read_list(&a, &labels)?;
    if list.files.is_empty() {
        bail!("{what}: no clip of the list is present");
    }
    if list.missing > 0 {
        eprintln!(
            "{what}: {} listed files are absent and skipped",
            list.missing
        );
    }
    let n = list.files.len();
    let pb = super::progress(n as u64, "evaluating");
    let mut scores = Vec::with_capacity(n * k);
    for group in list.files.chunks(GROUP) {
        if a.hop_s.is_some() {
            for f in group {
                scores.extend(tagger.windows(f)?.pool(Pool::Mean));
                pb.inc(1);
            }
            continue;
        }
        let group: Vec<&Path> = group.iter().map(PathBuf::as_path).collect();
        scores.extend(tagger.predict_files(&group)?);
        pb.inc(group.len() as u64);
    }
    pb.finish_and_clear();

    let report = evaluate(
        Matrix::new(&scores, n, k)?,
        Matrix::new(&list.targets, n, k)?,
    )?;
    let single = (0..n).all(|i| {
        list.targets[i * k..(i + 1) * k]
            .iter()
            .filter(|&&t| t > 0.5)
            .count()
            == 1
    });
    let acc = if single {
        let classes: Vec<usize> = (0..n)
            .map(|i| {
                list.targets[i * k..(i + 1) * k]
                    .iter()
                    .position(|&t| t > 0.5)
                    .unwrap_or(0)
            })
            .collect();
        Some(accuracy(Matrix::new(&scores, n, k)?, &classes)?)
    } else {
        None
    };
    let per_class: Vec<ClassRow<'_>> = report
        .classes
        .iter()
        .map(|c| ClassRow {
            index: c.index,
            name: &labels[c.index],
            positives: c.positives,
            ap: c.ap,
            auc: c.auc,
        })
        .collect();
    let summary = Summary {
        model: a.source.describe(),
        list: what.clone(),
        clips: n,
        missing: list.missing,
        classes: k,
        map: report.map,
        mean_auc: report.mean_auc,
        d_prime: report.d_prime,
        accuracy: acc,
        per_class,
    };
    write_outputs(&a.out, &summary, &scores, &list)?;
    if a.psla_csv {
        super::scores::write_psla_csv(&a.out.join("predictions.csv"), &scores, k)?;
        super::scores::write_psla_csv(&a.out.join("target.csv"), &list.targets, k)?;
    }
    if a.psla_stats {
        super::psla_stats::write(&a.out.join("stats.pickle"), &scores, &list.targets, k)?;
    }
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    println!(
        "{what}: {n} clips, {k} classes: mAP {}  mean AUC {}  d' {}{}",
        f(summary.map),
        f(summary.mean_auc),
        f(summary.d_prime),
        acc.map(|a| format!("  accuracy {a:.4}"))
            .unwrap_or_default()
    );
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

fn write_outputs(out: &Path, summary: &Summary<'_>, scores: &[f32], list: &List) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    let (n, k) = (list.files.len(), summary.classes);
    npy::write(&out.join("scores.npy"), scores, &[n, k])?;
    npy::write(&out.join("targets.npy"), &list.targets, &[n, k])?;
    let names: String = list
        .files
        .iter()
        .map(|f| format!("{}\n", f.display()))
        .collect();
    std::fs::write(out.join("files.txt"), names)?;
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(summary)? + "\n",
    )?;
    let mut w = csv::Writer::from_path(out.join("per_class.csv"))?;
    w.write_record(["index", "name", "positives", "ap", "auc"])?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
    for c in &summary.per_class {
        w.write_record([
            c.index.to_string(),
            c.name.to_string(),
            c.positives.to_string(),
            opt(c.ap),
            opt(c.auc),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// The list the flags name, with targets over the model's classes `labels`, and its name.
fn read_list(a: &Args, labels: &[String]) -> Result<(List, String)> {
    if let Some(df) = &a.datafile {
        let classes = match &a.class_list {
            Some(p) => tympan_data::ClassList::load(p)?,
            None => a.source.class_list()?.with_context(|| {
                format!(
                    "{}: a datafile lists label mids, and the model brings no class list of mids \
                     (a run folder holds one when its training read one); give it with \
                     --class-list class_labels_indices.csv",
                    df.display()
                )
            })?,
        };
        if classes.len() != labels.len() {
            bail!(
                "the class list has {} classes, the model {}",
                classes.len(),
                labels.len()
            );
        }
        let data = Datafile::load(df)?;
        let base = df.parent().unwrap_or(Path::new("."));
        let mut list = List {
            files: Vec::new(),
            targets: Vec::new(),
            missing: 0,
        };
        for e in &data.data {
            let p = PathBuf::from(&e.wav);
            let p = if p.is_file() || p.is_absolute() {
                p
            } else {
                base.join(p)
            };
            if !p.is_file() {
                list.missing += 1;
                continue;
            }
            let t = classes
                .multi_hot(e.label_list())
                .with_context(|| format!("{}: {}", df.display(), e.wav))?;
            list.files.push(p);
            list.targets.extend(t);
        }
        return Ok((list, df.display().to_string()));
    }
    let (ds, what) = match (&a.manifest, &a.folder) {
        (Some(m), _) => (
            tympan_data::datasets::csv_manifest(m)?,
            m.display().to_string(),
        ),
        (None, Some(f)) => (
            tympan_data::datasets::folder_per_class(f)?,
            f.display().to_string(),
        ),
        _ => bail!("give --datafile, --manifest or --folder"),
    };
    // The list's classes, by name, among the model's.
    let to_model: Vec<usize> = ds
        .classes
        .iter()
        .map(|c| {
            labels.iter().position(|l| l == c).with_context(|| {
                format!(
                    "{what}: class {c:?} is not one of the model's {} classes",
                    labels.len()
                )
            })
        })
        .collect::<Result<_>>()?;
    let mut list = List {
        files: Vec::new(),
        targets: Vec::new(),
        missing: ds.missing.len(),
    };
    for clip in &ds.clips {
        if a.fold.is_some_and(|f| f != clip.fold) {
            continue;
        }
        let mut t = vec![0.0f32; labels.len()];
        for &l in &clip.labels {
            t[to_model[l]] = 1.0;
        }
        list.files.push(clip.path.clone());
        list.targets.extend(t);
    }
    Ok((list, what))
}
