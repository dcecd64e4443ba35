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
    let chunk = CHUNK.min(samples.len().max(1));
    let mut rs = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
        .map_err(|e| err(e.to_string()))?;
    let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| err(e.to_string()))?;
    let out = rs
        .process_all(&input, samples.len(), None)
        .map_err(|e| err(e.to_string()))?;
    Ok(out.take_data())
}

/// Input frames per resampler call; [`resample`] uses the same chunks, so a streamed signal is
/// resampled bit for bit as the whole signal is.
const CHUNK: usize = 1024;

/// [`resample`] on a signal that arrives piece by piece, in bounded memory: the output is the
/// same samples, bit for bit, as [`resample`] of the whole signal.
///
/// It repeats what rubato's `process_all` does for the whole signal: full chunks of 1024 input
/// frames while more than one chunk is left, the rest as a zero-padded partial chunk, then
/// zero chunks until the delay-trimmed output reaches `ceil(len * to / from)` samples. A signal
/// shorter than one chunk is resampled whole at the end, as [`resample`] does (its chunk is the
/// signal's length).
pub struct StreamResampler {
    from: u32,
    to: u32,
    rs: Fft<f32>,
    /// Input not yet resampled (at most one chunk plus one pushed piece).
    pending: Vec<f32>,
    /// Input frames pushed so far.
    input_len: usize,
    /// Raw (untrimmed) output frames produced so far.
    raw_len: usize,
    /// Raw output frames at the start that are the resampler's delay.
    delay: usize,
    /// Output past the length the input so far accounts for, held until more input arrives.
    held: Vec<f32>,
    /// Output frames handed out so far.
    emitted: usize,
    out: Vec<f32>,
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz (the rates must differ and be positive).
    pub fn new(from: u32, to: u32) -> Result<Self> {
        let err = |reason: String| AudioError::Resample { from, to, reason };
        if from == 0 || to == 0 || from == to {
            return Err(err(
                "sample rates must be positive and differ (equal rates need no resampler)".into(),
            ));
        }
        let rs = Fft::<f32>::new(from as usize, to as usize, CHUNK, 1, FixedSync::Input)
            .map_err(|e| err(e.to_string()))?;
        let delay = rs.output_delay();
        let out = vec![0.0; rs.output_frames_max()];
        Ok(Self {
            from,
            to,
            rs,
            pending: Vec::new(),
            input_len: 0,
            raw_len: 0,
            delay,
            held: Vec::new(),
            emitted: 0,
            out,
        })
    }

    fn err(&self) -> impl Fn(String) -> AudioError + use<> {
        let (from, to) = (self.from, self.to);
        move |reason| AudioError::Resample { from, to, reason }
    }

    /// Output frames `input` input frames give: `ceil(input * to / from)`.
    fn expected(&self, input: usize) -> usize {
        (self.rs.resample_ratio() * input as f64).ceil() as usize
    }

    /// Resample `samples`, appending the output that is final to `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<()> {
        self.pending.extend_from_slice(samples);
        self.input_len += samples.len();
        // `process_all` processes a full chunk while more than one chunk is left.
        let mut used = 0;
        while self.pending.len() - used > CHUNK {
            self.process(used, CHUNK, false)?;
            used += CHUNK;
        }
        self.pending.drain(..used);
        self.release(self.expected(self.input_len), out);
        Ok(())
    }

    /// The end of the signal: appends the rest of the output to `out`.
    pub fn finish(mut self, out: &mut Vec<f32>) -> Result<()> {
        // No full chunk processed: a signal shorter than one chunk, resampled whole.
        if self.raw_len == 0 {
            out.extend(resample(&self.pending, self.from, self.to)?);
            return Ok(());
        }
        let expected = self.expected(self.input_len);
        // The last (partial) chunk, then chunks of silence to flush the delay.
        if !self.pending.is_empty() {
            self.process(0, self.pending.len(), true)?;
        }
        self.pending.clear();
        while self.raw_len < expected + self.delay {
            self.process(0, 0, true)?;
        }
        self.release(expected, out);
        Ok(())
    }

    /// One resampler call on `pending[at..at + n]`; a `partial` chunk is zero-padded.
    fn process(&mut self, at: usize, n: usize, partial: bool) -> Result<()> {
        let err = self.err();
        let input = InterleavedSlice::new(&self.pending[at..at + n], 1, n)
            .map_err(|e| err(e.to_string()))?;
        let frames = self.out.len();
        let mut output = InterleavedSlice::new_mut(&mut self.out[..], 1, frames)
            .map_err(|e| err(e.to_string()))?;
        let indexing = rubato::Indexing {
            input_offset: 0,
            output_offset: 0,
            active_channels_mask: None,
            partial_len: partial.then_some(n),
        };
        let (_, produced) = self
            .rs
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(|e| err(e.to_string()))?;
        // Drop the delay at the start; keep the rest until it is known to be within the output.
        let skip = self.delay.saturating_sub(self.raw_len).min(produced);
        self.held.extend_from_slice(&self.out[skip..produced]);
        self.raw_len += produced;
        Ok(())
    }

    /// Hand out held output up to `limit` output frames in all.
    fn release(&mut self, limit: usize, out: &mut Vec<f32>) {
        let n = limit.saturating_sub(self.emitted).min(self.held.len());
        out.extend(self.held.drain(..n));
        self.emitted += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces of any size, including empty ones and ones of exactly a chunk, give the whole-signal
    /// resampler's samples bit for bit (tolerance 0), up and down, integer and fractional ratios,
    /// for signals shorter than, equal to and longer than one chunk.
    #[test]
    fn streamed_resampling_equals_whole_signal_resampling() {
        let signal = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i as f32 * 0.37).sin() + (i as f32 * 0.011).cos()) * 0.4)
                .collect()
        };
        for (from, to) in [
            (8000, 16000),
            (32000, 16000),
            (44100, 16000),
            (16000, 22050),
        ] {
            for n in [1, 700, 1024, 1025, 2048, 5000, 20_011] {
                let x = signal(n);
                let whole = resample(&x, from, to).unwrap();
                for pieces in [&[1usize, 7, 1023][..], &[1024], &[0, 1025, 3], &[4096]] {
                    let mut rs = StreamResampler::new(from, to).unwrap();
                    let (mut out, mut at, mut k) = (Vec::new(), 0, 0);
                    while at < n {
                        let len = pieces[k % pieces.len()].min(n - at);
                        rs.push(&x[at..at + len], &mut out).unwrap();
                        (at, k) = (at + len, k + 1);
                    }
                    rs.finish(&mut out).unwrap();
                    assert!(
                        out == whole,
                        "{from} -> {to} Hz, {n} samples, pieces {pieces:?}: {} vs {} samples",
                        out.len(),
                        whole.len()
                    );
                }
            }
        }
        assert!(StreamResampler::new(16000, 16000).is_err());
        assert!(StreamResampler::new(0, 16000).is_err());
    }
}
