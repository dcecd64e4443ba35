//! `tympan embed`: embeddings of Hershey et al.'s CNNs (Sec. 4.4): the 128-d bottleneck, or the
//! penultimate layer when the model has none, for every 960 ms patch of each file, or averaged
//! per clip.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use tympan_audio::npy;
use tympan_infer::{Embedder, ModelCard, embed_files_reporting};
use tympan_models::{Backend, Tagger, create, load_burnpack};

const EXAMPLES: &str = "\
Examples:
  tympan embed --run experiments/runs/fsdd-hershey recordings/ -o fsdd_embeddings.npy
  tympan embed --arch hershey-vgg-b128 --weights experiments/runs/us8k-hershey/model-last.bpk \\
      --classes 10 --mean -1.03 --std 1.73 recordings/ -o fsdd_embeddings.npy
  tympan embed --arch hershey-fc --weights model.bpk --classes 10 --mean 0 --std 1 \\
      --per patch clip.wav -o e.npy
  tympan embed --raw --mean -1.76 --std 2.16 recordings/ -o raw_64x20.npy

Input: 16 kHz VGGish log-mel (files are resampled), cut into non-overlapping 96-frame (960 ms)
patches (with --raw, 20-frame patches: the paper's 64x20 baseline); a clip shorter than one patch
is zero-padded to one. --run DIR reads the architecture,
the classes and the normalisation from a run folder's card.json; with --arch, --mean/--std
must be the normalisation the model was trained with (the run's card.json stores it under
`input`). Output: float32 .npy, [files, D] with --per clip (the mean over a
clip's patches) or [patches, D] with --per patch, plus <OUT>.txt listing the file (and patch
index) of every row.";

/// Write Hershey-CNN embeddings of audio files as .npy.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Audio files or directories.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// A finished run folder of `cargo xtask train` with a Hershey model: the architecture,
    /// classes and normalisation come from it.
    #[arg(long, conflicts_with_all = ["arch", "weights", "classes", "mean", "std"])]
    run: Option<PathBuf>,
    /// With --run: the model chosen on validation, the last epoch's, or the weight-averaged one.
    #[arg(long, default_value = "best", value_parser = ["best", "last", "wa"], requires = "run")]
    checkpoint: String,
    /// Registry name of a Hershey model (`hershey-*`, `-b128` for the 128-d bottleneck).
    #[arg(long, required_unless_present_any = ["raw", "run"], requires_all = ["weights", "classes", "mean", "std"])]
    arch: Option<String>,
    /// Trained weights (.bpk, what `cargo xtask train` writes).
    #[arg(long, requires = "arch")]
    weights: Option<PathBuf>,
    /// Number of classes the model was trained with.
    #[arg(long, requires = "arch")]
    classes: Option<usize>,
    /// No model: write the normalised log-mel patches themselves, the raw baseline of Hershey et
    /// al. Sec. 4.4 (64 x 20: 1,280 values per patch; see --raw-frames).
    #[arg(long, conflicts_with_all = ["run", "arch", "weights", "classes"])]
    raw: bool,
    /// With --raw: frames (of 10 ms) per patch; 20 is the paper's baseline, 96 the networks' input.
    #[arg(long, requires = "raw", default_value_t = Embedder::RAW_FRAMES)]
    raw_frames: usize,
    /// One row per clip (mean over its patches) or per patch.
    #[arg(long, default_value = "clip", value_parser = ["clip", "patch"])]
    per: String,
    /// Feature normalisation mean used in training (required with --arch; --raw: default 0).
    #[arg(long, allow_hyphen_values = true)]
    mean: Option<f32>,
    /// Feature normalisation std used in training (required with --arch; --raw: default 1).
    #[arg(long)]
    std: Option<f32>,
    /// Output .npy.
    #[arg(short, long, visible_alias = "out")]
    output: PathBuf,
    /// Backend.
    #[arg(long, default_value = "flex", value_parser = super::BACKENDS)]
    backend: String,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let backend: Backend = a.backend.parse()?;
    let device = backend.device()?;
    let mut norm = (a.mean.unwrap_or(0.0), a.std.unwrap_or(1.0));
    let model = match (&a.run, &a.arch, &a.weights, a.classes) {
        (Some(dir), ..) => {
            let card = ModelCard::read(dir)?;
            let arch = &card.arch;
            if !arch.starts_with("hershey-") {
                bail!(
                    "{}: the run trained {arch}; embeddings are defined for Hershey et al.'s \
                     models (hershey-*)",
                    dir.display()
                );
            }
            let which = super::checkpoint(&a.checkpoint);
            norm = (card.input.mean, card.input.std);
            let Tagger::Hershey(net) = card.load_model(dir, which, &device)? else {
                bail!("{}: {arch} is not a Hershey model", dir.display());
            };
            Some(net)
        }
        (None, Some(arch), Some(weights), Some(classes)) => {
            if !arch.starts_with("hershey-") {
                bail!(
                    "--arch {arch}: embeddings are defined for Hershey et al.'s models (hershey-*)"
                );
            }
            let m = load_burnpack(create(arch, classes, &device)?, weights)
                .with_context(|| weights.display().to_string())?;
            let Tagger::Hershey(net) = m else {
                bail!("--arch {arch} is not a Hershey model");
            };
            Some(net)
        }
        _ => None,
    };
    if norm.1.is_nan() || norm.1 <= 0.0 {
        bail!("--std must be positive, got {}", norm.1);
    }
    let (files, _) = super::features::expand_inputs(&a.inputs)?;
    let pb = if files.len() > 1 {
        super::progress(files.len() as u64, "embedding")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let embedder = match &model {
        Some(net) => Embedder::Net(net),
        None => Embedder::Raw {
            frames: a.raw_frames,
        },
    };
    let e = embed_files_reporting(embedder, &files, norm, a.per == "clip", &device, &mut |n| {
        pb.set_position(n as u64)
    })?;
    pb.finish_and_clear();
    let (rows, dim) = (e.rows, e.dim);
    let mut names = e.names.join("\n");
    names.push('\n');
    let n = rows.len() / dim.max(1);
    npy::write(&a.output, &rows, &[n, dim]).with_context(|| a.output.display().to_string())?;
    let list = a.output.with_extension("txt");
    std::fs::write(&list, names).with_context(|| list.display().to_string())?;
    eprintln!(
        "wrote {} x {dim} embeddings of {} files to {} (rows listed in {})",
        n,
        files.len(),
        a.output.display(),
        list.display()
    );
    Ok(ExitCode::SUCCESS)
}
