//! `cargo xtask train <recipe>`: run an experiment recipe from `experiments/` end to end.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use tympan_models::Backend;
use tympan_train::recipe::Experiment;
use tympan_train::{RunOptions, run};

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
    Ok(tympan_train::launch::recipe_path(
        &root.join("experiments"),
        name,
    )?)
}

pub fn run_train(root: &Path, args: TrainArgs) -> Result<()> {
    let path = recipe_path(root, &args.recipe)?;
    if let Experiment::Probe(r) = Experiment::load(&path, &args.set)? {
        if args.resume || args.devices.len() > 1 {
            bail!(
                "{}: probe recipes take no --resume or --devices",
                path.display()
            );
        }
        let data_dir = args.data_dir.clone().unwrap_or(r.data.data_dir.clone());
        let data_dir = if args.data_dir.is_some() || data_dir.is_absolute() {
            data_dir
        } else {
            root.join(data_dir)
        };
        if !data_dir.exists() {
            match &r.data.download {
                Some(name) => crate::download::run(name, &data_dir, None)
                    .with_context(|| format!("fetching {name} (or pass --data-dir)"))?,
                None => bail!("{} does not exist", data_dir.display()),
            }
        }
        return crate::probe::run(root, &path, &r, data_dir, &args.backend, args.out);
    }
    let backend = Backend::from_str(&args.backend)?;
    let recipes = root.join("experiments");
    let launch = tympan_train::launch::prepare(
        &tympan_train::launch::LaunchOptions {
            recipe: &args.recipe,
            recipes: &recipes,
            root,
            data_dir: args.data_dir.as_deref(),
            set: &args.set,
            out: args.out.as_deref(),
            resume: args.resume,
            backend,
            devices: &args.devices,
        },
        &mut |name, dest| crate::download::run(name, dest, None).map_err(|e| format!("{e:#}")),
    )?;
    eprintln!(
        "recipe {} ({}) on {} -> {}",
        launch.recipe.name,
        launch.path.display(),
        backend.name(),
        launch.out.display()
    );
    let mut on_event = tympan::cli::training_progress();
    let summary = run(
        &launch.recipe,
        RunOptions {
            device: launch.device,
            data_parallel: launch.data_parallel,
            out_dir: launch.out.clone(),
            resume: args.resume,
            stop_after: None,
            on_event: &mut on_event,
        },
    )?;
    println!(
        "{}",
        tympan_train::launch::summary_table(&summary, &launch.out)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
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
