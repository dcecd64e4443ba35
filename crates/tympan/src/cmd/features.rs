//! `tympan features`: audio files to `.npy` feature matrices.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use tympan_audio::{
    ChannelPolicy, FbankOptions, LoadOptions, Preset, WindowType, batch::for_each_parallel,
    fbank::Fbank, load::load, npy,
};

const EXAMPLES: &str = "\
Examples:
  # Kaldi defaults (torchaudio.compliance.kaldi.fbank) for one file
  tympan features clip.wav -o clip.npy
  # PSLA's exact input pipeline (1056x128, normalised) for a folder, 4 threads
  tympan features --preset psla data/audio/ -o feats/ -j 4
  # 64 Hanning bins without edge snipping, resampled to 16 kHz first
  tympan features --num-mel-bins 64 --window-type hanning --snip-edges false --sample-rate 16000 a.flac b.mp3 -o out/

Presets: psla, psla-fsd50k, vggish, dcase-densenet, slim2d. Outputs are float32 [frames, bins].";

/// Compute features of audio files and write float32 `.npy` arrays [frames, bins].
///
/// OUT is a file when there is one input file, otherwise a directory of `<stem>.npy`.
/// Without --preset, the Kaldi fbank options below apply (torchaudio's names and defaults).
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Audio files (WAV, FLAC, MP3, Ogg/Vorbis) or directories searched recursively.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output file (one input) or directory (several inputs or a directory input).
    #[arg(short, long)]
    output: PathBuf,
    /// A named pipeline; cannot be combined with fbank options.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Preset::NAMES))]
    preset: Option<String>,
    /// Resample to this rate (Hz) before extraction (presets with a fixed rate imply it).
    #[arg(long)]
    sample_rate: Option<u32>,
    /// Multi-channel policy: keep the first channel (PSLA) or average all (VGGish).
    #[arg(long, value_enum, default_value = "first")]
    channels: Channels,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    #[command(flatten)]
    kaldi: KaldiArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Channels {
    First,
    Mean,
}

/// Kaldi fbank options, named as in `torchaudio.compliance.kaldi.fbank`.
#[derive(clap::Args, Default)]
#[command(next_help_heading = "Kaldi fbank options (torchaudio names and defaults)")]
struct KaldiArgs {
    /// Number of triangular mel bins [23].
    #[arg(long)]
    num_mel_bins: Option<usize>,
    /// hamming, hanning, povey, rectangular or blackman [povey].
    #[arg(long)]
    window_type: Option<WindowType>,
    /// Frame length in ms [25].
    #[arg(long)]
    frame_length: Option<f64>,
    /// Frame shift in ms [10].
    #[arg(long)]
    frame_shift: Option<f64>,
    /// Gaussian dither standard deviation [0].
    #[arg(long)]
    dither: Option<f64>,
    /// Seed of the dither noise [0].
    #[arg(long)]
    dither_seed: Option<u64>,
    /// Pre-emphasis coefficient [0.97].
    #[arg(long)]
    preemphasis_coefficient: Option<f64>,
    /// Subtract each frame's mean [true].
    #[arg(long)]
    remove_dc_offset: Option<bool>,
    /// Pad frames to a power of two for the FFT [true].
    #[arg(long)]
    round_to_power_of_two: Option<bool>,
    /// Only complete frames (true) or Kaldi's reflected edges (false) [true].
    #[arg(long)]
    snip_edges: Option<bool>,
    /// Low mel cut-off in Hz [20].
    #[arg(long)]
    low_freq: Option<f64>,
    /// High mel cut-off in Hz; <= 0 is an offset from Nyquist [0].
    #[arg(long, allow_hyphen_values = true)]
    high_freq: Option<f64>,
    /// Energy last instead of first [false].
    #[arg(long)]
    htk_compat: Option<bool>,
    /// Add the log energy as a coefficient [false].
    #[arg(long)]
    use_energy: Option<bool>,
    /// Energy before pre-emphasis and windowing [true].
    #[arg(long)]
    raw_energy: Option<bool>,
    /// Energy floor (linear) [1.0].
    #[arg(long)]
    energy_floor: Option<f64>,
    /// Log mel energies [true].
    #[arg(long)]
    use_log_fbank: Option<bool>,
    /// Power (true) or magnitude (false) spectrum [true].
    #[arg(long)]
    use_power: Option<bool>,
    /// Subtract the per-bin mean over frames [false].
    #[arg(long)]
    subtract_mean: Option<bool>,
    /// Blackman window constant [0.42].
    #[arg(long)]
    blackman_coeff: Option<f64>,
    /// VTLN warp factor [1.0].
    #[arg(long)]
    vtln_warp: Option<f64>,
    /// VTLN low cut-off in Hz [100].
    #[arg(long)]
    vtln_low: Option<f64>,
    /// VTLN high cut-off in Hz; negative is an offset from Nyquist [-500].
    #[arg(long, allow_hyphen_values = true)]
    vtln_high: Option<f64>,
}

impl KaldiArgs {
    /// Applies the given options on top of the defaults; returns how many were given.
    fn apply(&self, o: &mut FbankOptions) -> usize {
        let mut n = 0;
        macro_rules! set {
            ($($f:ident),*) => {$(
                if let Some(v) = self.$f.clone() { o.$f = v; n += 1; }
            )*};
        }
        set!(
            num_mel_bins,
            window_type,
            frame_length,
            frame_shift,
            dither,
            dither_seed,
            preemphasis_coefficient,
            remove_dc_offset,
            round_to_power_of_two,
            snip_edges,
            low_freq,
            high_freq,
            htk_compat,
            use_energy,
            raw_energy,
            energy_floor,
            use_log_fbank,
            use_power,
            subtract_mean,
            blackman_coeff,
            vtln_warp,
            vtln_low,
            vtln_high
        );
        n
    }
}

