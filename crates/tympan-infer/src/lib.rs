//! # tympan-infer
//!
//! Inference for [tympan](https://github.com/tympan-audio/tympan) audio taggers, a layer below
//! training: audio (`tympan-audio`) -> this crate -> model (`tympan-models`), with no training
//! code or burn-train in its tree.
//!
//! - [`ModelCard`]: `card.json`, what a trained model is; every run folder holds one.
//! - [`Scorer`]: files or samples in memory, cut into windows of the model's input
//!   ([`tympan_audio::InputContract`]) and scored in batches; windows of several clips, or of
//!   consecutive files ([`Scorer::score_files`]), share forward passes.
//! - [`predict`]: whole clips to outputs, the evaluation path `tympan-train` also calls.
//! - [`embed_files`]: Hershey et al.'s embeddings of audio files.
#![warn(missing_docs)]

mod card;
mod embed;
mod error;
mod files;
mod predict;
mod scorer;

pub use card::{CARD_FILE, CARD_FORMAT, CLASS_LIST_FILE, Checkpoint, ModelCard};
pub use embed::{Embedder, Embeddings, embed_files, embed_files_reporting};
pub use error::InferError;
pub use predict::{Clip, PASSES_AT_ONCE, example_outputs, predict};
pub use scorer::{Scorer, Windows};
pub use tympan_audio::{InputContract, InputKind};

/// How a clip score is taken from its window scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pool {
    /// The mean over windows (PSLA, Hershey et al.).
    #[default]
    Mean,
    /// The max over windows.
    Max,
}

/// The README's examples, compiled (and run unless marked `no_run`) as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
