//! Kaldi filter-bank features, numerically equal to `torchaudio.compliance.kaldi.fbank`.
//!
//! Every option of torchaudio's function is here under the same name and with the same default
//! (torchaudio 2.x, `torchaudio/compliance/kaldi.py`): framing (`_get_strided`, including the
//! reflected edges of `snip_edges = false`), dithering, DC removal, raw or windowed log energy
//! with `energy_floor`, pre-emphasis with a replicated first sample, the five window types,
//! zero-padding to a power of two, the power or magnitude spectrum, the mel banks of
//! `get_mel_banks` (triangles in the mel domain, `1127 ln(1 + f/700)`, negative `high_freq` as an
//! offset from Nyquist, VTLN warping), `log(max(x, eps))` with `eps` = `f32::EPSILON` as for the
//! `float32` waveforms `torchaudio.load` returns, energy placement by `htk_compat`, and
//! `subtract_mean`. The only option left out is `channel`: the input here is already mono (see
//! [`crate::load::ChannelPolicy`]). Dither uses our own seeded Gaussian generator, so dithered
//! output is reproducible for a seed but is not torch's random stream.
//!
//! Arithmetic is carried out in `f64` and rounded to `f32` at the end; against torchaudio run on
//! the same `float32` waveform the largest absolute difference on real clips is below 1e-4 (see
//! `tests/golden_fbank.rs` and `docs/results.md`).

use std::f64::consts::PI;
use std::sync::Arc;

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use realfft::{RealFftPlanner, RealToComplex};

use crate::error::{AudioError, Result};
use crate::features::Features;

/// `torch.finfo(torch.float32).eps`, the floor of every logarithm (torchaudio's `_get_epsilon`).
pub const EPSILON: f64 = f32::EPSILON as f64;

/// Window function applied to each frame (torchaudio's `window_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowType {
    /// `torch.hamming_window(N, periodic=False)`.
    Hamming,
    /// `torch.hann_window(N, periodic=False)` (symmetric Hann).
    Hanning,
    /// Symmetric Hann raised to the power 0.85 (Kaldi's default).
    #[default]
    Povey,
    /// All ones.
    Rectangular,
    /// Kaldi's Blackman with `blackman_coeff`.
    Blackman,
}

impl std::str::FromStr for WindowType {
    type Err = AudioError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "hamming" => Ok(Self::Hamming),
            "hanning" | "hann" => Ok(Self::Hanning),
            "povey" => Ok(Self::Povey),
            "rectangular" => Ok(Self::Rectangular),
            "blackman" => Ok(Self::Blackman),
            other => Err(AudioError::InvalidOptions(format!(
                "unknown window type {other:?} (expected hamming, hanning, povey, rectangular or blackman)"
            ))),
        }
    }
}

/// Options of `torchaudio.compliance.kaldi.fbank`, same names, same defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FbankOptions {
    /// Constant of the Blackman window.
    pub blackman_coeff: f64,
    /// Standard deviation of the Gaussian dither added to every sample (0 disables).
    pub dither: f64,
    /// Seed of the dither generator (tympan's addition; torchaudio uses torch's global RNG).
    pub dither_seed: u64,
    /// Floor of the log energy, applied as `max(log_energy, ln(energy_floor))` unless 0.
    pub energy_floor: f64,
    /// Frame length in milliseconds.
    pub frame_length: f64,
    /// Frame shift in milliseconds.
    pub frame_shift: f64,
    /// High cut-off of the mel banks in Hz; values <= 0 are offsets from Nyquist.
    pub high_freq: f64,
    /// Put the energy last instead of first (HTK order).
    pub htk_compat: bool,
    /// Low cut-off of the mel banks in Hz.
    pub low_freq: f64,
    /// Signals shorter than this (in seconds) give zero frames.
    pub min_duration: f64,
    /// Number of triangular mel bins.
    pub num_mel_bins: usize,
    /// Pre-emphasis coefficient (0 disables).
    pub preemphasis_coefficient: f64,
    /// Compute the energy before pre-emphasis and windowing.
    pub raw_energy: bool,
    /// Subtract each frame's mean.
    pub remove_dc_offset: bool,
    /// Zero-pad frames to the next power of two before the FFT.
    pub round_to_power_of_two: bool,
    /// Sample rate of the input in Hz.
    pub sample_frequency: f64,
    /// Only frames that fit completely (true), or Kaldi's reflected-edge framing (false).
    pub snip_edges: bool,
    /// Subtract the per-bin mean over frames from the output.
    pub subtract_mean: bool,
    /// Add the log energy as an extra coefficient.
    pub use_energy: bool,
    /// Log of the mel energies (false keeps them linear).
    pub use_log_fbank: bool,
    /// Power spectrum (true) or magnitude spectrum (false).
    pub use_power: bool,
    /// VTLN high cut-off in Hz; negative values are offsets from Nyquist.
    pub vtln_high: f64,
    /// VTLN low cut-off in Hz.
    pub vtln_low: f64,
    /// VTLN warp factor (1.0 disables warping).
    pub vtln_warp: f64,
    /// Window function.
    pub window_type: WindowType,
}

