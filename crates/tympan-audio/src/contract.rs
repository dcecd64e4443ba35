//! A model's input contract: one value that says what a model reads and how a clip becomes its
//! input at evaluation, as timm's pretrained config does for images. It owns
//!
//! - the frontend ([`InputKind`]): a feature preset of [`crate::presets`], or raw samples;
//! - the sample rate (`None`: the file's own, as PSLA's dataloader);
//! - the input length in frames (samples for raw waveforms) and the frame geometry that turns it
//!   into a window of samples ([`InputContract::window_samples`]);
//! - the evaluation transform ([`InputContract::eval_input`]): peak normalisation (Jeong & Lim),
//!   padding and cropping, features, and `(x - mean) / std`.
//!
//! Training (`tympan-train`'s pipeline, which adds mixing and masking), inference
//! (`tympan-infer`) and the model cards (`card.json`) all read this one type.

use serde::{Deserialize, Serialize};

use crate::augment::peak_normalized;
use crate::error::Result;
use crate::features::Features;
use crate::presets::{Preset, WaveNorm};

/// What a model reads: the frontend of its input contract. Recipes (`features.input`), model
/// cards and the CLI spell it `fbank`, `slim2d`, `vggish` or `waveform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// PSLA's Kaldi fbank `[T, 128]` ([`Preset::Psla`]): 25 ms frames every 10 ms.
    #[default]
    Fbank,
    /// Naranjo-Alcazar et al.'s 64-bin log-mel `[T, 64]` at 8 kHz ([`Preset::Slim2d`]): 40 ms
    /// frames every 20 ms.
    Slim2d,
    /// Hershey et al.'s 96x64 log-mel patches ([`Preset::Vggish`], 16 kHz): a clip is scored as
    /// the mean over its 960 ms patches.
    Vggish,
    /// Raw samples `[1, N]`, zero-padded or cropped to the input length, then normalised by
    /// [`InputContract::wave_norm`]; any log-mel is computed inside the model.
    Waveform,
}

impl InputKind {
    /// The name recipes, cards and the CLI use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fbank => "fbank",
            Self::Slim2d => "slim2d",
            Self::Vggish => "vggish",
            Self::Waveform => "waveform",
        }
    }

    /// Values per frame: 128 fbank bins, 64 log-mel bins, 1 for waveforms.
    pub fn bins(self) -> usize {
        match self {
            Self::Fbank => 128,
            Self::Slim2d | Self::Vggish => 64,
            Self::Waveform => 1,
        }
    }

    /// Frame length and hop in samples at `rate` Hz, for feature inputs, computed as Kaldi's
    /// `WindowSize`/`WindowShift` (`feature-window.h`) and [`crate::fbank::Fbank`] do:
    /// `rate * ms * 0.001`, truncated.
    pub fn frame_geometry(self, rate: u32) -> Option<(usize, usize)> {
        let ms = |m: u32| (rate as f64 * m as f64 * 0.001) as usize;
        match self {
            Self::Fbank | Self::Vggish => Some((ms(25), ms(10))),
            Self::Slim2d => Some((ms(40), ms(20))),
            Self::Waveform => None,
        }
    }
}

impl std::fmt::Display for InputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One model input, ready for the model: `data` is `[frames, bins]` frame-major for features,
/// `[samples]` (with `bins == samples`, one "frame") for waveforms.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInput {
    /// The values.
    pub data: Vec<f32>,
    /// Frames (1 for waveforms).
    pub frames: usize,
    /// Values per frame.
    pub bins: usize,
}

/// Where a waveform goes in its input of [`InputContract::length`] samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The evaluation placement: a long clip's start, a short clip at the start or, with
    /// [`InputContract::pad_both`], centred.
    Eval,
    /// A long clip cropped from this sample, or a short clip padded with this many zeros first
    /// (training draws it).
    Offset(usize),
}

/// A model's input contract. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputContract {
    /// The frontend.
    pub input: InputKind,
    /// Sample rate the audio is resampled to (`None`: the file's own rate, PSLA's practice).
    pub sample_rate: Option<u32>,
    /// Frames per input (samples for waveforms).
    pub length: usize,
    /// Normalisation mean of the features (`(x - mean) / std`; 0 for waveforms).
    pub mean: f32,
    /// Normalisation standard deviation of the features (1 for waveforms).
    pub std: f32,
    /// How a waveform input is normalised after placement (Naranjo-Alcazar et al.; unused by
    /// feature inputs).
    #[serde(default)]
    pub wave_norm: WaveNorm,
    /// Each clip is scaled to unit peak first (Jeong & Lim's eq. (2)).
    #[serde(default)]
    pub peak_normalise: bool,
    /// Waveforms shorter than the input are padded at both ends (Jeong & Lim) instead of at the
    /// end.
    #[serde(default)]
    pub pad_both: bool,
    /// Waveforms longer than the input are evaluated whole, on their own (Jeong & Lim).
    #[serde(default)]
    pub eval_whole: bool,
}

