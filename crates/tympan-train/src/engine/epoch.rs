//! One epoch: its clip order under `train.sampler`, the batches built on a helper thread while
//! the model trains on the previous one, Jeong & Lim's in-epoch validation, then the epoch's
//! evaluation (validation for selection and the schedule, test for the report) and its commit.

use std::path::PathBuf;
use std::time::Instant;

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use tympan_models::Tagger;

use super::Event;
use super::checkpoint::{Checkpoints, State};
use super::evaluate::predict_reporting;
use super::step::batch_grads;
use crate::data::{Item, Pipeline, PreparedData, make_batch};
use crate::error::TrainError;
use crate::recipe::{Recipe, Sampler};
use crate::report::{EpochRow, RunLog, Scores, score};

/// The clip order of one epoch under `train.sampler`, a function of the seed and the epoch only
/// (so a resumed run draws what the uninterrupted one drew).
pub(crate) fn epoch_order(
    recipe: &Recipe,
    train: &[Item],
    weights: &[f64],
    classes: usize,
    epoch: usize,
) -> Result<Vec<usize>, TrainError> {
    let t = &recipe.train;
    let bad = |e: tympan_data::DataError| TrainError::Recipe {
        path: PathBuf::from(&recipe.name),
        reason: format!("train.sampler = \"{}\": {e}", t.sampler),
    };
    let draws = t.draws_per_epoch.unwrap_or(train.len());
    Ok(match t.sampler {
        Sampler::Balanced => {
            tympan_data::sampling::weighted_epoch(weights, draws, t.seed, epoch as u64)
                .map_err(bad)?
        }
        Sampler::ClassBalanced => {
            let labels: Vec<usize> = train.iter().map(Item::class).collect();
            tympan_data::sampling::class_balanced_batches(
                &labels,
                classes,
                (draws / classes).max(1),
                t.seed,
                epoch as u64,
            )
            .map_err(bad)?
            .concat()
        }
        // `draws` = the set's size is exactly `uniform_epoch`'s shuffle.
        Sampler::Uniform => {
            tympan_data::sampling::uniform_draws(train.len(), draws, t.seed, epoch as u64)
        }
        Sampler::LabelBalanced => {
            let labels: Vec<Vec<usize>> = train
                .iter()
                .map(|it| {
                    (0..it.target.len())
                        .filter(|&k| it.target[k] > 0.0)
                        .collect()
                })
                .collect();
            tympan_data::sampling::label_balanced_epoch(
                &labels,
                classes,
                draws,
                t.seed,
                epoch as u64,
            )
            .map_err(bad)?
        }
    })
}

/// What a run changes as it trains.
pub(crate) struct Progress {
    /// The model on the autodiff device.
    pub model: Tagger,
    /// Adam's state.
    pub optim: ModuleOptimizer,
    /// What is committed at the end of each epoch.
    pub state: State,
}

/// What stays fixed over a run's epochs.
pub(crate) struct Trainer<'a> {
    pub recipe: &'a Recipe,
    pub data: &'a PreparedData,
    pub pipe: Pipeline,
    /// The plain device (evaluation).
    pub device: Device,
    /// Its autodiff wrapper (training).
    pub ad: Device,
    /// Data-parallel replicas (autodiff).
    pub replicas: Vec<Device>,
    /// PSLA's balanced-sampling weights of the training clips.
    pub weights: Vec<f64>,
    /// Validation targets `[N, K]`.
    pub valid_targets: Vec<f32>,
    /// Test targets `[N, K]`.
    pub test_targets: Vec<f32>,
    /// Whether every training and validation clip has one label (the selection score is then
    /// accuracy).
    pub single_label: bool,
    pub checkpoints: &'a Checkpoints,
}

