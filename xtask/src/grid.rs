//! What the grid commands (`table2`, `cv`, `ablation`) share: the options every cell's run takes,
//! training a cell (or reading it when it has finished), and reading a finished cell's summary.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tympan_train::engine::Summary;

use crate::train::{TrainArgs, run_train};

/// Options passed to every cell's `cargo xtask train`.
#[derive(clap::Args)]
pub struct CellArgs {
    /// Dataset folder for every run.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Override a recipe value in every run, e.g. --set train.epochs=2 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Burn backend: flex, ndarray, wgpu or cuda.
    #[arg(long, default_value = "flex", value_parser = ["flex", "ndarray", "wgpu", "cuda"])]
    pub backend: String,
}

/// Train `recipe` into `dir` with the cell's own overrides `set`, then the user's `--set`s,
/// resuming an interrupted cell; a cell whose `summary.json` exists is read, not rerun.
/// `progress` names the cell on stderr, `context` in an error.
pub fn run_cell(
    root: &Path,
    recipe: &str,
    args: &CellArgs,
    mut set: Vec<String>,
    dir: PathBuf,
    progress: &str,
    context: &str,
) -> Result<()> {
    if dir.join("summary.json").is_file() {
        eprintln!("{progress}: done, reading it");
        return Ok(());
    }
    eprintln!("{progress}");
    set.extend(args.set.iter().cloned());
    run_train(
        root,
        TrainArgs {
            recipe: recipe.to_string(),
            data_dir: args.data_dir.clone(),
            backend: args.backend.clone(),
            devices: vec![0],
            set,
            out: Some(dir),
            resume: true,
        },
    )
    .with_context(|| context.to_string())
}

/// The `summary.json` of a finished cell; `None` when the cell has not finished.
pub fn read_summary(dir: &Path) -> Result<Option<Summary>> {
    let p = dir.join("summary.json");
    if !p.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let s = serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
    Ok(Some(s))
}
