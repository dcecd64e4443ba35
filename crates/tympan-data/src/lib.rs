//! # tympan-data
//!
//! AudioSet ontology and metadata for [tympan](https://github.com/tympan-audio/tympan):
//!
//! - [`ontology`]: `ontology.json` with parent/child links, ancestors, descendants, restrictions.
//! - [`audioset`]: `class_labels_indices.csv`, Google's segment lists, PSLA's JSON datafiles and
//!   PSLA's balanced-sampling weights (Algorithm 1).
//!
//! Malformed files give a [`DataError`] naming the file and, for CSV, the line.
//!
//! **Status:** in progress. Dataset adapters, samplers, label enhancement and the streaming
//! loader land next.
#![warn(missing_docs)]

pub mod audioset;
mod csv;
pub mod datasets;
pub mod error;
pub mod ontology;

pub use audioset::{
    Class, ClassList, Datafile, DatafileEntry, Segment, psla_sample_weights, read_segments,
};
pub use datasets::{Clip, Dataset};
pub use error::{DataError, Result};
pub use ontology::{Node, Ontology};
