//! `cargo xtask train <recipe>`: run an experiment recipe from `experiments/` end to end.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tympan_models::Backend;
use tympan_train::recipe::Experiment;
use tympan_train::{Event, RunOptions, run};

/// Arguments of `cargo xtask train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Recipe name (experiments/<name>.toml) or a path to a recipe file.
    pub recipe: String,
    /// Dataset folder (default: the recipe's; fetched with `cargo xtask download` when absent).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Burn backend: flex, ndarray, wgpu or cuda.
    #[arg(long, default_value = "flex", value_parser = ["flex", "ndarray", "wgpu", "cuda"])]
    pub backend: String,
    /// Device indices; several (e.g. 0,1) train data-parallel, each batch split across them.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub devices: Vec<usize>,
    /// Override a recipe value, e.g. --set train.epochs=2 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Experiment folder (default: experiments/runs/<recipe>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue from the last checkpoint in the experiment folder.
    #[arg(long)]
    pub resume: bool,
}

pub(crate) fn recipe_path(root: &Path, name: &str) -> Result<PathBuf> {
    let p = Path::new(name);
    if p.extension().is_some_and(|e| e == "toml") && p.is_file() {
        return Ok(p.to_path_buf());
    }
    let p = root.join("experiments").join(format!("{name}.toml"));
    if p.is_file() {
        return Ok(p);
    }
    let mut known: Vec<String> = std::fs::read_dir(root.join("experiments"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    known.sort();
    bail!("no recipe {name:?}; recipes: {}", known.join(", "))
}

/// The dataset folder of a recipe: `--data-dir` (relative to the current directory) or the
/// recipe's (relative to the workspace root), fetched with `cargo xtask download` when absent and
/// the recipe names a download (only for the recipe's own folder: a `--data-dir` that does not
/// exist is an error with the command that fetches it).
fn ensure_data(root: &Path, dir: &Path, download: Option<&str>, explicit: bool) -> Result<PathBuf> {
    let dir = if dir.is_absolute() {
        dir.to_path_buf()
    } else if explicit {
        std::env::current_dir()?.join(dir)
    } else {
        root.join(dir)
    };
    if !dir.exists() || (!explicit && unfinished_download(&dir)) {
        match (download, explicit) {
            (Some(name), false) => {
                eprintln!("{} not found: downloading it", dir.display());
                crate::download::run(name, &dir, None).with_context(|| {
                    format!("fetching {name} (or pass --data-dir to a local copy)")
                })?;
            }
            (Some(name), true) => bail!(
                "{} does not exist; fetch it with `cargo xtask download {name} --dest {}`",
                dir.display(),
                dir.display()
            ),
            (None, true) => bail!("{} does not exist", dir.display()),
            (None, false) => bail!(
                "{} does not exist: this recipe has no download; give the data folder with \
                 --data-dir DIR (for `dataset = \"folder\"`, one sub-folder of clips per class)",
                dir.display()
            ),
        }
    }
    Ok(dir)
}

/// A folder that a failed download left empty (or with partial `.part` files only): it counts
/// as absent, so the download is tried again and resumes.
fn unfinished_download(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| {
        entries.all(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "part")))
    })
}

/// What an experiment folder already holds that a fresh run would overwrite: a finished run
/// (`summary.json`) or an interrupted one (a committed `state.json`).
fn earlier_run(out: &Path) -> Option<&'static str> {
    if out.join("summary.json").is_file() {
        Some("a finished run (summary.json)")
    } else if out.join("state.json").is_file() {
        Some("an interrupted run (state.json)")
    } else {
        None
    }
}

/// An AudioSet recipe whose datafiles are missing stops here with the commands that make them
/// (docs/training.md, "AudioSet from an empty folder").
fn check_audioset_datafiles(d: &tympan_train::recipe::DataSection) -> Result<()> {
    let dir = &d.data_dir;
    for json in [&d.train_json, &d.eval_json].into_iter().flatten() {
        let path = dir.join(json);
        if path.is_file() {
            continue;
        }
        let name = json.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let how = match name {
            "full_train_data.json" => format!(
                "fetch both training lists' clips (`cargo xtask download-audioset --segments {d}/balanced_train_segments.csv --dest {d}`, \
                 then the same with unbalanced_train_segments.csv); the full list (balanced + unbalanced) is written after the second, \
                 or rebuilt with `cargo xtask audioset-datafiles --dir {d}`",
                d = dir.display()
            ),
            "balanced_train_data.json" | "unbalanced_train_data.json" | "eval_data.json" => {
                let list = name.trim_end_matches("_data.json");
                format!(
                    "fetch its clips with `cargo xtask download-audioset --segments {d}/{list}_segments.csv --dest {d}`",
                    d = dir.display()
                )
            }
            _ => "build it from a downloaded list (see docs/training.md: `tympan enhance-labels` writes the enhanced-label datafiles)".to_string(),
        };
        bail!(
            "{} not found: {how} (the segment lists come from `cargo xtask download audioset-meta --dest {}`)",
            path.display(),
            dir.display()
        );
    }
    Ok(())
}

