//! The training loop (PSLA `src/traintest.py`, written for Burn): per-epoch evaluation with
//! tympan-metrics, atomic per-epoch checkpoints with exact resume, the checkpoint ensemble, and
//! weight averaging at the end.
//!
//! Why our own loop rather than `burn::train::Learner`: PSLA evaluates with its own metrics after
//! every epoch, keeps a running ensemble of per-epoch predictions, averages weights over an epoch
//! range and must resume bit-for-bit; all of that is state the Learner does not expose.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use tympan_metrics::{Matrix, evaluate};
use tympan_models::{StemInit, Tagger, create, load_burnpack, save_burnpack};

use crate::aggregate::{PredictionEnsemble, WaMode, average_models};
use crate::data::{
    HostBatch, InputKind, Item, MixKind, Pipeline, PreparedData, balanced_weights, make_batch,
    norm_stats, prepare, resolve,
};
use crate::error::TrainError;
use crate::loss::{bce_per_sample, ce_on_probs_per_sample, jeong_lim_mask, masked_mean};
use crate::recipe::Recipe;
use crate::schedule::LrState;

/// Progress events for a front end to render (the library never prints).
#[derive(Debug, Clone)]
pub enum Event {
    /// Data is ready.
    Prepared {
        /// Training clips.
        train: usize,
        /// Evaluation clips.
        eval: usize,
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
    /// An epoch finished and was checkpointed.
    EpochEnd(EpochRow),
}

/// JSON has no infinities or NaN (d-prime is infinite when AUC is 1): such values are written as
/// the strings `"inf"`, `"-inf"` and `"nan"`.
mod json_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("nan")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Str(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(v),
            Repr::Str(s) => match s.as_str() {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "nan" => Ok(f64::NAN),
                o => Err(serde::de::Error::custom(format!("not a number: {o}"))),
            },
        }
    }
}

const METRICS_HEADER: &str = "epoch,loss,lr,mAP,AUC,d_prime,accuracy,MAP@3,ensemble_mAP,seconds\n";

/// The `metrics.csv` line of an epoch.
fn metrics_line(row: &EpochRow) -> String {
    format!(
        "{},{:.6},{:.3e},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.1}\n",
        row.epoch,
        row.loss,
        row.lr,
        row.map,
        row.auc,
        row.d_prime,
        row.accuracy,
        row.map_at_3,
        row.ensemble_map,
        row.seconds
    )
}

/// One line of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Mean training loss.
    #[serde(with = "json_f64")]
    pub loss: f64,
    /// Learning rate at the end of the epoch.
    #[serde(with = "json_f64")]
    pub lr: f64,
    /// Evaluation mAP.
    #[serde(with = "json_f64")]
    pub map: f64,
    /// Evaluation mean AUC.
    #[serde(with = "json_f64")]
    pub auc: f64,
    /// d-prime of the mean AUC.
    #[serde(with = "json_f64")]
    pub d_prime: f64,
    /// Top-1 accuracy against the argmax of the target.
    #[serde(with = "json_f64")]
    pub accuracy: f64,
    /// MAP@3 against the argmax of the target (DCASE 2018 task 2's metric).
    #[serde(with = "json_f64", default)]
    pub map_at_3: f64,
    /// mAP of the checkpoint ensemble up to this epoch.
    #[serde(with = "json_f64")]
    pub ensemble_map: f64,
    /// Seconds spent on the epoch.
    #[serde(with = "json_f64")]
    pub seconds: f64,
}

/// Evaluation summary of one set of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// mAP.
    #[serde(with = "json_f64")]
    pub map: f64,
    /// Mean AUC.
    #[serde(with = "json_f64")]
    pub auc: f64,
    /// d-prime.
    #[serde(with = "json_f64")]
    pub d_prime: f64,
    /// Accuracy.
    #[serde(with = "json_f64")]
    pub accuracy: f64,
    /// MAP@3 (DCASE 2018 task 2), against the argmax of the target.
    #[serde(with = "json_f64", default)]
    pub map_at_3: f64,
}