const AUDIO_EXTENSIONS: &[&str] = &["wav", "wave", "flac", "mp3", "ogg", "oga"];

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list directory", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("{}: cannot list directory", dir.display()))?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            collect_dir(&p, out)?;
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| AUDIO_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Expands directories; returns the files and whether OUT must be a directory.
pub(crate) fn expand_inputs(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, bool)> {
    let mut files = Vec::new();
    let mut any_dir = false;
    for p in inputs {
        if p.is_dir() {
            any_dir = true;
            let before = files.len();
            collect_dir(p, &mut files)?;
            if files.len() == before {
                bail!(
                    "{}: directory holds no audio files ({})",
                    p.display(),
                    AUDIO_EXTENSIONS.join(", ")
                );
            }
        } else {
            files.push(p.clone());
        }
    }
    let many = any_dir || files.len() > 1;
    Ok((files, many))
}

enum Pipeline {
    Preset(Preset),
    Kaldi(FbankOptions),
}

pub fn run(a: Args) -> Result<ExitCode> {
    let mut fb = FbankOptions::default();
    let n_kaldi = a.kaldi.apply(&mut fb);
    let pipeline = match &a.preset {
        Some(name) if n_kaldi > 0 => {
            bail!(
                "--preset {name} fixes its own fbank options; drop the {n_kaldi} Kaldi option(s) or the preset"
            )
        }
        Some(name) => Pipeline::Preset(Preset::from_name(name)?),
        None => Pipeline::Kaldi(fb),
    };
    let target_rate = match &pipeline {
        Pipeline::Preset(p) => match (p.sample_rate(), a.sample_rate) {
            (Some(fixed), Some(asked)) if fixed != asked => {
                bail!(
                    "--preset {} needs {fixed} Hz; --sample-rate {asked} contradicts it",
                    a.preset.unwrap_or_default()
                )
            }
            (fixed, asked) => fixed.or(asked),
        },
        Pipeline::Kaldi(_) => a.sample_rate,
    };
    let load_opts = LoadOptions {
        channels: match a.channels {
            Channels::First => ChannelPolicy::First,
            Channels::Mean => ChannelPolicy::Mean,
        },
        sample_rate: target_rate,
    };

    let (files, many) = expand_inputs(&a.inputs)?;
    // Output paths, decided (and checked for collisions) before any work starts.
    let outputs: Vec<PathBuf> = if many || a.output.is_dir() {
        std::fs::create_dir_all(&a.output)
            .with_context(|| format!("{}: cannot create directory", a.output.display()))?;
        let mut seen: HashMap<PathBuf, &Path> = HashMap::new();
        let mut outs = Vec::with_capacity(files.len());
        for f in &files {
            let stem = f
                .file_stem()
                .with_context(|| format!("{}: no file name", f.display()))?;
            let out = a.output.join(stem).with_extension("npy");
            if let Some(prev) = seen.insert(out.clone(), f) {
                bail!(
                    "{} and {} would both write {}; rename one or run them separately",
                    prev.display(),
                    f.display(),
                    out.display()
                );
            }
            outs.push(out);
        }
        outs
    } else {
        if let Some(parent) = a.output.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("{}: cannot create directory", parent.display()))?;
        }
        vec![a.output.clone()]
    };

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.jobs.unwrap_or(0))
        .build()?;
    let pb = super::progress(files.len() as u64, "features");
    if files.len() < 2 {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let failures = AtomicUsize::new(0);
    let index: HashMap<&Path, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_path(), i))
        .collect();
    pool.install(|| {
        for_each_parallel(
            &files,
            64,
            |path| -> Result<(usize, usize)> {
                let wav = load(path, &load_opts)?;
                let feats = match &pipeline {
                    Pipeline::Preset(p) => p.extractor(wav.sample_rate)?.compute(&wav.samples)?,
                    Pipeline::Kaldi(o) => {
                        let o = FbankOptions {
                            sample_frequency: wav.sample_rate as f64,
                            ..o.clone()
                        };
                        Fbank::new(o)
                            .and_then(|f| f.compute(&wav.samples))
                            .with_context(|| path.display().to_string())?
                    }
                };
                let out = &outputs[index[path.as_path()]];
                npy::write(out, &feats.data, &[feats.frames, feats.bins])?;
                Ok((feats.frames, feats.bins))
            },
            |_, path, r| {
                pb.inc(1);
                match r {
                    Ok((frames, bins)) => {
                        tracing::info!(path = %path.display(), frames, bins, "features written")
                    }
                    Err(e) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
                        pb.suspend(|| eprintln!("error: {}", msg.join(": ")));
                    }
                }
            },
        )
    });
    pb.finish_and_clear();
    let failed = failures.into_inner();
    if failed > 0 {
        if failed == files.len() && files.len() > 1 {
            eprintln!("all {failed} files failed; nothing was written");
        } else if files.len() > 1 {
            eprintln!(
                "{failed} of {} files failed; the others were written",
                files.len()
            );
        }
        return Ok(ExitCode::FAILURE);
    }
    if files.len() > 1 {
        eprintln!(
            "wrote {} feature files to {}",
            files.len(),
            a.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
