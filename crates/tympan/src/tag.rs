//! From audio to `(label, score)` pairs: one entry point for a run folder that
//! `cargo xtask train` wrote (any model family; its `card.json` says everything), a released
//! model by name ([`crate::hub`]), or a PSLA fbank model's weights (`.bpk`, or a PyTorch state
//! dict such as PSLA's checkpoints) with the input settings stated.
//!
//! Files are cut into windows of the model's input and scored a bounded batch of windows at a
//! time by [`tympan_infer::Scorer`] (the layer training's evaluation also goes through), so
//! memory does not grow with a file's length. Samples already in memory are tagged the same way
//! ([`AudioTagger::tag_samples`]), and several clips share forward passes
//! ([`AudioTagger::tag_clips`], [`AudioTagger::tag_files`]). The clip score is the mean (or
//! max, [`Pool`]) over windows, as PSLA's evaluation and Hershey et al.'s clip scores take it.
//!
//! ```no_run
//! use tympan::Device;
//! use tympan::tag::AudioTagger;
//!
//! let tagger = AudioTagger::pretrained("psla-audioset", &Device::flex())?;
//! for (label, score) in tagger.tag("clip.wav".as_ref())?.into_iter().take(5) {
//!     println!("{score:.3} {label}");
//! }
//! // One second of silence at 44.1 kHz, already in memory (resampled to the model's rate).
//! let top = tagger.tag_samples(&vec![0.0; 44_100], 44_100)?;
//! println!("{} classes ranked", top.len());
//! # Ok::<(), tympan::tag::TagError>(())
//! ```

use std::path::{Path, PathBuf};

use burn::prelude::*;
use tympan_audio::{InputContract, InputKind};
use tympan_infer::{Clip, InferError, ModelCard, Scorer};
use tympan_models::{ModelError, Tagger, TorchLoadOptions, create, load_burnpack, load_pytorch};

pub use tympan_infer::{Checkpoint, Pool, Windows};

use crate::hub::{self, Fetched, HubError};

/// Windows per forward pass of a PSLA fbank model given as weights.
const WINDOW_BATCH: usize = 16;

/// Why a model could not be loaded or a file could not be tagged. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// Fetching a pretrained model failed.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// A card could not be read, or a clip not scored.
    #[error(transparent)]
    Infer(#[from] InferError),
    /// The model could not be built or its weights not loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
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
    /// The weights' settings do not fit.
    #[error("{0}")]
    Settings(String),
}

/// The input settings of a PSLA fbank model given as weights ([`AudioTagger::from_weights`]):
/// no defaults for the normalisation, which must be the statistics the weights were trained
/// with ([`FbankOptions::psla_audioset`] for PSLA's AudioSet and FSD50K models).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FbankOptions {
    /// Window length in 10 ms frames (default: the model card's, 1056 for PSLA).
    pub frames: Option<usize>,
    /// fbank normalisation mean.
    pub mean: f32,
    /// fbank normalisation standard deviation.
    pub std: f32,
    /// Resample to this rate first (default: the model card's).
    pub sample_rate: Option<u32>,
}

impl FbankOptions {
    /// PSLA's AudioSet statistics (`egs/audioset/run.sh`), at the card's length and rate.
    pub fn psla_audioset() -> Self {
        Self {
            frames: None,
            mean: tympan_audio::presets::PSLA_MEAN,
            std: tympan_audio::presets::PSLA_STD,
            sample_rate: None,
        }
    }
}

/// A loaded model with its class names and input contract, ready to tag audio. A run folder,
/// a released model and weights alone go through the same [`Scorer`].
pub struct AudioTagger {
    model: Tagger,
    scorer: Scorer,
    /// Seconds between window starts (`None`: the window length).
    hop_s: Option<f64>,
    labels: Vec<String>,
    device: Device,
}

