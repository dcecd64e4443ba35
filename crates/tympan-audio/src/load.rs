//! Decoding audio files into `f32` waveforms with [symphonia].
//!
//! Scaling follows `torchaudio.load` (normalize=True): signed integer PCM of `b` bits is divided
//! by `2^(b-1)` (16-bit samples by 32768), unsigned PCM is centred first (`(x - 2^(b-1)) /
//! 2^(b-1)`, so 8-bit WAV maps 128 to 0.0), and float PCM is passed through unchanged. The
//! division is done in `f64` and rounded once to `f32`, so every 8/16/24-bit value is exact.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::audio::{AudioBufferRef, Signal};
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::sample::{i24, u24};

use crate::error::{AudioError, Result};
use crate::resample::resample;

/// How multi-channel audio becomes one waveform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelPolicy {
    /// Keep channel 0 only, as PSLA's `torchaudio.load(path)[0]` path does.
    #[default]
    First,
    /// Average all channels (VGGish's `np.mean(data, axis=1)`).
    Mean,
}

/// Options for [`load`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadOptions {
    /// Channel policy for multi-channel files.
    pub channels: ChannelPolicy,
    /// Resample to this rate (Hz) when the file's rate differs; `None` keeps the file's rate.
    pub sample_rate: Option<u32>,
}

impl LoadOptions {
    /// Load at `rate` Hz, first channel.
    pub fn at_rate(rate: u32) -> Self {
        Self {
            channels: ChannelPolicy::First,
            sample_rate: Some(rate),
        }
    }
}

/// A mono waveform in `[-1, 1]` (for integer sources) at `sample_rate` Hz.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    /// The samples.
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

impl Waveform {
    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate as f64
    }
}

/// Decode every channel of `path` (planar: `channels[c][frame]`) at its own sample rate.
///
/// Errors name the file and the reason: empty files, header-only files, truncated streams,
/// unrecognised or unsupported formats and non-finite samples are all rejected.
pub fn decode_all_channels(path: &Path) -> Result<(Vec<Vec<f32>>, u32)> {
    let p = || path.to_path_buf();
    let (file, len) = open_nonempty(path)?;
    // Fast path: canonical 16-bit PCM WAV (x / 32768 is exact in f32, so results are identical).
    if len <= 1 << 30 && is_wav(path) {
        let bytes = std::fs::read(path).map_err(|source| AudioError::Io { path: p(), source })?;
        if let Some(decoded) = crate::wav::decode_pcm16(path, &bytes)? {
            return Ok(decoded); // integer samples are always finite
        }
    }
    let mut packets = Packets::open(path, file)?;
    let mut channels: Vec<Vec<f32>> = Vec::new();
    while packets.next_into(&mut channels)? {}
    let rate = packets.finish()?;
    check_finite(path, &channels, 0)?;
    Ok((channels, rate))
}

/// Opens `path`, refusing a zero-byte file; returns the file and its length in bytes.
pub(crate) fn open_nonempty(path: &Path) -> Result<(File, u64)> {
    let p = || path.to_path_buf();
    let file = File::open(path).map_err(|source| AudioError::Io { path: p(), source })?;
    let len = file
        .metadata()
        .map_err(|source| AudioError::Io { path: p(), source })?
        .len();
    if len == 0 {
        return Err(AudioError::Empty {
            path: p(),
            reason: "file has zero bytes".into(),
        });
    }
    Ok((file, len))
}

/// Whether `path` has a `.wav` / `.wave` extension (the 16-bit PCM fast path is tried first).
pub(crate) fn is_wav(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("wav") || e.eq_ignore_ascii_case("wave"))
}

/// symphonia's packets of one file's first audio track, decoded one at a time: what
/// [`decode_all_channels`] and [`crate::stream::Stream`] share.
pub(crate) struct Packets {
    path: PathBuf,
    format: Box<dyn symphonia::core::formats::FormatReader>,
    decoder: Box<dyn symphonia::core::codecs::Decoder>,
    track_id: u32,
    expected_frames: Option<u64>,
    frames: u64,
    rate: Option<u32>,
}

