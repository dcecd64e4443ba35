//! Named feature pipelines of the papers tympan implements.

use crate::error::{AudioError, Result};
use crate::fbank::{Fbank, FbankOptions, WindowType};
use crate::features::Features;
use crate::melspec::{LogMode, MelBank, MelSpecOptions, MelSpectrogram};

/// PSLA's AudioSet normalisation mean (`egs/audioset/run.sh`, `dataset_mean`).
pub const PSLA_MEAN: f32 = -4.6476;
/// PSLA's AudioSet normalisation standard deviation.
pub const PSLA_STD: f32 = 4.5699;
/// PSLA's AudioSet target length in frames.
pub const PSLA_TARGET_LENGTH: usize = 1056;
/// PSLA's FSD50K target length in frames.
pub const PSLA_FSD50K_TARGET_LENGTH: usize = 3000;

/// A named feature pipeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "preset")]
pub enum Preset {
    /// PSLA's dataloader in eval mode (`src/dataloaders/audioset_dataset.py`, `_wav2fbank` and
    /// `__getitem__` without masking or mixup): subtract the waveform mean, Kaldi fbank with
    /// `htk_compat=True, use_energy=False, window_type='hanning', num_mel_bins=128, dither=0,
    /// frame_shift=10` at the file's own rate, zero-pad or cut to `target_length` frames, then
    /// `(x - mean) / std`.
    Psla {
        /// Frames after padding/cutting (1056 for AudioSet, 3000 for FSD50K).
        target_length: usize,
        /// Normalisation mean.
        mean: f32,
        /// Normalisation standard deviation.
        std: f32,
    },
    /// VGGish / Hershey et al. input (`vggish_input.waveform_to_examples`): 16 kHz, 25 ms periodic
    /// Hann, 10 ms hop, 512-point FFT magnitude, 64 mel bins over 125-7500 Hz,
    /// `ln(mel + 0.01)`, framed into 96x64 patches with a 960 ms hop.
    Vggish,
    /// Jeong & Lim (DCASE 2018 task 2): 44.1 kHz, 1024-sample window and FFT, 128-sample hop,
    /// 64 Slaney mel bins, power spectrum in dB (librosa `melspectrogram` + `power_to_db`).
    DcaseDensenet,
    /// Naranjo-Alcazar's slim 2D network: 8 kHz, 40 ms periodic Hann window with 50 % overlap
    /// (320-point frames, no centring padding), 64 Slaney mel bins in dB, each frequency channel
    /// standardised over the clip: a 4 s clip is the paper's 64 x 199 input.
    Slim2d,
}

impl Preset {
    /// PSLA for AudioSet (`target_length` 1056).
    pub fn psla() -> Self {
        Preset::Psla {
            target_length: PSLA_TARGET_LENGTH,
            mean: PSLA_MEAN,
            std: PSLA_STD,
        }
    }

    /// Parse a preset name: `psla`, `psla-fsd50k`, `vggish`, `dcase-densenet`, `slim2d`.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "psla" => Ok(Self::psla()),
            "psla-fsd50k" => Ok(Preset::Psla {
                target_length: PSLA_FSD50K_TARGET_LENGTH,
                mean: PSLA_MEAN,
                std: PSLA_STD,
            }),
            "vggish" => Ok(Preset::Vggish),
            "dcase-densenet" => Ok(Preset::DcaseDensenet),
            "slim2d" => Ok(Preset::Slim2d),
            other => Err(AudioError::InvalidOptions(format!(
                "unknown preset {other:?} (expected psla, psla-fsd50k, vggish, dcase-densenet or slim2d)"
            ))),
        }
    }

    /// Names accepted by [`Preset::from_name`].
    pub const NAMES: &'static [&'static str] =
        &["psla", "psla-fsd50k", "vggish", "dcase-densenet", "slim2d"];

    /// The sample rate the pipeline expects, or `None` for "the file's own rate" (PSLA).
    pub fn sample_rate(&self) -> Option<u32> {
        match self {
            Preset::Psla { .. } => None,
            Preset::Vggish => Some(16_000),
            Preset::DcaseDensenet => Some(44_100),
            Preset::Slim2d => Some(8_000),
        }
    }

    /// Build a reusable extractor for waveforms at `sample_rate` Hz.
    pub fn extractor(&self, sample_rate: u32) -> Result<Extractor> {
        if let Some(expected) = self.sample_rate()
            && expected != sample_rate
        {
            return Err(AudioError::InvalidOptions(format!(
                "this preset needs {expected} Hz audio, got {sample_rate} Hz (load with LoadOptions::at_rate({expected}))"
            )));
        }
        let kind = match *self {
            Preset::Psla { .. } => Kind::Fbank(psla_fbank(sample_rate)?),
            Preset::Vggish => Kind::Mel(shared_mel(
                0,
                MelSpecOptions {
                    sample_rate,
                    win_length: 400,
                    hop_length: 160,
                    n_fft: 512,
                    center: false,
                    power: 1,
                    n_mels: 64,
                    f_min: 125.0,
                    f_max: 7500.0,
                    bank: MelBank::Vggish,
                    log: LogMode::LnOffset(0.01),
                },
            )?),
            Preset::DcaseDensenet => Kind::Mel(shared_mel(
                1,
                MelSpecOptions {
                    sample_rate,
                    win_length: 1024,
                    hop_length: 128,
                    n_fft: 1024,
                    center: true,
                    power: 2,
                    n_mels: 64,
                    f_min: 0.0,
                    f_max: sample_rate as f64 / 2.0,
                    bank: MelBank::Slaney,
                    log: LogMode::Db { amin: 1e-10 },
                },
            )?),
            Preset::Slim2d => Kind::Mel(shared_mel(
                2,
                MelSpecOptions {
                    sample_rate,
                    win_length: 320,
                    hop_length: 160,
                    n_fft: 320,
                    center: false,
                    power: 2,
                    n_mels: 64,
                    f_min: 0.0,
                    f_max: sample_rate as f64 / 2.0,
                    bank: MelBank::Slaney,
                    log: LogMode::Db { amin: 1e-10 },
                },
            )?),
        };
        Ok(Extractor {
            preset: self.clone(),
            kind,
        })
    }
}

