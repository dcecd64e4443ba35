//! # tympan-data
//!
//! AudioSet ontology, dataset manifests and adapters, balanced sampling and label enhancement for
//! [tympan](https://github.com/tympan-audio/tympan).
//!
//! **Status:** reserved. This release ships no data handling yet; the crate exists so that the
//! workspace layout and the crates.io name are fixed. The audio decoding and feature extraction
//! it will build on are in [`tympan-audio`](https://docs.rs/tympan-audio).
