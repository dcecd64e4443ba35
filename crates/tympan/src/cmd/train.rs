//! `tympan train`: train and evaluate a recipe, the same run as `cargo xtask train` (both call
//! `tympan_train::launch` and `tympan_train::run`), from an installed CLI.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use tympan_models::Backend;

const EXAMPLES: &str = "\
Examples:
  tympan train fsdd-psla --data-dir ../shared/data/fsdd     # experiments/fsdd-psla.toml
  tympan train my-recipe.toml --out runs/mine --set train.epochs=2
  tympan train own-clips --data-dir my-clips/ && tympan tag --run experiments/runs/own-clips new.wav
  tympan train fsdd-psla --resume                             # continue after an interruption

A recipe is a path to a .toml file, or a name looked up in --recipes (default: ./experiments,
the repository's recipes when run from a checkout). The run goes to --out (default:
experiments/runs/<name>) and never overwrites an earlier run there unless --resume continues it.
Datasets are not downloaded by this command: give --data-dir, or fetch them from a checkout with
`cargo xtask download NAME`. Probe recipes (kind = \"probe\") run with `cargo xtask train`.";

/// Train and evaluate a recipe (the same run as `cargo xtask train`).
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Recipe name (<RECIPES>/<name>.toml) or a path to a recipe file.
    recipe: String,
    /// Where recipe names are looked up.
    #[arg(long, default_value = "experiments")]
    recipes: PathBuf,
    /// Dataset folder (default: the recipe's).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Burn backend.
    #[arg(long, default_value = "flex", value_parser = super::BACKENDS)]
    backend: String,
    /// Device indices; several (e.g. 0,1) train data-parallel, each batch split across them.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    devices: Vec<usize>,
    /// Override a recipe value, e.g. --set train.epochs=2 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Experiment folder (default: experiments/runs/<recipe>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue from the last checkpoint in the experiment folder.
    #[arg(long)]
    resume: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let backend: Backend = a.backend.parse()?;
    let root = std::env::current_dir()?;
    let recipes = if a.recipes.is_absolute() {
        a.recipes.clone()
    } else {
        root.join(&a.recipes)
    };
    let path = tympan_train::launch::recipe_path(&recipes, &a.recipe)?;
    if let tympan_train::recipe::Experiment::Probe(_) =
        tympan_train::recipe::Experiment::load(&path, &[])?
    {
        bail!(
            "{}: probe recipes run with `cargo xtask train`",
            path.display()
        );
    }
    tympan::cli::train(
        &tympan_train::launch::LaunchOptions {
            recipe: &a.recipe,
            recipes: &recipes,
            root: &root,
            data_dir: a.data_dir.as_deref(),
            set: &a.set,
            out: a.out.as_deref(),
            resume: a.resume,
            backend,
            devices: &a.devices,
        },
        &mut |name, dest| {
            Err(format!(
                "`tympan train` downloads no datasets: fetch it with `cargo xtask download {name} \
                 --dest {}` from a checkout",
                dest.display()
            ))
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