impl Default for FbankOptions {
    fn default() -> Self {
        Self {
            blackman_coeff: 0.42,
            dither: 0.0,
            dither_seed: 0,
            energy_floor: 1.0,
            frame_length: 25.0,
            frame_shift: 10.0,
            high_freq: 0.0,
            htk_compat: false,
            low_freq: 20.0,
            min_duration: 0.0,
            num_mel_bins: 23,
            preemphasis_coefficient: 0.97,
            raw_energy: true,
            remove_dc_offset: true,
            round_to_power_of_two: true,
            sample_frequency: 16000.0,
            snip_edges: true,
            subtract_mean: false,
            use_energy: false,
            use_log_fbank: true,
            use_power: true,
            vtln_high: -500.0,
            vtln_low: 100.0,
            vtln_warp: 1.0,
            window_type: WindowType::Povey,
        }
    }
}

/// One triangular filter, stored sparsely: weights for FFT bins `start..start + weights.len()`.
#[derive(Debug, Clone)]
struct Band {
    start: usize,
    weights: Vec<f64>,
}

/// A reusable Kaldi fbank extractor: window, mel banks and FFT plan are computed once.
///
/// ```
/// use tympan_audio::fbank::{Fbank, FbankOptions, WindowType};
/// let opts = FbankOptions { num_mel_bins: 40, window_type: WindowType::Hanning, ..Default::default() };
/// let fb = Fbank::new(opts).unwrap();
/// let tone: Vec<f32> = (0..16000).map(|i| (i as f32 * 0.1).sin() * 0.5).collect();
/// let feats = fb.compute(&tone).unwrap();
/// assert_eq!((feats.frames, feats.bins), (98, 40));
/// ```
pub struct Fbank {
    opts: FbankOptions,
    window_size: usize,
    window_shift: usize,
    padded_size: usize,
    window: Vec<f64>,
    bands: Vec<Band>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for Fbank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fbank")
            .field("opts", &self.opts)
            .field("window_size", &self.window_size)
            .field("window_shift", &self.window_shift)
            .field("padded_size", &self.padded_size)
            .finish_non_exhaustive()
    }
}