impl Packets {
    /// Probe `file` (opened from `path`) and set up the decoder of its first audio track.
    pub(crate) fn open(path: &Path, file: File) -> Result<Self> {
        let p = || path.to_path_buf();
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let probed = symphonia::default::get_probe()
            .format(&hint, mss, &FormatOptions::default(), &MetadataOptions::default())
            .map_err(|e| match e {
                // The probe scans the whole file for a container signature; reaching the end
                // without one means the bytes are not (supported) audio, whatever the extension
                // claims.
                SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => AudioError::Unsupported {
                    path: p(),
                    reason: "no WAV/FLAC/MP3/Ogg signature found (not audio, or an unsupported container)".into(),
                },
                e => classify(path, e, "not a recognised audio container"),
            })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::Unsupported {
                path: p(),
                reason: "no decodable audio track".into(),
            })?;
        let track_id = track.id;
        let params = track.codec_params.clone();
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| classify(path, e, "unsupported codec"))?;
        Ok(Self {
            path: p(),
            format,
            decoder,
            track_id,
            expected_frames: params.n_frames,
            frames: 0,
            rate: params.sample_rate,
        })
    }

    /// The stream's sample rate, once the header or the first decoded packet has given it.
    pub(crate) fn rate(&self) -> Option<u32> {
        self.rate
    }

    /// Decode the next packet and append its planar samples to `channels`; `false` at the end
    /// of the stream.
    pub(crate) fn next_into(&mut self, channels: &mut Vec<Vec<f32>>) -> Result<bool> {
        let path = self.path.as_path();
        loop {
            let packet = match self.format.next_packet() {
                Ok(pk) => pk,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(false);
                }
                Err(SymError::ResetRequired) => return Ok(false),
                Err(e) => return Err(classify(path, e, "demuxing failed")),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                // A damaged frame in a lossy stream: symphonia's advice is to skip it. A file
                // that is *only* damaged frames ends up empty and is reported by `finish`.
                Err(SymError::DecodeError(reason)) => {
                    tracing::warn!(path = %path.display(), reason, "skipping undecodable packet");
                    continue;
                }
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(false);
                }
                Err(e) => return Err(classify(path, e, "decoding failed")),
            };
            self.rate = self.rate.or(Some(decoded.spec().rate));
            self.frames += decoded.frames() as u64;
            append_planar(&decoded, channels);
            return Ok(true);
        }
    }

    /// The checks at the end of the stream: samples were read, as many as the header announced,
    /// and a rate is known. Returns the rate.
    pub(crate) fn finish(&self) -> Result<u32> {
        let p = || self.path.clone();
        let rate = self.rate.ok_or_else(|| AudioError::Corrupt {
            path: p(),
            reason: "no sample rate in stream".into(),
        })?;
        let frames = self.frames;
        if frames == 0 {
            return Err(AudioError::Empty {
                path: p(),
                reason: "no audio samples (header only?)".into(),
            });
        }
        if let Some(n) = self.expected_frames
            && frames < n
        {
            return Err(AudioError::Corrupt {
                path: p(),
                reason: format!("header announces {n} frames but only {frames} could be read"),
            });
        }
        Ok(rate)
    }
}

/// Decode `path` into a mono waveform following `opts` (channel policy, optional resampling).
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Waveform> {
    let (channels, rate) = decode_all_channels(path)?;
    let samples = mix_down(channels, opts.channels);
    match opts.sample_rate {
        Some(target) if target != rate => Ok(Waveform {
            samples: resample(&samples, rate, target)?,
            sample_rate: target,
        }),
        _ => Ok(Waveform {
            samples,
            sample_rate: rate,
        }),
    }
}

