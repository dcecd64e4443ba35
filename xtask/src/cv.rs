//! `cargo xtask cv <recipe> --folds K`: a K-fold cross-validation ensemble, as Jeong & Lim build
//! every cell of their Table 1 (DCASE 2018: "each setting an ensemble of 5 cross-validation
//! models", combined by a geometric mean).
//!
//! Model `i` trains on the training clips outside fold `i` of a seeded, stratified K-fold
//! partition (`data.valid = { cv = { folds = K, index = i } }`) and chooses its checkpoint on
//! fold `i`; the test split is the same for every model and is only scored. The ensemble is the
//! mean (geometric by default, L1-normalised per clip) of the K models' test predictions
//! (`predictions-best.npy`, the model chosen on validation; `predictions.npy`, the last epoch, for
//! models that never validated). Each model is a resumable `cargo xtask train` run in
//! `<out>/fold-<i>/`; a fold whose `summary.json` exists is read, not rerun.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tympan_audio::npy;
use tympan_train::aggregate::ensemble_predictions;
use tympan_train::engine::Summary;
use tympan_train::report::{Scores, score};

use crate::grid::{CellArgs, read_summary, run_cell};

/// Arguments of `cargo xtask cv`.
#[derive(clap::Args)]
pub struct CvArgs {
    /// Recipe name (experiments/<name>.toml) or a path to a recipe file.
    pub recipe: String,
    /// Number of folds (Jeong & Lim: 5).
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Ensemble mean: geometric (Jeong & Lim) or arithmetic.
    #[arg(long, default_value = "geometric", value_parser = ["geometric", "arithmetic"])]
    pub average: String,
    /// Every fold's data folder, overrides and backend.
    #[command(flatten)]
    pub cell: CellArgs,
    /// Folder of the folds and the ensemble (default: experiments/runs/<recipe>-cv<K>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Train (or read) every fold's model, then ensemble their test predictions. Writes
/// `<out>/ensemble-predictions.npy`, `<out>/targets.npy`, `<out>/cv.json` and `<out>/cv.md`.
pub fn run(root: &Path, a: CvArgs) -> Result<()> {
    if a.folds < 2 {
        bail!("--folds must be at least 2, got {}", a.folds);
    }
    // clap admits only geometric or arithmetic.
    let geometric = a.average == "geometric";
    if let Some(s) = a
        .cell
        .set
        .iter()
        .find(|s| s.trim_start().starts_with("data.valid"))
    {
        bail!("--set {s}: cargo xtask cv sets data.valid itself (one fold per model)");
    }
    let stem = Path::new(&a.recipe)
        .file_stem()
        .map_or_else(|| a.recipe.clone(), |s| s.to_string_lossy().into_owned());
    let out_root = a.out.clone().unwrap_or_else(|| {
        root.join("experiments/runs")
            .join(format!("{stem}-cv{}", a.folds))
    });
    for i in 0..a.folds {
        let cv = format!(
            "data.valid={{ cv = {{ folds = {}, index = {i} }} }}",
            a.folds
        );
        run_cell(
            root,
            &a.recipe,
            &a.cell,
            vec![cv],
            out_root.join(format!("fold-{i}")),
            &format!("[fold {}/{}]", i + 1, a.folds),
            &format!("cross-validation fold {i}"),
        )?;
    }
    let report = ensemble(&out_root, a.folds, geometric)?;
    println!("\n{report}");
    Ok(())
}

/// One fold's model as the ensemble sees it.
struct Member {
    summary: Summary,
    predictions: Vec<f32>,
    source: &'static str,
}

fn read_member(dir: &Path) -> Result<(Member, npy::NpyArray)> {
    let summary = read_summary(dir)?
        .with_context(|| format!("{}: the fold has no summary.json", dir.display()))?;
    let best = dir.join("predictions-best.npy");
    let (path, source) = if best.is_file() {
        (best, "predictions-best.npy")
    } else {
        (dir.join("predictions.npy"), "predictions.npy")
    };
    let predictions = npy::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let targets = dir.join("targets.npy");
    let targets = npy::read(&targets).with_context(|| format!("reading {}", targets.display()))?;
    if predictions.shape != targets.shape {
        bail!(
            "{}: predictions {:?} and targets {:?} differ in shape",
            dir.display(),
            predictions.shape,
            targets.shape
        );
    }
    Ok((
        Member {
            summary,
            predictions: predictions.data,
            source,
        },
        targets,
    ))
}

fn ensemble(out_root: &Path, folds: usize, geometric: bool) -> Result<String> {
    let mut members = Vec::with_capacity(folds);
    let mut targets: Option<npy::NpyArray> = None;
    for i in 0..folds {
        let dir = out_root.join(format!("fold-{i}"));
        let (m, t) = read_member(&dir)?;
        match &targets {
            None => targets = Some(t),
            Some(t0) if t0.shape != t.shape || t0.data != t.data => bail!(
                "{}: the test targets differ from fold 0's; the folds were not run on the same test split",
                dir.display()
            ),
            Some(_) => {}
        }
        members.push(m);
    }
    let targets = targets.context("no folds")?;
    let [n, classes] = [targets.shape[0], targets.shape[1]];
    let preds: Vec<Vec<f32>> = members.iter().map(|m| m.predictions.clone()).collect();
    let ens = ensemble_predictions(&preds, &vec![1.0; folds], geometric, classes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", out_root.display()))?;
    let (scores, _) = score(&ens, &targets.data, classes).context("scoring the ensemble")?;
    let p = out_root.join("ensemble-predictions.npy");
    npy::write(&p, &ens, &[n, classes]).with_context(|| format!("writing {}", p.display()))?;
    let t = out_root.join("targets.npy");
    npy::write(&t, &targets.data, &[n, classes])
        .with_context(|| format!("writing {}", t.display()))?;

    let row = |s: &Scores| {
        format!(
            "{:.3} | {:.3} | {:.3} | {:.3}",
            s.accuracy, s.map_at_3, s.map, s.auc
        )
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| model | validation fold | test accuracy | MAP@3 | mAP | AUC | predictions |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for (i, m) in members.iter().enumerate() {
        let s = m.summary.selected.unwrap_or(m.summary.last_epoch);
        let _ = writeln!(md, "| fold {i} | {i} | {} | {} |", row(&s), m.source);
    }
    let mean = if geometric { "geometric" } else { "arithmetic" };
    let _ = writeln!(
        md,
        "| **{mean}-mean ensemble of {folds}** | - | {} | ensemble-predictions.npy |",
        row(&scores)
    );
    let _ = writeln!(
        md,
        "\nTest split: {} clips; each model chose its checkpoint on its own validation fold.",
        n
    );
    std::fs::write(out_root.join("cv.md"), &md)
        .with_context(|| format!("writing {}", out_root.join("cv.md").display()))?;
    let json = serde_json::json!({
        "folds": folds,
        "mean": mean,
        "members": members.iter().map(|m| serde_json::json!({
            "predictions": m.source,
            "selected": m.summary.selected,
            "last_epoch": m.summary.last_epoch,
            "best_epoch": m.summary.best_epoch,
        })).collect::<Vec<_>>(),
        "ensemble": scores,
    });
    let path = out_root.join("cv.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&json)?)
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "wrote {} and {}",
        path.display(),
        out_root.join("cv.md").display()
    );
    Ok(md)
}