impl Fbank {
    /// Validate `opts` (as torchaudio's asserts do, but as errors) and precompute everything.
    pub fn new(opts: FbankOptions) -> Result<Self> {
        let bad = |m: String| Err(AudioError::InvalidOptions(m));
        if opts.sample_frequency.is_nan() || opts.sample_frequency <= 0.0 {
            return bad(format!(
                "sample_frequency must be positive, got {}",
                opts.sample_frequency
            ));
        }
        // torchaudio: int(sample_frequency * frame_shift * MILLISECONDS_TO_SECONDS), same order.
        let window_shift = (opts.sample_frequency * opts.frame_shift * 0.001) as i64;
        let window_size = (opts.sample_frequency * opts.frame_length * 0.001) as i64;
        if window_size < 2 {
            return bad(format!(
                "frame_length {} ms gives a window of {window_size} samples (need >= 2)",
                opts.frame_length
            ));
        }
        if window_shift <= 0 {
            return bad(format!(
                "frame_shift {} ms gives a shift of {window_shift} samples (need > 0)",
                opts.frame_shift
            ));
        }
        let window_size = window_size as usize;
        let window_shift = window_shift as usize;
        let padded_size = if opts.round_to_power_of_two {
            window_size.next_power_of_two()
        } else {
            window_size
        };
        if padded_size % 2 != 0 {
            return bad(format!(
                "the padded window has {padded_size} samples; it must be even (use round_to_power_of_two or another frame_length)"
            ));
        }
        if !(0.0..=1.0).contains(&opts.preemphasis_coefficient) {
            return bad(format!(
                "preemphasis_coefficient must lie in [0, 1], got {}",
                opts.preemphasis_coefficient
            ));
        }
        let window = window_function(opts.window_type, window_size, opts.blackman_coeff);
        let bands = mel_banks(&opts, padded_size)?;
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(padded_size);
        Ok(Self {
            opts,
            window_size,
            window_shift,
            padded_size,
            window,
            bands,
            fft,
        })
    }

    /// The options this extractor was built with.
    pub fn options(&self) -> &FbankOptions {
        &self.opts
    }

    /// Number of output coefficients per frame (`num_mel_bins`, plus one with `use_energy`).
    pub fn num_bins(&self) -> usize {
        self.opts.num_mel_bins + usize::from(self.opts.use_energy)
    }

    /// Number of frames a signal of `num_samples` samples gives (torchaudio's `_get_strided`).
    pub fn num_frames(&self, num_samples: usize) -> usize {
        if self.opts.snip_edges {
            if num_samples < self.window_size {
                0
            } else {
                1 + (num_samples - self.window_size) / self.window_shift
            }
        } else {
            (num_samples + self.window_shift / 2) / self.window_shift
        }
    }

    /// Compute the features of a mono waveform (samples as `torchaudio.load` scales them).
    ///
    /// Accepts `f32` or `f64` samples; all arithmetic is in `f64`.
    pub fn compute<S: Copy + Into<f64>>(&self, waveform: &[S]) -> Result<Features> {
        self.compute_with_offset(waveform, 0.0)
    }

