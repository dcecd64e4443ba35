//! # tympan-models
//!
//! The model zoo of [tympan](https://github.com/tympan-audio/tympan) on Burn 0.22.
//!
//! Burn 0.22 tensors carry a runtime [`Device`](burn::prelude::Device) instead of a backend type
//! parameter, so every tympan model is plain code plus a device. Which backends exist in a binary
//! is chosen by cargo features (`flex` by default, `ndarray`, `wgpu`, `cuda`); [`backend`] turns a
//! name into a device and reports clearly when a backend was not compiled in.
//!
//! The architectures of PSLA, Chen et al., Naranjo-Alcazar et al., Jeong & Lim and Hershey et al.
//! land here in later releases; this release provides backend selection only.
#![warn(missing_docs)]

pub mod backend;

pub use backend::{Backend, BackendError};
