//! Band-limited resampling with [rubato]'s synchronous FFT resampler.
//!
//! Quality: rubato's `Fft` resampler filters with a windowed-sinc anti-aliasing filter
//! (Blackman-Harris 2 window) applied by overlap-add in the frequency domain. For integer rate
//! pairs such as 32 kHz -> 16 kHz or 8 kHz -> 16 kHz it is exact rational resampling with the
//! cut-off just below the lower Nyquist frequency; stop-band attenuation is above 100 dB. Its
//! processing delay is trimmed, so output sample `k` lines up with input time `k / to`, and the
//! output has `ceil(len * to / from)` samples.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::error::{AudioError, Result};

/// Resample a mono signal from `from` Hz to `to` Hz. Returns the input unchanged when the rates
/// are equal.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    let err = |reason: String| AudioError::Resample { from, to, reason };
    if from == 0 || to == 0 {
        return Err(err("sample rates must be positive".into()));
    }
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let chunk = 1024.min(samples.len().max(1));
    let mut rs = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
        .map_err(|e| err(e.to_string()))?;
    let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| err(e.to_string()))?;
    let out = rs
        .process_all(&input, samples.len(), None)
        .map_err(|e| err(e.to_string()))?;
    Ok(out.take_data())
}
