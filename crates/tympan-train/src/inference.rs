//! File -> windows -> scores, the one inference path: [`Scorer`] cuts a file into windows of
//! the model's input length (`target_length` frames or samples; VGGish-input models take the
//! whole file, which [`crate::engine::predict`] averages over its 960 ms patches), and every
//! window goes through the evaluation path of training ([`crate::engine::predict`]: the same
//! features, padding and normalisation), a bounded batch of windows per forward pass. The file
//! is decoded piece by piece ([`tympan_audio::stream`]) and only the samples from the next
//! window on are kept, so memory does not grow with the length of the file (VGGish-input
//! models, which average a whole file's patches, hold its samples). `tympan tag` uses it for
//! run folders and for weights alone.
//!
//! [`TrainedRun`] opens a finished run: its folder holds everything a model needs (the recipe's
//! input pipeline in `config.toml`, the class names in `summary.json`, the normalisation the run
//! computed in `state.json`, the models), so `tympan tag --run DIR` works for every family
//! without restating any of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use serde::Deserialize;
use tympan_audio::LoadOptions;
use tympan_audio::stream::Stream;
use tympan_models::{Tagger, create, load_burnpack};

use crate::data::{InputKind, Item, Pipeline};
use crate::engine::{Summary, predict};
use crate::error::TrainError;
use crate::recipe::Recipe;
use crate::report::io_err;

/// Which model of a run folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// `model-best.bpk`: the model chosen on the validation split.
    Best,
    /// `model-last.bpk`: the last epoch's.
    Last,
    /// `model-wa.bpk`: the weight-averaged model (PSLA).
    WeightAveraged,
}

impl Checkpoint {
    /// The file name in a run folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Best => "model-best.bpk",
            Self::Last => "model-last.bpk",
            Self::WeightAveraged => "model-wa.bpk",
        }
    }
}

/// A finished run, opened for tagging.
#[derive(Debug, Clone)]
pub struct TrainedRun {
    /// The run folder.
    pub dir: PathBuf,
    /// The recipe as run (`config.toml`).
    pub recipe: Recipe,
    /// Class names, in output order.
    pub classes: Vec<String>,
    /// The evaluation input pipeline, with the run's normalisation.
    pub pipe: Pipeline,
}

#[derive(Deserialize)]
struct Norm {
    norm: (f32, f32),
}

impl TrainedRun {
    /// Open a run folder written by [`crate::run`]. Errors name the missing or unreadable file
    /// (a run still training has no `summary.json` yet).
    pub fn open(dir: &Path) -> Result<Self, TrainError> {
        for (file, what) in [
            (
                "config.toml",
                "no config.toml: not a run folder of `cargo xtask train`",
            ),
            (
                "summary.json",
                "no summary.json: the run has not finished (continue it with `cargo xtask train <recipe> --resume`)",
            ),
        ] {
            if !dir.join(file).is_file() {
                return Err(TrainError::Checkpoint {
                    path: dir.to_path_buf(),
                    reason: what.into(),
                });
            }
        }
        let recipe = Recipe::load(&dir.join("config.toml"), &[])?;
        let read = |name: &str| -> Result<String, TrainError> {
            let p = dir.join(name);
            std::fs::read_to_string(&p).map_err(io_err(&p))
        };
        let bad = |name: &str, e: serde_json::Error| TrainError::Checkpoint {
            path: dir.join(name),
            reason: e.to_string(),
        };
        let summary: Summary =
            serde_json::from_str(&read("summary.json")?).map_err(|e| bad("summary.json", e))?;
        let Norm { norm } =
            serde_json::from_str(&read("state.json")?).map_err(|e| bad("state.json", e))?;
        let mut pipe = Pipeline::for_recipe(&recipe);
        (pipe.mean, pipe.std) = norm;
        Ok(Self {
            dir: dir.to_path_buf(),
            classes: summary.per_class_ap.into_iter().map(|(c, _)| c).collect(),
            recipe,
            pipe,
        })
    }

    /// The model `which` on `device`.
    pub fn load_model(&self, which: Checkpoint, device: &Device) -> Result<Tagger, TrainError> {
        let template = create(&self.recipe.model.arch, self.classes.len(), device)?;
        Ok(load_burnpack(template, &self.dir.join(which.file_name()))?)
    }

    /// The run's [`Scorer`]: its evaluation pipeline, `train.eval_batch_size` windows per
    /// forward pass.
    pub fn scorer(&self) -> Scorer {
        Scorer {
            pipe: self.pipe,
            batch: self.recipe.train.eval_batch_size,
            classes: self.classes.len(),
        }
    }
}

