//! # tympan-models
//!
//! The model zoo of [tympan](https://github.com/tympan-audio/tympan) on Burn 0.22.
//!
//! Burn 0.22 tensors carry a runtime [`Device`](burn::prelude::Device) instead of a backend type
//! parameter, so every tympan model is plain code plus a device. Which backends exist in a binary
//! is chosen by cargo features (`flex` by default, `ndarray`, `wgpu`, `cuda`); [`backend`] turns a
//! name into a device and reports clearly when a backend was not compiled in.
//!
//! ```no_run
//! use tympan_models::{Backend, create};
//! let device = Backend::Flex.device().unwrap();
//! let model = create("psla-effnet-b2", 527, &device).unwrap();
//! ```
//!
//! Families:
//! - [`efficientnet`]: EfficientNet B0-B7 and Lite0-4 as `efficientnet_pytorch` builds them.
//! - [`psla`]: PSLA's attention heads and `EffNetAttention` / `ResNetAttention`.
//! - [`resnet`]: torchvision-layout bottleneck ResNet.
//! - [`hershey`]: Hershey et al.'s FC, AlexNet, VGG-E and ResNet-50 on 96x64 patches.
//! - [`dcase`]: Jeong & Lim's single-block DenseNet with SE and an in-graph log-mel.
//! - [`rawwave`]: Dai et al.'s M3-M34-res with Naranjo-Alcazar et al.'s residual blocks RB1-RB6.
#![warn(missing_docs)]
// Model enums (`Tagger`, heads, layer kinds) are built once per model; boxing their variants would
// only add indirection to Burn's `Module` derive.
#![allow(clippy::large_enum_variant)]

pub mod backend;
mod card;
#[cfg(feature = "cuda")]
mod cuda_check;
pub mod dcase;
pub mod efficientnet;
mod error;
pub mod hershey;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod kernel_cache;
pub mod layers;
mod params;
pub mod pretrained;
pub mod psla;
pub mod rawwave;
pub mod registry;
pub mod resnet;
mod tagger;
pub mod weights;

pub use backend::{Backend, BackendError};
pub use card::{Family, ImageNetKeys, ModelInfo, Normalisation, OutputKind};
pub use error::ModelError;
pub use params::{keras_param_count, num_params, parameter_gradients};
pub use registry::{create, info, list, names};
pub use tagger::Tagger;
pub use weights::{
    LoadReport, StemInit, TorchLoadOptions, load_burnpack, load_pytorch, save_burnpack, weight_bits,
};

/// The README's examples, compiled (and run unless marked `no_run`) as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