impl AudioTagger {
    /// A finished run folder of `cargo xtask train`: its `card.json` gives the architecture,
    /// the input contract with the run's normalisation, and the class names.
    pub fn from_run(dir: &Path, which: Checkpoint, device: &Device) -> Result<Self, TagError> {
        let card = ModelCard::read(dir)?;
        Ok(Self {
            model: card.load_model(dir, which, device)?,
            scorer: card.scorer(),
            hop_s: None,
            labels: card.classes,
            device: device.clone(),
        })
    }

    /// A released model by name (`psla-audioset`, `psla-audioset-single`, `psla-fsd50k`),
    /// fetched once into [`hub::cache_dir`], with the input its publisher trained it on.
    pub fn pretrained(name: &str, device: &Device) -> Result<Self, TagError> {
        let got = hub::fetch(name, &hub::cache_dir()?, None)?;
        Self::from_fetched(&got, device)
    }

    /// A model [`hub::fetch`] brought, with its entry's input contract.
    pub fn from_fetched(got: &Fetched, device: &Device) -> Result<Self, TagError> {
        let labels = read_labels(&got.labels)?;
        let model = load_weights(got.arch, &got.weights, labels.len(), device)?;
        Ok(Self {
            model,
            scorer: Scorer::new(got.contract, WINDOW_BATCH),
            hop_s: None,
            labels,
            device: device.clone(),
        })
    }

    /// A PSLA fbank model (see `tympan models list`) from a Burn record (`.bpk`) or a PyTorch
    /// state dict (`.pth`/`.pt`; DataParallel's `module.` prefix is handled), one class name per
    /// output, read with the settings `opts` states.
    pub fn from_weights(
        arch: &str,
        weights: &Path,
        labels: Vec<String>,
        opts: FbankOptions,
        device: &Device,
    ) -> Result<Self, TagError> {
        let info = tympan_models::info(arch)?;
        if info.input.input != InputKind::Fbank {
            return Err(TagError::NotFbank {
                arch: arch.to_string(),
                preset: info.input.input.to_string(),
            });
        }
        if !(opts.std.is_finite() && opts.std > 0.0 && opts.mean.is_finite()) {
            return Err(TagError::Settings(format!(
                "the normalisation ({}, {}) needs a finite mean and a positive std",
                opts.mean, opts.std
            )));
        }
        if opts.frames == Some(0) {
            return Err(TagError::Settings(
                "a window needs at least one frame".into(),
            ));
        }
        let model = load_weights(arch, weights, labels.len(), device)?;
        let contract = InputContract::new(
            InputKind::Fbank,
            opts.frames.unwrap_or(info.input.length),
            (opts.mean, opts.std),
            opts.sample_rate.or(info.input.sample_rate),
        );
        Ok(Self {
            model,
            scorer: Scorer::new(contract, WINDOW_BATCH),
            hop_s: None,
            labels,
            device: device.clone(),
        })
    }

    /// Windows every `hop_s` seconds instead of back to back; a hop that is not a positive
    /// number of seconds is refused.
    pub fn with_hop(mut self, hop_s: Option<f64>) -> Result<Self, TagError> {
        Scorer::check_hop(hop_s)?;
        self.hop_s = hop_s;
        Ok(self)
    }

    /// Class names, in output order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// What the model reads.
    pub fn contract(&self) -> &InputContract {
        &self.scorer.contract
    }

    /// Every window's scores of one file (read piece by piece).
    pub fn windows(&self, file: &Path) -> Result<Windows, TagError> {
        Ok(self
            .scorer
            .score_file(&self.model, file, self.hop_s, &self.device)?)
    }

    /// [`Self::windows`] of several files, each read piece by piece, the windows of
    /// consecutive files sharing forward passes: `done(i, windows)` gets file `i`'s scores or
    /// its error, in file order, and the files after a failed one go on; `done` returning
    /// `Break` stops there ([`Scorer::score_files`]). What `tympan tag` runs on a list of files.
    pub fn windows_each<P: AsRef<Path>>(
        &self,
        files: &[P],
        mut done: impl FnMut(usize, Result<Windows, TagError>) -> std::ops::ControlFlow<()>,
    ) -> Result<(), TagError> {
        Ok(self
            .scorer
            .score_files(&self.model, files, self.hop_s, &self.device, |i, w| {
                done(i, w.map_err(TagError::from))
            })?)
    }

