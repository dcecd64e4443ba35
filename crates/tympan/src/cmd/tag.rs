//! `tympan tag`: tag audio files with a trained model (PSLA itself ships no inference command).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use burn::prelude::*;
use tympan_audio::{LoadOptions, Preset, load::load, npy};
use tympan_models::{Backend, Tagger, TorchLoadOptions, create, load_burnpack, load_pytorch};
use tympan_train::inference::{Checkpoint, TrainedRun};

const EXAMPLES: &str = "\
Examples:
  tympan tag --run experiments/runs/fsdd-hershey recordings/0_george_0.wav
  tympan tag --run experiments/runs/us8k-m34-res --checkpoint last --format json clips/
  tympan tag --pretrained psla-audioset clip.wav
  tympan tag --arch psla-effnet-b2 --weights audioset_psla.pth \\
      --labels class_labels_indices.csv clip.wav
  tympan tag --arch psla-effnet-lite0 --weights experiments/runs/fsdd-psla/model-wa.bpk \\
      --labels digits.txt --mean -6.1 --std 4.2 --format json recordings/

--run DIR tags with any model `cargo xtask train` trained: the folder gives the architecture, the
input pipeline and its normalisation, the sample rate and the class names; files are cut into
windows of the model's input length (every --hop-s seconds). Otherwise --arch and --weights name
a PSLA fbank model: a Burn record (.bpk) or a PyTorch state dict (.pth/.pt, e.g. PSLA's released
checkpoints; the DataParallel `module.` prefix is handled), long files cut into windows of
--frames frames every --hop frames. The clip score is the mean (or max) over windows, and
--windows-out keeps the per-window scores. --pretrained NAME fetches a released model and its
class list once into the cache folder ($TYMPAN_CACHE, else $XDG_CACHE_HOME/tympan, else
~/.cache/tympan), checks them by SHA-256 and tags with it as --arch/--weights/--labels would.";

/// Tag audio files: top-k classes with scores.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Audio files or directories.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// A finished run folder of `cargo xtask train` (any model family): everything else comes
    /// from it.
    #[arg(long, conflicts_with_all = ["arch", "weights", "labels", "frames", "hop", "mean", "std", "sample_rate"])]
    run: Option<PathBuf>,
    /// With --run: the model chosen on validation, the last epoch's, or the weight-averaged one.
    #[arg(long, default_value = "best", value_parser = ["best", "last", "wa"], requires = "run")]
    checkpoint: String,
    /// With --run: seconds between window starts (default: the window length).
    #[arg(long, requires = "run")]
    hop_s: Option<f64>,
    /// A released model by name, fetched once into the cache folder ($TYMPAN_CACHE, else
    /// ~/.cache/tympan) and checked by SHA-256: psla-audioset, psla-audioset-single,
    /// psla-fsd50k.
    #[arg(long, conflicts_with_all = ["run", "arch", "weights", "labels"])]
    pretrained: Option<String>,
    /// With --pretrained: fetch from this base URL (`<URL>/<file>`) instead of the publisher.
    #[arg(
        long,
        env = "TYMPAN_HUB_MIRROR",
        requires = "pretrained",
        value_name = "URL"
    )]
    mirror: Option<String>,
    /// Registry name of a PSLA fbank model (see `tympan models list`).
    #[arg(long, required_unless_present_any = ["run", "pretrained"], requires = "weights")]
    arch: Option<String>,
    /// Model weights (.bpk or .pth).
    #[arg(long, requires = "arch")]
    weights: Option<PathBuf>,
    /// Class names: AudioSet's class_labels_indices.csv, or one name per line.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Number of classes when --labels is not given.
    #[arg(long, default_value_t = 527)]
    classes: usize,
    /// Classes shown per file.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = super::Format::Table)]
    format: super::Format,
    /// Write float32 [n_files, n_classes] clip scores in input order.
    #[arg(long)]
    scores_out: Option<PathBuf>,
    /// Draw the top classes over time as an SVG figure (rows: the clip's top-k classes by name,
    /// x: seconds, with a colour scale), as in Hershey et al. Fig. 2; one input file only.
    #[arg(long, value_name = "SVG")]
    timeline: Option<PathBuf>,
    /// Write each file's per-window scores `[windows, classes]` as `<DIR>/<stem>.npy`.
    #[arg(long, value_name = "DIR")]
    windows_out: Option<PathBuf>,
    /// Window length in frames (default: the model's input length, 1056 for PSLA).
    #[arg(long)]
    frames: Option<usize>,
    /// Hop between windows in frames (default: the window length).
    #[arg(long)]
    hop: Option<usize>,
    /// Clip score from the window scores.
    #[arg(long, default_value = "mean", value_parser = ["mean", "max"])]
    pool: String,
    /// fbank normalisation mean (PSLA AudioSet default).
    #[arg(long, default_value_t = tympan_audio::presets::PSLA_MEAN, allow_hyphen_values = true)]
    mean: f32,
    /// fbank normalisation std.
    #[arg(long, default_value_t = tympan_audio::presets::PSLA_STD)]
    std: f32,
    /// Resample inputs to this rate first (default: the model card's, 16000 for PSLA).
    #[arg(long)]
    sample_rate: Option<u32>,
    /// Backend.
    #[arg(long, default_value = "flex", value_parser = super::BACKENDS)]
    backend: String,
}