/// The final summary (PSLA's log: single model, weight averaging, checkpoint ensemble).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Recipe name.
    pub recipe: String,
    /// Last epoch.
    pub last_epoch: Scores,
    /// Mean over the last (up to) 5 epochs, as PSLA reports.
    pub mean_last_5: Scores,
    /// Weight-averaged model (PSLA: state dicts averaged, BN statistics included).
    pub weight_averaged: Option<Scores>,
    /// Weight-averaged parameters with the last epoch's BN statistics.
    pub weight_averaged_params_only: Option<Scores>,
    /// Checkpoint ensemble over all epochs.
    pub checkpoint_ensemble: Scores,
    /// Per-class AP of the last epoch (`None` when the class has no positive).
    pub per_class_ap: Vec<(String, Option<f64>)>,
    /// The epoch of `model-best.bpk` and its evaluation score (accuracy for single-label data,
    /// else mAP). Choosing by the evaluation split is optimistic unless that split is a
    /// validation split.
    #[serde(default)]
    pub best_epoch: Option<(usize, f64)>,
    /// Clips listed and present in each split, where the data lists them per split (AudioSet
    /// datafiles: clips that could not be downloaded are listed but absent, and skipped).
    #[serde(default)]
    pub clips: Option<crate::data::Presence>,
}

/// Persistent state, written last in every checkpoint (the commit point).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    epochs_done: usize,
    global_step: u64,
    lr: LrState,
    norm: (f32, f32),
    history: Vec<EpochRow>,
    ensemble: PredictionEnsemble,
    /// Best validation score so far and its epoch (accuracy for single-label data, else mAP).
    #[serde(default)]
    best: Option<(usize, f64)>,
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

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

fn ckpt_path(dir: &Path, epoch: usize) -> PathBuf {
    dir.join("checkpoints")
        .join(format!("model-epoch{epoch:03}.bpk"))
}

/// Score predictions `[N, K]` against targets.
pub fn score(
    pred: &[f32],
    targets: &[f32],
    classes: usize,
) -> Result<(Scores, Vec<Option<f64>>), TrainError> {
    let n = pred.len() / classes.max(1);
    let p = Matrix::new(pred, n, classes)?;
    let t = Matrix::new(targets, n, classes)?;
    let report = evaluate(p, t)?;
    let argmax = |row: &[f32]| {
        row.iter()
            .enumerate()
            .fold(
                (0, f32::NEG_INFINITY),
                |b, (i, &v)| if v > b.1 { (i, v) } else { b },
            )
            .0
    };
    let labels: Vec<usize> = (0..n).map(|i| argmax(t.row(i))).collect();
    let correct = (0..n).filter(|&i| argmax(p.row(i)) == labels[i]).count();
    let map3 = tympan_metrics::map_at_k(p, &labels, 3)?;
    Ok((
        Scores {
            map: report.map.unwrap_or(f64::NAN),
            auc: report.mean_auc.unwrap_or(f64::NAN),
            d_prime: report.d_prime.unwrap_or(f64::NAN),
            accuracy: correct as f64 / n.max(1) as f64,
            map_at_3: map3,
        },
        report.classes.iter().map(|c| c.ap).collect(),
    ))
}

/// Inputs `[n, frames, bins]` and targets `[n, classes]` of the clips `[lo, hi)` of a host batch.
fn to_tensors(b: &HostBatch, (lo, hi): (usize, usize), device: &Device) -> (Tensor<3>, Tensor<2>) {
    let (n, per_x) = (hi - lo, b.frames * b.bins);
    let x = Tensor::<1>::from_floats(&b.x[lo * per_x..hi * per_x], device)
        .reshape([n, b.frames, b.bins]);
    let y = Tensor::<1>::from_floats(&b.y[lo * b.classes..hi * b.classes], device)
        .reshape([n, b.classes]);
    (x, y)
}

/// Loss of one shard `[lo, hi)` of a host batch on `device` (autodiff), weighted by `weight`.
fn shard_loss(
    model: &Tagger,
    hb: &HostBatch,
    (lo, hi): (usize, usize),
    device: &Device,
    weight: f32,
    t: &crate::recipe::TrainSection,
) -> Result<Tensor<1>, TrainError> {
    let (x, y) = to_tensors(hb, (lo, hi), device);
    let probs = model.forward(x);
    let per_sample = if t.loss == "ce" {
        ce_on_probs_per_sample(probs, y)
    } else {
        bce_per_sample(probs, y)
    };
    let mask = match t.loss_mask {
        Some(ratio) => {
            let values: Vec<f32> = per_sample
                .clone()
                .into_data()
                .try_to_vec()
                .map_err(|e| TrainError::Diverged(format!("{e:?}")))?;
            let m = jeong_lim_mask(&values, &hb.verified[lo..hi], ratio as f32);
            Some(Tensor::<1>::from_floats(m.as_slice(), device))
        }
        None => None,
    };
    let loss = masked_mean(per_sample, mask);
    Ok(if weight == 1.0 { loss } else { loss * weight })
}

