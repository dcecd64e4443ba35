//! Clips to window scores: a file (read piece by piece, in bounded memory) or samples in memory
//! is cut into windows of the model's input ([`InputContract::window_samples`]: `length` frames,
//! or samples for waveforms; VGGish-input models take the whole clip, averaged over its 960 ms
//! patches), every `hop` seconds, and the windows are scored [`Scorer::batch`] at a time through
//! [`crate::predict`]. Windows of several clips share forward passes ([`Scorer::score_clips`]).
//!
//! Windows start every hop until one reaches the end of the clip. A last window too short to hold
//! one frame (a tail under 25 ms for PSLA's fbank) is dropped: its features cannot be computed,
//! and such a file used to fail as a whole. A clip shorter than one frame is still an error.

use std::borrow::Cow;
use std::path::Path;

use burn::prelude::*;
use tympan_audio::InputContract;
use tympan_models::Tagger;

use crate::predict::{Clip, predict};
use crate::{InferError, Pool};

/// The window scores of one clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    /// `[windows, classes]`.
    pub scores: Vec<Vec<f32>>,
    /// Seconds between window starts (a whole-clip model: the clip's length).
    pub hop_s: f64,
    /// Window length in seconds (a whole-clip model: the clip's length).
    pub window_s: f64,
}

impl Windows {
    /// The clip score of each class: the mean (PSLA, Hershey et al.) or max over windows.
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

/// Scores the windows of clips with a model, through its input contract.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scorer {
    /// The model's input contract.
    pub contract: InputContract,
    /// Windows per forward pass.
    pub batch: usize,
}

impl Scorer {
    /// A scorer of `contract`, `batch` windows per forward pass.
    pub fn new(contract: InputContract, batch: usize) -> Self {
        Self {
            contract,
            batch: batch.max(1),
        }
    }

    /// A hop between windows must be a positive, finite number of seconds.
    pub fn check_hop(hop_s: Option<f64>) -> Result<(), InferError> {
        match hop_s {
            Some(h) if !(h.is_finite() && h > 0.0) => Err(InferError::Input(format!(
                "the hop must be positive seconds, got {h}"
            ))),
            _ => Ok(()),
        }
    }

    /// Window length in samples at `rate`, and the hop (`hop_s` seconds, default the window
    /// length); `None` when the model takes the whole clip (VGGish input).
    pub(crate) fn geometry(
        &self,
        rate: u32,
        hop_s: Option<f64>,
    ) -> Result<Option<(usize, usize)>, InferError> {
        Self::check_hop(hop_s)?;
        Ok(self.contract.window_samples(rate).map(|win| {
            let hop = hop_s.map_or(win, |h| ((h * rate as f64).round() as usize).max(1));
            (win.max(1), hop)
        }))
    }

    /// Window scores of one file, windows every `hop_s` seconds (default: the window length).
    /// The file is read piece by piece: memory is one window, one read and one batch of window
    /// copies, whatever its length (VGGish-input models, which average a whole clip's patches,
    /// hold its samples). [`Self::score_files`] of this one file.
    pub fn score_file(
        &self,
        model: &Tagger,
        path: &Path,
        hop_s: Option<f64>,
        device: &Device,
    ) -> Result<Windows, InferError> {
        let mut got = None;
        self.score_files(model, &[path], hop_s, device, |_, w| {
            got = Some(w);
            std::ops::ControlFlow::Continue(())
        })?;
        got.unwrap_or_else(|| Err(InferError::Input(format!("{}: not scored", path.display()))))
    }

    /// Window scores of samples in memory at `rate` Hz (resampled to the contract's rate first
    /// when it has one), windows every `hop_s` seconds (default: the window length).
    pub fn score_samples(
        &self,
        model: &Tagger,
        samples: &[f32],
        rate: u32,
        hop_s: Option<f64>,
        device: &Device,
    ) -> Result<Windows, InferError> {
        let mut all = self.score_clips(model, &[Clip { samples, rate }], hop_s, device)?;
        Ok(all.remove(0))
    }

