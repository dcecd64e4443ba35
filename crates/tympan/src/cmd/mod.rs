//! Subcommands.

pub mod embed;
pub mod enhance;
#[cfg(feature = "train")]
pub mod ensemble;
pub mod evaluate;
pub mod features;
pub mod metrics;
pub mod models;
#[cfg(feature = "train")]
pub mod probe;
pub mod psla_stats;
pub mod scores;
pub mod source;
pub mod stats;
pub mod tag;
pub mod timeline;
#[cfg(feature = "train")]
pub mod train;

use std::path::Path;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

/// `--format`: what every command with machine-readable output prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for a person.
    Table,
    /// JSON.
    Json,
    /// CSV with a header row.
    Csv,
}

/// `--backend`'s possible values (the ones not compiled in answer with how to get them).
pub const BACKENDS: [&str; 4] = ["flex", "ndarray", "wgpu", "cuda"];

/// The run model `--checkpoint best|last|wa` names (`tag`, `embed`; clap has checked the value).
pub fn checkpoint(name: &str) -> tympan_infer::Checkpoint {
    use tympan_infer::Checkpoint;
    match name {
        "last" => Checkpoint::Last,
        "wa" => Checkpoint::WeightAveraged,
        _ => Checkpoint::Best,
    }
}

/// Class names from AudioSet's `class_labels_indices.csv` (`index,mid,display_name`, header
/// optional, names may hold quoted commas) or from a file of one name per line.
pub fn read_class_names(path: &Path) -> Result<Vec<String>> {
    Ok(tympan::tag::read_labels(path)?)
}

/// A progress bar on stderr (hidden when stderr is not a terminal, by indicatif).
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = tympan::cli::bars().add(ProgressBar::new(len));
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}