/// Extractors built once per key and shared (`Arc`): callers build an extractor per clip
/// (training's batch builder, the frontend bench) or per window (`tympan tag`).
type Shared<K, V> =
    std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<K, std::sync::Arc<V>>>>;

/// The value of `key` in `cache`, built by `build` the first time.
fn shared<K: std::hash::Hash + Eq, V>(
    cache: &'static Shared<K, V>,
    key: K,
    build: impl FnOnce() -> Result<V>,
) -> Result<std::sync::Arc<V>> {
    let built = cache.get_or_init(Default::default);
    if let Some(v) = built.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(v);
    }
    let v = std::sync::Arc::new(build()?);
    if let Ok(mut m) = built.lock() {
        m.insert(key, v.clone());
    }
    Ok(v)
}

/// PSLA's fbank at `sample_rate`, built once per rate and shared: building one (the FFT plan,
/// the window, 128 mel bands) per clip was 2 % of the frontend's time (perf, 2026-12-04).
fn psla_fbank(sample_rate: u32) -> Result<std::sync::Arc<Fbank>> {
    static BUILT: Shared<u32, Fbank> = std::sync::OnceLock::new();
    shared(&BUILT, sample_rate, || {
        Fbank::new(psla_fbank_options(sample_rate))
    })
}

/// The mel extractor of preset `which` (0 VGGish, 1 DCASE DenseNet, 2 slim 2D) at `opts`' rate,
/// built once and shared: building it (the FFT plan, the window, the bank) for every window
/// showed in `tympan tag`'s profile with the slim 2D model (2026-12-07).
fn shared_mel(which: u8, opts: MelSpecOptions) -> Result<std::sync::Arc<MelSpectrogram>> {
    static BUILT: Shared<(u8, u32), MelSpectrogram> = std::sync::OnceLock::new();
    shared(&BUILT, (which, opts.sample_rate), || {
        MelSpectrogram::new(opts)
    })
}

/// The Kaldi options PSLA's `_wav2fbank` passes.
pub fn psla_fbank_options(sample_rate: u32) -> FbankOptions {
    FbankOptions {
        htk_compat: true,
        sample_frequency: sample_rate as f64,
        use_energy: false,
        window_type: WindowType::Hanning,
        num_mel_bins: 128,
        dither: 0.0,
        frame_shift: 10.0,
        ..FbankOptions::default()
    }
}

enum Kind {
    Fbank(std::sync::Arc<Fbank>),
    Mel(std::sync::Arc<MelSpectrogram>),
}

/// A preset bound to a sample rate, ready to run on many clips.
pub struct Extractor {
    preset: Preset,
    kind: Kind,
}

impl std::fmt::Debug for Extractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extractor")
            .field("preset", &self.preset)
            .finish_non_exhaustive()
    }
}

impl Extractor {
    /// The preset.
    pub fn preset(&self) -> &Preset {
        &self.preset
    }

