//! The experiment folder as a checkpoint store: one model file per epoch, the optimizer, and
//! `state.json`, written last as the commit point. A run killed at any moment resumes from the
//! last committed epoch: every file a resume reads is either whole or absent (written through a
//! `.partial` file and a rename), and everything an epoch writes before its commit is written
//! again when the epoch is rerun.

use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};
use tympan_models::{Tagger, save_burnpack};

use crate::aggregate::PredictionEnsemble;
use crate::error::TrainError;
use crate::recipe::AggregateSection;
use crate::report::{EpochRow, io_err, write_atomic, write_npy_atomic};
use crate::schedule::LrState;

/// What a resume needs besides the model and optimizer files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    /// Epochs committed.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub global_step: u64,
    /// The learning-rate schedule's state.
    pub lr: LrState,
    /// The input normalisation the run trains with.
    pub norm: (f32, f32),
    /// One row per committed epoch.
    pub history: Vec<EpochRow>,
    /// The running mean of every epoch's evaluation predictions.
    pub ensemble: PredictionEnsemble,
    /// Best validation score so far and its epoch (accuracy for single-label data, else mAP).
    #[serde(default)]
    pub best: Option<(usize, f64)>,
}

impl State {
    /// A run that has not trained yet.
    pub fn fresh(lr: LrState, norm: (f32, f32)) -> Self {
        Self {
            epochs_done: 0,
            global_step: 0,
            lr,
            norm,
            history: Vec::new(),
            ensemble: PredictionEnsemble::default(),
            best: None,
        }
    }
}

/// The checkpoint files of one experiment folder.
pub(crate) struct Checkpoints {
    out_dir: PathBuf,
}

impl Checkpoints {
    /// The folder, with its `checkpoints/` created.
    pub fn open(out_dir: &Path) -> Result<Self, TrainError> {
        std::fs::create_dir_all(out_dir.join("checkpoints")).map_err(io_err(out_dir))?;
        Ok(Self {
            out_dir: out_dir.to_path_buf(),
        })
    }

    /// The model file of `epoch`.
    pub fn epoch_model(&self, epoch: usize) -> PathBuf {
        self.out_dir
            .join("checkpoints")
            .join(format!("model-epoch{epoch:03}.bpk"))
    }

    /// Adam's state after `epoch`. One file per epoch, like the models: a commit that stops
    /// after writing it but before `state.json` must leave the committed epoch's optimizer in
    /// place (a single `optimizer.bpk` was overwritten there; the failed-write test found it).
    fn optimizer(&self, epoch: usize) -> PathBuf {
        self.out_dir
            .join("checkpoints")
            .join(format!("optimizer-epoch{epoch:03}.bpk"))
    }

    fn state_path(&self) -> PathBuf {
        self.out_dir.join("state.json")
    }

