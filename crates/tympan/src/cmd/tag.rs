//! `tympan tag`: tag audio files with a trained model (PSLA itself ships no inference command).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use tympan::tag::Pool;
use tympan_audio::npy;
use tympan_models::Backend;

const EXAMPLES: &str = "\
Examples:
  tympan tag --run experiments/runs/fsdd-hershey recordings/0_george_0.wav
  tympan tag --run experiments/runs/us8k-m34-res-small --checkpoint last --format json clips/
  tympan tag --pretrained psla-audioset --hop-s 5 clip.wav
  tympan tag --arch psla-effnet-b2 --weights psla_audioset.pth \\
      --labels class_labels_indices.csv --mean -4.6476 --std 4.5699 clip.wav
  tympan tag --arch psla-effnet-lite0 --weights experiments/runs/fsdd-psla/model-wa.bpk \\
      --labels digits.txt --sample-rate 8000 --frames 100 --mean -3.2632 --std 4.6939 \\
      --format json recordings/   # the run's card.json gives these; --run reads it itself

--run DIR tags with any model `cargo xtask train` trained: the folder's card.json gives the
architecture, the input contract (frontend, sample rate, window, normalisation) and the class
names. --pretrained NAME fetches a released model and its class list once into the cache folder
($TYMPAN_CACHE, else $XDG_CACHE_HOME/tympan, else ~/.cache/tympan), with the input its
publisher trained it on (psla-fsd50k: 3000-frame windows). Otherwise --arch and --weights name a
PSLA fbank model: a Burn record (.bpk) or a PyTorch state dict (.pth/.pt, e.g. PSLA's released
checkpoints; the DataParallel `module.` prefix is handled), with its class names (--labels) and
the normalisation it was trained with (--mean, --std: PSLA's AudioSet models use -4.6476 and
4.5699); --frames and --sample-rate default to the model card's. Files are cut into windows of
the model's input every --hop-s seconds (default: back to back); the windows of consecutive
files share forward passes (up to the card's batch, fewer for large windows), and files are
reported in order. The clip score is the mean (or max) over windows, and --windows-out keeps the
per-window scores.";

/// What `tag` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TagFormat {
    /// Aligned text for a person.
    Table,
    /// One JSON array once every file is done.
    Json,
    /// JSON lines: one object per file, printed as it finishes (`{"file", "error"}` for a file
    /// that fails), for a consumer that reads while a long list runs.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

/// Tag audio files: top-k classes with scores.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Audio files or directories.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The model: a run folder, a released model, or weights with their settings.
    #[command(flatten)]
    source: super::source::ModelSource,
    /// Seconds between window starts (default: the window length, back to back).
    #[arg(long)]
    hop_s: Option<f64>,
    /// Classes shown per file.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TagFormat::Table)]
    format: TagFormat,
    /// Write float32 [n_files, n_classes] clip scores in input order (.npy; `--scores-out` is
    /// the old name).
    #[arg(short = 'o', long = "output", alias = "scores-out", value_name = "NPY")]
    scores_out: Option<PathBuf>,
    /// Draw the top classes over time as an SVG figure (rows: the clip's top-k classes by name,
    /// x: seconds, with a colour scale), as in Hershey et al. Fig. 2; one input file only.
    #[arg(long, value_name = "SVG")]
    timeline: Option<PathBuf>,
    /// Write each file's per-window scores `[windows, classes]` as `<DIR>/<stem>.npy`.
    #[arg(long, value_name = "DIR")]
    windows_out: Option<PathBuf>,
    /// Clip score from the window scores.
    #[arg(long, default_value = "mean", value_parser = ["mean", "max"])]
    pool: String,
    /// Backend.
    #[arg(long, default_value = "flex", value_parser = super::BACKENDS)]
    backend: String,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let backend: Backend = a.backend.parse()?;
    let device = backend.device()?;
    let tagger = a.source.tagger(&device)?.with_hop(a.hop_s)?;
    let labels = tagger.labels();
    let pool = if a.pool == "max" {
        Pool::Max
    } else {
        Pool::Mean
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
    let mut json_open = false;
    let mut csv_out =
        (a.format == TagFormat::Csv).then(|| csv::Writer::from_writer(std::io::stdout()));
    if let Some(w) = &mut csv_out {
        w.write_record(["file", "rank", "class", "score"])?;
    }
    // A bar over many files, on stderr (hidden when it is not a terminal, or for one file).
    let pb = if files.len() > 1 {
        super::progress(files.len() as u64, "tagging")
    } else {
        indicatif::ProgressBar::hidden()
    };
    // One file's result, shown as it comes (files come in order; consecutive files' windows
    // share forward passes).
    let mut show = |file: &std::path::Path,
                    w: Result<tympan::tag::Windows, tympan::tag::TagError>|
     -> Result<()> {
        let w = match w {
            Ok(w) => w,
            Err(e) => {
                pb.suspend(|| eprintln!("error: {e}"));
                if a.format == TagFormat::Jsonl {
                    let line = serde_json::json!({"file": file.display().to_string(), "error": e.to_string()});
                    pb.suspend(|| println!("{line}"));
                }
                failed += 1;
                all.extend(std::iter::repeat_n(f32::NAN, labels.len()));
                pb.inc(1);
                return Ok(());
            }
        };
        let windows = &w.scores;
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
        let clip = w.pool(pool);
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&i, &j| clip[j].total_cmp(&clip[i]));
        if let Some(svg) = &a.timeline {
            // Rows by peak score over the windows, so that short events (a spoken digit in a
            // long file) show up; the mean over windows buries them.
            let peak = |c: usize| {
                windows
                    .iter()
                    .map(|w| w[c])
                    .fold(f32::NEG_INFINITY, f32::max)
            };
            let mut by_peak: Vec<usize> = (0..k).collect();
            by_peak.sort_by(|&i, &j| peak(j).total_cmp(&peak(i)));
            let top_k: Vec<usize> = by_peak.into_iter().take(a.top_k).collect();
            let title = file.file_name().map(|n| n.to_string_lossy().into_owned());
            let figure = super::timeline::Timeline {
                title: title.as_deref().unwrap_or_default(),
                classes: top_k.iter().map(|&c| labels[c].as_str()).collect(),
                scores: top_k
                    .iter()
                    .map(|&c| windows.iter().map(|w| w[c]).collect())
                    .collect(),
                hop_s: w.hop_s,
                window_s: w.window_s,
            };
            std::fs::write(svg, figure.svg()).with_context(|| svg.display().to_string())?;
            pb.suspend(|| eprintln!("wrote {}", svg.display()));
        }
        let top: Vec<(&str, f32)> = order
            .iter()
            .take(a.top_k)
            .map(|&i| (labels[i].as_str(), clip[i]))
            .collect();
        match a.format {
            TagFormat::Table => pb.suspend(|| {
                println!("{} ({} windows)", file.display(), windows.len());
                for (name, s) in &top {
                    println!("  {s:.4}  {name}");
                }
            }),
            TagFormat::Csv => {
                if let Some(w) = &mut csv_out {
                    let f = file.display().to_string();
                    for (r, (name, s)) in top.iter().enumerate() {
                        w.write_record([
                            f.as_str(),
                            &(r + 1).to_string(),
                            name,
                            &format!("{s:.6}"),
                        ])?;
                    }
                    w.flush()?;
                }
            }
            TagFormat::Json | TagFormat::Jsonl => {
                let v = serde_json::json!({
                    "file": file.display().to_string(),
                    "windows": windows.len(),
                    "top": top.iter().map(|(n, s)| serde_json::json!({"class": n, "score": s})).collect::<Vec<_>>(),
                });
                // Streamed as each file finishes: one line each (jsonl), or the array's
                // elements as they come (json; `[` and `]` around them).
                let text = if a.format == TagFormat::Jsonl {
                    v.to_string()
                } else {
                    let sep = if json_open { ",\n" } else { "[\n" };
                    json_open = true;
                    format!("{sep}{}", serde_json::to_string_pretty(&v)?)
                };
                pb.suspend(|| {
                    if a.format == TagFormat::Jsonl {
                        println!("{text}");
                    } else {
                        print!("{text}");
                        let _ = std::io::Write::flush(&mut std::io::stdout());
                    }
                });
            }
        }
        all.extend(clip);
        pb.inc(1);
        Ok(())
    };
    // An output that cannot be written (a closed pipe, a full disk) stops the scoring too.
    let mut stopped = None;
    tagger.windows_each(&files, |i, w| match show(&files[i], w) {
        Ok(()) => std::ops::ControlFlow::Continue(()),
        Err(e) => {
            stopped = Some(e);
            std::ops::ControlFlow::Break(())
        }
    })?;
    if let Some(e) = stopped {
        return Err(e);
    }
    pb.finish_and_clear();
    if a.format == TagFormat::Json {
        println!("{}]", if json_open { "\n" } else { "[" });
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
