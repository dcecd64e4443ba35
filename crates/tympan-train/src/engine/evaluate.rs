//! Evaluation: a model's predictions on a split, and the end of a run (PSLA Sec. VI), all on
//! the test split: the model chosen on validation, the last epoch's scores, the mean of the last
//! five, the weight-averaged model (with and without its averaged BatchNorm statistics) and the
//! checkpoint ensemble.

use burn::prelude::*;
use rayon::prelude::*;
use tympan_infer::{CARD_FORMAT, CLASS_LIST_FILE, Checkpoint, Clip, ModelCard};
use tympan_models::{Tagger, create, load_burnpack, save_burnpack};

use super::Event;
use super::checkpoint::{Checkpoints, State};
use crate::aggregate::{WaMode, average_models};
use crate::data::{Item, Pipeline, PreparedData, samples_of};
use crate::error::TrainError;
use crate::recipe::Recipe;
use crate::report::{EpochRow, Scores, Summary, score, write_outputs};

/// Predictions `[N, K]` of `model` (evaluation mode) on the clips `items`, through
/// `tympan-infer`'s evaluation path (the one `tympan tag` takes): with VGGish input a clip's row
/// is the mean over its 960 ms patches. Clips are decoded (when not cached) enough at a time for
/// the [`tympan_infer::PASSES_AT_ONCE`] passes of `batch` clips that run together.
pub fn predict(
    model: &Tagger,
    items: &[Item],
    p: &Pipeline,
    batch: usize,
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    predict_reporting(model, items, p, batch, device, &mut |_| {})
}

/// [`predict`], reporting the clips scored so far after each batch.
pub(crate) fn predict_reporting(
    model: &Tagger,
    items: &[Item],
    p: &Pipeline,
    batch: usize,
    device: &Device,
    done: &mut dyn FnMut(usize),
) -> Result<Vec<f32>, TrainError> {
    let contract = &p.contract;
    let forward = |x| model.forward(x);
    let mut rows = Vec::new();
    let mut scored = 0;
    for chunk in items.chunks(batch.max(1) * tympan_infer::PASSES_AT_ONCE) {
        let loaded: Vec<_> = chunk
            .par_iter()
            .map(|it| samples_of(it, contract.sample_rate))
            .collect::<Result<_, _>>()?;
        let clips: Vec<Clip<'_>> = loaded
            .iter()
            .map(|(s, rate)| Clip {
                samples: s,
                rate: *rate,
            })
            .collect();
        let out =
            tympan_infer::predict(&forward, contract, &clips, batch, device).map_err(|e| {
                // A clip's error names its file.
                TrainError::from(e.map_clip(|i, source| tympan_infer::InferError::Audio {
                    path: chunk[i].path.clone(),
                    source,
                }))
            })?;
        rows.extend(out);
        scored += chunk.len();
        done(scored);
    }
    Ok(rows)
}

/// `class_counts.csv`: each class's positive labels in the training, validation and test
/// splits (a soft label counts when above 0), for the analyses that set a class's AP against
/// how often it was seen in training (PSLA Table VII; `cargo xtask epochs`).
fn write_class_counts(out_dir: &std::path::Path, data: &PreparedData) -> Result<(), TrainError> {
    let count = |items: &[Item], c: usize| items.iter().filter(|i| i.target[c] > 0.0).count();
    let rows = data.classes.iter().enumerate().map(|(c, name)| {
        [
            name.clone(),
            count(&data.train, c).to_string(),
            count(&data.valid, c).to_string(),
            count(&data.test, c).to_string(),
        ]
    });
    crate::report::write_csv_atomic(
        &out_dir.join("class_counts.csv"),
        &["class", "train", "valid", "test"],
        rows,
    )
}

/// [`CLASS_LIST_FILE`]: a copy of the class list the recipe read (`data.class_csv`), so that the
/// run folder alone scores a datafile labelled by mid (`tympan evaluate --run`).
fn write_class_list(out_dir: &std::path::Path, recipe: &Recipe) -> Result<(), TrainError> {
    let Some(csv) = &recipe.data.class_csv else {
        return Ok(());
    };
    let from = recipe.data.data_dir.join(csv);
    let bytes = std::fs::read(&from).map_err(|e| TrainError::Recipe {
        path: from.clone(),
        reason: format!("reading the class list (data.class_csv): {e}"),
    })?;
    crate::report::write_atomic(&out_dir.join(CLASS_LIST_FILE), &bytes)
}

/// The mean of each score over the last (up to) five epochs, as PSLA reports.
fn mean_last_5(history: &[EpochRow]) -> Scores {
    let tail: Vec<&Scores> = history.iter().rev().take(5).map(|r| &r.scores).collect();
    let mean =
        |f: fn(&Scores) -> f64| tail.iter().map(|s| f(s)).sum::<f64>() / tail.len().max(1) as f64;
    Scores {
        map: mean(|s| s.map),
        auc: mean(|s| s.auc),
        d_prime: mean(|s| s.d_prime),
        accuracy: mean(|s| s.accuracy),
        map_at_3: mean(|s| s.map_at_3),
    }
}