/// Apply a channel policy to planar channels.
pub fn mix_down(mut channels: Vec<Vec<f32>>, policy: ChannelPolicy) -> Vec<f32> {
    if channels.len() == 1 {
        return channels.pop().unwrap_or_default();
    }
    match policy {
        ChannelPolicy::First => channels.swap_remove(0),
        ChannelPolicy::Mean => {
            let n = channels.len() as f64;
            let frames = channels[0].len();
            (0..frames)
                .map(|i| (channels.iter().map(|c| c[i] as f64).sum::<f64>() / n) as f32)
                .collect()
        }
    }
}

/// Rejects non-finite samples; `offset` is the frame index of `channels[_][0]` in the file.
pub(crate) fn check_finite(path: &Path, channels: &[Vec<f32>], offset: usize) -> Result<()> {
    // Fast vectorisable check first; the detailed count only when something is wrong.
    if channels.iter().all(|ch| ch.iter().all(|v| v.is_finite())) {
        return Ok(());
    }
    let mut count = 0usize;
    let mut first = usize::MAX;
    for ch in channels {
        for (i, v) in ch.iter().enumerate() {
            if !v.is_finite() {
                count += 1;
                first = first.min(i);
            }
        }
    }
    if count > 0 {
        return Err(AudioError::NonFinite {
            path: path.to_path_buf(),
            count,
            first_frame: offset + first,
        });
    }
    Ok(())
}

fn classify(path: &Path, e: SymError, context: &str) -> AudioError {
    let path: PathBuf = path.to_path_buf();
    match e {
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioError::Corrupt {
                path,
                reason: format!("{context}: unexpected end of file"),
            }
        }
        SymError::IoError(source) => AudioError::Io { path, source },
        SymError::Unsupported(what) => AudioError::Unsupported {
            path,
            reason: format!("{context} ({what})"),
        },
        SymError::DecodeError(what) => AudioError::Corrupt {
            path,
            reason: format!("{context}: {what}"),
        },
        other => AudioError::Corrupt {
            path,
            reason: format!("{context}: {other}"),
        },
    }
}

/// Append one decoded buffer to planar `f32` channels with torchaudio's scaling.
pub(crate) fn append_planar(buf: &AudioBufferRef<'_>, out: &mut Vec<Vec<f32>>) {
    fn push<S: symphonia::core::sample::Sample>(
        b: &symphonia::core::audio::AudioBuffer<S>,
        out: &mut Vec<Vec<f32>>,
        conv: impl Fn(S) -> f32,
    ) {
        let n = b.spec().channels.count();
        if out.len() < n {
            out.resize_with(n, Vec::new);
        }
        for (c, dst) in out.iter_mut().enumerate().take(n) {
            dst.extend(b.chan(c).iter().map(|&s| conv(s)));
        }
    }
    const I8: f64 = 128.0;
    const I16: f64 = 32768.0;
    const I24: f64 = 8_388_608.0;
    const I32: f64 = 2_147_483_648.0;
    match buf {
        AudioBufferRef::U8(b) => push(b, out, |s| ((s as f64 - I8) / I8) as f32),
        AudioBufferRef::U16(b) => push(b, out, |s| ((s as f64 - I16) / I16) as f32),
        AudioBufferRef::U24(b) => push(b, out, |s: u24| ((s.inner() as f64 - I24) / I24) as f32),
        AudioBufferRef::U32(b) => push(b, out, |s| ((s as f64 - I32) / I32) as f32),
        AudioBufferRef::S8(b) => push(b, out, |s| (s as f64 / I8) as f32),
        AudioBufferRef::S16(b) => push(b, out, |s| (s as f64 / I16) as f32),
        AudioBufferRef::S24(b) => push(b, out, |s: i24| (s.inner() as f64 / I24) as f32),
        AudioBufferRef::S32(b) => push(b, out, |s| (s as f64 / I32) as f32),
        AudioBufferRef::F32(b) => push(b, out, |s| s),
        AudioBufferRef::F64(b) => push(b, out, |s| s as f32),
    }
}
