//! # tympan
//!
//! Audio event classification (audio tagging) in pure Rust on [Burn](https://burn.dev): the
//! `tympan` command-line tool and a facade over the tympan crates.
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`audio`] | `tympan-audio` | decoding, resampling, Kaldi fbank, presets, augmentations |
//! | [`metrics`] | `tympan-metrics` | sklearn-exact AP/AUC, mAP, d-prime, MAP@3 |
//! | [`models`] | `tympan-models` | the model zoo, PyTorch weight import, backend selection |
//! | [`data`] | `tympan-data` | AudioSet metadata, datasets, sampling, label enhancement |
//! | [`infer`] | `tympan-infer` | model cards, windowing and batched scoring of files or samples |
//! | `train` | `tympan-train` | typed recipes, the training engine, checkpoints, weight averaging (feature `train`, on by default) |
//! | [`hub`] | `tympan` | pretrained models by name, fetched once into the user's cache |
//! | [`tag`] | `tympan` | a file to `(label, score)` pairs with a run folder or a pretrained model |
//! | [`allocator`] | `tympan` | glibc allocator settings for programs that process many files |
//! | [`cli`] | `tympan` | what the command-line front ends share: progress bars, the log writer, the training run's progress (feature `train`) |
#![warn(missing_docs)]

pub use tympan_audio as audio;
pub use tympan_data as data;
pub use tympan_infer as infer;
pub use tympan_metrics as metrics;
pub use tympan_models as models;
#[cfg(feature = "train")]
pub use tympan_train as train;

/// Where tensors live (`Device::flex()` for the CPU; see [`models::Backend`] for the others).
pub use burn::prelude::Device;

pub mod allocator;
pub mod cli;
pub mod download;
pub mod hub;
pub mod pool;
pub mod tag;

/// The README's examples, compiled (and run unless marked `no_run`) as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
