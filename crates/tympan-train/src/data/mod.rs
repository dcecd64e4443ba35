//! Training and evaluation data for a recipe: the dataset split, decoded clips, targets, and the
//! per-batch PSLA input pipeline (`src/dataloaders/audioset_dataset.py`, `__getitem__`):
//! optional waveform mixup with a uniformly drawn partner, fbank, padding/cutting to the target
//! length, frequency and time masking, then `(x - mean) / std`.
//!
//! Every random choice of sample `j` of batch `b` of epoch `e` comes from an RNG seeded by
//! `(seed, e, b, j)`, so a batch is identical whatever the thread count, and a run resumed from a
//! checkpoint sees exactly the batches an uninterrupted run would.

mod features;
mod length;
mod pipeline;
mod split;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use tympan_audio::LoadOptions;
use tympan_data::datasets;

use crate::Event;
use crate::error::TrainError;
use crate::recipe::{Dataset as RecipeDataset, Recipe};

pub use features::{norm_stats, norm_stats_reporting};
pub(crate) use length::fit_recipe;
pub use pipeline::{HostBatch, Pipeline, make_batch};
pub use split::{Presence, SplitPresence};
use split::{audioset, empty_split, split_dataset};
pub use tympan_audio::{InputContract, InputKind};

/// One example: where it is, its target, and its samples when cached.
#[derive(Debug, Clone)]
pub struct Item {
    /// Audio file.
    pub path: PathBuf,
    /// Dense target over the classes.
    pub target: Vec<f32>,
    /// Decoded samples (when the recipe caches audio).
    pub samples: Option<Arc<Vec<f32>>>,
    /// Sample rate of `samples`.
    pub sample_rate: u32,
    /// Whether the label was manually verified (FSDKaggle2018; `true` for curated datasets).
    pub verified: bool,
}

impl Item {
    /// The first positive class of the target (the class of single-label data).
    pub fn class(&self) -> usize {
        self.target.iter().position(|&v| v > 0.0).unwrap_or(0)
    }
}

/// The prepared data of a recipe.
#[derive(Debug, Clone)]
pub struct PreparedData {
    /// Class names.
    pub classes: Vec<String>,
    /// Training examples.
    pub train: Vec<Item>,
    /// Validation examples: they pick the best model and drive the plateau schedule.
    pub valid: Vec<Item>,
    /// Test examples: scored for the reported numbers, never read by training.
    pub test: Vec<Item>,
    /// Files listed by the metadata but absent on disk.
    pub missing: usize,
    /// Listed and present clips of each split, where the metadata lists them per split
    /// (AudioSet datafiles).
    pub presence: Option<Presence>,
    /// Description of the split, for the log.
    pub split: String,
}

/// Resolve the dataset of a recipe and split it.
pub fn prepare(recipe: &Recipe) -> Result<PreparedData, TrainError> {
    prepare_reporting(recipe, &mut |_| {})
}

/// Training clips read for statistics of the training set (the normalisation, the fitted input
/// length): the first ones.
pub(crate) const STATS_CLIPS: usize = 2000;

/// Clips handled between two progress events of a parallel pass over clips.
pub(crate) const PROGRESS_CHUNK: usize = 64;

/// [`prepare`], reporting the clips decoded so far ([`Event::Progress`], `decoding`).
pub fn prepare_reporting(
    recipe: &Recipe,
    on_event: &mut dyn FnMut(Event),
) -> Result<PreparedData, TrainError> {
    let d = &recipe.data;
    if !d.data_dir.exists() {
        let hint = match &d.download {
            Some(name) => format!(
                "run `cargo xtask download {name} --dest {}` or pass --data-dir",
                d.data_dir.display()
            ),
            None => "pass --data-dir".to_string(),
        };
        return Err(TrainError::MissingData {
            path: d.data_dir.clone(),
            hint,
        });
    }
    let mut presence = None;
    let (classes, train, valid, test, missing, split) = match d.dataset {
        RecipeDataset::Audioset => {
            let (split, p) = audioset(d)?;
            presence = Some(p);
            split
        }
        other => {
            let ds = match other {
                RecipeDataset::Fsdd => datasets::fsdd(&d.data_dir)?,
                RecipeDataset::Urbansound8k => datasets::urbansound8k(&d.data_dir)?,
                RecipeDataset::Esc50 => datasets::esc50(&d.data_dir, false)?,
                RecipeDataset::Esc10 => datasets::esc50(&d.data_dir, true)?,
                RecipeDataset::Folder => datasets::folder_per_class(&d.data_dir)?,
                RecipeDataset::Csv => datasets::csv_manifest(&d.data_dir)?,
                RecipeDataset::Fsdkaggle2018 => datasets::fsdkaggle2018(&d.data_dir)?,
                RecipeDataset::Fsd50k => datasets::fsd50k(&d.data_dir)?,
                RecipeDataset::Audioset => unreachable!("matched above"),
            };
            split_dataset(&ds, d)?
        }
    };
    // Every split of every dataset must hold clips (validation unless the recipe has none).
    let no_validation = d.validation() == crate::recipe::Validation::None;
    for (what, v) in [
        ("training", &train),
        ("validation", &valid),
        ("test", &test),
    ] {
        if v.is_empty() && !(what == "validation" && no_validation) {
            return Err(empty_split(&d.data_dir, what, &split));
        }
    }
    let (mut train, mut valid, mut test) = (train, valid, test);
    if d.cache_audio {
        let total = train.len() + valid.len() + test.len();
        let mut done = 0;
        for split in [&mut train, &mut valid, &mut test] {
            for chunk in split.chunks_mut(PROGRESS_CHUNK) {
                decode_all(chunk, d.sample_rate)?;
                done += chunk.len();
                on_event(Event::Progress {
                    task: "decoding",
                    done,
                    total,
                });
            }
        }
    }
    Ok(PreparedData {
        classes,
        train,
        valid,
        test,
        missing,
        presence,
        split,
    })
}

