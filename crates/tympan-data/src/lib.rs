//! # tympan-data
//!
//! AudioSet ontology and metadata for [tympan](https://github.com/tympan-audio/tympan):
//!
//! - [`ontology`]: `ontology.json` with parent/child links, ancestors, descendants, restrictions.
//! - [`audioset`]: `class_labels_indices.csv`, Google's segment lists, PSLA's JSON datafiles and
//!   PSLA's balanced-sampling weights (Algorithm 1), and a datafile builder from a segment list
//!   and a folder of downloaded clips (missing clips reported).
//! - [`datasets`]: FSDD, UrbanSound8K, ESC-50/ESC-10, FSD50K, FSDKaggle2018, folder-per-class and
//!   CSV-manifest adapters (official layouts, missing files reported), and
//!   the mapping of single-label datasets into the AudioSet ontology with ancestors.
//! - [`sampling`]: seeded uniform, PSLA-weighted and class-balanced epoch orders, mixup partners.
//! - [`seed`]: the seed derivations every seeded stream uses, written once.
//! - [`split`]: validation splits carved from training clips (seeded, stratified, recordings
//!   kept whole).
//! - [`enhance`]: PSLA label enhancement (Algorithm 2): thresholds, Type I / II / both.
//! - [`loader`]: a streaming, deterministic, bounded-prefetch batch loader and normalisation
//!   statistics (PSLA's `get_norm_stats`).
//!
//! Malformed files give a [`DataError`] naming the file and, for CSV, the line.
#![warn(missing_docs)]

pub mod audioset;
mod csv;
pub mod datasets;
pub mod enhance;
pub mod error;
pub mod fsd50k;
pub mod loader;
pub mod ontology;
pub mod sampling;
pub mod seed;
pub mod split;

pub use audioset::{
    BuiltDatafile, Class, ClassList, Datafile, DatafileEntry, Segment, build_datafile,
    psla_sample_weights, read_segments,
};
pub use datasets::{Clip, Dataset};
pub use error::{DataError, Result};
pub use ontology::{Node, Ontology};

/// The README's examples, compiled (and run unless marked `no_run`) as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
