//! `tympan stats`: feature normalisation statistics over a dataset (PSLA's `get_norm_stats`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use tympan_audio::{LoadOptions, Preset, load::load};
use tympan_data::loader::{Loader, LoaderConfig, NormAccumulator};

const EXAMPLES: &str = "\
Examples:
  tympan stats --preset psla recordings/
  tympan stats --arch hershey-vgg clips/     # the frontend of that model card
  tympan stats --preset psla clips/ --batch-size 100 -j 8 --format json
  tympan stats --preset psla --target-length 100 recordings/   # 1 s clips, as fsdd-psla pads them

Without normalisation: the psla preset's own (x - mean) / std is undone, so the numbers are the
constants to put in a new dataset's preset (PSLA's get_norm_stats: mean of batch means and mean of
batch standard deviations); the exact mean and standard deviation over all values are shown too.";

/// Mean and standard deviation of a preset's features over audio files, streamed in batches.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Audio files or directories (searched recursively).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Feature preset.
    #[arg(long, default_value = "psla", value_parser = clap::builder::PossibleValuesParser::new(Preset::NAMES))]
    preset: String,
    /// Take the preset from this model's card instead (`tympan models list`), e.g. slim2d-rb1.
    #[arg(long, conflicts_with = "preset")]
    arch: Option<String>,
    /// Frames each clip is padded or cut to (psla presets; default: the preset's 1056 or 3000).
    /// Give the recipe's `features.target_length`: for clips shorter than it, the padding
    /// enters the statistics as PSLA's get_norm_stats counts it.
    #[arg(long, value_name = "FRAMES")]
    target_length: Option<usize>,
    /// Clips per batch (PSLA uses the training batch size).
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    /// Same as `--format json`.
    #[arg(long, hide = true, conflicts_with = "format")]
    json: bool,
    /// Output: text, JSON, or one CSV row.
    #[arg(long, value_enum, default_value_t = super::Format::Table)]
    format: super::Format,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let mut preset = match &a.arch {
        Some(arch) => Preset::from_name(card_preset(arch)?)?,
        None => Preset::from_name(&a.preset)?,
    };
    match (&mut preset, a.target_length) {
        (_, None) => {}
        (Preset::Psla { target_length, .. }, Some(n)) if n > 0 => *target_length = n,
        (Preset::Psla { .. }, Some(_)) => bail!("--target-length must be at least 1 frame"),
        (_, Some(_)) => bail!("--target-length applies to the psla presets only"),
    }
    let (files, _) = super::features::expand_inputs(&a.inputs)?;
    let n = files.len();
    let workers = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let cfg = LoaderConfig {
        batch_size: a.batch_size,
        workers,
        prefetch: 2,
        seed: 0,
        epoch: 0,
    };
    let opts = LoadOptions {
        sample_rate: preset.sample_rate(),
        ..Default::default()
    };
    let undo = match preset {
        Preset::Psla { mean, std, .. } => Some((mean, std)),
        _ => None,
    };
    let work = move |i: usize, _: &mut rand::rngs::StdRng| -> Result<Vec<f32>, String> {
        let path = &files[i];
        let wav = load(path, &opts).map_err(|e| e.to_string())?;
        let f = preset
            .extractor(wav.sample_rate)
            .and_then(|x| x.compute(&wav.samples))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(match undo {
            Some((m, s)) => f.data.iter().map(|v| v * s + m).collect(),
            None => f.data,
        })
    };
    let pb = super::progress(n as u64, "stats");
    let start = Instant::now();
    let mut acc = NormAccumulator::default();
    for batch in Loader::new((0..n).collect(), cfg, work)? {
        let batch = batch.map_err(|e| anyhow!(e))?;
        let flat: Vec<f32> = batch.items.concat();
        acc.add_batch(&flat);
        pb.inc(batch.indices.len() as u64);
    }
    pb.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let s = acc.stats();
    let format = if a.json {
        super::Format::Json
    } else {
        a.format
    };
    if format == super::Format::Json {
        println!(
            "{}",
            serde_json::json!({ "clips": n, "seconds": secs, "stats": s })
        );
    } else if format == super::Format::Csv {
        let mut w = csv::Writer::from_writer(std::io::stdout());
        w.write_record(["clips", "psla_mean", "psla_std", "mean", "std"])?;
        w.write_record([
            n.to_string(),
            s.psla_mean.to_string(),
            s.psla_std.to_string(),
            s.mean.to_string(),
            s.std.to_string(),
        ])?;
        w.flush()?;
    } else {
        println!(
            "clips        {n} ({:.1} clips/s on {workers} workers)",
            n as f64 / secs
        );
        println!(
            "batch mean   {:.4}   (PSLA's get_norm_stats: mean of batch means; use as the mean)",
            s.psla_mean
        );
        println!(
            "batch std    {:.4}   (PSLA's get_norm_stats: mean of batch stds; use as the std)",
            s.psla_std
        );
        println!("exact mean   {:.4}", s.mean);
        println!("exact std    {:.4}", s.std);
    }
    Ok(ExitCode::SUCCESS)
}

/// The feature preset of a model card's frontend. Waveform models normalise each clip
/// themselves (or compute their log-mel inside the graph), so there is nothing to measure for
/// them.
fn card_preset(arch: &str) -> Result<&'static str> {
    use tympan_audio::InputKind;
    Ok(match tympan_models::info(arch)?.input.input {
        InputKind::Fbank => "psla",
        InputKind::Slim2d => "slim2d",
        InputKind::Vggish => "vggish",
        InputKind::Waveform => {
            return Err(anyhow!(
                "{arch} reads raw waveforms, normalised per clip: it has no feature statistics"
            ));
        }
    })
}