fn load_model(arch: &str, weights: &Path, classes: usize, device: &Device) -> Result<Tagger> {
    let model = create(arch, classes, device)?;
    let ext = weights.extension().and_then(|e| e.to_str()).unwrap_or("");
    Ok(match ext {
        "pth" | "pt" => {
            let mut m = model;
            load_pytorch(&mut m, weights, &TorchLoadOptions::default())?;
            m
        }
        "bpk" | "mpk" => load_burnpack(model, weights)?,
        other => bail!(
            "{}: unknown weights format {other:?} (expected .bpk or .pth)",
            weights.display()
        ),
    })
}

/// A PSLA fbank model with its window length and hop in frames and its rate, by default the
/// model card's.
fn psla_model(
    arch: &str,
    weights: &Path,
    classes: usize,
    a: &Args,
    device: &Device,
) -> Result<Source> {
    let info = tympan_models::info(arch)?;
    if info.input.preset != "psla" {
        bail!(
            "{arch}: --arch/--weights take PSLA fbank models; this model takes {} input. \
             Tag with the run folder that trained it instead: --run <DIR>",
            info.input.preset
        );
    }
    let model = load_model(arch, weights, classes, device)?;
    let frames = a.frames.unwrap_or(info.input.frames);
    Ok(Source::Psla {
        model,
        frames,
        hop: a.hop.unwrap_or(frames).max(1),
        rate: a.sample_rate.unwrap_or(info.input.sample_rate),
    })
}

/// `--pretrained NAME`: the cached files, fetched first where missing, with a progress bar.
fn fetch_pretrained(name: &str, mirror: Option<&str>) -> Result<tympan::hub::Fetched> {
    let cache = tympan::hub::cache_dir()?;
    let pb = indicatif::ProgressBar::hidden();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut shown = None::<String>;
    let got = tympan::hub::fetch_with_progress(name, &cache, mirror, &mut |p| {
        if shown.as_deref() != Some(p.file) {
            pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            pb.set_message(p.file.to_string());
            pb.set_position(0);
            shown = Some(p.file.to_string());
        }
        pb.set_length(p.total.unwrap_or(p.done));
        pb.set_position(p.done);
    })?;
    pb.finish_and_clear();
    if shown.is_some() {
        eprintln!("{name}: cached in {}", cache.join(name).display());
    }
    Ok(got)
}

/// Where the window scores of a file come from.
enum Source {
    /// A run folder: its own pipeline and model.
    Run(Box<TrainedRun>, Tagger),
    /// A PSLA fbank model named by --arch / --weights.
    Psla {
        model: Tagger,
        frames: usize,
        hop: usize,
        rate: u32,
    },
}

