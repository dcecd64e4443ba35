//! The model a command scores with (`tag`, `evaluate`): a run folder (its `card.json`), a
//! released model by name, or PSLA fbank weights with their settings stated.

use std::path::PathBuf;

use anyhow::{Result, bail};
use tympan::Device;
use tympan::tag::{AudioTagger, FbankOptions};

/// Where the model comes from. clap waives a `requires` whose target conflicts with a present
/// argument, so the flags of one source conflict with the others explicitly.
#[derive(clap::Args)]
pub struct ModelSource {
    /// A finished run folder of `cargo xtask train` (any model family): its card.json gives
    /// everything else.
    #[arg(long, conflicts_with_all = ["arch", "pretrained"])]
    run: Option<PathBuf>,
    /// With --run: the model chosen on validation (default), the last epoch's, or the
    /// weight-averaged one.
    #[arg(long, value_parser = ["best", "last", "wa"], conflicts_with_all = ["arch", "pretrained"])]
    checkpoint: Option<String>,
    /// A released model by name, fetched once into the cache folder ($TYMPAN_CACHE, else
    /// ~/.cache/tympan): psla-audioset, psla-audioset-single, psla-fsd50k.
    #[arg(long, conflicts_with_all = ["run", "arch"])]
    pretrained: Option<String>,
    /// With --pretrained: fetch from this base URL (`<URL>/<file>`) instead of the publisher.
    #[arg(
        long,
        env = "TYMPAN_HUB_MIRROR",
        conflicts_with_all = ["run", "arch"],
        value_name = "URL"
    )]
    mirror: Option<String>,
    /// With --pretrained: the SHA-256 the weights must have (PSLA publishes none). A file put
    /// into the cache folder by hand is used offline when it has this sum.
    #[arg(long, conflicts_with_all = ["run", "arch"], value_name = "SUM")]
    weights_sha256: Option<String>,
    /// Registry name of a PSLA fbank model (see `tympan models list`); needs --weights,
    /// --labels, --mean and --std.
    #[arg(long, required_unless_present_any = ["run", "pretrained"], requires_all = ["weights", "labels", "mean", "std"])]
    arch: Option<String>,
    /// With --arch: model weights (.bpk or .pth).
    #[arg(long, conflicts_with_all = ["run", "pretrained"])]
    weights: Option<PathBuf>,
    /// With --arch: class names, AudioSet's class_labels_indices.csv or one name per line.
    #[arg(long, conflicts_with_all = ["run", "pretrained"])]
    labels: Option<PathBuf>,
    /// With --arch: fbank normalisation mean the weights were trained with.
    #[arg(long, conflicts_with_all = ["run", "pretrained"], allow_hyphen_values = true)]
    mean: Option<f32>,
    /// With --arch: fbank normalisation std the weights were trained with.
    #[arg(long, conflicts_with_all = ["run", "pretrained"])]
    std: Option<f32>,
    /// With --arch: window length in 10 ms frames (default: the model card's, 1056 for PSLA).
    #[arg(long, conflicts_with_all = ["run", "pretrained"])]
    frames: Option<usize>,
    /// With --arch: resample inputs to this rate first (default: the model card's, 16000).
    #[arg(long, conflicts_with_all = ["run", "pretrained"])]
    sample_rate: Option<u32>,
}