    /// [`Fbank::compute`] of `waveform - offset` (in f64), without materialising the shifted
    /// signal; PSLA removes the clip mean this way.
    pub fn compute_with_offset<S: Copy + Into<f64>>(
        &self,
        waveform: &[S],
        offset: f64,
    ) -> Result<Features> {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 (checked at run time just above).
            return unsafe { self.compute_avx2(waveform, offset) };
        }
        self.compute_body(waveform, offset)
    }

    /// [`Fbank::compute_with_offset`] compiled with AVX2: the loops over a frame (framing, DC
    /// removal, pre-emphasis and window, power) and over a group of four frames (mel bands, log)
    /// run 4 doubles wide instead of 2.
    /// The operations and their order are the same (Rust never contracts a multiply and an add
    /// into an FMA), so both copies give the same bits; rustfft picks its own AVX kernels.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn compute_avx2<S: Copy + Into<f64>>(&self, waveform: &[S], offset: f64) -> Result<Features> {
        self.compute_body(waveform, offset)
    }

    #[inline(always)]
    fn compute_body<S: Copy + Into<f64>>(&self, waveform: &[S], offset: f64) -> Result<Features> {
        let o = &self.opts;
        let n = waveform.len();
        if (n as f64) < o.min_duration * o.sample_frequency {
            return Ok(Features::new(Vec::new(), 0, self.num_bins()));
        }
        if n < self.window_size {
            return Err(AudioError::InvalidOptions(format!(
                "signal of {n} samples is shorter than one {} ms window ({} samples)",
                o.frame_length, self.window_size
            )));
        }
        let frames = self.num_frames(n);
        let bins = self.num_bins();
        let mut out = vec![0f32; frames * bins];
        let mut rng = rand::rngs::StdRng::seed_from_u64(o.dither_seed);
        let mut frame = vec![0f64; self.window_size];
        let mut buf = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        // Four frames at a time: their power spectra interleaved bin by bin (`power[bin * 4 +
        // lane]`), so that each mel band is one pass of 4-wide products with no horizontal sum
        // per band and frame (perf 2026-12-04: the per-band reductions were the hottest code of
        // the fbank loop).
        let mut power = vec![0f64; spec.len() * LANES];
        let mut mel = vec![0f64; self.bands.len() * LANES];
        let mut energies = [0f64; LANES];
        let mel_offset = usize::from(o.use_energy && !o.htk_compat);
        let energy_col = if o.htk_compat { o.num_mel_bins } else { 0 };
        let log_floor = if o.energy_floor == 0.0 {
            None
        } else {
            Some(o.energy_floor.ln())
        };
        let log_energy = |e: f64| {
            let v = e.max(EPSILON).ln();
            log_floor.map_or(v, |f| v.max(f))
        };

        for f0 in (0..frames).step_by(LANES) {
            let lanes = LANES.min(frames - f0);
            for lane in 0..lanes {
                let f = f0 + lane;
                self.fill_frame(waveform, f, offset, &mut frame);
                if o.dither != 0.0 {
                    for v in frame.iter_mut() {
                        let g: f64 = StandardNormal.sample(&mut rng);
                        // torch adds `randn * dither` to the float32 frame
                        *v = ((*v as f32) + (g * o.dither) as f32) as f64;
                    }
                }
                if o.remove_dc_offset {
                    let mean = dot4(&frame, None) / frame.len() as f64;
                    frame.iter_mut().for_each(|v| *v -= mean);
                }
                let mut energy = 0.0;
                if o.use_energy && o.raw_energy {
                    energy = log_energy(dot4(&frame, Some(&frame)));
                }
                // Pre-emphasis (`x[i] - k x[i-1]`, with x[-1] = x[0]) and windowing fused into
                // one pass over the frame; the FFT buffer's tail stays zero padding.
                let k = o.preemphasis_coefficient;
                let w = &self.window;
                buf[0] = (frame[0] - k * frame[0]) * w[0];
                for i in 1..self.window_size {
                    buf[i] = (frame[i] - k * frame[i - 1]) * w[i];
                }
                buf[self.window_size..].iter_mut().for_each(|b| *b = 0.0);
                if o.use_energy && !o.raw_energy {
                    energy = log_energy(dot4(&buf, Some(&buf)));
                }
                energies[lane] = energy;
                self.fft
                    .process_with_scratch(&mut buf, &mut spec, &mut scratch)
                    .map_err(|e| AudioError::InvalidOptions(format!("FFT failed: {e}")))?;
                for (bin, c) in spec.iter().enumerate() {
                    let p = c.re * c.re + c.im * c.im;
                    power[bin * LANES + lane] = if o.use_power { p } else { p.sqrt() };
                }
            }
            // Lanes past the last frame hold zeros or the previous group's spectra; their
            // results are never written out.
            for (m, band) in mel.chunks_exact_mut(LANES).zip(&self.bands) {
                let mut acc = [0f64; LANES];
                let p = &power[band.start * LANES..][..band.weights.len() * LANES];
                for (&wt, p) in band.weights.iter().zip(p.chunks_exact(LANES)) {
                    for l in 0..LANES {
                        acc[l] += wt * p[l];
                    }
                }
                m.copy_from_slice(&acc);
            }
            if o.use_log_fbank {
                mel.iter_mut().for_each(|e| *e = fast_ln(e.max(EPSILON)));
            }
            for lane in 0..lanes {
                let row = &mut out[(f0 + lane) * bins..][..bins];
                let dst = &mut row[mel_offset..mel_offset + self.bands.len()];
                for (d, m) in dst.iter_mut().zip(mel.chunks_exact(LANES)) {
                    *d = m[lane] as f32;
                }
                if o.use_energy {
                    row[energy_col] = energies[lane] as f32;
                }
            }
        }
        let mut feats = Features::new(out, frames, bins);
        if o.subtract_mean {
            feats.subtract_column_mean();
        }
        Ok(feats)
    }

    /// Copy frame `f` into `frame` following `_get_strided` (with reflected edges when
    /// `snip_edges` is false).
    #[inline(always)]
    fn fill_frame<S: Copy + Into<f64>>(&self, w: &[S], f: usize, offset: f64, frame: &mut [f64]) {
        let n = w.len() as i64;
        let start = f as i64 * self.window_shift as i64;
        if self.opts.snip_edges {
            let s = start as usize;
            for (d, &v) in frame.iter_mut().zip(&w[s..s + self.window_size]) {
                *d = v.into() - offset;
            }
            return;
        }
        // torchaudio pads with `pad` reversed leading samples on the left (or drops `-pad`
        // samples when negative) and the whole reversed waveform on the right.
        let pad = (self.window_size / 2) as i64 - (self.window_shift / 2) as i64;
        for (j, d) in frame.iter_mut().enumerate() {
            let t = start + j as i64 - pad; // index into the original signal
            let idx = if t < 0 {
                -t - 1
            } else if t >= n {
                2 * n - 1 - t
            } else {
                t
            };
            *d = w[idx.clamp(0, n - 1) as usize].into() - offset;
        }
    }
}

