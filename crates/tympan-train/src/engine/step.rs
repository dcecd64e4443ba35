//! One optimisation step's loss and gradients: the batch to tensors, the loss of each output the
//! model trains (Chen et al.: per level), Jeong & Lim's loss mask, and the data-parallel split of
//! a batch over several devices, each shard on its own thread.

use burn::optim::GradientsParams;
use burn::prelude::*;
use tympan_models::Tagger;

use crate::data::HostBatch;
use crate::error::TrainError;
use crate::loss::{jeong_lim_mask, masked_mean, outputs_loss_per_sample};
use crate::recipe::TrainSection;

/// Inputs `[n, frames, bins]` and targets `[n, classes]` of the clips `[lo, hi)` of a host batch.
pub(crate) fn to_tensors(
    b: &HostBatch,
    (lo, hi): (usize, usize),
    device: &Device,
) -> (Tensor<3>, Tensor<2>) {
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
    t: &TrainSection,
) -> Result<Tensor<1>, TrainError> {
    let (x, y) = to_tensors(hb, (lo, hi), device);
    // One loss per output the model trains (Chen et al.: per level), averaged.
    let per_sample = outputs_loss_per_sample(model.forward_train(x), y, t.loss);
    let mask = match t.loss_mask {
        Some(ratio) => {
            let values: Vec<f32> = per_sample
                .clone()
                .into_data()
                .try_to_vec()
                .map_err(|e| TrainError::ReadBack(format!("{e:?}")))?;
            let m = jeong_lim_mask(&values, &hb.verified[lo..hi], ratio as f32);
            Some(Tensor::<1>::from_floats(m.as_slice(), device))
        }
        None => None,
    };
    let loss = masked_mean(per_sample, mask);
    let loss = if weight == 1.0 { loss } else { loss * weight };
    // The regulariser is added once per batch: on the first shard.
    Ok(
        match (t.l2_weights > 0.0 && lo == 0, sum_of_squared_weights(model)) {
            (true, Some(s)) => loss + s * t.l2_weights,
            _ => loss,
        },
    )
}

/// `sum(w^2)` over the kernels and weight matrices of `model` (parameters of rank 2 and up),
/// on its autodiff graph: Keras' `l2` kernel regulariser, which leaves biases and BatchNorm's
/// scale and shift (rank 1) alone. Naranjo-Alcazar et al. (Sec. 4) regularise the weights so.
pub(crate) fn sum_of_squared_weights(model: &Tagger) -> Option<Tensor<1>> {
    struct SumSquares(Option<Tensor<1>>);
    impl burn::module::ModuleVisitor for SumSquares {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if D < 2 {
                return;
            }
            let w = param.val();
            let s = tympan_kernels::sum(w.clone() * w);
            self.0 = Some(match self.0.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
    let mut v = SumSquares(None);
    model.visit(&mut v);
    v.0
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
pub(crate) fn batch_grads(
    model: &Tagger,
    hb: &HostBatch,
    device: &Device,
    replicas: &[Device],
    t: &TrainSection,
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
    t: &TrainSection,
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
    t: &TrainSection,
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
    // Each shard's forward pass draws its drop-connect masks from a stream of its own, seeded
    // from this thread's (the epoch's) stream: the same masks whatever the threads' timing.
    let mask_seed = tympan_models::layers::fork_drop_path_seed();
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
                scope.spawn(move || {
                    tympan_models::layers::seed_drop_path(mask_seed.wrapping_add(*i as u64));
                    shard_grads(*i, &shard_model, hb, *range, dev, device, t, probe)
                })
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::recipe::Recipe;
    use tympan_models::create;

    /// The weights-only L2 term's gradient is `2 * l2 * w` on every kernel and weight matrix and
    /// nothing on biases (exact up to f32 rounding: tolerance 1e-6 relative to |w|).
    #[test]
    fn l2_on_weights_leaves_biases_alone() {
        let ad = Device::flex().autodiff();
        let model = create("hershey-fc", 3, &ad).unwrap();
        let l2 = 1e-4f64;
        let term = sum_of_squared_weights(&model).expect("hershey-fc has weight matrices") * l2;
        let grads = GradientsParams::from_grads(term.backward(), &model);
        struct Check<'a> {
            grads: &'a GradientsParams,
            l2: f32,
            weights: usize,
            biases: usize,
        }
        impl burn::module::ModuleVisitor for Check<'_> {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                let g = self.grads.get::<D>(param.id);
                if D < 2 {
                    assert!(g.is_none(), "a rank-1 parameter got an L2 gradient");
                    self.biases += 1;
                    return;
                }
                let w: Vec<f32> = param.val().into_data().try_to_vec().unwrap();
                let g: Vec<f32> = g
                    .expect("a weight matrix without gradient")
                    .into_data()
                    .try_to_vec()
                    .unwrap();
                for (w, g) in w.iter().zip(&g) {
                    assert!(
                        (g - 2.0 * self.l2 * w).abs() <= 1e-6 * w.abs().max(1e-3),
                        "{g} vs {w}"
                    );
                }
                self.weights += 1;
            }
        }
        let mut c = Check {
            grads: &grads,
            l2: l2 as f32,
            weights: 0,
            biases: 0,
        };
        model.visit(&mut c);
        assert!(
            c.weights >= 3 && c.biases >= 3,
            "{} weights, {} biases",
            c.weights,
            c.biases
        );
    }

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
