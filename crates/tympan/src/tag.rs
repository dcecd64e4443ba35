//! From an audio file to `(label, score)` pairs: one entry point for a run folder that
//! `cargo xtask train` wrote (any model family), a released model by name ([`crate::hub`]), or a
//! PSLA fbank model's weights (`.bpk`, or a PyTorch state dict such as PSLA's checkpoints).
//!
//! A file is cut into windows of the model's input length and scored a bounded batch of windows
//! at a time, through the evaluation path of training ([`tympan_train::inference::Scorer`], the
//! same for a run folder and for weights alone), so memory does not grow with the file's length
//! beyond its samples. The clip score is the mean (or max, [`Pool`]) over windows, as PSLA's
//! evaluation and Hershey et al.'s clip scores take it.
//!
//! ```no_run
//! use tympan::Device;
//! use tympan::tag::AudioTagger;
//!
//! let tagger = AudioTagger::pretrained("psla-audioset", &Device::flex())?;
//! for (label, score) in tagger.tag("clip.wav".as_ref())?.into_iter().take(5) {
//!     println!("{score:.3} {label}");
//! }
//! # Ok::<(), tympan::tag::TagError>(())
//! ```

use std::path::{Path, PathBuf};

use burn::prelude::*;
use tympan_models::{ModelError, Tagger, TorchLoadOptions, create, load_burnpack, load_pytorch};
use tympan_train::TrainError;
use tympan_train::inference::{Scorer, TrainedRun};

pub use tympan_train::inference::Checkpoint;

use crate::hub::{self, Fetched, HubError};

/// Windows per forward pass of a PSLA fbank model.
const WINDOW_BATCH: usize = 16;

/// Why a model could not be loaded or a file could not be tagged. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// Fetching a pretrained model failed.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// A run folder could not be opened, or its evaluation path failed.
    #[error(transparent)]
    Run(#[from] TrainError),
    /// The model could not be built or its weights not loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An audio file could not be decoded or its features not computed.
    #[error("{path}: {source}")]
    Audio {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: tympan_audio::AudioError,
    },
    /// A class list could not be read.
    #[error("{path}: {reason}")]
    Labels {
        /// The class list.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `from_weights` takes PSLA fbank models; others are tagged from their run folder.
    #[error(
        "{arch}: weights alone tag PSLA fbank models; this model takes {preset} input. \
         Tag with the run folder that trained it instead (--run <DIR>)"
    )]
    NotFbank {
        /// The registry name.
        arch: String,
        /// Its input preset.
        preset: String,
    },
}

/// How a clip score is taken from its window scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pool {
    /// The mean over windows (PSLA, Hershey et al.).
    #[default]
    Mean,
    /// The max over windows.
    Max,
}

/// Windowing and normalisation of a PSLA fbank model ([`AudioTagger::from_weights`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FbankOptions {
    /// Window length in 10 ms frames (default: the model card's, 1056 for PSLA).
    pub frames: Option<usize>,
    /// Hop between windows in frames (default: the window length).
    pub hop: Option<usize>,
    /// fbank normalisation mean (default: PSLA's AudioSet value).
    pub mean: f32,
    /// fbank normalisation standard deviation.
    pub std: f32,
    /// Resample to this rate first (default: the model card's).
    pub sample_rate: Option<u32>,
}

impl Default for FbankOptions {
    fn default() -> Self {
        Self {
            frames: None,
            hop: None,
            mean: tympan_audio::presets::PSLA_MEAN,
            std: tympan_audio::presets::PSLA_STD,
            sample_rate: None,
        }
    }
}

/// The window scores of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    /// `[windows, classes]`.
    pub scores: Vec<Vec<f32>>,
    /// Seconds between window starts (a whole-file model: the file's length).
    pub hop_s: f64,
    /// Window length in seconds.
    pub window_s: f64,
}

impl Windows {
    /// The clip score of each class.
    pub fn pool(&self, pool: Pool) -> Vec<f32> {
        let k = self.scores.first().map_or(0, Vec::len);
        (0..k)
            .map(|c| {
                let it = self.scores.iter().map(|w| w[c]);
                match pool {
                    Pool::Max => it.fold(f32::NEG_INFINITY, f32::max),
                    Pool::Mean => it.sum::<f32>() / self.scores.len() as f32,
                }
            })
            .collect()
    }
}

/// A loaded model with its class names and input pipeline, ready to tag files. A run folder
/// and weights alone go through the same [`Scorer`] (the evaluation path of training).
pub struct AudioTagger {
    model: Tagger,
    scorer: Scorer,
    /// Seconds between window starts (`None`: the window length).
    hop_s: Option<f64>,
    labels: Vec<String>,
    device: Device,
}

impl AudioTagger {
    /// A finished run folder of `cargo xtask train`: the architecture, input pipeline,
    /// normalisation, sample rate and class names all come from it. Windows start every
    /// `hop_s` seconds (default: the window length).
    pub fn from_run(
        dir: &Path,
        which: Checkpoint,
        hop_s: Option<f64>,
        device: &Device,
    ) -> Result<Self, TagError> {
        let run = TrainedRun::open(dir)?;
        Ok(Self {
            model: run.load_model(which, device)?,
            scorer: run.scorer(),
            hop_s,
            labels: run.classes,
            device: device.clone(),
        })
    }