/// `sum(a[i] * b[i])` (or `sum(a[i])` without `b`) in f64 with four independent accumulators, so
/// that the compiler can vectorise it; the reassociation changes results by a few ulp of f64.
/// `a` is the fbank's f64 frames, or a clip's f32 samples (PSLA's clip mean, 160,000 samples per
/// 10 s clip: summed serially it was 5 % of the frontend's time, perf 2026-12-04).
#[inline(always)]
pub(crate) fn dot4<S: Copy + Into<f64>>(a: &[S], b: Option<&[f64]>) -> f64 {
    let mut acc = [0.0f64; 4];
    let ca = a.chunks_exact(4);
    let tail_a = ca.remainder();
    let mut tail = 0.0;
    match b {
        Some(b) => {
            let b = &b[..a.len()];
            let cb = b.chunks_exact(4);
            let tail_b = cb.remainder();
            for (x, y) in ca.zip(cb) {
                for j in 0..4 {
                    acc[j] += x[j].into() * y[j];
                }
            }
            tail = tail_a.iter().zip(tail_b).map(|(&x, y)| x.into() * y).sum();
        }
        None => {
            for x in ca {
                for j in 0..4 {
                    acc[j] += x[j].into();
                }
            }
            tail += tail_a.iter().map(|&x| x.into()).sum::<f64>();
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Frames per mel pass in `Fbank::compute_body` (one AVX2 register of f64).
const LANES: usize = 4;

/// Natural logarithm of a positive, finite, normal `x`, branch-free so that loops over it
/// vectorise: `x = m 2^k` with `m` in [sqrt(1/2), sqrt(2)), `ln m = 2 atanh(s)`, `s = (m-1)/(m+1)`,
/// summed to s^13 (|s| <= 0.1716, truncation < 2e-12). Absolute error below 1e-11 over the range
/// fbank uses (x >= f32::EPSILON), tested against `f64::ln`.
#[inline(always)]
pub(crate) fn fast_ln(x: f64) -> f64 {
    const LN2: f64 = std::f64::consts::LN_2;
    let bits = x.to_bits();
    let mut k = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000); // [1, 2)
    let big = m > std::f64::consts::SQRT_2;
    m = if big { m * 0.5 } else { m };
    k += i64::from(big);
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let p = 1.0 / 13.0;
    let p = p * s2 + 1.0 / 11.0;
    let p = p * s2 + 1.0 / 9.0;
    let p = p * s2 + 1.0 / 7.0;
    let p = p * s2 + 1.0 / 5.0;
    let p = p * s2 + 1.0 / 3.0;
    let p = p * s2 + 1.0;
    k as f64 * LN2 + 2.0 * s * p
}

/// Whether this CPU has AVX2 (asked once).
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| std::is_x86_feature_detected!("avx2"))
}