/// Everything a finished run evaluates, in the order of PSLA's log.
pub(crate) struct Finish<'a> {
    pub recipe: &'a Recipe,
    pub data: &'a PreparedData,
    pub pipe: &'a Pipeline,
    pub device: &'a Device,
    pub checkpoints: &'a Checkpoints,
    pub out_dir: &'a std::path::Path,
    pub state: &'a State,
    pub targets: &'a [f32],
}

impl Finish<'_> {
    /// Scores the last epoch (`last_preds`, or its checkpoint when this invocation trained no
    /// epoch), the weight-averaged models and the ensemble; writes the summary and its files.
    pub fn summarize(
        &self,
        mut last_preds: Vec<f32>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Summary, TrainError> {
        let Self {
            recipe,
            data,
            pipe,
            device,
            checkpoints,
            out_dir,
            state,
            targets,
        } = *self;
        let classes = data.classes.len();
        let bs = recipe.train.eval_batch_size;
        let template = || create(&recipe.model.arch, classes, device);
        let total = data.test.len();
        let mut on_test = |m: &Tagger, task: &'static str| {
            predict_reporting(m, &data.test, pipe, bs, device, &mut |done| {
                on_event(Event::Progress { task, done, total })
            })
        };
        if last_preds.is_empty() {
            let m = load_burnpack(template()?, &checkpoints.epoch_model(state.epochs_done))?;
            last_preds = on_test(&m, "last on test")?;
        }
        // The model chosen on validation, scored once on the test split.
        let best_preds = match state.best {
            Some(_) => {
                let m = load_burnpack(template()?, &checkpoints.best_model())?;
                Some(on_test(&m, "best on test")?)
            }
            None => None,
        };
        let selected = match &best_preds {
            Some(p) => Some(score(p, targets, classes)?.0),
            None => None,
        };
        let validation =
            state
                .history
                .last()
                .map(|r| r.valid)
                .ok_or_else(|| TrainError::Checkpoint {
                    path: out_dir.join("state.json"),
                    reason: "a finished run has no epoch in its history".into(),
                })?;
        let (last, per_class) = score(&last_preds, targets, classes)?;
        let (mut wa, mut wa_p) = (None, None);
        if let (Some(a), Some(b)) = (recipe.aggregate.wa_start, recipe.aggregate.wa_end) {
            for (mode, slot, task) in [
                (WaMode::All, &mut wa, "averaged on test"),
                (WaMode::ParamsOnly, &mut wa_p, "averaged (params) on test"),
            ] {
                // Fresh copies for every average: Burn shares BatchNorm running state between
                // module clones, and averaging may write through it.
                let models = (a..=b)
                    .map(|e| load_burnpack(template()?, &checkpoints.epoch_model(e)))
                    .collect::<Result<Vec<_>, _>>()?;
                let base = load_burnpack(template()?, &checkpoints.epoch_model(b))?;
                let avg = average_models(&models, base, mode);
                let p = on_test(&avg, task)?;
                *slot = Some(score(&p, targets, classes)?.0);
                if mode == WaMode::All {
                    save_burnpack(&avg, &out_dir.join("model-wa.bpk"))?;
                }
            }
        }
        let (ens, _) = score(&state.ensemble.mean(), targets, classes)?;
        let summary = Summary {
            recipe: recipe.name.clone(),
            split: data.split.clone(),
            sizes: [data.train.len(), data.valid.len(), data.test.len()],
            selected,
            validation,
            last_epoch: last,
            mean_last_5: mean_last_5(&state.history),
            weight_averaged: wa,
            weight_averaged_params_only: wa_p,
            checkpoint_ensemble: ens,
            per_class_ap: data.classes.iter().cloned().zip(per_class).collect(),
            best_epoch: state.best,
            clips: data.presence,
        };
        write_outputs(
            out_dir,
            &summary,
            &last_preds,
            best_preds.as_deref(),
            targets,
            classes,
        )?;
        crate::plots::write_plots(out_dir, &state.history, &summary.per_class_ap)?;
        write_class_counts(out_dir, data)?;
        write_class_list(out_dir, recipe)?;
        checkpoints.publish_last(state.epochs_done)?;
        // Last: a folder with a card is a finished run, a model `tympan tag --run` can use.
        let mut files = vec![Checkpoint::Last];
        files.extend(state.best.map(|_| Checkpoint::Best));
        files.extend(summary.weight_averaged.map(|_| Checkpoint::WeightAveraged));
        ModelCard {
            format: CARD_FORMAT,
            arch: recipe.model.arch.clone(),
            input: pipe.contract,
            output: tympan_models::info(&recipe.model.arch)?.output,
            classes: data.classes.clone(),
            checkpoints: files.iter().map(|c| c.file_name().to_string()).collect(),
            eval_batch_size: bs,
            source: recipe.name.clone(),
        }
        .write(out_dir)?;
        Ok(summary)
    }
}