    /// A released model by name (`psla-audioset`, `psla-audioset-single`, `psla-fsd50k`),
    /// fetched once into [`hub::cache_dir`] and checked by SHA-256.
    pub fn pretrained(name: &str, device: &Device) -> Result<Self, TagError> {
        let got = hub::fetch(name, &hub::cache_dir()?, None)?;
        Self::from_fetched(&got, FbankOptions::default(), device)
    }

    /// A model [`hub::fetch`] brought.
    pub fn from_fetched(
        got: &Fetched,
        opts: FbankOptions,
        device: &Device,
    ) -> Result<Self, TagError> {
        let labels = read_labels(&got.labels)?;
        Self::from_weights(got.arch, &got.weights, labels, opts, device)
    }

    /// A PSLA fbank model (see `tympan models list`) from a Burn record (`.bpk`) or a PyTorch
    /// state dict (`.pth`/`.pt`; DataParallel's `module.` prefix is handled), one class name per
    /// output.
    pub fn from_weights(
        arch: &str,
        weights: &Path,
        labels: Vec<String>,
        opts: FbankOptions,
        device: &Device,
    ) -> Result<Self, TagError> {
        let info = tympan_models::info(arch)?;
        if info.input.preset != tympan_models::Frontend::Psla {
            return Err(TagError::NotFbank {
                arch: arch.to_string(),
                preset: info.input.preset.to_string(),
            });
        }
        let model = load_weights(arch, weights, labels.len(), device)?;
        let frames = opts.frames.unwrap_or(info.input.frames).max(1);
        let rate = opts.sample_rate.unwrap_or(info.input.sample_rate);
        let scorer = Scorer::fbank(
            frames,
            (opts.mean, opts.std),
            Some(rate),
            labels.len(),
            WINDOW_BATCH,
        );
        // Kaldi fbank frames are 10 ms apart.
        let hop_s = opts.hop.map(|h| h.max(1) as f64 * 0.010);
        Ok(Self {
            model,
            scorer,
            hop_s,
            labels,
            device: device.clone(),
        })
    }

    /// Class names, in output order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Every window's scores of one file.
    pub fn windows(&self, file: &Path) -> Result<Windows, TagError> {
        let (scores, hop_s) =
            self.scorer
                .score_file(&self.model, file, self.hop_s, &self.device)?;
        let rate = self.scorer.pipe.sample_rate.unwrap_or(16_000);
        let window_s = self.scorer.window_seconds(rate).unwrap_or(hop_s);
        Ok(Windows {
            scores,
            hop_s,
            window_s,
        })
    }

    /// The clip's `(label, score)` pairs, mean over windows, best first.
    pub fn tag(&self, file: &Path) -> Result<Vec<(String, f32)>, TagError> {
        Ok(self.ranked(&self.windows(file)?.pool(Pool::Mean)))
    }

    /// `(label, score)` pairs of clip scores, best first.
    pub fn ranked(&self, clip: &[f32]) -> Vec<(String, f32)> {
        let mut order: Vec<usize> = (0..clip.len().min(self.labels.len())).collect();
        order.sort_by(|&i, &j| clip[j].total_cmp(&clip[i]));
        order
            .into_iter()
            .map(|i| (self.labels[i].clone(), clip[i]))
            .collect()
    }
}

/// A model from `.bpk` or `.pth`/`.pt` weights.
fn load_weights(
    arch: &str,
    weights: &Path,
    classes: usize,
    device: &Device,
) -> Result<Tagger, TagError> {
    let model = create(arch, classes, device)?;
    let ext = weights.extension().and_then(|e| e.to_str()).unwrap_or("");
    Ok(match ext {
        "pth" | "pt" => {
            let mut m = model;
            load_pytorch(&mut m, weights, &TorchLoadOptions::default())?;
            m
        }
        "bpk" | "mpk" => load_burnpack(model, weights)?,
        other => {
            return Err(ModelError::Weights {
                path: weights.to_path_buf(),
                reason: format!("unknown weights format {other:?} (expected .bpk or .pth)"),
            }
            .into());
        }
    })
}

/// Class names from AudioSet's `class_labels_indices.csv` (`index,mid,display_name`), or one
/// name per line.
pub fn read_labels(path: &Path) -> Result<Vec<String>, TagError> {
    let bad = |reason: String| TagError::Labels {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let lead = first.split(',').next().unwrap_or_default().trim();
    let audioset =
        first.split(',').count() >= 3 && (lead == "index" || lead.parse::<usize>().is_ok());
    let names: Vec<String> = if audioset {
        let cl = tympan_data::ClassList::load(path).map_err(|e| bad(e.to_string()))?;
        cl.classes().iter().map(|c| c.name.clone()).collect()
    } else {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    };
    if names.is_empty() {
        return Err(bad("no class names".into()));
    }
    Ok(names)
}