impl InputContract {
    /// `input` of `length` frames (samples for waveforms), normalised by `(mean, std)`, at
    /// `sample_rate`; no peak normalisation, end padding, fixed length.
    pub fn new(
        input: InputKind,
        length: usize,
        (mean, std): (f32, f32),
        sample_rate: Option<u32>,
    ) -> Self {
        Self {
            input,
            sample_rate,
            length,
            mean,
            std,
            wave_norm: WaveNorm::None,
            peak_normalise: false,
            pad_both: false,
            eval_whole: false,
        }
    }

    /// The same contract with waveform normalisation `norm`.
    pub fn with_wave_norm(self, norm: WaveNorm) -> Self {
        Self {
            wave_norm: norm,
            ..self
        }
    }

    /// `true` for raw-waveform inputs.
    pub fn is_waveform(&self) -> bool {
        self.input == InputKind::Waveform
    }

    /// The samples one input covers at `rate` Hz: `(length - 1) * hop + frame` for features
    /// (the last frame ends with the window), `length` for waveforms, and `None` for VGGish
    /// input, whose clips are scored whole over their patches.
    pub fn window_samples(&self, rate: u32) -> Option<usize> {
        match self.input {
            InputKind::Vggish => None,
            InputKind::Waveform => Some(self.length.max(1)),
            kind => {
                let (frame, hop) = kind.frame_geometry(rate)?;
                Some(self.length.max(1).saturating_sub(1) * hop + frame)
            }
        }
    }

    /// The fewest samples one input can be computed from at `rate` Hz: one frame for features,
    /// one sample for waveforms.
    pub fn min_samples(&self, rate: u32) -> usize {
        self.input
            .frame_geometry(rate)
            .map_or(1, |(frame, _)| frame.max(1))
    }

    /// The input length a clip of `samples` samples at `rate` Hz fills whole: its frames as
    /// Kaldi cuts them (`snip_edges`, so 0 below one frame) for features, its samples for
    /// waveforms, and `None` for VGGish input, whose length is a patch, not a clip.
    pub fn length_of(&self, samples: usize, rate: u32) -> Option<usize> {
        match self.input {
            InputKind::Vggish => None,
            InputKind::Waveform => Some(samples),
            kind => {
                let (frame, hop) = kind.frame_geometry(rate)?;
                Some(if samples < frame || hop == 0 {
                    0
                } else {
                    1 + (samples - frame) / hop
                })
            }
        }
    }

    /// [`Self::window_samples`] in seconds.
    pub fn window_seconds(&self, rate: u32) -> Option<f64> {
        self.window_samples(rate).map(|n| n as f64 / rate as f64)
    }

