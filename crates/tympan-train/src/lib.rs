//! # tympan-train
//!
//! The training loop of [tympan](https://github.com/tympan-audio/tympan) audio taggers on Burn.
//!
//! **Status:** reserved. This release ships no training code yet; the crate exists so that the
//! workspace layout, the backend features (`flex`, `ndarray`, `wgpu`, `cuda`, forwarded to
//! `tympan-models`) and the crates.io name are fixed. Evaluation metrics are already available in
//! [`tympan-metrics`](https://docs.rs/tympan-metrics).