/// Compute Kaldi fbank features in one call. See [`Fbank`] to reuse the precomputation.
pub fn fbank(waveform: &[f32], opts: &FbankOptions) -> Result<Features> {
    Fbank::new(opts.clone())?.compute(waveform)
}

/// torchaudio's `_feature_window_function`.
pub fn window_function(kind: WindowType, size: usize, blackman_coeff: f64) -> Vec<f64> {
    let m = (size - 1) as f64;
    let hann = |i: usize| 0.5 - 0.5 * (2.0 * PI * i as f64 / m).cos();
    (0..size)
        .map(|i| match kind {
            WindowType::Hanning => hann(i),
            WindowType::Hamming => 0.54 - 0.46 * (2.0 * PI * i as f64 / m).cos(),
            WindowType::Povey => hann(i).powf(0.85),
            WindowType::Rectangular => 1.0,
            WindowType::Blackman => {
                let a = 2.0 * PI / m;
                blackman_coeff - 0.5 * (a * i as f64).cos()
                    + (0.5 - blackman_coeff) * (2.0 * a * i as f64).cos()
            }
        })
        .collect()
}

/// Kaldi's mel scale, `1127 ln(1 + f / 700)`.
pub fn mel_scale(freq: f64) -> f64 {
    1127.0 * (1.0 + freq / 700.0).ln()
}

/// Inverse of [`mel_scale`].
pub fn inverse_mel_scale(mel: f64) -> f64 {
    700.0 * ((mel / 1127.0).exp() - 1.0)
}

/// torchaudio's `vtln_warp_freq` (piecewise-linear VTLN frequency warp) as it evaluates it on float32 tensors: the breakpoints are python
/// (f64) scalars, each tensor operation rounds to f32.
fn vtln_warp_freq32(
    vtln_low: f64,
    vtln_high: f64,
    low: f64,
    high: f64,
    warp: f64,
    freq: f32,
) -> f32 {
    let l = vtln_low * warp.max(1.0);
    let h = vtln_high * warp.min(1.0);
    let scale = 1.0 / warp;
    let fl = scale * l;
    let fh = scale * h;
    let scale_left = (fl - low) / (l - low);
    let scale_right = (high - fh) / (high - h);
    let (low32, high32) = (low as f32, high as f32);
    if freq < low32 || freq > high32 {
        freq
    } else if freq < l as f32 {
        low32 + scale_left as f32 * (freq - low32)
    } else if freq < h as f32 {
        scale as f32 * freq
    } else {
        high32 + scale_right as f32 * (freq - high32)
    }
}