    /// Window scores of several clips in memory, their windows sharing forward passes of
    /// [`Self::batch`] windows: the same scores as [`Self::score_samples`] clip by clip.
    pub fn score_clips(
        &self,
        model: &Tagger,
        clips: &[Clip<'_>],
        hop_s: Option<f64>,
        device: &Device,
    ) -> Result<Vec<Windows>, InferError> {
        let at_rate = self.at_rate(clips)?;
        let forward = |x| model.forward(x);
        // (clip, window) in clip order, and each clip's window count and geometry.
        let mut windows: Vec<Clip<'_>> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        let mut per_clip = Vec::with_capacity(clips.len());
        for (c, (samples, rate)) in at_rate.iter().enumerate() {
            let (n, rate) = (samples.len(), *rate);
            let secs = n as f64 / rate as f64;
            let Some((win, hop)) = self.geometry(rate, hop_s)? else {
                windows.push(Clip { samples, rate });
                owner.push(c);
                per_clip.push((1, secs, secs));
                continue;
            };
            let before = windows.len();
            let min = self.contract.min_samples(rate);
            let mut start = 0usize;
            loop {
                if n.saturating_sub(start) >= min || start == 0 {
                    windows.push(Clip {
                        samples: &samples[start.min(n)..(start + win).min(n)],
                        rate,
                    });
                    owner.push(c);
                }
                if start + win >= n {
                    break;
                }
                start += hop;
            }
            let count = windows.len() - before;
            per_clip.push((count, hop as f64 / rate as f64, win as f64 / rate as f64));
        }
        let scores =
            predict(&forward, &self.contract, &windows, self.batch, device).map_err(|e| {
                e.map_clip(|w, source| InferError::Clip {
                    index: owner[w],
                    source,
                })
            })?;
        let mut rows = rows(scores, windows.len()).into_iter();
        Ok(per_clip
            .into_iter()
            .map(|(count, hop_s, window_s)| Windows {
                scores: rows.by_ref().take(count).collect(),
                hop_s,
                window_s,
            })
            .collect())
    }
}

/// A clip's samples at the contract's rate (borrowed where no resampling was needed), and the rate.
type AtRate<'a> = (Cow<'a, [f32]>, u32);

impl Scorer {
    /// Clips resampled to the contract's rate, where it has one and theirs differs.
    fn at_rate<'a>(&self, clips: &[Clip<'a>]) -> Result<Vec<AtRate<'a>>, InferError> {
        clips
            .iter()
            .enumerate()
            .map(|(i, c)| match self.contract.sample_rate {
                Some(to) if to != c.rate => tympan_audio::resample::resample(c.samples, c.rate, to)
                    .map(|s| (Cow::Owned(s), to))
                    .map_err(|source| InferError::Clip { index: i, source }),
                _ => Ok((Cow::Borrowed(c.samples), c.rate)),
            })
            .collect()
    }

    /// The model's evaluation outputs `[clips, K]` (row-major) of whole clips, as training's
    /// evaluation takes them ([`crate::predict`]): each clip cut or padded to the model's input
    /// (VGGish input: the mean over its 960 ms patches), no windowing. Clips at another rate than
    /// the contract's are resampled first. Passes run [`crate::PASSES_AT_ONCE`] at a time, as
    /// [`crate::predict`] runs them.
    pub fn predict_clips(
        &self,
        model: &Tagger,
        clips: &[Clip<'_>],
        device: &Device,
    ) -> Result<Vec<f32>, InferError> {
        let at_rate = self.at_rate(clips)?;
        let clips: Vec<Clip<'_>> = at_rate
            .iter()
            .map(|(samples, rate)| Clip {
                samples,
                rate: *rate,
            })
            .collect();
        let forward = |x| model.forward(x);
        predict(&forward, &self.contract, &clips, self.batch, device)
    }
}

/// `[n, K]` row-major scores as `n` rows.
pub(crate) fn rows(scores: Vec<f32>, n: usize) -> Vec<Vec<f32>> {
    let k = scores.len() / n.max(1);
    scores.chunks(k.max(1)).map(<[f32]>::to_vec).collect()
}