/// Where a data-parallel shard is, for [`ShardProbe`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShardPhase {
    /// Its forward pass is done (its thread has started and computed the loss).
    Forward,
    /// Its backward pass is done.
    Backward,
}

/// Observes the shards of a data-parallel step from their own threads (tests use it to show
/// that the shards overlap).
pub(crate) type ShardProbe<'p> = &'p (dyn Fn(usize, ShardPhase) + Sync);

/// Loss value and gradients (on `device`) of one batch. With `replicas`, the batch is split into
/// contiguous shards, the first on `device` and one on each replica (a copy of the model forked
/// there); each shard's loss is weighted by its share of the batch, so the summed gradients are
/// those of the whole batch (exactly so for a mean loss without BatchNorm; with BatchNorm each
/// shard normalises by its own statistics, as in PyTorch DDP).
///
/// Each shard runs forward and backward on its own thread, all at the same time, as burn-train's
/// multi-device strategy does; the gradients are then moved to `device` and summed there
/// (burn-train's `MultiDeviceOptim::OptimMainDevice`).
fn batch_grads(
    model: &Tagger,
    hb: &HostBatch,
    device: &Device,
    replicas: &[Device],
    t: &crate::recipe::TrainSection,
) -> Result<(f32, GradientsParams), TrainError> {
    batch_grads_observed(model, hb, device, replicas, t, &|_, _| {})
}

/// Loss value and gradients (moved to `main`) of shard `i`, the clips `range` of a host batch, on
/// `dev` with `model` already there.
#[allow(clippy::too_many_arguments)]
fn shard_grads(
    i: usize,
    model: &Tagger,
    hb: &HostBatch,
    range: (usize, usize),
    dev: &Device,
    main: &Device,
    t: &crate::recipe::TrainSection,
    probe: ShardProbe<'_>,
) -> Result<(f32, GradientsParams), TrainError> {
    let weight = (range.1 - range.0) as f32 / hb.batch as f32;
    let loss = shard_loss(model, hb, range, dev, weight, t)?;
    probe(i, ShardPhase::Forward);
    let value = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), model);
    probe(i, ShardPhase::Backward);
    Ok((
        value,
        if i == 0 {
            grads
        } else {
            grads.to_device(main, model)
        },
    ))
}

pub(crate) fn batch_grads_observed(
    model: &Tagger,
    hb: &HostBatch,
    device: &Device,
    replicas: &[Device],
    t: &crate::recipe::TrainSection,
    probe: ShardProbe<'_>,
) -> Result<(f32, GradientsParams), TrainError> {
    if replicas.is_empty() {
        return shard_grads(0, model, hb, (0, hb.batch), device, device, t, probe);
    }
    let per = hb.batch.div_ceil(replicas.len() + 1);
    let shards: Vec<(usize, Device, (usize, usize))> = std::iter::once(device)
        .chain(replicas)
        .enumerate()
        .map(|(i, d)| (i, d.clone(), (i * per, ((i + 1) * per).min(hb.batch))))
        .filter(|(_, _, (lo, hi))| lo < hi)
        .collect();
    let results: Vec<Result<(f32, GradientsParams), TrainError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shards
            .iter()
            .map(|(i, dev, range)| {
                // Shard 0 trains a clone of `model` itself (same parameter ids, same device);
                // the others a copy forked onto their device.
                let shard_model = if *i == 0 {
                    model.clone()
                } else {
                    model.clone().fork(dev)
                };
                scope
                    .spawn(move || shard_grads(*i, &shard_model, hb, *range, dev, device, t, probe))
            })
            .collect();
        handles
            .into_iter()
            .zip(&shards)
            .map(|(h, (i, dev, _))| {
                h.join().unwrap_or_else(|panic| {
                    let reason = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panicked".into());
                    Err(TrainError::Shard {
                        shard: *i,
                        device: format!("{dev:?}"),
                        reason,
                    })
                })
            })
            .collect()
    });
    let mut acc = burn::optim::GradientsAccumulator::<Tagger>::new();
    let mut value = 0.0f32;
    for r in results {
        let (v, grads) = r?;
        value += v;
        acc.accumulate(model, grads);
    }
    Ok((value, acc.grads()))
}

