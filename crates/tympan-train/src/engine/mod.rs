//! The training loop (PSLA `src/traintest.py`, written for Burn), in the parts burn-train has:
//!
//! - `step.rs`: one batch's loss and gradients, on one device or data-parallel;
//! - `epoch.rs`: the clip order, the batches, in-epoch validation, the epoch's commit;
//! - `checkpoint.rs`: the experiment folder as an atomic checkpoint store with exact resume;
//! - `evaluate.rs`: predictions (through `tympan-infer`), and the end of a run (weight
//!   averaging, the ensemble, the model card `card.json`);
//! - `model.rs`: the model a run starts from and its optimizer;
//! - [`crate::report`]: the scores, `metrics.csv`, `summary.json` and the plots.
//!
//! Why our own loop rather than `burn::train::Learner`: PSLA evaluates with its own metrics after
//! every epoch, keeps a running ensemble of per-epoch predictions, averages weights over an epoch
//! range and must resume bit-for-bit; all of that is state the Learner does not expose.

mod checkpoint;
mod epoch;
mod evaluate;
mod model;
mod pause;
mod step;

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use tympan_models::load_burnpack;

use checkpoint::{Checkpoints, State};
use epoch::{Progress, Trainer};
pub use evaluate::predict;
use model::{adam, build_model, new_model};

use crate::data::{
    Pipeline, PreparedData, STATS_CLIPS, balanced_weights, fit_recipe, norm_stats_reporting,
    prepare_reporting,
};
use crate::error::TrainError;
use crate::recipe::Recipe;
pub use crate::report::{EpochRow, Scores, Summary, score};
use crate::report::{RunLog, write_atomic};
use crate::schedule::LrState;

/// Progress events for a front end to render (the library never prints).
#[derive(Debug, Clone)]
pub enum Event {
    /// Data is ready.
    Prepared {
        /// Training clips.
        train: usize,
        /// Validation clips (model selection, the plateau schedule).
        valid: usize,
        /// Test clips (reported only).
        test: usize,
        /// Classes.
        classes: usize,
        /// Listed but missing files.
        missing: usize,
        /// Split description.
        split: String,
        /// Normalisation used.
        norm: (f32, f32),
    },
    /// A line of information (pretrained weights, resume, ...).
    Info(String),
    /// An epoch starts.
    EpochStart {
        /// Epoch (1-based).
        epoch: usize,
        /// Batches in it.
        batches: usize,
    },
    /// A batch finished.
    Batch {
        /// Epoch.
        epoch: usize,
        /// Batch index (0-based).
        batch: usize,
        /// Loss of the batch.
        loss: f32,
        /// Learning rate used.
        lr: f64,
    },
    /// Clips of a long pass done so far, one event per batch of clips: decoding the audio
    /// (`cache_audio`), the normalisation statistics, each epoch's validation and test passes
    /// and the end of the run's (the model chosen on validation, the weight-averaged models).
    /// A front end draws a bar, or writes a line when `done == total`.
    Progress {
        /// What is done: `decoding`, `norm stats`, `validation`, `test`, `best on test`,
        /// `last on test`, `averaged on test`, `averaged (params) on test`.
        task: &'static str,
        /// Clips done.
        done: usize,
        /// Clips in the pass.
        total: usize,
    },
    /// An epoch finished and was checkpointed.
    EpochEnd(EpochRow),
}

/// Run options.
pub struct RunOptions<'a> {
    /// Device to train on (the autodiff wrapper is added here).
    pub device: Device,
    /// Further devices for data-parallel training (`--devices 0,1,...`): each batch is split
    /// into contiguous shards, one per device (`device` first); every shard runs forward and
    /// backward on its own device with its loss weighted by its share of the batch, and the
    /// gradients are summed on `device`, so the update is the full batch's. BatchNorm running
    /// statistics follow the first shard (as PyTorch DDP broadcasts rank 0's buffers). Empty:
    /// one device.
    pub data_parallel: Vec<Device>,
    /// Experiment folder.
    pub out_dir: PathBuf,
    /// Continue from the last complete checkpoint in `out_dir`.
    pub resume: bool,
    /// Stop after this many epochs of this invocation (tests simulate a kill with it).
    pub stop_after: Option<usize>,
    /// Progress callback.
    pub on_event: &'a mut dyn FnMut(Event),
}

