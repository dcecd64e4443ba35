//! `tympan ensemble`: combine the predictions of several models (PSLA Sec. VI; Jeong & Lim eq. 8).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use tympan_audio::npy;
use tympan_train::aggregate::ensemble_predictions;

const EXAMPLES: &str = "\
Examples:
  tympan ensemble -o ens.npy runs/a/predictions.npy runs/b/predictions.npy
  tympan ensemble --average geometric --model-weights 1.5,1 -o ens.npy logmel.npy wave.npy";

/// Average prediction matrices `[N, K]` (.npy, float32) of several models.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Prediction files, all `[N, K]`.
    #[arg(required = true, num_args = 2..)]
    inputs: Vec<PathBuf>,
    /// Arithmetic mean, or weighted geometric mean normalised to unit L1 per row.
    #[arg(long, default_value = "arithmetic", value_parser = ["arithmetic", "geometric"])]
    average: String,
    /// One weight per model, in the order of the inputs (default: equal). (`--weights` names a
    /// weights file in `tag` and `embed`; here the numbers have their own name.)
    #[arg(long, value_delimiter = ',', value_name = "W1,W2,...")]
    model_weights: Vec<f64>,
    /// Output .npy.
    #[arg(short, long, visible_alias = "out")]
    output: PathBuf,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let mut preds = Vec::new();
    let mut shape: Option<Vec<usize>> = None;
    for p in &a.inputs {
        let arr = npy::read(p)?;
        if arr.shape.len() != 2 {
            bail!(
                "{}: expected a [N, K] matrix, got shape {:?}",
                p.display(),
                arr.shape
            );
        }
        if let Some(s) = &shape
            && *s != arr.shape
        {
            bail!(
                "{}: shape {:?} differs from {:?}",
                p.display(),
                arr.shape,
                s
            );
        }
        shape = Some(arr.shape.clone());
        preds.push(arr.data);
    }
    let shape = shape.unwrap_or_default();
    let weights = if a.model_weights.is_empty() {
        vec![1.0; preds.len()]
    } else {
        a.model_weights.clone()
    };
    let out = ensemble_predictions(&preds, &weights, a.average == "geometric", shape[1])?;
    npy::write(&a.output, &out, &shape)?;
    eprintln!(
        "wrote {} ({} models, {} mean)",
        a.output.display(),
        preds.len(),
        a.average
    );
    Ok(ExitCode::SUCCESS)
}