/// Scores the windows of audio files with a model, through its input pipeline.
#[derive(Debug, Clone, Copy)]
pub struct Scorer {
    /// The evaluation input pipeline (features, length, normalisation, sample rate).
    pub pipe: Pipeline,
    /// Windows per forward pass.
    pub batch: usize,
    /// Model outputs.
    pub classes: usize,
}

impl Scorer {
    /// A PSLA fbank model's scorer: `frames` 10 ms frames per window, `(x - mean) / std`,
    /// audio resampled to `sample_rate` (the file's own rate when `None`).
    pub fn fbank(
        frames: usize,
        (mean, std): (f32, f32),
        sample_rate: Option<u32>,
        classes: usize,
        batch: usize,
    ) -> Self {
        Self {
            pipe: Pipeline::eval(InputKind::Fbank, frames, (mean, std), sample_rate),
            batch,
            classes,
        }
    }

    /// Window length in seconds at `rate`, or `None` when the model takes a whole file
    /// (VGGish patches).
    pub fn window_seconds(&self, rate: u32) -> Option<f64> {
        let n = self.pipe.target_length as f64;
        match self.pipe.input {
            InputKind::Vggish => None,
            InputKind::Waveform(_) => Some(n / rate as f64),
            // 10 ms Kaldi frames (25 ms windows); 20 ms slim 2D hops.
            InputKind::Fbank => Some(n * 0.010 + 0.015),
            InputKind::Slim2d => Some(n * 0.020),
        }
    }

    /// Scores `[windows, classes]` of one file, windows of [`Self::window_seconds`] every `hop_s`
    /// seconds (default: the window length), plus the hop used (the whole file: its length).
    pub fn score_file(
        &self,
        model: &Tagger,
        path: &Path,
        hop_s: Option<f64>,
        device: &Device,
    ) -> Result<(Vec<Vec<f32>>, f64), TrainError> {
        let opts = LoadOptions {
            sample_rate: self.pipe.sample_rate,
            ..LoadOptions::default()
        };
        let audio = |source| TrainError::Audio {
            path: path.to_path_buf(),
            source,
        };
        let mut stream = Stream::open(path, &opts).map_err(audio)?;
        let rate = stream.sample_rate();
        let k = self.classes;
        let window = |samples: Vec<f32>| Item {
            path: path.to_path_buf(),
            target: vec![0.0; k],
            samples: Some(Arc::new(samples)),
            sample_rate: rate,
            verified: true,
        };
        let batch = self.batch.max(1);
        let rows =
            |scores: Vec<f32>| -> Vec<Vec<f32>> { scores.chunks(k).map(<[f32]>::to_vec).collect() };
        let Some(win_s) = self.window_seconds(rate) else {
            let samples = stream.read_to_end().map_err(audio)?;
            let secs = samples.len() as f64 / rate as f64;
            let scores = predict(model, &[window(samples)], &self.pipe, batch, device)?;
            return Ok((rows(scores), secs));
        };
        let win = ((win_s * rate as f64).round() as usize).max(1);
        let hop_s = hop_s.unwrap_or(win as f64 / rate as f64);
        let hop = ((hop_s * rate as f64).round() as usize).max(1);
        // Windows start every `hop` samples until one reaches the end of the file. The file is
        // read piece by piece: `buf` holds samples `base..base + buf.len()`, from the next
        // window's start to what has been read, so memory is one window, one read and one
        // batch of window copies, whatever the length of the file.
        let (mut buf, mut base, mut ended) = (Vec::new(), 0usize, false);
        let (mut out, mut pending) = (Vec::new(), Vec::with_capacity(batch));
        let mut next = Some(0usize);
        while let Some(start) = next {
            loop {
                let drop = (start - base).min(buf.len());
                buf.drain(..drop);
                base += drop;
                // Read until the window is complete and one sample past it tells whether
                // another window follows, or the file ends.
                if ended || base + buf.len() > start + win {
                    break;
                }
                ended = !stream.read(&mut buf).map_err(audio)?;
            }
            let known = base + buf.len();
            if start < known || start == 0 {
                let end = (start + win).min(known);
                pending.push(window(buf[start - base..end - base].to_vec()));
            }
            next = (start + win < known).then_some(start + hop);
            if pending.len() == batch || (next.is_none() && !pending.is_empty()) {
                out.extend(rows(predict(model, &pending, &self.pipe, batch, device)?));
                pending.clear();
            }
        }
        Ok((out, hop as f64 / rate as f64))
    }
}