/// Predictions `[N, K]` of `model` (evaluation mode) on `items`.
pub fn predict(
    model: &Tagger,
    items: &[Item],
    p: &Pipeline,
    batch: usize,
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    let idx: Vec<usize> = (0..items.len()).collect();
    let mut out = Vec::new();
    for (b, chunk) in idx.chunks(batch).enumerate() {
        let hb = make_batch(items, chunk, p, false, (0, 0, b as u64))?;
        let (x, _) = to_tensors(&hb, (0, hb.batch), device);
        let probs: Vec<f32> = model
            .forward(x)
            .into_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| TrainError::Diverged(format!("{e:?}")))?;
        out.extend(probs);
    }
    Ok(out)
}

/// A fresh model of the recipe's architecture, with the recipe's BatchNorm momentum.
fn new_model(recipe: &Recipe, classes: usize, device: &Device) -> Result<Tagger, TrainError> {
    let mut model = create(&recipe.model.arch, classes, device)?;
    if let Some(m) = recipe.model.bn_momentum {
        if !model.set_bn_momentum(m) {
            tracing::warn!(
                "model.bn_momentum applies to EfficientNet backbones only; {} keeps its own",
                recipe.model.arch
            );
        }
    }
    Ok(model)
}

fn build_model(
    recipe: &Recipe,
    classes: usize,
    device: &Device,
    data_dir: &Path,
    on_event: &mut dyn FnMut(Event),
) -> Result<Tagger, TrainError> {
    let mut model = new_model(recipe, classes, device)?;
    if recipe.model.init == "glorot" {
        model = tympan_models::layers::glorot_uniform(model, recipe.train.seed);
        on_event(Event::Info(
            "Glorot-uniform weights, zero biases (Keras defaults)".into(),
        ));
    }
    if let Some(path) = &recipe.model.init_from {
        let model = load_burnpack(model, path)?;
        on_event(Event::Info(format!(
            "initialised from the trained model {}",
            path.display()
        )));
        return Ok(model);
    }
    if let Some(w) = &recipe.model.pretrained {
        if w.as_os_str() == "none" {
            on_event(Event::Info(
                "model.pretrained = \"none\": training from scratch".into(),
            ));
            return Ok(model);
        }
        let path = resolve(data_dir, w);
        if !path.is_file() && recipe.model.pretrained_optional {
            on_event(Event::Info(format!(
                "ImageNet weights {} not found: training from scratch",
                path.display()
            )));
            return Ok(model);
        }
        let stem = if recipe.model.stem == "average-rgb" {
            StemInit::AverageRgb
        } else {
            StemInit::Fresh
        };
        let report = tympan_models::pretrained::load_imagenet(&mut model, &path, stem)?;
        on_event(Event::Info(format!(
            "ImageNet weights: {} tensors from {} ({} left at init: stem/head)",
            report.applied,
            path.display(),
            report.missing.len()
        )));
    }
    Ok(model)
}

