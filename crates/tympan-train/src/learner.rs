//! tympan models under burn-train's `Learner`: [`LearnerTagger`] implements `TrainStep` and
//! `InferenceStep` for any registry model, and [`TaggingBatcher`] turns prepared clips into
//! batches with tympan's input pipeline, so a Burn user trains a tympan model with
//! `burn::train::{Learner, SupervisedTraining}` and its metrics, checkpointers and renderers
//! (`examples/learner.rs`, on real clips).
//!
//! What stays with tympan's own loop ([`crate::engine`]) is what PSLA needs and the Learner does
//! not expose: per-epoch evaluation with PSLA's metrics, the checkpoint ensemble, weight
//! averaging, the plateau schedule on a metric, and exact resume of the data order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use burn::train::{InferenceStep, MultiLabelClassificationOutput, TrainOutput, TrainStep};
use tympan_models::Tagger;

use crate::data::{Item, Pipeline, make_batch};
use crate::loss::outputs_loss_per_sample;
use crate::recipe::Loss;

/// A batch for burn-train: the model's input `[B, T, F]` (waveforms `[B, 1, N]`) and the targets
/// `[B, K]` (multi-hot, or mixed when the pipeline mixes).
#[derive(Debug, Clone)]
pub struct TaggingBatch {
    /// Model input.
    pub x: Tensor<3>,
    /// Targets.
    pub targets: Tensor<2>,
}

/// A burn `Batcher` of tympan [`Item`]s through a [`Pipeline`]: the same features, crops,
/// masks and mixing as `cargo xtask train`. Each batch draws its augmentation from the seed and
/// a running batch count.
#[derive(Debug, Clone)]
pub struct TaggingBatcher {
    pipe: Pipeline,
    train: bool,
    seed: u64,
    batches: Arc<AtomicU64>,
}

impl TaggingBatcher {
    /// Training batches (augmented as the pipeline says) or evaluation batches (`train: false`:
    /// no masks or mixing, centred crops).
    pub fn new(pipe: Pipeline, train: bool, seed: u64) -> Self {
        Self {
            pipe,
            train,
            seed,
            batches: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Batcher<Item, TaggingBatch> for TaggingBatcher {
    /// # Panics
    ///
    /// When a clip cannot be decoded: burn's `Batcher` has no error channel. Prepare the data
    /// with `data.cache_audio = true` (the default), which decodes every clip, and reports a bad
    /// one, before training starts.
    fn batch(&self, items: Vec<Item>, device: &Device) -> TaggingBatch {
        let b = self.batches.fetch_add(1, Ordering::Relaxed);
        let idx: Vec<usize> = (0..items.len()).collect();
        let hb = make_batch(&items, &idx, &self.pipe, self.train, (self.seed, 0, b))
            .unwrap_or_else(|e| panic!("tympan batcher: {e}"));
        TaggingBatch {
            x: Tensor::<1>::from_floats(hb.x.as_slice(), device)
                .reshape([hb.batch, hb.frames, hb.bins]),
            targets: Tensor::<1>::from_floats(hb.y.as_slice(), device)
                .reshape([hb.batch, hb.classes]),
        }
    }
}

/// A tympan model with its training loss, as a burn-train model. Create the model on an
/// autodiff device (`device.autodiff()`), as the Learner requires.
#[derive(Module, Debug)]
pub struct LearnerTagger {
    /// The model.
    pub model: Tagger,
    /// The training loss (not a parameter: not saved with the model).
    #[module(skip)]
    loss: Loss,
}

impl LearnerTagger {
    /// Wrap `model`, trained with `loss` (`Loss::Bce` for sigmoid models, `Loss::Ce` for
    /// softmax ones, as the recipes say).
    pub fn new(model: Tagger, loss: Loss) -> Self {
        Self { model, loss }
    }

    fn output(&self, batch: TaggingBatch) -> MultiLabelClassificationOutput {
        let outputs = self.model.forward_train(batch.x);
        let n = outputs.len() as f64;
        let probs = outputs
            .iter()
            .cloned()
            .reduce(|a, b| a + b)
            .map(|s| if n > 1.0 { s / n } else { s })
            .expect("Tagger::forward_train gives at least one output");
        let loss = tympan_kernels::mean(outputs_loss_per_sample(
            outputs,
            batch.targets.clone(),
            self.loss,
        ));
        MultiLabelClassificationOutput::new(loss, probs, batch.targets.greater_elem(0.5).int())
    }
}

impl TrainStep for LearnerTagger {
    type Input = TaggingBatch;
    type Output = MultiLabelClassificationOutput;
    fn step(&self, batch: TaggingBatch) -> TrainOutput<Self::Output> {
        let out = self.output(batch);
        TrainOutput::new(self, out.loss.backward(), out)
    }
}

impl InferenceStep for LearnerTagger {
    type Input = TaggingBatch;
    type Output = MultiLabelClassificationOutput;
    fn step(&self, batch: TaggingBatch) -> Self::Output {
        self.output(batch)
    }
}