impl Trainer<'_> {
    /// The score that picks the best model and drives ReduceLROnPlateau: accuracy for
    /// single-label data, mAP otherwise.
    fn selection_score(&self, s: &Scores) -> f64 {
        if self.single_label { s.accuracy } else { s.map }
    }

    /// Predictions and scores of `model` on the validation split.
    fn validate(
        &self,
        model: &Tagger,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(Vec<f32>, Scores), TrainError> {
        self.evaluate(
            model,
            "validation",
            &self.data.valid,
            &self.valid_targets,
            on_event,
        )
    }

    /// Predictions and scores of `model` on the test split (reported, never selected on).
    fn test(
        &self,
        model: &Tagger,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(Vec<f32>, Scores), TrainError> {
        self.evaluate(model, "test", &self.data.test, &self.test_targets, on_event)
    }

    fn evaluate(
        &self,
        model: &Tagger,
        pass: &'static str,
        items: &[Item],
        targets: &[f32],
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(Vec<f32>, Scores), TrainError> {
        let bs = self.recipe.train.eval_batch_size;
        let total = items.len();
        let preds = predict_reporting(model, items, &self.pipe, bs, &self.device, &mut |done| {
            on_event(Event::Progress {
                task: pass,
                done,
                total,
            })
        })?;
        let (s, _) = score(&preds, targets, self.data.classes.len())?;
        Ok((preds, s))
    }

    /// Train epoch `epoch` (1-based); returns the mean training loss and the last learning rate.
    pub fn train_epoch(
        &self,
        epoch: usize,
        run: &mut Progress,
        log: &mut RunLog,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(f64, f64), TrainError> {
        let t = &self.recipe.train;
        let classes = self.data.classes.len();
        let order = epoch_order(self.recipe, &self.data.train, &self.weights, classes, epoch)?;
        let chunks: Vec<&[usize]> = order.chunks(t.batch_size).collect();
        on_event(Event::EpochStart {
            epoch,
            batches: chunks.len(),
        });
        let (mut loss_sum, mut lr) = (0.0, 0.0);
        // Build batch b+1 on a helper thread while the model trains on batch b.
        std::thread::scope(|scope| {
            let (train, chunks_ref, pipe) = (&self.data.train, &chunks, &self.pipe);
            let rx = tympan_data::loader::prefetch(scope, chunks.len(), 2, move |b| {
                make_batch(
                    train,
                    chunks_ref[b],
                    pipe,
                    true,
                    (t.seed, epoch as u64, b as u64),
                )
            })?;
            for b in 0..chunks.len() {
                let hb = rx
                    .recv()
                    .map_err(|_| TrainError::LoaderStopped { epoch, batch: b })??;
                let (value, grads) = batch_grads(&run.model, &hb, &self.ad, &self.replicas, t)?;
                if !value.is_finite() {
                    return Err(TrainError::Diverged {
                        loss: value,
                        epoch,
                        batch: b,
                        committed: run.state.epochs_done,
                    });
                }
                lr = run.state.lr.lr(run.state.global_step, epoch);
                run.model = run.optim.step(lr, run.model.clone(), grads);
                run.state.global_step += 1;
                loss_sum += value as f64;
                // Jeong & Lim: validate every N iterations, keep the best model. The epoch's
                // last batch is left to the end-of-epoch evaluation.
                if let Some(n) = t.validate_every
                    && log.validates()
                    && run.state.global_step.is_multiple_of(n)
                    && b + 1 < chunks.len()
                {
                    let (_, s) = self.validate(&run.model.valid(), on_event)?;
                    log.validation(run.state.global_step, epoch, &s)?;
                    let current = self.selection_score(&s);
                    if run.state.best.is_none_or(|(_, best)| current > best) {
                        self.checkpoints.save_best(&run.model)?;
                        run.state.best = Some((epoch, current));
                    }
                }
                on_event(Event::Batch {
                    epoch,
                    batch: b,
                    loss: value,
                    lr,
                });
                super::pause::at(|| format!("batch@{epoch}:{b}"));
            }
            Ok(())
        })?;
        Ok((loss_sum / chunks.len().max(1) as f64, lr))
    }

    /// Evaluate epoch `epoch`, step the plateau schedule, and commit the epoch (checkpoint,
    /// best model, `state.json`, its `metrics.csv` row). Returns the row and the predictions.
    pub fn finish_epoch(
        &self,
        epoch: usize,
        run: &mut Progress,
        log: &mut RunLog,
        (loss, lr): (f64, f64),
        start: Instant,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(EpochRow, Vec<f32>), TrainError> {
        super::pause::at(|| format!("evaluate@{epoch}"));
        let eval_model = run.model.valid();
        // No validation split (`data.valid = "none"`): nothing is chosen, the row says NaN.
        let has_valid = !self.data.valid.is_empty();
        let v = if has_valid {
            self.validate(&eval_model, on_event)?.1
        } else {
            Scores::missing()
        };
        let (preds, s) = self.test(&eval_model, on_event)?;
        let classes = self.data.classes.len();
        self.checkpoints
            .save_epoch_predictions(epoch, &preds, classes)?;
        let state = &mut run.state;
        // PSLA's checkpoint ensemble, reported on the test split.
        state.ensemble.add(&preds);
        let (ens, _) = score(&state.ensemble.mean(), &self.test_targets, classes)?;
        let row = EpochRow {
            epoch,
            loss,
            lr,
            valid: v,
            scores: s,
            ensemble_map: ens.map,
            seconds: start.elapsed().as_secs_f64(),
        };
        // Selection and the plateau schedule read the validation split only.
        let current = self.selection_score(&v);
        state.lr.end_epoch(current);
        // Keep the best model so far on validation (Jeong & Lim; PSLA's best_audio_model).
        let best = has_valid && state.best.is_none_or(|(_, b)| current > b);
        if best {
            state.best = Some((epoch, current));
        }
        state.epochs_done = epoch;
        state.history.push(row.clone());
        self.checkpoints
            .commit(&run.model, &run.optim, state, best)?;
        log.epoch(&row)?;
        // Keep only checkpoints needed later: the weight-averaging window and the latest.
        self.checkpoints.prune_before(epoch, &self.recipe.aggregate);
        Ok((row, preds))
    }
}
