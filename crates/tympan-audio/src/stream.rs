//! Decoding a file piece by piece, in bounded memory: [`Stream`] gives the same samples as
//! [`crate::load::load`], bit for bit, without holding the whole file.
//!
//! A one-hour 16 kHz file is 230 MB of `f32` samples once decoded; a tagger that needs one
//! window at a time ([`Stream::read`] a piece, score the windows it completes, drop what no
//! later window needs) holds a few seconds instead.
//!
//! The pieces are symphonia's packets (canonical 16-bit PCM WAV: 64 Ki-frame reads), mixed down
//! by the [`crate::load::ChannelPolicy`] and resampled by [`StreamResampler`], which repeats the
//! whole-signal resampler's chunking. Every check of [`crate::load::load`] is made: empty and
//! header-only files, truncation (at the end, when the stream falls short of the header),
//! non-finite samples (in the piece that holds them, counted within that piece).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{AudioError, Result};
use crate::load::{LoadOptions, Packets, check_finite, is_wav, mix_down, open_nonempty};
use crate::resample::StreamResampler;
use crate::wav::{Pcm16Header, append_pcm16, pcm16_header};

/// Frames per read of a 16-bit PCM WAV.
const PCM16_FRAMES: usize = 1 << 16;
/// Bytes read to find a WAV's `data` chunk (longer headers go through symphonia).
const HEADER_BYTES: usize = 1 << 16;

/// Where a [`Stream`]'s planar samples come from.
enum Source {
    /// A canonical 16-bit PCM WAV, read directly.
    Pcm16 {
        reader: BufReader<File>,
        channels: usize,
        /// Frames still to read.
        left: usize,
        bytes: Vec<u8>,
    },
    /// Anything else, through symphonia.
    Packets(Box<Packets>),
}

/// A decoded, mixed-down and optionally resampled file, read piece by piece.
pub struct Stream {
    path: PathBuf,
    source: Source,
    options: LoadOptions,
    /// The file's own rate.
    file_rate: u32,
    resampler: Option<StreamResampler>,
    /// Planar samples decoded ahead (the first packet, read to learn the rate).
    ahead: Option<Vec<Vec<f32>>>,
    /// File frames decoded so far (for the frame index of a non-finite sample).
    frames: usize,
    done: bool,
}

impl Stream {
    /// Open `path` for reading with `options` (channel policy, optional resampling). Header
    /// errors (not audio, unsupported codec, empty, truncated 16-bit WAV) are reported here.
    pub fn open(path: &Path, options: &LoadOptions) -> Result<Self> {
        let (file, len) = open_nonempty(path)?;
        let p = || path.to_path_buf();
        let io = |source| AudioError::Io { path: p(), source };
        let mut file_rate = None;
        let mut source = if is_wav(path) {
            let mut reader = BufReader::new(file);
            let mut head = Vec::with_capacity(HEADER_BYTES);
            (&mut reader)
                .take(HEADER_BYTES as u64)
                .read_to_end(&mut head)
                .map_err(io)?;
            match pcm16_header(&head) {
                Some(h) => {
                    h.check(path, len as usize)?;
                    let Pcm16Header {
                        channels,
                        rate,
                        data_start,
                        announced,
                    } = h;
                    reader
                        .seek(SeekFrom::Start(data_start as u64))
                        .map_err(io)?;
                    file_rate = Some(rate);
                    Source::Pcm16 {
                        reader,
                        channels,
                        left: announced,
                        bytes: Vec::new(),
                    }
                }
                None => {
                    // Not a canonical 16-bit WAV: symphonia reads it from the start.
                    let mut file = reader.into_inner();
                    file.seek(SeekFrom::Start(0)).map_err(io)?;
                    Source::Packets(Box::new(Packets::open(path, file)?))
                }
            }
        } else {
            Source::Packets(Box::new(Packets::open(path, file)?))
        };
        let mut ahead = None;
        if let Source::Packets(packets) = &mut source {
            file_rate = packets.rate();
            if file_rate.is_none() {
                // No rate in the header: decode the first packet to learn it.
                let mut first = Vec::new();
                packets.next_into(&mut first)?;
                file_rate = packets.rate();
                ahead = Some(first);
            }
        }
        let file_rate = file_rate.ok_or_else(|| AudioError::Corrupt {
            path: p(),
            reason: "no sample rate in stream".into(),
        })?;
        let resampler = match options.sample_rate {
            Some(to) if to != file_rate => Some(StreamResampler::new(file_rate, to)?),
            _ => None,
        };
        Ok(Self {
            path: p(),
            source,
            options: options.clone(),
            file_rate,
            resampler,
            ahead,
            frames: 0,
            done: false,
        })
    }

    /// The rate of the samples [`Self::read`] gives: the requested rate, else the file's.
    pub fn sample_rate(&self) -> u32 {
        match self.options.sample_rate {
            Some(r) => r,
            None => self.file_rate,
        }
    }

    /// Append the next piece of samples to `out`; `false` once the file has ended, after the
    /// last samples (the resampler's tail) have been appended. A piece may be empty while the
    /// resampler fills.
    pub fn read(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        let mut planar = self.ahead.take().unwrap_or_default();
        let more = planar.first().is_some_and(|c| !c.is_empty()) || self.decode(&mut planar)?;
        if !more {
            self.done = true;
            if let Source::Packets(packets) = &self.source {
                packets.finish()?;
            }
            if let Some(rs) = self.resampler.take() {
                rs.finish(out)?;
            }
            return Ok(false);
        }
        check_finite(&self.path, &planar, self.frames)?;
        self.frames += planar.first().map_or(0, Vec::len);
        let mono = mix_down(planar, self.options.channels);
        match &mut self.resampler {
            Some(rs) => rs.push(&mono, out)?,
            None => out.extend_from_slice(&mono),
        }
        Ok(true)
    }

    /// The rest of the file, whole (for callers that need all of it, such as a model that
    /// averages over a whole file).
    pub fn read_to_end(&mut self) -> Result<Vec<f32>> {
        let mut samples = Vec::new();
        while self.read(&mut samples)? {}
        Ok(samples)
    }

    /// Decode the next piece of planar samples into `planar`; `false` at the end.
    fn decode(&mut self, planar: &mut Vec<Vec<f32>>) -> Result<bool> {
        match &mut self.source {
            Source::Packets(packets) => packets.next_into(planar),
            Source::Pcm16 {
                reader,
                channels,
                left,
                bytes,
            } => {
                let frames = (*left).min(PCM16_FRAMES);
                if frames == 0 {
                    return Ok(false);
                }
                bytes.resize(frames * 2 * *channels, 0);
                reader.read_exact(bytes).map_err(|source| AudioError::Io {
                    path: self.path.clone(),
                    source,
                })?;
                *left -= frames;
                planar.resize_with(*channels, || Vec::with_capacity(frames));
                append_pcm16(bytes, planar);
                Ok(true)
            }
        }
    }
}

/// Read all of `path` through a [`Stream`]: equal to [`crate::load::load`] (tested).
pub fn read_all(path: &Path, options: &LoadOptions) -> Result<crate::Waveform> {
    let mut stream = Stream::open(path, options)?;
    Ok(crate::Waveform {
        samples: stream.read_to_end()?,
        sample_rate: stream.sample_rate(),
    })
}
