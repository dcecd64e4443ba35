//! Starting a run from a command line, the part `tympan train` and `cargo xtask train` share:
//! the recipe by name or path, `--set` overrides, the data folder (fetched through the front
//! end's own downloader when the recipe names one), an experiment folder that never overwrites an
//! earlier run unless it is resumed, and the devices. The front ends render the
//! [`crate::Event`]s ([`Event::line`]) and the summary ([`summary_table`]); this module prints
//! nothing.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use tympan_models::Backend;

use crate::engine::{Event, Scores, Summary};
use crate::error::TrainError;
use crate::recipe::{Dataset, Recipe};

/// What a command line asks for.
#[derive(Debug, Clone)]
pub struct LaunchOptions<'a> {
    /// Recipe name (`<recipes>/<name>.toml`) or a path to a recipe file.
    pub recipe: &'a str,
    /// Where recipe names are looked up (`experiments/`).
    pub recipes: &'a Path,
    /// What a recipe's relative `data.data_dir` and the default experiment folder
    /// (`experiments/runs/<name>`) are relative to.
    pub root: &'a Path,
    /// `--data-dir`: the dataset folder, relative to the working directory.
    pub data_dir: Option<&'a Path>,
    /// `--set key=value` overrides.
    pub set: &'a [String],
    /// `--out`: the experiment folder.
    pub out: Option<&'a Path>,
    /// `--resume`.
    pub resume: bool,
    /// The backend.
    pub backend: Backend,
    /// Device indices; several train data-parallel.
    pub devices: &'a [usize],
}

/// A run ready to start.
#[derive(Debug)]
pub struct Launch {
    /// The recipe, overrides applied, data folder resolved.
    pub recipe: Recipe,
    /// The recipe file.
    pub path: PathBuf,
    /// The experiment folder.
    pub out: PathBuf,
    /// The main device.
    pub device: Device,
    /// The other devices of a data-parallel run.
    pub data_parallel: Vec<Device>,
}

/// Fetches dataset `name` into a folder: the front end's downloader (`cargo xtask download`),
/// or an error that says how to get it.
pub type Fetch<'f> = dyn FnMut(&str, &Path) -> Result<(), String> + 'f;

fn launch_error(path: &Path, reason: String) -> TrainError {
    TrainError::Recipe {
        path: path.to_path_buf(),
        reason,
    }
}

/// The recipe file a name or path means: an existing `.toml` path, else `<recipes>/<name>.toml`.
/// An unknown name lists the recipes there.
pub fn recipe_path(recipes: &Path, name: &str) -> Result<PathBuf, TrainError> {
    let p = Path::new(name);
    if p.extension().is_some_and(|e| e == "toml") && p.is_file() {
        return Ok(p.to_path_buf());
    }
    let p = recipes.join(format!("{name}.toml"));
    if p.is_file() {
        return Ok(p);
    }
    let mut known: Vec<String> = std::fs::read_dir(recipes)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    known.sort();
    let listed = if known.is_empty() {
        format!(
            "{} holds no recipes; give a path to a .toml file",
            recipes.display()
        )
    } else {
        format!("recipes in {}: {}", recipes.display(), known.join(", "))
    };
    Err(launch_error(
        Path::new(name),
        format!("no recipe {name:?}; {listed}"),
    ))
}

/// What an experiment folder already holds that a fresh run would overwrite: a finished run
/// (`summary.json`) or an interrupted one (a committed `state.json`).
pub fn earlier_run(out: &Path) -> Option<&'static str> {
    if out.join("summary.json").is_file() {
        Some("a finished run (summary.json)")
    } else if out.join("state.json").is_file() {
        Some("an interrupted run (state.json)")
    } else {
        None
    }
}

/// A folder that a failed download left empty (or with partial `.part` files only): it counts
/// as absent, so the download is tried again and resumes.
pub fn unfinished_download(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| {
        entries.all(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "part")))
    })
}

/// The dataset folder: `--data-dir` (relative to the working directory) or the recipe's
/// (relative to `root`), fetched when absent and the recipe names a download (only the recipe's
/// own folder: a `--data-dir` that does not exist is an error naming the download). Probe
/// recipes, which `prepare` does not take, find their data here too.
pub fn ensure_data(
    root: &Path,
    dir: &Path,
    download: Option<&str>,
    explicit: bool,
    fetch: &mut Fetch<'_>,
) -> Result<PathBuf, TrainError> {
    let dir = if dir.is_absolute() {
        dir.to_path_buf()
    } else if explicit {
        std::env::current_dir()
            .map_err(|e| launch_error(dir, e.to_string()))?
            .join(dir)
    } else {
        root.join(dir)
    };
    if dir.exists() && (explicit || !unfinished_download(&dir)) {
        return Ok(dir);
    }
    let missing = |hint: String| TrainError::MissingData {
        path: dir.clone(),
        hint,
    };
    match (download, explicit) {
        (Some(name), false) => {
            tracing::info!(dir = %dir.display(), "dataset not found: downloading {name}");
            fetch(name, &dir)
                .map_err(|e| missing(format!("fetching {name}: {e} (or pass --data-dir)")))?;
            Ok(dir)
        }
        (Some(name), true) => Err(missing(format!(
            "fetch it with `cargo xtask download {name} --dest {}`",
            dir.display()
        ))),
        (None, true) => Err(missing("no such folder".into())),
        (None, false) => Err(missing(
            "this recipe has no download; give the data folder with --data-dir DIR (for \
             `dataset = \"folder\"`, one sub-folder of clips per class)"
                .into(),
        )),
    }
}