/// Train a recipe end to end; returns the summary (also written to `summary.json`).
pub fn run(recipe: &Recipe, opts: RunOptions<'_>) -> Result<Summary, TrainError> {
    let RunOptions {
        device,
        data_parallel,
        out_dir,
        resume,
        stop_after,
        on_event,
    } = opts;
    for note in &recipe.notes {
        on_event(Event::Info(note.clone()));
    }
    let checkpoints = Checkpoints::open(&out_dir)?;
    let mut data: PreparedData = prepare_reporting(recipe, on_event)?;
    let classes = data.classes.len();
    let resumed: Option<State> = if resume {
        checkpoints.committed()?
    } else {
        None
    };
    // `features.fit_length`: the input length from the training clips, before anything reads it.
    let (fitted, note) = fit_recipe(recipe, &data.train)?;
    if let Some(note) = note {
        on_event(Event::Info(note));
    }
    let recipe = &fitted;
    let t = &recipe.train;
    let mut pipe = Pipeline::for_recipe(recipe);
    // Hershey et al.: every 960 ms patch of a training clip is an example with the clip's labels.
    data.train = crate::data::examples(&data.train, &pipe.contract)?;
    let norm = match (&resumed, recipe.features.mean, recipe.features.std) {
        (Some(s), _, _) => s.norm,
        (None, Some(m), Some(s)) => (m, s),
        _ => norm_stats_reporting(&data.train, &pipe, STATS_CLIPS, on_event)?,
    };
    (pipe.contract.mean, pipe.contract.std) = norm;
    on_event(Event::Prepared {
        train: data.train.len(),
        valid: data.valid.len(),
        test: data.test.len(),
        classes,
        missing: data.missing,
        split: data.split.clone(),
        norm,
    });
    write_atomic(&out_dir.join("config.toml"), recipe.to_toml().as_bytes())?;
    let ad = device.clone().autodiff();
    let replicas: Vec<Device> = data_parallel.iter().map(|d| d.clone().autodiff()).collect();
    if !replicas.is_empty() {
        on_event(Event::Info(format!(
            "data-parallel over {} devices: {} clips per device per batch",
            replicas.len() + 1,
            t.batch_size.div_ceil(replicas.len() + 1)
        )));
    }
    let mut run = match resumed {
        Some(state) => {
            let template = new_model(recipe, classes, &ad)?;
            let model = load_burnpack(template, &checkpoints.epoch_model(state.epochs_done))?;
            let optim = checkpoints.load_optimizer(adam(recipe), state.epochs_done)?;
            on_event(Event::Info(format!(
                "resumed after epoch {} (step {})",
                state.epochs_done, state.global_step
            )));
            Progress {
                model,
                optim,
                state,
            }
        }
        None => {
            let lr = LrState::new(
                recipe.optim.lr,
                recipe.optim.warmup_iters,
                recipe.optim.schedule.clone(),
            );
            Progress {
                model: build_model(recipe, classes, &ad, &recipe.data.data_dir, on_event)?,
                optim: adam(recipe),
                state: State::fresh(lr, norm),
            }
        }
    };
    let trainer = Trainer {
        recipe,
        data: &data,
        pipe,
        device: device.clone(),
        ad: ad.clone(),
        replicas,
        weights: balanced_weights(&data.train, classes),
        valid_targets: targets_of(&data.valid),
        test_targets: targets_of(&data.test),
        single_label: (data.train.iter().chain(&data.valid))
            .all(|i| i.target.iter().filter(|v| **v > 0.0).count() == 1),
        checkpoints: &checkpoints,
    };
    let mut log = RunLog::open(&out_dir, &run.state.history, t.validate_every.is_some())?;
    let mut ran = 0;
    let mut last_preds = Vec::new();
    while run.state.epochs_done < t.epochs && stop_after.is_none_or(|s| ran < s) {
        let epoch = run.state.epochs_done + 1;
        let start = Instant::now();
        // Seed the device RNG (drop-connect masks) per epoch, on the plain and the autodiff device.
        let epoch_seed = tympan_data::seed::mix(t.seed, &[epoch as u64, u64::MAX, 0]);
        device.seed(epoch_seed);
        ad.seed(epoch_seed);
        tympan_models::layers::seed_drop_path(epoch_seed);
        let trained = trainer.train_epoch(epoch, &mut run, &mut log, on_event)?;
        let (row, preds) =
            trainer.finish_epoch(epoch, &mut run, &mut log, trained, start, on_event)?;
        last_preds = preds;
        on_event(Event::EpochEnd(row));
        ran += 1;
    }
    if run.state.epochs_done < t.epochs {
        return Err(TrainError::Stopped {
            out_dir: out_dir.clone(),
            done: run.state.epochs_done,
            epochs: t.epochs,
        });
    }
    evaluate::Finish {
        recipe,
        data: &data,
        pipe: &trainer.pipe,
        device: &device,
        checkpoints: &checkpoints,
        out_dir: &out_dir,
        state: &run.state,
        targets: &trainer.test_targets,
    }
    .summarize(last_preds, on_event)
}

/// Targets `[N, K]` of `items`, row by row.
fn targets_of(items: &[crate::data::Item]) -> Vec<f32> {
    items
        .iter()
        .flat_map(|i| i.target.iter().copied())
        .collect()
}
