//! `cargo xtask train <recipe>`: run an experiment recipe from `experiments/` end to end.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Result, bail};
use tympan_models::Backend;
use tympan_train::recipe::Experiment;

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
    let mut fetch = |name: &str, dest: &Path| {
        crate::download::run(name, dest, None).map_err(|e| format!("{e:#}"))
    };
    if let Experiment::Probe(r) = Experiment::load(&path, &args.set)? {
        if args.resume || args.devices.len() > 1 {
            bail!(
                "{}: probe recipes take no --resume or --devices",
                path.display()
            );
        }
        let data_dir = tympan_train::launch::ensure_data(
            root,
            args.data_dir.as_deref().unwrap_or(&r.data.data_dir),
            r.data.download.as_deref(),
            args.data_dir.is_some(),
            &mut fetch,
        )?;
        return crate::probe::run(root, &path, &r, data_dir, &args.backend, args.out);
    }
    let backend = Backend::from_str(&args.backend)?;
    let recipes = root.join("experiments");
    Ok(tympan::cli::train(
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
        &mut fetch,
    )?)
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
