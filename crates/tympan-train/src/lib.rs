//! # tympan-train
//!
//! The training engine of [tympan](https://github.com/tympan-audio/tympan) audio taggers on Burn:
//! recipes ([`recipe`]), learning-rate schedules ([`schedule`]), losses ([`loss`]), the PSLA
//! input pipeline ([`data`]), the loop with checkpoints and exact resume ([`engine`]), what a run
//! reports ([`report`]), PSLA's aggregation: weight averaging and ensembles ([`aggregate`]), and SVG
//! plots of a run ([`plots`]). Every run ends by writing its model card (`card.json`), which
//! `tympan-infer` reads to tag files with the run's models; evaluation goes through that crate too.
//! Any tympan model also trains under burn-train's `Learner` ([`learner`]).
//!
//! The same code runs on every Burn backend compiled in (`flex` by default, `ndarray`, `wgpu`,
//! `cuda`): pass the [`Device`](burn::prelude::Device) in [`engine::RunOptions`].
#![warn(missing_docs)]

pub mod aggregate;
pub mod data;
pub mod engine;
mod error;
pub mod launch;
pub mod learner;
pub mod loss;
pub mod optim;
pub mod plots;
pub mod probe;
pub mod recipe;
pub mod report;
pub mod schedule;

pub use engine::{Event, RunOptions, Summary, run};
pub use error::TrainError;
pub use recipe::Recipe;

/// The README's examples, compiled (and run unless marked `no_run`) as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