impl Source {
    /// Window scores `[windows, classes]`, the hop and the window length in seconds.
    fn windows(&self, file: &Path, a: &Args, device: &Device) -> Result<(Vec<Vec<f32>>, f64, f64)> {
        match self {
            Source::Run(run, model) => {
                let (w, hop_s) = run.tag_file(model, file, a.hop_s, device)?;
                let rate = run.pipe.sample_rate.unwrap_or(16_000);
                let win_s = run.window_seconds(rate).unwrap_or(hop_s);
                Ok((w, hop_s, win_s))
            }
            Source::Psla {
                model,
                frames,
                hop,
                rate,
            } => {
                let (w, _) = window_scores(model, file, a, (*frames, *hop, *rate), device)?;
                // Kaldi fbank frames are 10 ms apart.
                Ok((w, *hop as f64 * 0.010, *frames as f64 * 0.010))
            }
        }
    }
}

/// Windows per forward pass of the `--arch`/`--pretrained` path.
const WINDOW_BATCH: usize = 16;

/// Scores of every window of one file: `[windows, classes]`.
fn window_scores(
    model: &Tagger,
    path: &Path,
    a: &Args,
    (frames, hop, rate): (usize, usize, u32),
    device: &Device,
) -> Result<(Vec<Vec<f32>>, usize)> {
    let wav =
        load(path, &LoadOptions::at_rate(rate)).with_context(|| path.display().to_string())?;
    // Full-length fbank (unnormalised), then windows.
    let total = ((wav.samples.len() as f64 / rate as f64) * 100.0).ceil() as usize + 1;
    let ex = Preset::Psla {
        target_length: total.max(frames),
        mean: 0.0,
        std: 1.0,
    }
    .extractor(rate)?;
    let f = ex.compute(&wav.samples)?;
    let real = ((wav.samples.len().saturating_sub(400)) / 160 + 1).min(f.frames);
    let mut starts = vec![0usize];
    while starts.last().is_some_and(|&s| s + frames < real) {
        let next = starts.last().copied().unwrap_or(0) + hop;
        starts.push(next);
    }
    // Windows go through the model WINDOW_BATCH at a time, so memory does not grow with the
    // file's length beyond its fbank.
    let mut rows = Vec::with_capacity(starts.len());
    for batch in starts.chunks(WINDOW_BATCH) {
        let mut x = Vec::with_capacity(batch.len() * frames * f.bins);
        for &s in batch {
            for t in s..s + frames {
                for b in 0..f.bins {
                    let v = if t < real {
                        f.data[t * f.bins + b]
                    } else {
                        0.0
                    };
                    x.push((v - a.mean) / a.std);
                }
            }
        }
        let xt =
            Tensor::<1>::from_floats(x.as_slice(), device).reshape([batch.len(), frames, f.bins]);
        let scores: Vec<f32> = model
            .forward(xt)
            .into_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| anyhow!("{e:?}"))?;
        let k = scores.len() / batch.len();
        rows.extend(scores.chunks(k).map(<[f32]>::to_vec));
    }
    Ok((rows, real))
}