    /// The clip's `(label, score)` pairs, mean over windows, best first.
    pub fn tag(&self, file: &Path) -> Result<Vec<(String, f32)>, TagError> {
        Ok(self.ranked(&self.windows(file)?.pool(Pool::Mean)))
    }

    /// `(label, score)` pairs of mono samples in memory at `rate` Hz (resampled to the model's
    /// rate), mean over windows, best first.
    pub fn tag_samples(&self, samples: &[f32], rate: u32) -> Result<Vec<(String, f32)>, TagError> {
        let mut all = self.tag_clips(&[Clip { samples, rate }])?;
        Ok(all.remove(0))
    }

    /// [`Self::tag_samples`] of several clips, their windows sharing forward passes.
    pub fn tag_clips(&self, clips: &[Clip<'_>]) -> Result<Vec<Vec<(String, f32)>>, TagError> {
        let windows = self
            .scorer
            .score_clips(&self.model, clips, self.hop_s, &self.device)?;
        Ok(windows
            .iter()
            .map(|w| self.ranked(&w.pool(Pool::Mean)))
            .collect())
    }

    /// [`Self::tag`] of several files, decoded whole and scored together (their windows share
    /// forward passes): for many short files. Long files are better read piece by piece with
    /// [`Self::tag`].
    pub fn tag_files(&self, files: &[&Path]) -> Result<Vec<Vec<(String, f32)>>, TagError> {
        let decoded = self.decode(files)?;
        self.tag_clips(&clips_of(&decoded))
            .map_err(|e| name_files(e, files))
    }

    /// The model's evaluation outputs `[clips, classes]` (row-major) of whole clips, as
    /// training's evaluation takes them ([`Scorer::predict_clips`]): each clip cut or padded to
    /// the model's input, no windowing. What `tympan evaluate` scores, and what a run's
    /// `predictions.npy` holds. Clips at another rate than the model's are resampled first.
    pub fn predict_clips(&self, clips: &[Clip<'_>]) -> Result<Vec<f32>, TagError> {
        Ok(self
            .scorer
            .predict_clips(&self.model, clips, &self.device)?)
    }

    /// [`Self::predict_clips`] of files, decoded whole (in parallel) at the model's rate.
    pub fn predict_files(&self, files: &[&Path]) -> Result<Vec<f32>, TagError> {
        let decoded = self.decode(files)?;
        self.predict_clips(&clips_of(&decoded))
            .map_err(|e| name_files(e, files))
    }

    /// Files decoded whole, in parallel, at the model's rate.
    fn decode(&self, files: &[&Path]) -> Result<Vec<tympan_audio::Waveform>, TagError> {
        use rayon::prelude::*;
        let opts = tympan_audio::LoadOptions {
            sample_rate: self.scorer.contract.sample_rate,
            ..Default::default()
        };
        Ok(files
            .par_iter()
            .map(|f| {
                tympan_audio::load::load(f, &opts).map_err(|source| InferError::Audio {
                    path: f.to_path_buf(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?)
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

/// The clips of decoded files.
fn clips_of(decoded: &[tympan_audio::Waveform]) -> Vec<Clip<'_>> {
    decoded
        .iter()
        .map(|w| Clip {
            samples: &w.samples,
            rate: w.sample_rate,
        })
        .collect()
}

/// A clip's error named by its file.
fn name_files(e: TagError, files: &[&Path]) -> TagError {
    match e {
        TagError::Infer(e) => TagError::Infer(e.map_clip(|i, source| InferError::Audio {
            path: files[i].to_path_buf(),
            source,
        })),
        e => e,
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
