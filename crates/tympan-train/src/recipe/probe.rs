//! Probe recipes (`kind = "probe"`): Hershey et al.'s Sec. 4.4 experiment. Embeddings of a
//! model trained by an earlier run feed a shallow classifier on another dataset
//! (`cargo xtask train hershey-probe`; the classifier is [`crate::probe::fit`]).

use std::path::PathBuf;

use serde::Deserialize;

use super::Dataset;

/// A probe recipe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeRecipe {
    /// Recipe name (the default experiment folder).
    pub name: String,
    /// One line for humans.
    #[serde(default)]
    pub description: String,
    /// Where the embeddings come from.
    pub embedding: EmbeddingSection,
    /// The dataset the classifier is trained and tested on.
    pub data: ProbeData,
    /// The classifier.
    #[serde(default)]
    pub probe: ProbeSection,
}

/// The embedding model: a finished run of a Hershey recipe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingSection {
    /// Its experiment folder (`model-last.bpk` and `state.json`, whose `norm` is the feature
    /// normalisation it was trained with); relative to the workspace root.
    pub run: PathBuf,
    /// Its registry name (`hershey-*`; `-b128` for the 128-d bottleneck).
    pub arch: String,
    /// Its number of classes.
    pub classes: usize,
}

/// The probe's dataset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeData {
    /// The dataset (`fsdd` only: its official split, takes 0-4 test).
    pub dataset: Dataset,
    /// Dataset folder (relative to the workspace root; `--data-dir` overrides).
    pub data_dir: PathBuf,
    /// `cargo xtask download` target fetching it when absent.
    #[serde(default)]
    pub download: Option<String>,
}

/// The shallow classifier.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeSection {
    /// Hidden ReLU layer widths.
    pub hidden: Vec<usize>,
    /// Epochs.
    pub epochs: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed.
    pub seed: u64,
    /// Frames per patch of the raw log-mel baseline (Hershey et al. Sec. 4.4: 64 x 20).
    pub raw_frames: usize,
}

impl Default for ProbeSection {
    fn default() -> Self {
        let d = ProbeConfig::default();
        Self {
            hidden: d.hidden,
            epochs: d.epochs,
            lr: d.lr,
            seed: d.seed,
            raw_frames: tympan_infer::Embedder::RAW_FRAMES,
        }
    }
}

/// Settings of the shallow classifier.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Widths of the hidden ReLU layers.
    pub hidden: Vec<usize>,
    /// Epochs over the training rows.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of the initialisation and the order.
    pub seed: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            hidden: vec![256],
            epochs: 30,
            batch_size: 64,
            lr: 1e-3,
            seed: 0,
        }
    }
}