pub fn run(a: Args) -> Result<ExitCode> {
    let backend: Backend = a.backend.parse()?;
    let device = backend.device()?;
    let (source, labels) = match (&a.run, &a.arch, &a.weights) {
        (Some(dir), _, _) => {
            let run = TrainedRun::open(dir)?;
            let which = match a.checkpoint.as_str() {
                "last" => Checkpoint::Last,
                "wa" => Checkpoint::WeightAveraged,
                _ => Checkpoint::Best,
            };
            let model = run.load_model(which, &device)?;
            let labels = run.classes.clone();
            (Source::Run(Box::new(run), model), labels)
        }
        (None, None, None) if a.pretrained.is_some() => {
            let name = a.pretrained.as_deref().unwrap_or_default();
            let got = fetch_pretrained(name, a.mirror.as_deref())?;
            let labels = super::read_class_names(&got.labels)?;
            let model = psla_model(got.arch, &got.weights, labels.len(), &a, &device)?;
            (model, labels)
        }
        (None, Some(arch), Some(weights)) => {
            let labels = match &a.labels {
                Some(p) => super::read_class_names(p)?,
                None => (0..a.classes).map(|i| format!("class {i}")).collect(),
            };
            let model = psla_model(arch, weights, labels.len(), &a, &device)?;
            (model, labels)
        }
        _ => bail!("give --run DIR, --pretrained NAME, or --arch and --weights"),
    };

    let (files, _) = super::features::expand_inputs(&a.inputs)?;
    if a.timeline.is_some() && files.len() != 1 {
        bail!(
            "--timeline draws one file; {} inputs were given",
            files.len()
        );
    }
    let mut all = Vec::new();
    let mut failed = 0;
    let mut json = Vec::new();
    let mut csv_out =
        (a.format == super::Format::Csv).then(|| csv::Writer::from_writer(std::io::stdout()));
    if let Some(w) = &mut csv_out {
        w.write_record(["file", "rank", "class", "score"])?;
    }
    for file in &files {
        let (windows, hop_s, window_s) = match source.windows(file, &a, &device) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("error: {}: {e:#}", file.display());
                failed += 1;
                all.extend(std::iter::repeat_n(f32::NAN, labels.len()));
                continue;
            }
        };
        let k = labels.len();
        if let Some(dir) = &a.windows_out {
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let flat: Vec<f32> = windows.iter().flatten().copied().collect();
            npy::write(&dir.join(format!("{stem}.npy")), &flat, &[windows.len(), k])?;
        }
        let clip: Vec<f32> = (0..k)
            .map(|c| {
                let it = windows.iter().map(|w| w[c]);
                if a.pool == "max" {
                    it.fold(f32::NEG_INFINITY, f32::max)
                } else {
                    it.sum::<f32>() / windows.len() as f32
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&i, &j| clip[j].total_cmp(&clip[i]));
        if let Some(svg) = &a.timeline {
            let top_k: Vec<usize> = order.iter().take(a.top_k).copied().collect();
            let title = file.file_name().map(|n| n.to_string_lossy().into_owned());
            let figure = super::timeline::Timeline {
                title: title.as_deref().unwrap_or_default(),
                classes: top_k.iter().map(|&c| labels[c].as_str()).collect(),
                scores: top_k
                    .iter()
                    .map(|&c| windows.iter().map(|w| w[c]).collect())
                    .collect(),
                hop_s,
                window_s,
            };
            std::fs::write(svg, figure.svg()).with_context(|| svg.display().to_string())?;
            eprintln!("wrote {}", svg.display());
        }
        let top: Vec<(String, f32)> = order
            .iter()
            .take(a.top_k)
            .map(|&i| (labels[i].clone(), clip[i]))
            .collect();
        match a.format {
            super::Format::Table => {
                println!("{} ({} windows)", file.display(), windows.len());
                for (name, s) in &top {
                    println!("  {s:.4}  {name}");
                }
            }
            super::Format::Csv => {
                if let Some(w) = &mut csv_out {
                    let f = file.display().to_string();
                    for (r, (name, s)) in top.iter().enumerate() {
                        w.write_record([&f, &(r + 1).to_string(), name, &format!("{s:.6}")])?;
                    }
                    w.flush()?;
                }
            }
            super::Format::Json => json.push(serde_json::json!({
                "file": file.display().to_string(),
                "windows": windows.len(),
                "top": top.iter().map(|(n, s)| serde_json::json!({"class": n, "score": s})).collect::<Vec<_>>(),
            })),
        }
        all.extend(clip);
    }
    if a.format == super::Format::Json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    if let Some(out) = &a.scores_out {
        npy::write(out, &all, &[files.len(), labels.len()])?;
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