/// torchaudio's `get_mel_banks`, stored sparsely. Only the first `padded/2` FFT bins carry
/// weight (the Nyquist bin gets 0, as torchaudio's right-padding of the bank matrix gives).
fn mel_banks(o: &FbankOptions, padded: usize) -> Result<Vec<Band>> {
    let bad = |m: String| Err(AudioError::InvalidOptions(m));
    let num_bins = o.num_mel_bins;
    if num_bins <= 3 {
        return bad(format!("num_mel_bins must be at least 4, got {num_bins}"));
    }
    let num_fft_bins = padded / 2;
    let nyquist = 0.5 * o.sample_frequency;
    let low = o.low_freq;
    let high = if o.high_freq <= 0.0 {
        o.high_freq + nyquist
    } else {
        o.high_freq
    };
    if !((0.0..nyquist).contains(&low) && high > 0.0 && high <= nyquist && low < high) {
        return bad(format!(
            "mel band edges must satisfy 0 <= low_freq < high_freq <= Nyquist ({nyquist} Hz); got low_freq {low}, high_freq {high} (from {})",
            o.high_freq
        ));
    }
    let vtln_high = if o.vtln_high < 0.0 {
        o.vtln_high + nyquist
    } else {
        o.vtln_high
    };
    let warp = o.vtln_warp;
    if warp != 1.0
        && !(low < o.vtln_low
            && o.vtln_low < high
            && 0.0 < vtln_high
            && vtln_high < high
            && o.vtln_low < vtln_high)
    {
        return bad(format!(
            "VTLN cut-offs must satisfy low_freq < vtln_low < vtln_high < high_freq; got vtln_low {}, vtln_high {vtln_high}",
            o.vtln_low
        ));
    }
    // torchaudio builds the bank in float32 whatever the input dtype (`torch.arange` gives float32
    // tensors and python scalars are cast to float32 in each op), then casts it to the input dtype.
    // Near-empty triangles are sensitive to that rounding, so the same float32 operations are
    // replayed here in the same order; the band edges themselves are python (f64) scalars.
    let fft_bin_width = o.sample_frequency / padded as f64;
    let mel_low = mel_scale(low);
    let mel_high = mel_scale(high);
    let delta = (mel_high - mel_low) / (num_bins as f64 + 1.0);
    let mel32 = |f: f32| 1127.0f32 * (1.0f32 + f / 700.0f32).ln();
    let inv_mel32 = |m: f32| 700.0f32 * ((m / 1127.0f32).exp() - 1.0f32);
    let warp_mel = |m: f32| -> f32 {
        if warp == 1.0 {
            return m;
        }
        mel32(vtln_warp_freq32(
            o.vtln_low,
            vtln_high,
            low,
            high,
            warp,
            inv_mel32(m),
        ))
    };
    let mels: Vec<f32> = (0..num_fft_bins)
        .map(|k| mel32(fft_bin_width as f32 * k as f32))
        .collect();
    let mut bands = Vec::with_capacity(num_bins);
    for b in 0..num_bins {
        let b = b as f32;
        let (lo, d) = (mel_low as f32, delta as f32);
        let left = warp_mel(lo + b * d);
        let center = warp_mel(lo + (b + 1.0) * d);
        let right = warp_mel(lo + (b + 2.0) * d);
        let w: Vec<f64> = mels
            .iter()
            .map(|&m| {
                let up = (m - left) / (center - left);
                let down = (right - m) / (right - center);
                let v = if warp == 1.0 {
                    up.min(down).max(0.0)
                } else if m > left && m <= center {
                    up
                } else if m > center && m < right {
                    down
                } else {
                    0.0
                };
                v as f64
            })
            .collect();
        let start = w.iter().position(|&v| v != 0.0).unwrap_or(0);
        let end = w.iter().rposition(|&v| v != 0.0).map_or(start, |e| e + 1);
        bands.push(Band {
            start,
            weights: w[start..end].to_vec(),
        });
    }
    Ok(bands)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_ln_is_accurate() {
        let mut x = EPSILON;
        while x < 1e12 {
            assert!((fast_ln(x) - x.ln()).abs() < 1e-11, "ln({x})");
            x *= 1.000_37;
        }
    }

    #[test]
    fn frame_counts_follow_torchaudio() {
        let fb = Fbank::new(FbankOptions::default()).unwrap();
        assert_eq!(fb.num_frames(16000), 98);
        assert_eq!(fb.num_frames(399), 0);
        let fb = Fbank::new(FbankOptions {
            snip_edges: false,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(fb.num_frames(16000), 100);
        assert_eq!(fb.num_frames(16079), 100);
        assert_eq!(fb.num_frames(16080), 101);
    }

    #[test]
    fn rejects_bad_options_with_reasons() {
        let e = Fbank::new(FbankOptions {
            num_mel_bins: 3,
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("num_mel_bins"), "{e}");
        let e = Fbank::new(FbankOptions {
            low_freq: 9000.0,
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("low_freq"), "{e}");
        let e = Fbank::new(FbankOptions {
            frame_shift: 0.0,
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("frame_shift"), "{e}");
        let e = fbank(&[0.0; 100], &FbankOptions::default()).unwrap_err();
        assert!(e.to_string().contains("shorter than one"), "{e}");
    }

    #[test]
    fn silence_hits_the_log_floor() {
        let f = fbank(
            &vec![0.0; 1600],
            &FbankOptions {
                dither: 0.0,
                ..Default::default()
            },
        )
        .unwrap();
        let floor = EPSILON.ln() as f32;
        assert!(f.data.iter().all(|&v| v == floor));
    }

    /// Frames go through the mel bands four at a time; a frame's row must not depend on its
    /// lane or on the frames beside it. With `snip_edges` and no mean subtraction a frame's row
    /// is that of the frame computed alone (which puts it in lane 0), and the first rows of a
    /// signal's features are those of any longer signal (every remainder of 4 in the last
    /// group). Checked for the same bits with the defaults, with energy in HTK's last column,
    /// and with magnitudes instead of powers and no log.
    #[test]
    fn rows_do_not_depend_on_the_frames_beside_them() {
        let x: Vec<f32> = (0..8_000)
            .map(|i| ((i as f32 * 0.021).sin() + (i as f32 * 0.0011).cos()) * 0.4)
            .collect();
        let variants = [
            FbankOptions::default(),
            FbankOptions {
                use_energy: true,
                htk_compat: true,
                ..FbankOptions::default()
            },
            FbankOptions {
                use_power: false,
                use_log_fbank: false,
                ..FbankOptions::default()
            },
        ];
        for opts in variants {
            let fb = Fbank::new(opts.clone()).unwrap();
            let full = fb.compute(&x).unwrap();
            let bins = fb.num_bins();
            // 25 ms windows with a 10 ms shift at 16 kHz.
            for f in 0..full.data.len() / bins {
                let alone = fb.compute(&x[f * 160..f * 160 + 400]).unwrap();
                assert_eq!(
                    alone.data[..],
                    full.data[f * bins..][..bins],
                    "row {f}, {opts:?}"
                );
            }
            for frames in 1..=9 {
                let part = fb.compute(&x[..400 + (frames - 1) * 160]).unwrap();
                assert_eq!(part.data.len(), frames * bins, "{frames} frames");
                assert_eq!(part.data[..], full.data[..frames * bins], "{frames} frames");
            }
        }
    }

    #[test]
    fn both_compiled_copies_give_the_same_bits() {
        let x: Vec<f32> = (0..16_000)
            .map(|i| ((i as f32 * 0.013).sin() + (i as f32 * 0.0007).cos()) * 0.3)
            .collect();
        let fb = Fbank::new(FbankOptions::default()).unwrap();
        let dispatched = fb.compute_with_offset(&x, 0.01).unwrap();
        let baseline = fb.compute_body(&x, 0.01).unwrap();
        assert_eq!(dispatched.data, baseline.data);
    }

    #[test]
    fn dither_is_reproducible_per_seed() {
        let w: Vec<f32> = (0..4000).map(|i| (i as f32 * 0.05).sin() * 0.1).collect();
        let o = FbankOptions {
            dither: 1e-3,
            dither_seed: 7,
            ..Default::default()
        };
        let a = fbank(&w, &o).unwrap();
        let b = fbank(&w, &o).unwrap();
        let c = fbank(
            &w,
            &FbankOptions {
                dither_seed: 8,
                ..o.clone()
            },
        )
        .unwrap();
        assert_eq!(a.data, b.data);
        assert_ne!(a.data, c.data);
    }

    #[test]
    fn windows_match_closed_forms() {
        let h = window_function(WindowType::Hanning, 5, 0.42);
        assert!((h[0]).abs() < 1e-12 && (h[2] - 1.0).abs() < 1e-12 && (h[1] - 0.5).abs() < 1e-12);
        let r = window_function(WindowType::Rectangular, 4, 0.42);
        assert_eq!(r, vec![1.0; 4]);
        let b = window_function(WindowType::Blackman, 5, 0.42);
        assert!(b[0].abs() < 1e-12 && (b[2] - 1.0).abs() < 1e-12);
    }
}