pub fn run_train(root: &Path, args: TrainArgs) -> Result<()> {
    let path = recipe_path(root, &args.recipe)?;
    let explicit_data = args.data_dir.is_some();
    let mut recipe = match Experiment::load(&path, &args.set)? {
        Experiment::Train(recipe) => recipe,
        Experiment::Probe(r) => {
            if args.resume || args.devices.len() > 1 {
                bail!(
                    "{}: probe recipes take no --resume or --devices",
                    path.display()
                );
            }
            let data_dir = ensure_data(
                root,
                args.data_dir.as_deref().unwrap_or(&r.data.data_dir),
                r.data.download.as_deref(),
                explicit_data,
            )?;
            return crate::probe::run(root, &path, &r, data_dir, &args.backend, args.out);
        }
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("experiments/runs").join(&recipe.name));
    let mut explicit_data = explicit_data;
    if args.resume {
        // A resumed run continues the recipe as it was run (its config.toml: the data folder,
        // the budget, every `--set` of the first command), with this command's `--set`s on top.
        let config = out.join("config.toml");
        if config.is_file() {
            recipe = tympan_train::recipe::Recipe::load(&config, &args.set)?;
            explicit_data = true;
        }
    } else if let Some(what) = earlier_run(&out) {
        bail!(
            "{} holds {what}; nothing was changed. Continue it with --resume, train into another folder with --out DIR, or delete the folder to start again",
            out.display()
        );
    }
    if let Some(d) = &args.data_dir {
        recipe.data.data_dir = d.clone();
    }
    recipe.data.data_dir = ensure_data(
        root,
        &recipe.data.data_dir,
        recipe.data.download.as_deref(),
        explicit_data,
    )?;
    if recipe.data.dataset == tympan_train::recipe::Dataset::Audioset {
        check_audioset_datafiles(&recipe.data)?;
    }
    let backend = Backend::from_str(&args.backend)?;
    let mut devices = Vec::new();
    for &i in &args.devices {
        if devices.iter().any(|(j, _)| *j == i) {
            bail!("--devices lists device {i} twice");
        }
        devices.push((i, backend.device_at(i)?));
    }
    let Some((_, device)) = devices.first().cloned() else {
        bail!("--devices is empty");
    };
    let data_parallel: Vec<_> = devices.into_iter().skip(1).map(|(_, d)| d).collect();
    eprintln!(
        "recipe {} ({}) on {} -> {}",
        recipe.name,
        path.display(),
        backend.name(),
        out.display()
    );

    let mut bar: Option<ProgressBar> = None;
    let mut on_event = |e: Event| match e {
        Event::Prepared {
            train,
            valid,
            test,
            classes,
            missing,
            split,
            norm,
        } => {
            eprintln!(
                "data: {train} train / {valid} validation / {test} test clips, {classes} classes ({split}); {missing} listed but missing (skipped); feature norm mean {:.4} std {:.4}",
                norm.0, norm.1
            );
        }
        Event::Info(s) => eprintln!("{s}"),
        Event::EpochStart { epoch, batches } => {
            let pb = ProgressBar::new(batches as u64);
            pb.set_style(
                ProgressStyle::with_template(&format!(
                    "epoch {epoch:>3} [{{bar:30}}] {{pos}}/{{len}} {{msg}} eta {{eta}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar = Some(pb);
        }
        Event::Batch { loss, lr, .. } => {
            if let Some(pb) = &bar {
                pb.set_message(format!("loss {loss:.4} lr {lr:.2e}"));
                pb.inc(1);
            }
        }
        Event::EpochEnd(r) => {
            if let Some(pb) = bar.take() {
                pb.finish_and_clear();
            }
            eprintln!(
                "epoch {:>3}: loss {:.4}  validation mAP {:.4} acc {:.4} | test mAP {:.4}  AUC {:.4}  d' {:.3}  acc {:.4}  ensemble mAP {:.4}  ({:.0} s)",
                r.epoch,
                r.loss,
                r.valid.map,
                r.valid.accuracy,
                r.scores.map,
                r.scores.auc,
                r.scores.d_prime,
                r.scores.accuracy,
                r.ensemble_map,
                r.seconds
            );
        }
    };
    let summary = run(
        &recipe,
        RunOptions {
            device,
            data_parallel,
            out_dir: out.clone(),
            resume: args.resume,
            stop_after: None,
            on_event: &mut on_event,
        },
    )?;
    println!("\nsplit: {}", summary.split);
    println!(
        "\n{:<34} {:>8} {:>8} {:>8} {:>8}",
        "test split", "mAP", "AUC", "d'", "acc"
    );
    let row = |name: &str, s: &tympan_train::engine::Scores| {
        println!(
            "{name:<34} {:>8.4} {:>8.4} {:>8.3} {:>8.4}",
            s.map, s.auc, s.d_prime, s.accuracy
        );
    };
    if let (Some(s), Some((epoch, _))) = (&summary.selected, summary.best_epoch) {
        row(&format!("chosen on validation (epoch {epoch})"), s);
    }
    row("single model, last epoch", &summary.last_epoch);
    row("single model, mean of last 5", &summary.mean_last_5);
    if let Some(s) = &summary.weight_averaged {
        row("weight averaging (PSLA, BN incl.)", s);
    }
    if let Some(s) = &summary.weight_averaged_params_only {
        row("weight averaging (params only)", s);
    }
    row("checkpoint ensemble", &summary.checkpoint_ensemble);
    if let Some(c) = &summary.clips {
        let valid = c
            .valid
            .map(|v| format!(", validation {} of {} listed", v.present, v.listed))
            .unwrap_or_default();
        println!(
            "\nclips present: train {} of {} listed{valid}, eval {} of {} listed",
            c.train.present, c.train.listed, c.eval.present, c.eval.listed
        );
    }
    println!("\nwrote {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh run never overwrites an earlier one: the folder's `summary.json` or `state.json`
    /// stops it before anything is read or written, with the ways on.
    #[test]
    fn a_fresh_run_leaves_an_earlier_run_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        std::fs::create_dir_all(&out).unwrap();
        assert_eq!(earlier_run(&out), None);
        std::fs::write(out.join("state.json"), "{}").unwrap();
        assert_eq!(earlier_run(&out), Some("an interrupted run (state.json)"));
        std::fs::write(out.join("summary.json"), "{}").unwrap();
        let args = TrainArgs {
            recipe: "fsdd-psla".into(),
            data_dir: Some(dir.path().join("no-such-data")),
            backend: "flex".into(),
            devices: vec![0],
            set: vec![],
            out: Some(out.clone()),
            resume: false,
        };
        let e = format!(
            "{:#}",
            run_train(&crate::workspace_root(), args).unwrap_err()
        );
        assert!(
            e.contains("a finished run") && e.contains("--resume"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("summary.json")).unwrap(),
            "{}"
        );
    }

    /// An empty folder, or one holding only `.part` files, is an unfinished download.
    #[test]
    fn a_failed_download_is_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        assert!(unfinished_download(dir.path()));
        std::fs::write(dir.path().join("fsdd.zip.part"), b"12").unwrap();
        assert!(unfinished_download(dir.path()));
        std::fs::create_dir(dir.path().join("recordings")).unwrap();
        assert!(!unfinished_download(dir.path()));
    }

    /// Every recipe's `data.download` names a target of `cargo xtask download`, and every
    /// `cargo xtask download <name>` a recipe mentions in its comments exists too.
    #[test]
    fn recipes_name_existing_downloads() {
        let root = crate::workspace_root();
        let mut checked = 0;
        for e in std::fs::read_dir(root.join("experiments")).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let table: toml::Table = text.parse().unwrap();
            let download = table
                .get("data")
                .and_then(|d| d.get("download"))
                .and_then(|d| d.as_str());
            let mentioned = text
                .split("cargo xtask download ")
                .skip(1)
                .filter_map(|rest| rest.split_whitespace().next())
                .map(|n| n.trim_matches(|c: char| c == '`' || c == ')' || c == ','));
            for name in download.into_iter().chain(mentioned) {
                assert!(
                    crate::download::TARGETS.iter().any(|(n, _, _)| *n == name),
                    "{}: download {name:?} does not exist",
                    path.display()
                );
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} downloads named");
    }
}