    /// Features of one clip as one matrix (VGGish: all 10 ms frames, before patching; use
    /// [`Extractor::patches`] for 96x64 examples).
    pub fn compute(&self, samples: &[f32]) -> Result<Features> {
        match (&self.preset, &self.kind) {
            (
                Preset::Psla {
                    target_length,
                    mean,
                    std,
                },
                Kind::Fbank(fb),
            ) => {
                // PSLA: `waveform - waveform.mean()` (kept in f64 here, like the rest of the
                // fbank arithmetic, instead of rounding the centred samples back to f32)
                let m = crate::fbank::dot4(samples, None) / samples.len().max(1) as f64;
                let mut f = fb.compute_with_offset(samples, m)?;
                f.pad_or_cut(*target_length);
                f.normalize(*mean, *std);
                Ok(f)
            }
            (Preset::Slim2d, Kind::Mel(ms)) => {
                let mut f = ms.compute(samples)?;
                f.standardize_columns();
                Ok(f)
            }
            (_, Kind::Mel(ms)) => ms.compute(samples),
            (_, Kind::Fbank(fb)) => fb.compute(samples),
        }
    }

    /// VGGish examples: 96-frame patches with a 96-frame (960 ms) hop. For other presets the
    /// whole matrix is returned as one patch.
    pub fn patches(&self, samples: &[f32]) -> Result<Vec<Features>> {
        let f = self.compute(samples)?;
        Ok(match self.preset {
            Preset::Vggish => f.patches(96, 96),
            _ => vec![f],
        })
    }
}

/// Raw-waveform input normalisations of Naranjo-Alcazar et al.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaveNorm {
    /// Leave the samples as decoded.
    #[default]
    None,
    /// Divide by the maximum absolute value (silence stays zero).
    ScaleMax,
    /// Subtract the mean and divide by the standard deviation (silence stays zero).
    ZeroMeanUnitStd,
}

impl std::str::FromStr for WaveNorm {
    type Err = AudioError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Self::None),
            "scale-max" => Ok(Self::ScaleMax),
            "zero-mean-unit-std" => Ok(Self::ZeroMeanUnitStd),
            o => Err(AudioError::InvalidOptions(format!(
                "unknown waveform normalisation {o:?} (expected none, scale-max or zero-mean-unit-std)"
            ))),
        }
    }
}

impl WaveNorm {
    /// Apply in place.
    pub fn apply(self, x: &mut [f32]) {
        match self {
            WaveNorm::None => {}
            WaveNorm::ScaleMax => {
                let m = x.iter().fold(0f32, |a, &v| a.max(v.abs()));
                if m > 0.0 {
                    x.iter_mut().for_each(|v| *v /= m);
                }
            }
            WaveNorm::ZeroMeanUnitStd => {
                let n = x.len().max(1) as f64;
                let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
                let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
                let std = var.sqrt();
                x.iter_mut().for_each(|v| {
                    *v = if std > 0.0 {
                        ((*v as f64 - mean) / std) as f32
                    } else {
                        0.0
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naranjo-Alcazar et al.: 4 s at 8 kHz is a 64 x 199 input.
    #[test]
    fn slim2d_input_of_four_seconds_is_64_by_199() {
        let x: Vec<f32> = (0..32_000)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let f = Preset::Slim2d
            .extractor(8_000)
            .unwrap()
            .compute(&x)
            .unwrap();
        assert_eq!((f.bins, f.frames), (64, 199));
    }

    #[test]
    fn wave_norms() {
        let mut x = vec![0.5, -1.0, 0.25];
        WaveNorm::ScaleMax.apply(&mut x);
        assert_eq!(x, vec![0.5, -1.0, 0.25]);
        let mut y = vec![1.0, 3.0];
        WaveNorm::ZeroMeanUnitStd.apply(&mut y);
        assert_eq!(y, vec![-1.0, 1.0]);
        let mut z = vec![0.0; 4];
        WaveNorm::ScaleMax.apply(&mut z);
        WaveNorm::ZeroMeanUnitStd.apply(&mut z);
        assert_eq!(z, vec![0.0; 4]);
        assert!("bogus".parse::<WaveNorm>().is_err());
    }

    #[test]
    fn psla_pads_to_target_and_normalises() {
        let ex = Preset::psla().extractor(16000).unwrap();
        let tone: Vec<f32> = (0..16000).map(|i| (i as f32 * 0.3).sin() * 0.2).collect();
        let f = ex.compute(&tone).unwrap();
        assert_eq!((f.frames, f.bins), (1056, 128));
        // padded frames are zeros before normalisation
        assert!((f.data[1000 * 128] - (0.0 - PSLA_MEAN) / PSLA_STD).abs() < 1e-6);
    }

    #[test]
    fn rate_mismatch_is_an_error() {
        let e = Preset::Vggish.extractor(8000).unwrap_err();
        assert!(e.to_string().contains("16000"), "{e}");
        assert!(Preset::from_name("nope").is_err());
    }

    #[test]
    fn vggish_patches_are_96x64() {
        let ex = Preset::Vggish.extractor(16000).unwrap();
        let x: Vec<f32> = (0..16000 * 3)
            .map(|i| (i as f32 * 0.01).sin() * 0.1)
            .collect();
        let p = ex.patches(&x).unwrap();
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|f| f.frames == 96 && f.bins == 64));
    }
}