impl ModelSource {
    /// The tagger the flags name.
    pub fn tagger(&self, device: &Device) -> Result<AudioTagger> {
        Ok(match (&self.run, &self.pretrained, &self.arch) {
            (Some(dir), _, _) => {
                let which = super::checkpoint(self.checkpoint.as_deref().unwrap_or("best"));
                AudioTagger::from_run(dir, which, device)?
            }
            (None, Some(name), _) => {
                let got = fetch_pretrained(
                    name,
                    &tympan::hub::FetchOptions {
                        mirror: self.mirror.as_deref(),
                        weights_sha256: self.weights_sha256.as_deref(),
                    },
                )?;
                AudioTagger::from_fetched(&got, device)?
            }
            (None, None, Some(arch)) => {
                // clap has required these with --arch.
                let (Some(weights), Some(labels), Some(mean), Some(std)) =
                    (&self.weights, &self.labels, self.mean, self.std)
                else {
                    bail!("--arch needs --weights, --labels, --mean and --std");
                };
                let opts = FbankOptions {
                    frames: self.frames,
                    mean,
                    std,
                    sample_rate: self.sample_rate,
                };
                // A mistyped architecture first, before any file is read.
                tympan::models::info(arch)?;
                let labels = tympan::tag::read_labels(labels)?;
                AudioTagger::from_weights(arch, weights, labels, opts, device)?
            }
            _ => bail!("give --run DIR, --pretrained NAME, or --arch with --weights"),
        })
    }

    /// The model, in words, for a report.
    pub fn describe(&self) -> String {
        match (&self.run, &self.pretrained, &self.arch, &self.weights) {
            (Some(dir), ..) => format!(
                "run {} ({})",
                dir.display(),
                self.checkpoint.as_deref().unwrap_or("best")
            ),
            (None, Some(name), ..) => format!("released model {name}"),
            (None, None, Some(arch), Some(w)) => format!("{arch} weights {}", w.display()),
            _ => "?".into(),
        }
    }

    /// The AudioSet class list (`index,mid,display_name`) that came with the model, where one
    /// did: a released model's, `--labels` when it is one, or a run's copy of the list its
    /// training read (`class_labels_indices.csv`, written since 2026-12-06).
    pub fn class_list(&self) -> Result<Option<tympan::data::ClassList>> {
        let path = match (&self.pretrained, &self.labels, &self.run) {
            (Some(name), ..) => {
                let cache = tympan::hub::cache_dir()?;
                let p = tympan::hub::find(name)?;
                cache.join(p.name).join(p.labels.file)
            }
            (None, Some(l), _) => l.clone(),
            (None, None, Some(dir)) => dir.join(tympan::infer::CLASS_LIST_FILE),
            _ => return Ok(None),
        };
        Ok(tympan::data::ClassList::load(&path).ok())
    }
}

/// `--pretrained NAME`: the cached files, fetched first where missing, with a progress bar.
fn fetch_pretrained(
    name: &str,
    opts: &tympan::hub::FetchOptions<'_>,
) -> Result<tympan::hub::Fetched> {
    let cache = tympan::hub::cache_dir()?;
    let bars = tympan::cli::bars();
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    // One bar per file; on a log file (no terminal) one line per file fetched, with its rate.
    let mut current: Option<(String, indicatif::ProgressBar, std::time::Instant)> = None;
    let finish = |c: Option<(String, indicatif::ProgressBar, std::time::Instant)>| {
        if let Some((file, pb, start)) = c {
            pb.finish_and_clear();
            if bars.is_hidden() {
                let s = start.elapsed().as_secs_f64();
                let mb = pb.position() as f64 / 1e6;
                eprintln!(
                    "{file}: {mb:.1} MB in {s:.1} s ({:.1} MB/s)",
                    mb / s.max(1e-9)
                );
            }
        }
    };
    let got = tympan::hub::fetch_with(name, &cache, opts, &mut |p| {
        if current.as_ref().is_none_or(|(f, _, _)| f != p.file) {
            finish(current.take());
            let pb = bars.add(indicatif::ProgressBar::new(p.total.unwrap_or(0)));
            pb.set_style(style.clone());
            pb.set_message(p.file.to_string());
            current = Some((p.file.to_string(), pb, std::time::Instant::now()));
        }
        if let Some((_, pb, _)) = &current {
            pb.set_length(p.total.unwrap_or(p.done));
            pb.set_position(p.done);
        }
    })?;
    let fetched = current.is_some();
    finish(current);
    if fetched {
        eprintln!("{name}: cached in {}", cache.join(name).display());
    }
    Ok(got)
}