    /// The committed state, when there is one.
    pub fn committed(&self) -> Result<Option<State>, TrainError> {
        let path = self.state_path();
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| TrainError::Checkpoint {
                path,
                reason: e.to_string(),
            })
    }

    /// The optimizer of the committed epoch `epoch`.
    pub fn load_optimizer(
        &self,
        optim: ModuleOptimizer,
        epoch: usize,
    ) -> Result<ModuleOptimizer, TrainError> {
        let path = self.optimizer(epoch);
        optim.load(&path).map_err(|e| TrainError::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })
    }

    /// Commit an epoch: its model, `model-best.bpk` when `best` says the epoch is the best so
    /// far, the optimizer, then `state.json` (the commit point).
    pub fn commit(
        &self,
        model: &Tagger,
        optim: &ModuleOptimizer,
        state: &State,
        best: bool,
    ) -> Result<(), TrainError> {
        let epoch_file = self.epoch_model(state.epochs_done);
        save_burnpack(model, &epoch_file)?;
        super::pause::at(|| format!("checkpoint@{}", state.epochs_done));
        if best {
            let path = self.out_dir.join("model-best.bpk");
            let tmp = self.out_dir.join("model-best.bpk.partial");
            std::fs::copy(&epoch_file, &tmp).map_err(io_err(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        }
        let path = self.optimizer(state.epochs_done);
        let tmp = path.with_extension("bpk.partial");
        optim.save(&tmp).map_err(|e| TrainError::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        let json = serde_json::to_vec_pretty(state).map_err(|e| TrainError::Checkpoint {
            path: self.state_path(),
            reason: e.to_string(),
        })?;
        write_atomic(&self.state_path(), &json)
    }

    /// The test predictions `[N, K]` of `epoch`, `predictions/epoch-NNN.npy` in the order of
    /// `targets.npy`: kept for every epoch (the models outside the weight-averaging window are
    /// not), so per-epoch analyses (PSLA Fig. 7, Table VII; `cargo xtask epochs`) run after
    /// the run. Written before the epoch's commit, so a resumed run rewrites it whole.
    pub fn save_epoch_predictions(
        &self,
        epoch: usize,
        preds: &[f32],
        classes: usize,
    ) -> Result<(), TrainError> {
        let dir = self.out_dir.join("predictions");
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let rows = preds.len() / classes.max(1);
        write_npy_atomic(
            &dir.join(format!("epoch-{epoch:03}.npy")),
            preds,
            &[rows, classes],
        )
    }

    /// `model-best.bpk`: the model chosen on the validation split.
    pub fn best_model(&self) -> PathBuf {
        self.out_dir.join("model-best.bpk")
    }

    /// `model-best.bpk` from a model evaluated inside an epoch (`train.validate_every`).
    pub fn save_best(&self, model: &Tagger) -> Result<(), TrainError> {
        Ok(save_burnpack(model, &self.out_dir.join("model-best.bpk"))?)
    }

    /// Remove the epoch before `epoch`'s optimizer, and its model file unless weight averaging
    /// reads it.
    pub fn prune_before(&self, epoch: usize, aggregate: &AggregateSection) {
        let Some(prev) = epoch.checked_sub(1).filter(|&p| p > 0) else {
            return;
        };
        let _ = std::fs::remove_file(self.optimizer(prev));
        let in_wa = matches!(
            (aggregate.wa_start, aggregate.wa_end),
            (Some(a), Some(b)) if (a..=b).contains(&prev)
        );
        if !in_wa {
            let _ = std::fs::remove_file(self.epoch_model(prev));
        }
    }

    /// Copy the last committed epoch's model to `model-last.bpk`.
    pub fn publish_last(&self, epoch: usize) -> Result<(), TrainError> {
        let last = self.epoch_model(epoch);
        std::fs::copy(&last, self.out_dir.join("model-last.bpk")).map_err(io_err(&last))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Schedule;

    /// `state.json` reads back the exact floats it wrote. serde_json's default float parser is
    /// not correctly rounded: it read the best validation accuracy 31/270 =
    /// 0.11481481481481481 back as 0.1148148148148148 (one ulp lower), so a resumed run could
    /// take a later epoch with an equal score for a new best, and its summary differed from the
    /// uninterrupted run's (found by the PSLA Lite0 kill test). The `float_roundtrip` feature
    /// fixes it; this checks every fraction k/n with n <= 300, the kind of score a small
    /// validation split gives, and the running-mean sums of the prediction ensemble.
    #[test]
    fn state_json_round_trips_every_float_exactly() {
        let mut state = State::fresh(
            LrState::new(1e-3, 0, Schedule::Constant),
            (-3.263192, 4.6938663),
        );
        let mut fractions = Vec::new();
        for n in 1..=300u32 {
            for k in 0..=n {
                fractions.push(k as f64 / n as f64);
            }
        }
        state.best = Some((1, 31.0 / 270.0));
        state.ensemble.add(
            &fractions
                .iter()
                .map(|&f| f as f32 / 3.0)
                .collect::<Vec<_>>(),
        );
        state.ensemble.add(
            &fractions
                .iter()
                .map(|&f| f as f32 / 7.0)
                .collect::<Vec<_>>(),
        );
        let text = serde_json::to_string(&state).unwrap();
        let back: State = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back.best.map(|b| b.1.to_bits()),
            Some((31.0f64 / 270.0).to_bits())
        );
        assert_eq!(
            back.ensemble, state.ensemble,
            "ensemble sums changed in the round trip"
        );
        for f in fractions {
            let s = serde_json::to_string(&f).unwrap();
            let g: f64 = serde_json::from_str(&s).unwrap();
            assert_eq!(g.to_bits(), f.to_bits(), "{s}");
        }
    }
}