    /// The clip as the model's transform sees it: at unit peak with [`Self::peak_normalise`].
    pub fn prepare<'a>(&self, wave: &'a [f32]) -> std::borrow::Cow<'a, [f32]> {
        if self.peak_normalise {
            std::borrow::Cow::Owned(peak_normalized(wave))
        } else {
            std::borrow::Cow::Borrowed(wave)
        }
    }

    /// Unnormalised features `[length, bins]` of a (prepared) clip at `rate` Hz: zero-padded or
    /// cut to the input length. Not for waveform inputs.
    pub fn features(&self, wave: &[f32], rate: u32) -> Result<Features> {
        match self.input {
            InputKind::Slim2d | InputKind::Vggish => {
                let preset = if self.input == InputKind::Slim2d {
                    Preset::Slim2d
                } else {
                    Preset::Vggish
                };
                let mut f = preset.extractor(rate)?.compute(wave)?;
                let (t, b) = (self.length, f.bins);
                f.data.resize(t * b, 0.0);
                f.frames = t;
                Ok(f)
            }
            _ => Preset::Psla {
                target_length: self.length,
                mean: 0.0,
                std: 1.0,
            }
            .extractor(rate)?
            .compute(wave),
        }
    }

    /// `(x - mean) / std`, in place.
    pub fn normalise(&self, x: &mut [f32]) {
        let (m, s) = (self.mean, self.std);
        x.iter_mut().for_each(|v| *v = (*v - m) / s);
    }

    /// A (prepared) waveform placed in an input of `length` samples and normalised. Not for
    /// feature inputs (their normalisation is [`Self::normalise`]).
    pub fn place_waveform(&self, wave: &[f32], at: Placement) -> Vec<f32> {
        let n = self.length;
        let mut x = vec![0f32; n];
        if wave.len() > n {
            let off = match at {
                Placement::Eval => 0,
                Placement::Offset(o) => o.min(wave.len() - n),
            };
            x.copy_from_slice(&wave[off..off + n]);
        } else if self.pad_both {
            let room = n - wave.len();
            let off = match at {
                Placement::Eval => room / 2,
                Placement::Offset(o) => o.min(room),
            };
            x[off..off + wave.len()].copy_from_slice(wave);
        } else {
            x[..wave.len()].copy_from_slice(wave);
        }
        if self.is_waveform() {
            self.wave_norm.apply(&mut x);
        }
        x
    }

    /// The evaluation input of one clip (a window, or a VGGish patch) at `rate` Hz: prepared,
    /// placed or turned into features, and normalised.
    pub fn eval_input(&self, wave: &[f32], rate: u32) -> Result<ModelInput> {
        let wave = self.prepare(wave);
        if self.is_waveform() {
            let data = self.place_waveform(&wave, Placement::Eval);
            return Ok(ModelInput {
                bins: data.len(),
                data,
                frames: 1,
            });
        }
        let mut f = self.features(&wave, rate)?;
        self.normalise(&mut f.data);
        Ok(ModelInput {
            data: f.data,
            frames: f.frames,
            bins: f.bins,
        })
    }

    /// The contract for one clip of `samples` samples: itself, or with `eval_whole` and a longer
    /// waveform, an input as long as the clip.
    pub fn for_clip(&self, samples: usize) -> Self {
        if self.eval_whole && self.is_waveform() && samples > self.length {
            Self {
                length: samples,
                ..*self
            }
        } else {
            *self
        }
    }

    /// The sample ranges of the examples a clip of `n` samples at `rate` Hz is scored over:
    /// with VGGish input, Hershey et al.'s non-overlapping patches of `length` frames of 10 ms
    /// (96 for their networks, 960 ms; 20 for the raw log-mel baseline of their Sec. 4.4; a
    /// clip of at most one patch stays whole); otherwise the clip itself.
    pub fn example_ranges(&self, n: usize, rate: u32) -> Vec<(usize, usize)> {
        let patch = self.length.max(1);
        let Some((window, hop)) = (self.input == InputKind::Vggish)
            .then(|| self.input.frame_geometry(rate))
            .flatten()
        else {
            return vec![(0, n)];
        };
        let frames = if n >= window && hop > 0 {
            1 + (n - window) / hop
        } else {
            0
        };
        let patches = frames / patch;
        if patches <= 1 {
            return vec![(0, n)];
        }
        (0..patches)
            .map(|p| {
                let start = p * patch * hop;
                (start, (start + (patch - 1) * hop + window).min(n))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window covers exactly the samples of its `length` frames: PSLA's 1056 frames at 16 kHz
    /// are 10.575 s, and the slim 2D net's 199 frames at 8 kHz are its 4 s clip (32,000 samples,
    /// Naranjo-Alcazar et al.'s 64 x 199), whose features fill every frame without padding.
    #[test]
    fn windows_hold_exactly_their_frames() {
        let psla = InputContract::new(InputKind::Fbank, 1056, (0.0, 1.0), Some(16_000));
        assert_eq!(psla.window_samples(16_000), Some(169_200));
        let slim = InputContract::new(InputKind::Slim2d, 199, (0.0, 1.0), Some(8_000));
        let n = slim.window_samples(8_000).unwrap();
        assert_eq!(n, 32_000);
        let wave: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.01).sin()).collect();
        let f = Preset::Slim2d
            .extractor(8_000)
            .unwrap()
            .compute(&wave)
            .unwrap();
        assert_eq!(f.frames, 199, "unpadded frames of one window");
        let short = Preset::Slim2d
            .extractor(8_000)
            .unwrap()
            .compute(&wave[..n - 1])
            .unwrap();
        assert_eq!(short.frames, 198, "one sample less loses the last frame");
        let vgg = InputContract::new(InputKind::Vggish, 96, (0.0, 1.0), Some(16_000));
        assert_eq!(vgg.window_samples(16_000), None);
    }

    /// `length_of` counts the frames the extractors cut, at 8 and 16 kHz, just below, at and
    /// above one frame, and inverts `window_samples`.
    #[test]
    fn clip_lengths_are_the_extractors_frames() {
        // (The slim 2D preset is defined at 8 kHz only.)
        for (kind, preset, rates) in [
            (InputKind::Fbank, Preset::psla(), &[8_000u32, 16_000][..]),
            (InputKind::Slim2d, Preset::Slim2d, &[8_000][..]),
        ] {
            for &rate in rates {
                let c = InputContract::new(kind, 100, (0.0, 1.0), Some(rate));
                let (frame, _) = kind.frame_geometry(rate).unwrap();
                for n in [
                    frame,
                    frame + 1,
                    3 * frame + 7,
                    rate as usize,
                    2 * rate as usize + 13,
                ] {
                    let wave: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.01).sin()).collect();
                    let unpadded = match &preset {
                        Preset::Psla { .. } => {
                            crate::fbank::Fbank::new(crate::presets::psla_fbank_options(rate))
                                .unwrap()
                                .compute(&wave)
                                .unwrap()
                                .frames
                        }
                        p => p.extractor(rate).unwrap().compute(&wave).unwrap().frames,
                    };
                    assert_eq!(c.length_of(n, rate), Some(unpadded), "{kind} {rate} Hz {n}");
                }
                assert_eq!(c.length_of(frame - 1, rate), Some(0));
                assert_eq!(
                    c.length_of(c.window_samples(rate).unwrap(), rate),
                    Some(100)
                );
            }
        }
        let wave = InputContract::new(InputKind::Waveform, 16_000, (0.0, 1.0), Some(16_000));
        assert_eq!(wave.length_of(12_345, 16_000), Some(12_345));
        let vgg = InputContract::new(InputKind::Vggish, 96, (0.0, 1.0), Some(16_000));
        assert_eq!(vgg.length_of(16_000, 16_000), None);
    }

    #[test]
    fn patches_are_length_frame_blocks_and_short_clips_stay_whole() {
        let c = InputContract::new(InputKind::Vggish, 96, (0.0, 1.0), Some(16_000));
        // 4 s at 16 kHz: 398 frames, 4 whole patches (the last 14 frames are dropped, as VGGish).
        let r = c.example_ranges(64_000, 16_000);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], (0, 95 * 160 + 400));
        assert_eq!(r[1].0, 96 * 160);
        // 1 s: 98 frames, one patch; 0.5 s: fewer than 96 frames, one zero-padded example.
        assert_eq!(c.example_ranges(16_000, 16_000), vec![(0, 16_000)]);
        assert_eq!(c.example_ranges(8_000, 16_000), vec![(0, 8_000)]);
        let f = InputContract::new(InputKind::Fbank, 96, (0.0, 1.0), None);
        assert_eq!(f.example_ranges(64_000, 16_000), vec![(0, 64_000)]);
        // The raw baseline's 20-frame patches: 398 frames give 19 of 200 ms, 3,200 samples apart.
        let raw = InputContract::new(InputKind::Vggish, 20, (0.0, 1.0), Some(16_000));
        let r = raw.example_ranges(64_000, 16_000);
        assert_eq!(r.len(), 19);
        assert_eq!(r[0], (0, 19 * 160 + 400));
        assert_eq!(r[18].0, 18 * 20 * 160);
    }

    #[test]
    fn waveforms_are_placed_as_the_contract_says() {
        let mut c = InputContract::new(InputKind::Waveform, 6, (0.0, 1.0), None);
        assert_eq!(
            c.place_waveform(&[1.0; 2], Placement::Eval),
            [1., 1., 0., 0., 0., 0.]
        );
        c.pad_both = true;
        assert_eq!(
            c.place_waveform(&[1.0; 2], Placement::Eval),
            [0., 0., 1., 1., 0., 0.]
        );
        assert_eq!(
            c.place_waveform(&[1.0; 2], Placement::Offset(4)),
            [0., 0., 0., 0., 1., 1.]
        );
        let long: Vec<f32> = (0..8).map(|i| i as f32).collect();
        assert_eq!(
            c.place_waveform(&long, Placement::Eval),
            [0., 1., 2., 3., 4., 5.]
        );
        assert_eq!(
            c.place_waveform(&long, Placement::Offset(2)),
            [2., 3., 4., 5., 6., 7.]
        );
        c.eval_whole = true;
        assert_eq!(c.for_clip(8).length, 8);
        assert_eq!(c.for_clip(4).length, 6);
    }

    #[test]
    fn contracts_round_trip_through_json() {
        let c = InputContract {
            peak_normalise: true,
            wave_norm: WaveNorm::ScaleMax,
            ..InputContract::new(InputKind::Waveform, 64_000, (0.0, 1.0), Some(44_100))
        };
        let s = serde_json::to_string(&c).unwrap();
        assert!(s.contains(r#""input":"waveform""#), "{s}");
        assert!(s.contains(r#""wave_norm":"scale-max""#), "{s}");
        assert_eq!(serde_json::from_str::<InputContract>(&s).unwrap(), c);
    }
}