/// Decode every clip once, in parallel, at `rate` when given (the recipe's `cache_audio`).
fn decode_all(items: &mut [Item], rate: Option<u32>) -> Result<(), TrainError> {
    let opts = LoadOptions {
        sample_rate: rate,
        ..LoadOptions::default()
    };
    let decoded: Vec<Result<(Vec<f32>, u32), TrainError>> = items
        .par_iter()
        .map(|it| {
            tympan_audio::load::load(&it.path, &opts)
                .map(|w| (w.samples, w.sample_rate))
                .map_err(|source| TrainError::Audio {
                    path: it.path.clone(),
                    source,
                })
        })
        .collect();
    for (it, r) in items.iter_mut().zip(decoded) {
        let (s, sr) = r?;
        it.samples = Some(Arc::new(s));
        it.sample_rate = sr;
    }
    Ok(())
}

pub(crate) fn samples_of(it: &Item, rate: Option<u32>) -> Result<(Arc<Vec<f32>>, u32), TrainError> {
    if let Some(s) = &it.samples {
        return Ok((s.clone(), it.sample_rate));
    }
    let opts = LoadOptions {
        sample_rate: rate,
        ..LoadOptions::default()
    };
    let w = tympan_audio::load::load(&it.path, &opts).map_err(|source| TrainError::Audio {
        path: it.path.clone(),
        source,
    })?;
    Ok((Arc::new(w.samples), w.sample_rate))
}

/// The examples the model trains on: with VGGish input, one per 960 ms patch of each clip
/// (Hershey et al. Sec. 2: every patch carries its clip's labels;
/// [`InputContract::example_ranges`]); with any other input, the clips themselves.
pub(crate) fn examples(items: &[Item], c: &InputContract) -> Result<Vec<Item>, TrainError> {
    if c.input != InputKind::Vggish {
        return Ok(items.to_vec());
    }
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let (samples, rate) = samples_of(it, c.sample_rate)?;
        for (lo, hi) in c.example_ranges(samples.len(), rate) {
            out.push(Item {
                samples: Some(Arc::new(samples[lo..hi].to_vec())),
                sample_rate: rate,
                ..it.clone()
            });
        }
    }
    Ok(out)
}

/// PSLA Algorithm 1 on dense targets ([`tympan_data::sampling::psla_weights`]): `w_i = sum_{k in
/// labels(i)} 1000 / (c_k + 0.01)`, the labels in class order.
pub fn balanced_weights(items: &[Item], num_classes: usize) -> Vec<f64> {
    let labels: Vec<Vec<usize>> = items
        .iter()
        .map(|it| {
            (it.target.iter().enumerate())
                .filter(|(_, t)| **t > 0.0)
                .map(|(k, _)| k)
                .collect()
        })
        .collect();
    tympan_data::sampling::psla_weights(&labels, num_classes)
}

/// Resolve a path relative to a base unless absolute.
pub fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_weights_are_psla_algorithm_1_on_dense_targets() {
        let item = |target: Vec<f32>| Item {
            path: PathBuf::from("x.wav"),
            target,
            samples: None,
            sample_rate: 16_000,
            verified: true,
        };
        // Class 0 on three clips, class 1 on two, class 2 on one (multi-label).
        let items = [
            item(vec![1.0, 1.0, 0.0]),
            item(vec![1.0, 0.0, 0.0]),
            item(vec![1.0, 1.0, 1.0]),
        ];
        let w = balanced_weights(&items, 3);
        let c = |n: f64| 1000.0 / (n + 0.01);
        assert_eq!(w, vec![c(3.0) + c(2.0), c(3.0), c(3.0) + c(2.0) + c(1.0)]);
    }
}