/// An AudioSet recipe whose datafiles are missing stops here with the commands that make them
/// (docs/training.md, "AudioSet from an empty folder").
fn check_audioset_datafiles(d: &crate::recipe::DataSection) -> Result<(), TrainError> {
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
        return Err(TrainError::MissingData {
            path,
            hint: format!(
                "{how} (the segment lists come from `cargo xtask download audioset-meta --dest {}`)",
                dir.display()
            ),
        });
    }
    Ok(())
}

/// The run the options describe, checked before anything is trained or written.
pub fn prepare(o: &LaunchOptions<'_>, fetch: &mut Fetch<'_>) -> Result<Launch, TrainError> {
    let path = recipe_path(o.recipes, o.recipe)?;
    let mut recipe = Recipe::load(&path, o.set)?;
    let out = o.out.map_or_else(
        || o.root.join("experiments/runs").join(&recipe.name),
        Path::to_path_buf,
    );
    let mut explicit_data = o.data_dir.is_some();
    if o.resume {
        // A resumed run continues the recipe as it was run (its config.toml: the data folder,
        // the budget, every `--set` of the first command), with this command's `--set`s on top.
        let config = out.join("config.toml");
        if config.is_file() {
            recipe = Recipe::load(&config, o.set)?;
            explicit_data = true;
        }
    } else if let Some(what) = earlier_run(&out) {
        return Err(launch_error(
            &out,
            format!(
                "holds {what}; nothing was changed. Continue it with --resume, train into \
                 another folder with --out DIR, or delete the folder to start again"
            ),
        ));
    }
    if let Some(d) = o.data_dir {
        recipe.data.data_dir = d.to_path_buf();
    }
    recipe.data.data_dir = ensure_data(
        o.root,
        &recipe.data.data_dir,
        recipe.data.download.as_deref(),
        explicit_data,
        fetch,
    )?;
    if recipe.data.dataset == Dataset::Audioset {
        check_audioset_datafiles(&recipe.data)?;
    }
    let mut devices: Vec<(usize, Device)> = Vec::new();
    for &i in o.devices {
        if devices.iter().any(|(j, _)| *j == i) {
            return Err(launch_error(
                &path,
                format!("--devices lists device {i} twice"),
            ));
        }
        let d = o
            .backend
            .device_at(i)
            .map_err(|e| launch_error(&path, e.to_string()))?;
        devices.push((i, d));
    }
    let mut devices = devices.into_iter().map(|(_, d)| d);
    let device = devices
        .next()
        .ok_or_else(|| launch_error(&path, "--devices is empty".into()))?;
    Ok(Launch {
        recipe,
        path,
        out,
        device,
        data_parallel: devices.collect(),
    })
}

impl Event {
    /// The line a front end prints for this event; `None` for the per-batch and epoch-start
    /// events, which drive a progress bar.
    pub fn line(&self) -> Option<String> {
        match self {
            Event::Prepared {
                train,
                valid,
                test,
                classes,
                missing,
                split,
                norm,
            } => Some(format!(
                "data: {train} train / {valid} validation / {test} test clips, {classes} classes ({split}); {missing} listed but missing (skipped); feature norm mean {:.4} std {:.4}",
                norm.0, norm.1
            )),
            Event::Info(s) => Some(s.clone()),
            Event::EpochEnd(r) => Some(format!(
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
            )),
            Event::EpochStart { .. } | Event::Batch { .. } | Event::Progress { .. } => None,
        }
    }
}

/// The end-of-run table: the test split's scores of every model the run evaluated.
pub fn summary_table(summary: &Summary, out: &Path) -> String {
    use std::fmt::Write;
    let mut t = format!("\nsplit: {}\n", summary.split);
    let _ = writeln!(
        t,
        "\n{:<34} {:>8} {:>8} {:>8} {:>8}",
        "test split", "mAP", "AUC", "d'", "acc"
    );
    let mut row = |name: &str, s: &Scores| {
        let _ = writeln!(
            t,
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
        let _ = writeln!(
            t,
            "\nclips present: train {} of {} listed{valid}, eval {} of {} listed",
            c.train.present, c.train.listed, c.eval.present, c.eval.listed
        );
    }
    let _ = write!(t, "\nwrote {}", out.display());
    t
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
        let recipes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
        let no_data = dir.path().join("no-such-data");
        let o = LaunchOptions {
            recipe: "fsdd-psla",
            recipes: &recipes,
            root: dir.path(),
            data_dir: Some(&no_data),
            set: &[],
            out: Some(&out),
            resume: false,
            backend: Backend::Flex,
            devices: &[0],
        };
        let e = prepare(&o, &mut |_, _| Err("no".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a finished run") && e.contains("--resume"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("summary.json")).unwrap(),
            "{}"
        );
        // An unknown name lists the recipes.
        let e = recipe_path(&recipes, "fsdd-psl").unwrap_err().to_string();
        assert!(e.contains("fsdd-psla"), "{e}");
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
}