fn adam(recipe: &Recipe) -> ModuleOptimizer {
    let o = &recipe.optim;
    let mut cfg = AdamConfig::new()
        .with_beta_1(o.betas.0)
        .with_beta_2(o.betas.1)
        .with_epsilon(1e-8);
    if o.weight_decay > 0.0 {
        cfg = cfg.with_weight_decay(Some(WeightDecayConfig::new(o.weight_decay)));
    }
    cfg.init()
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
    std::fs::create_dir_all(out_dir.join("checkpoints")).map_err(io_err(&out_dir))?;
    let data: PreparedData = prepare(recipe)?;
    let classes = data.classes.len();
    let state_path = out_dir.join("state.json");
    let resumed: Option<State> = if resume && state_path.is_file() {
        let text = std::fs::read_to_string(&state_path).map_err(io_err(&state_path))?;
        Some(
            serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
                path: state_path.clone(),
                reason: e.to_string(),
            })?,
        )
    } else {
        None
    };
    let t = &recipe.train;
    let input = match recipe.features.input.as_str() {
        "slim2d" => InputKind::Slim2d,
        "vggish" => InputKind::Vggish,
        "waveform" => InputKind::Waveform(recipe.features.wave_norm.parse().unwrap_or_default()),
        _ => InputKind::Fbank,
    };
    let mut pipe = Pipeline {
        input,
        target_length: recipe.features.target_length,
        mean: 0.0,
        std: 1.0,
        mixup: t.mixup,
        mixup_alpha: t.mixup_alpha,
        freqm: t.freqm,
        timem: t.timem,
        sample_rate: recipe.data.sample_rate,
        mix: t.mix.parse().unwrap_or(MixKind::Psla),
        scale: t.scale,
        pad_both: recipe.features.pad == "both",
    };
    let norm = match (&resumed, recipe.features.mean, recipe.features.std) {
        (Some(s), _, _) => s.norm,
        (None, Some(m), Some(s)) => (m, s),
        _ => norm_stats(&data.train, &pipe, 2000)?,
    };
    (pipe.mean, pipe.std) = norm;
    on_event(Event::Prepared {
        train: data.train.len(),
        eval: data.eval.len(),
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
    let mut optim = adam(recipe);
    let (mut model, mut state) = match resumed {
        Some(s) => {
            let template = new_model(recipe, classes, &ad)?;
            let model = load_burnpack(template, &ckpt_path(&out_dir, s.epochs_done))?;
            let opath = out_dir.join("checkpoints/optimizer.bpk");
            optim = optim.load(&opath).map_err(|e| TrainError::Checkpoint {
                path: opath.clone(),
                reason: e.to_string(),
            })?;
            on_event(Event::Info(format!(
                "resumed after epoch {} (step {})",
                s.epochs_done, s.global_step
            )));
            (model, s)
        }
        None => {
            let model = build_model(recipe, classes, &ad, &recipe.data.data_dir, on_event)?;
            let lr = LrState::new(
                recipe.optim.lr,
                recipe.optim.warmup_iters,
                recipe.optim.schedule.clone(),
            );
            (
                model,
                State {
                    epochs_done: 0,
                    global_step: 0,
                    lr,
                    norm,
                    history: Vec::new(),
                    ensemble: PredictionEnsemble::default(),
                    best: None,
                },
            )
        }
    };
    let weights = balanced_weights(&data.train, classes);
    let eval_targets: Vec<f32> = data
        .eval
        .iter()
        .flat_map(|i| i.target.iter().copied())
        .collect();
    // metrics.csv is rewritten from the committed state (state.json's history), so a run killed
    // at any point, then resumed, has exactly one row per committed epoch.
    let metrics_path = out_dir.join("metrics.csv");
    let mut committed = String::from(METRICS_HEADER);
    for row in &state.history {
        committed.push_str(&metrics_line(row));
    }
    write_atomic(&metrics_path, committed.as_bytes())?;
    let mut metrics_csv = std::fs::OpenOptions::new()
        .append(true)
        .open(&metrics_path)
        .map_err(io_err(&metrics_path))?;
    // The score that picks the best model and drives ReduceLROnPlateau: accuracy for
    // single-label data, mAP otherwise.
    let single_label = data
        .eval
        .iter()
        .all(|i| i.target.iter().filter(|v| **v > 0.0).count() == 1);
    let selection_score = |s: &Scores| if single_label { s.accuracy } else { s.map };
    let validation_path = out_dir.join("validation.csv");
    let mut validation_csv = match t.validate_every {
        Some(_) => {
            // Only the rows of committed epochs survive a resume: those of an epoch that was
            // killed before its checkpoint are written again when it is rerun.
            let mut kept = String::from("step,epoch,mAP,accuracy,MAP@3\n");
            if state.epochs_done > 0
                && let Ok(text) = std::fs::read_to_string(&validation_path)
            {
                for line in text.lines().skip(1) {
                    let epoch = line.split(',').nth(1).and_then(|e| e.parse::<usize>().ok());
                    if epoch.is_some_and(|e| e <= state.epochs_done) {
                        kept.push_str(line);
                        kept.push('\n');
                    }
                }
            }
            write_atomic(&validation_path, kept.as_bytes())?;
            let f = std::fs::OpenOptions::new()
                .append(true)
                .open(&validation_path)
                .map_err(io_err(&validation_path))?;
            Some(f)
        }
        None => None,
    };
    let mut ran = 0;
    let mut last_preds = Vec::new();
    while state.epochs_done < t.epochs {
        if stop_after.is_some_and(|s| ran >= s) {
            break;
        }
        let epoch = state.epochs_done + 1;
        let start = Instant::now();
        // Seed the device RNG (drop-connect masks) per epoch, on the plain and the autodiff device.
        let epoch_seed = crate::data::sample_seed(t.seed, epoch as u64, u64::MAX, 0);
        device.seed(epoch_seed);
        ad.seed(epoch_seed);
        tympan_models::layers::seed_drop_path(epoch_seed);
        let order = if t.sampler == "balanced" {
            let draws = t.draws_per_epoch.unwrap_or(data.train.len());
            tympan_data::sampling::weighted_epoch(&weights, draws, t.seed, epoch as u64).map_err(
                |reason| TrainError::Recipe {
                    path: PathBuf::from(&recipe.name),
                    reason,
                },
            )?
        } else if t.sampler == "class-balanced" {
            let labels: Vec<usize> = data.train.iter().map(Item::class).collect();
            let batches = t.draws_per_epoch.unwrap_or(data.train.len()) / classes;
            tympan_data::sampling::class_balanced_batches(
                &labels,
                classes,
                batches.max(1),
                t.seed,
                epoch as u64,
            )
            .map_err(|reason| TrainError::Recipe {
                path: PathBuf::from(&recipe.name),
                reason,
            })?
            .concat()
        } else {
            tympan_data::sampling::uniform_epoch(data.train.len(), t.seed, epoch as u64)
        };
        let chunks: Vec<&[usize]> = order.chunks(t.batch_size).collect();
        on_event(Event::EpochStart {
            epoch,
            batches: chunks.len(),
        });
        let mut loss_sum = 0.0;
        let mut lr = 0.0;
        // Build batch b+1 on a helper thread while the model trains on batch b.
        let result: Result<(), TrainError> = std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<HostBatch, TrainError>>(2);
            let train = &data.train;
            let chunks_ref = &chunks;
            scope.spawn(move || {
                for (b, c) in chunks_ref.iter().enumerate() {
                    let r = make_batch(train, c, &pipe, true, (t.seed, epoch as u64, b as u64));
                    if tx.send(r).is_err() {
                        break;
                    }
                }
            });
            for b in 0..chunks.len() {
                let hb = rx
                    .recv()
                    .map_err(|e| TrainError::Diverged(e.to_string()))??;
                let (value, grads) = batch_grads(&model, &hb, &ad, &replicas, t)?;
                if !value.is_finite() {
                    return Err(TrainError::Diverged(format!(
                        "loss {value} at epoch {epoch}, batch {b}"
                    )));
                }
                lr = state.lr.lr(state.global_step, epoch);
                model = optim.step(lr, model.clone(), grads);
                state.global_step += 1;
                loss_sum += value as f64;
                // Jeong & Lim: validate every N iterations, keep the best model. The epoch's
                // last batch is left to the end-of-epoch evaluation below.
                if let (Some(n), Some(csv)) = (t.validate_every, validation_csv.as_mut())
                    && state.global_step % n == 0
                    && b + 1 < chunks.len()
                {
                    let preds = predict(
                        &model.valid(),
                        &data.eval,
                        &pipe,
                        t.eval_batch_size,
                        &device,
                    )?;
                    let (s, _) = score(&preds, &eval_targets, classes)?;
                    writeln!(
                        csv,
                        "{},{epoch},{:.6},{:.6},{:.6}",
                        state.global_step, s.map, s.accuracy, s.map_at_3
                    )
                    .map_err(io_err(&validation_path))?;
                    let current = selection_score(&s);
                    if state.best.is_none_or(|(_, best)| current > best) {
                        save_burnpack(&model, &out_dir.join("model-best.bpk"))?;
                        state.best = Some((epoch, current));
                    }
                }
                on_event(Event::Batch {
                    epoch,
                    batch: b,
                    loss: value,
                    lr,
                });
            }
            Ok(())
        });
        result?;
        // Evaluate.
        let eval_model = model.valid();
        let preds = predict(&eval_model, &data.eval, &pipe, t.eval_batch_size, &device)?;
        let (s, _) = score(&preds, &eval_targets, classes)?;
        state.ensemble.add(&preds);
        let (ens, _) = score(&state.ensemble.mean(), &eval_targets, classes)?;
        let row = EpochRow {
            epoch,
            loss: loss_sum / chunks.len().max(1) as f64,
            lr,
            map: s.map,
            auc: s.auc,
            d_prime: s.d_prime,
            accuracy: s.accuracy,
            map_at_3: s.map_at_3,
            ensemble_map: ens.map,
            seconds: start.elapsed().as_secs_f64(),
        };
        let current = selection_score(&s);
        state.lr.end_epoch(current);
        // Checkpoint: model, optimizer, then the state file (the commit point).
        save_burnpack(&model, &ckpt_path(&out_dir, epoch))?;
        // Keep the best model so far (Jeong & Lim keep the best on validation).
        if state.best.is_none_or(|(_, b)| current > b) {
            let best = out_dir.join("model-best.bpk");
            let tmp = out_dir.join("model-best.bpk.partial");
            std::fs::copy(ckpt_path(&out_dir, epoch), &tmp).map_err(io_err(&tmp))?;
            std::fs::rename(&tmp, &best).map_err(io_err(&best))?;
            state.best = Some((epoch, current));
        }
        let opath = out_dir.join("checkpoints/optimizer.bpk");
        let otmp = out_dir.join("checkpoints/optimizer.bpk.partial");
        optim.save(&otmp).map_err(|e| TrainError::Checkpoint {
            path: opath.clone(),
            reason: e.to_string(),
        })?;
        std::fs::rename(&otmp, &opath).map_err(io_err(&opath))?;
        state.epochs_done = epoch;
        state.history.push(row.clone());
        let json = serde_json::to_vec_pretty(&state).map_err(|e| TrainError::Checkpoint {
            path: state_path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&state_path, &json)?;
        metrics_csv
            .write_all(metrics_line(&row).as_bytes())
            .map_err(io_err(&metrics_path))?;
        // Keep only checkpoints needed later: the weight-averaging window and the latest.
        if epoch > 1 {
            let prev = epoch - 1;
            let in_wa = matches!((recipe.aggregate.wa_start, recipe.aggregate.wa_end), (Some(a), Some(b)) if prev >= a && prev <= b);
            if !in_wa {
                let _ = std::fs::remove_file(ckpt_path(&out_dir, prev));
            }
        }
        last_preds = preds;
        on_event(Event::EpochEnd(row));
        ran += 1;
    }
    if state.epochs_done < t.epochs {
        return Err(TrainError::Checkpoint {
            path: out_dir.clone(),
            reason: format!(
                "stopped after epoch {} of {} (resume with --resume)",
                state.epochs_done, t.epochs
            ),
        });
    }
    summarize(
        recipe,
        &data,
        &pipe,
        &device,
        &out_dir,
        &state,
        last_preds,
        &eval_targets,
    )
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    recipe: &Recipe,
    data: &PreparedData,
    pipe: &Pipeline,
    device: &Device,
    out_dir: &Path,
    state: &State,
    mut last_preds: Vec<f32>,
    targets: &[f32],
) -> Result<Summary, TrainError> {
    let classes = data.classes.len();
    let bs = recipe.train.eval_batch_size;
    let template = || create(&recipe.model.arch, classes, device);
    if last_preds.is_empty() {
        let m = load_burnpack(template()?, &ckpt_path(out_dir, state.epochs_done))?;
        last_preds = predict(&m, &data.eval, pipe, bs, device)?;
    }
    let (last, per_class) = score(&last_preds, targets, classes)?;
    let tail: Vec<&EpochRow> = state.history.iter().rev().take(5).collect();
    let mean =
        |f: fn(&EpochRow) -> f64| tail.iter().map(|r| f(r)).sum::<f64>() / tail.len().max(1) as f64;
    let mean_last_5 = Scores {
        map: mean(|r| r.map),
        auc: mean(|r| r.auc),
        d_prime: mean(|r| r.d_prime),
        accuracy: mean(|r| r.accuracy),
        map_at_3: mean(|r| r.map_at_3),
    };
    let (mut wa, mut wa_p) = (None, None);
    if let (Some(a), Some(b)) = (recipe.aggregate.wa_start, recipe.aggregate.wa_end) {
        for (mode, slot) in [(WaMode::All, &mut wa), (WaMode::ParamsOnly, &mut wa_p)] {
            // Fresh copies for every average: Burn shares BatchNorm running state between
            // module clones, and averaging may write through it.
            let models = (a..=b)
                .map(|e| load_burnpack(template()?, &ckpt_path(out_dir, e)))
                .collect::<Result<Vec<_>, _>>()?;
            let base = load_burnpack(template()?, &ckpt_path(out_dir, b))?;
            let avg = average_models(&models, base, mode);
            let p = predict(&avg, &data.eval, pipe, bs, device)?;
            *slot = Some(score(&p, targets, classes)?.0);
            if mode == WaMode::All {
                save_burnpack(&avg, &out_dir.join("model-wa.bpk"))?;
            }
        }
    }
    let (ens, _) = score(&state.ensemble.mean(), targets, classes)?;
    let summary = Summary {
        recipe: recipe.name.clone(),
        last_epoch: last,
        mean_last_5,
        weight_averaged: wa,
        weight_averaged_params_only: wa_p,
        checkpoint_ensemble: ens,
        per_class_ap: data.classes.iter().cloned().zip(per_class).collect(),
        best_epoch: state.best,
        clips: data.presence,
    };
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| TrainError::Checkpoint {
        path: out_dir.join("summary.json"),
        reason: e.to_string(),
    })?;
    write_atomic(&out_dir.join("summary.json"), &json)?;
    let mut csv = String::from("class,AP\n");
    for (c, ap) in &summary.per_class_ap {
        csv.push_str(&format!(
            "\"{}\",{}\n",
            c.replace('"', "\"\""),
            ap.map(|v| format!("{v:.6}")).unwrap_or_default()
        ));
    }
    write_atomic(&out_dir.join("per_class_ap.csv"), csv.as_bytes())?;
    write_atomic(
        &out_dir.join("curves.svg"),
        crate::plots::curves_svg(&state.history).as_bytes(),
    )?;
    write_atomic(
        &out_dir.join("per_class_ap.svg"),
        crate::plots::per_class_ap_svg(&summary.per_class_ap).as_bytes(),
    )?;
    let n = last_preds.len() / classes.max(1);
    tympan_audio::npy::write(&out_dir.join("predictions.npy"), &last_preds, &[n, classes])
        .map_err(|e| TrainError::Checkpoint {
            path: out_dir.join("predictions.npy"),
            reason: e.to_string(),
        })?;
    // The evaluation targets in the same row order, for `tympan metrics` and `tympan ensemble`.
    tympan_audio::npy::write(&out_dir.join("targets.npy"), targets, &[n, classes]).map_err(
        |e| TrainError::Checkpoint {
            path: out_dir.join("targets.npy"),
            reason: e.to_string(),
        },
    )?;
    let last_ckpt = ckpt_path(out_dir, state.epochs_done);
    std::fs::copy(&last_ckpt, out_dir.join("model-last.bpk")).map_err(io_err(&last_ckpt))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use super::*;

    /// The shards of a data-parallel step run at the same time, each on its own thread: every
    /// shard, once its forward pass is done, waits until all shards have reached that point. Run
    /// one after another, the first shard would wait alone and time out; the event log shows
    /// both forwards before either backward.
    #[test]
    fn data_parallel_shards_overlap() {
        let recipe = Recipe::from_toml(
            &tympan_tests::hershey_fc_recipe("overlap", Path::new("unused.csv"), 4, 1, 0),
            Path::new("overlap.toml"),
            &[],
        )
        .unwrap();
        let device = Device::flex();
        let ad = device.clone().autodiff();
        let model = create("hershey-fc", 3, &ad).unwrap();
        let (batch, frames, bins, classes) = (4, 96, 64, 3);
        let hb = HostBatch {
            x: (0..batch * frames * bins)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
                .collect(),
            y: (0..batch * classes)
                .map(|i| if i % (classes + 1) == 0 { 1.0 } else { 0.0 })
                .collect(),
            batch,
            frames,
            bins,
            classes,
            verified: vec![true; batch],
        };
        let log: Mutex<Vec<(usize, ShardPhase)>> = Mutex::new(Vec::new());
        let arrived = (Mutex::new(0usize), Condvar::new());
        let saw_other: Mutex<Vec<bool>> = Mutex::new(Vec::new());
        let probe = |shard: usize, phase: ShardPhase| {
            log.lock().unwrap().push((shard, phase));
            if phase == ShardPhase::Forward {
                let (count, cv) = &arrived;
                let mut n = count.lock().unwrap();
                *n += 1;
                cv.notify_all();
                let (n, timeout) = cv
                    .wait_timeout_while(n, Duration::from_secs(120), |n| *n < 2)
                    .unwrap();
                saw_other
                    .lock()
                    .unwrap()
                    .push(*n >= 2 && !timeout.timed_out());
            }
        };
        let replicas = vec![Device::flex().autodiff()];
        let (value, _grads) =
            batch_grads_observed(&model, &hb, &ad, &replicas, &recipe.train, &probe).unwrap();
        assert!(value.is_finite());
        assert_eq!(*saw_other.lock().unwrap(), vec![true, true]);
        let log = log.into_inner().unwrap();
        assert_eq!(log.len(), 4, "{log:?}");
        assert!(
            log[..2].iter().all(|(_, p)| *p == ShardPhase::Forward),
            "both forwards come before any backward: {log:?}"
        );
        let shards: std::collections::BTreeSet<usize> = log[..2].iter().map(|(s, _)| *s).collect();
        assert_eq!(shards.len(), 2, "{log:?}");
    }
}
