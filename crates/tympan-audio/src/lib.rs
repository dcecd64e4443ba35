//! # tympan-audio
//!
//! The audio frontend of [tympan](https://github.com/tympan-audio/tympan):
//!
//! - [`load`]: decode WAV (8/16/24/32-bit integer and float PCM), FLAC, MP3 and Ogg/Vorbis with
//!   symphonia into `f32`, scaled exactly as `torchaudio.load`, with an explicit channel policy
//!   and band-limited resampling ([`resample`]); [`stream`] reads the same samples piece by
//!   piece, in bounded memory. Broken files give an [`AudioError`] that names
//!   the file and the reason; nothing panics.
//! - [`fbank`]: Kaldi filter banks equal to `torchaudio.compliance.kaldi.fbank` for every option.
//! - [`presets`]: the exact input pipelines of PSLA, VGGish (Hershey et al.), Jeong & Lim's
//!   DenseNet and Naranjo-Alcazar's slim 2D network, plus raw-waveform normalisations.
//! - [`contract`]: a model's input contract ([`InputContract`]): frontend, rate, window
//!   geometry and the evaluation transform, one value shared by training, inference and cards.
//! - [`augment`]: seeded SpecAugment masking, PSLA mixup, mix-training pairs, scale augmentation.
//! - [`batch`]: parallel, order-preserving, memory-bounded extraction over many files.
//!
//! ```no_run
//! use tympan_audio::{load, LoadOptions, presets::Preset};
//! let wav = load::load("clip.wav".as_ref(), &LoadOptions::default())?;
//! let feats = Preset::psla().extractor(wav.sample_rate)?.compute(&wav.samples)?;
//! assert_eq!((feats.frames, feats.bins), (1056, 128));
//! # Ok::<(), tympan_audio::AudioError>(())
//! ```
#![warn(missing_docs)]

pub mod augment;
pub mod batch;
pub mod contract;
pub mod error;
pub mod fbank;
pub mod features;
pub mod load;
pub mod melspec;
pub mod npy;
pub mod presets;
pub mod resample;
pub mod stream;
mod wav;

pub use contract::{InputContract, InputKind, ModelInput, Placement};
pub use error::{AudioError, Result};
pub use fbank::{Fbank, FbankOptions, WindowType};
pub use features::Features;
pub use load::{ChannelPolicy, LoadOptions, Waveform};
pub use presets::{Extractor, Preset, WaveNorm};

/// The README's examples, compiled (and run unless marked `no_run`) as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
