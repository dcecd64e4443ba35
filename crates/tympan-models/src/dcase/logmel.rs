//! An STFT log-mel front end inside the Burn graph (Jeong & Lim, Fig. 2a: "log-mel transform
//! computed inside the model", so it runs on the accelerator with the network).
//!
//! Matches tympan-audio's `dcase-densenet` preset (librosa `melspectrogram(n_fft=1024,
//! hop_length=128, n_mels=64, center=True, pad_mode="constant")` + `power_to_db(top_db=None)`):
//! the power spectrum of a periodic Hann-windowed STFT ([`tympan_kernels::stft_power`]: real
//! FFTs on flex, a strided conv with the windowed DFT basis as kernels elsewhere), a Slaney mel
//! matrix (librosa `filters.mel(htk=False, norm="slaney")`) and `10 log10(max(x, 1e-10))`. The
//! window and the mel matrix are constants: they are not trained and not saved.

use std::collections::HashMap;
use std::f64::consts::PI;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use burn::prelude::*;

/// librosa's Slaney mel matrix `[n_mels, n_fft / 2 + 1]` over `0..sample_rate / 2`, row-major:
/// `tympan_audio::melspec::mel_weights` (the `dcase-densenet` preset's own bank).
pub fn slaney_mel_matrix(sample_rate: f64, n_fft: usize, n_mels: usize) -> Vec<f64> {
    let rate = sample_rate.round() as u32;
    tympan_audio::melspec::mel_weights(
        tympan_audio::melspec::MelBank::Slaney,
        rate,
        n_fft,
        n_mels,
        0.0,
        rate as f64 / 2.0,
    )
    .concat()
}

/// Configuration of the in-graph log-mel front end.
#[derive(Config, Debug)]
pub struct LogMelConfig {
    /// Sample rate (44.1 kHz for DCASE 2018 task 2; Jeong & Lim's Table 1 also 16 and 32 kHz).
    #[config(default = 44100.0)]
    pub sample_rate: f64,
    /// FFT size and window length.
    #[config(default = 1024)]
    pub n_fft: usize,
    /// Hop.
    #[config(default = 128)]
    pub hop: usize,
    /// Mel bins.
    #[config(default = 64)]
    pub n_mels: usize,
}

/// In-graph log-mel: `[B, 1, N]` waveform -> `[B, frames, n_mels]` dB.
#[derive(Module, Debug)]
pub struct LogMel {
    /// Settings.
    #[module(skip)]
    pub config: LogMelConfigPlain,
}

/// Plain copy of the settings (kept out of the record).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogMelConfigPlain {
    /// Sample rate.
    pub sample_rate: f64,
    /// FFT size.
    pub n_fft: usize,
    /// Hop.
    pub hop: usize,
    /// Mel bins.
    pub n_mels: usize,
}

impl LogMelConfig {
    /// Build the front end.
    pub fn init(&self) -> LogMel {
        LogMel {
            config: LogMelConfigPlain {
                sample_rate: self.sample_rate,
                n_fft: self.n_fft,
                hop: self.hop,
                n_mels: self.n_mels,
            },
        }
    }
}

impl LogMel {
    /// The periodic Hann window of `n_fft` samples (librosa's `get_window("hann", n, fftbins=True)`).
    fn window(&self) -> Vec<f32> {
        let n = self.config.n_fft;
        (0..n)
            .map(|t| (0.5 - 0.5 * (2.0 * PI * t as f64 / n as f64).cos()) as f32)
            .collect()
    }

    /// `[B, 1, N]` -> `[B, 1 + N / hop, n_mels]` in dB: frames by mel bands, (time, frequency)
    /// as the DenseNet reads it.
    pub fn forward(&self, wave: Tensor<3>) -> Tensor<3> {
        let device = wave.device();
        let c = self.config;
        let bins = c.n_fft / 2 + 1;
        // center=True, constant padding of n_fft / 2 on both sides.
        let b = wave.dims()[0];
        let zeros = Tensor::<3>::zeros([b, 1, c.n_fft / 2], &device);
        let x = Tensor::cat(vec![zeros.clone(), wave, zeros], 2);
        let power = tympan_kernels::stft_power(x, &self.window(), c.hop); // [B, T, bins]
        let t = power.dims()[1];
        // One product for the whole batch: [B * T, bins] x [bins, n_mels].
        let mel = constants().mel_t(c);
        let mel = Tensor::<1>::from_floats(&mel[..], &device).reshape([bins, c.n_mels]);
        let m = tympan_kernels::matmul(power.reshape([b * t, bins]), mel).reshape([b, t, c.n_mels]);
        m.clamp_min(1e-10).log() * (10.0 / std::f64::consts::LN_10)
    }
}

/// The front end's constants, computed once per setting for the process.
#[derive(Default)]
struct Constants {
    mel: HashMap<(u64, usize, usize), Arc<[f32]>>,
}

fn constants() -> MutexGuard<'static, Constants> {
    static CACHE: OnceLock<Mutex<Constants>> = OnceLock::new();
    // A panic while the lock was held leaves only fully inserted entries: the data stays valid.
    CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

impl Constants {
    /// The Slaney mel matrix of `c` transposed, `[bins, n_mels]` row-major, as f32.
    fn mel_t(&mut self, c: LogMelConfigPlain) -> Arc<[f32]> {
        self.mel
            .entry((c.sample_rate.to_bits(), c.n_fft, c.n_mels))
            .or_insert_with(|| {
                let mel = slaney_mel_matrix(c.sample_rate, c.n_fft, c.n_mels);
                let bins = c.n_fft / 2 + 1;
                (0..bins * c.n_mels)
                    .map(|i| mel[(i % c.n_mels) * bins + i / c.n_mels] as f32)
                    .collect()
            })
            .clone()
    }
}
