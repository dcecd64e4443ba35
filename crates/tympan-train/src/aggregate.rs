//! Aggregation (PSLA Sec. VI): weight averaging over an epoch range and prediction ensembles.
//!
//! PSLA's `validate_wa` averages whole state dicts, BatchNorm running statistics included
//! ([`WaMode::All`]). [`WaMode::ParamsOnly`] averages the trainable parameters and keeps the
//! running statistics of the last checkpoint, for comparison.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

/// What weight averaging averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaMode {
    /// Every float tensor, BatchNorm running statistics too (PSLA).
    All,
    /// Trainable parameters only; running statistics from the last model.
    ParamsOnly,
}

fn is_running_stat(path: &[String]) -> bool {
    path.last()
        .is_some_and(|l| l == "running_mean" || l == "running_var")
}

struct Sum {
    acc: Vec<Option<Tensor<1>>>,
    idx: usize,
    path: Vec<String>,
    mode: WaMode,
}

impl ModuleVisitor for Sum {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let skip = self.mode == WaMode::ParamsOnly && is_running_stat(&self.path);
        // A fresh copy: the backend may otherwise update a buffer shared with the model in place.
        let v = param.val();
        let t: Tensor<1> = Tensor::<D>::from_data(v.to_data(), &v.device()).flatten(0, D - 1);
        if self.acc.len() <= self.idx {
            self.acc.push(if skip { None } else { Some(t) });
        } else if let Some(prev) = self.acc[self.idx].take() {
            self.acc[self.idx] = Some(prev + t);
        }
        self.idx += 1;
    }
}

struct Assign {
    avg: Vec<Option<Tensor<1>>>,
    idx: usize,
}

impl ModuleMapper for Assign {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let avg = self.avg.get_mut(self.idx).and_then(Option::take);
        self.idx += 1;
        match avg {
            Some(a) => param.map(|t| a.reshape(t.shape())),
            None => param,
        }
    }
}

/// Average models of one architecture into `base`, which keeps its own running statistics under
/// [`WaMode::ParamsOnly`] (pass a fresh copy of the last model).
///
/// Pass models that are not used afterwards and a `base` that shares no state with them: in
/// Burn 0.22 BatchNorm `RunningState` is shared between clones of a module and averaging can
/// write through it (we observed `models` changing); load fresh copies for every average.
///
/// # Panics
/// If `models` is empty.
pub fn average_models<M: Module>(models: &[M], base: M, mode: WaMode) -> M {
    assert!(
        !models.is_empty(),
        "average_models needs at least one model"
    );
    let mut sum = Sum {
        acc: Vec::new(),
        idx: 0,
        path: Vec::new(),
        mode,
    };
    for m in models {
        sum.idx = 0;
        m.visit(&mut sum);
    }
    let n = models.len() as f64;
    let avg = sum
        .acc
        .into_iter()
        .map(|t| t.map(|t| t.div_scalar(n)))
        .collect();
    base.map(&mut Assign { avg, idx: 0 })
}

/// Running mean of per-epoch predictions (PSLA's checkpoint ensemble, `validate_ensemble`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PredictionEnsemble {
    sum: Vec<f64>,
    count: usize,
}

impl PredictionEnsemble {
    /// Add one set of predictions (same shape every time).
    pub fn add(&mut self, predictions: &[f32]) {
        if self.sum.is_empty() {
            self.sum = vec![0.0; predictions.len()];
        }
        for (s, &p) in self.sum.iter_mut().zip(predictions) {
            *s += p as f64;
        }
        self.count += 1;
    }
    /// Number of prediction sets added.
    pub fn count(&self) -> usize {
        self.count
    }
    /// The mean prediction.
    pub fn mean(&self) -> Vec<f32> {
        let n = self.count.max(1) as f64;
        self.sum.iter().map(|s| (s / n) as f32).collect()
    }
}

/// Why predictions could not be ensembled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnsembleError {
    /// No model was given.
    #[error("no predictions to ensemble")]
    Empty,
    /// Two models' predictions differ in length.
    #[error("predictions have different shapes: {0} and {1} values")]
    Shapes(usize, usize),
    /// Not one weight per model.
    #[error("{weights} weights for {models} models")]
    Weights {
        /// Weights given.
        weights: usize,
        /// Models given.
        models: usize,
    },
    /// The values are not whole rows.
    #[error("{values} values are not rows of {classes} classes")]
    Rows {
        /// Values per model.
        values: usize,
        /// Classes per row.
        classes: usize,
    },
    /// The weights do not sum to a positive number.
    #[error("ensemble weights must sum to a positive number")]
    WeightSum,
}

/// Combine the predictions of several models `[N, K]` each: arithmetic mean, or Jeong & Lim's
/// weighted geometric mean (eq. 8) normalised to unit L1 per row.
pub fn ensemble_predictions(
    predictions: &[Vec<f32>],
    weights: &[f64],
    geometric: bool,
    classes: usize,
) -> Result<Vec<f32>, EnsembleError> {
    let first = predictions.first().ok_or(EnsembleError::Empty)?;
    if let Some(p) = predictions.iter().find(|p| p.len() != first.len()) {
        return Err(EnsembleError::Shapes(first.len(), p.len()));
    }
    if weights.len() != predictions.len() {
        return Err(EnsembleError::Weights {
            weights: weights.len(),
            models: predictions.len(),
        });
    }
    if classes == 0 || first.len() % classes != 0 {
        return Err(EnsembleError::Rows {
            values: first.len(),
            classes,
        });
    }
    let wsum: f64 = weights.iter().sum();
    if wsum.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(EnsembleError::WeightSum);
    }
    let mut out = vec![0f32; first.len()];
    for (i, o) in out.iter_mut().enumerate() {
        *o = if geometric {
            let l: f64 = predictions
                .iter()
                .zip(weights)
                .map(|(p, w)| w * (p[i] as f64).max(1e-30).ln())
                .sum();
            (l / wsum).exp() as f32
        } else {
            (predictions
                .iter()
                .zip(weights)
                .map(|(p, w)| w * p[i] as f64)
                .sum::<f64>()
                / wsum) as f32
        };
    }
    if geometric {
        for row in out.chunks_mut(classes) {
            let s: f32 = row.iter().sum();
            if s > 0.0 {
                row.iter_mut().for_each(|v| *v /= s);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{BatchNorm, BatchNormConfig};

    #[test]
    fn averages_params_and_optionally_running_stats() {
        let device = Device::flex();
        let mk = |g: f32, m: f32| -> BatchNorm {
            let mut bn = BatchNormConfig::new(2).init(&device);
            bn.gamma = bn.gamma.map(|t| t.zeros_like().add_scalar(g));
            bn.running_mean = burn::module::RunningState::new(Tensor::<1>::full([2], m, &device));
            bn
        };
        let models = [mk(1.0, 0.0), mk(3.0, 4.0)];
        let all = average_models(&models, mk(3.0, 4.0), WaMode::All);
        let g: Vec<f32> = all
            .gamma
            .val()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        let m: Vec<f32> = all
            .running_mean
            .value()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert_eq!(g, vec![2.0, 2.0]);
        assert_eq!(m, vec![2.0, 2.0]);
        let models = [mk(1.0, 0.0), mk(3.0, 4.0)];
        let p = average_models(&models, mk(3.0, 4.0), WaMode::ParamsOnly);
        let g: Vec<f32> = p.gamma.val().into_data().try_into_vec_as::<f32>().unwrap();
        let m: Vec<f32> = p
            .running_mean
            .value()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert_eq!(g, vec![2.0, 2.0]);
        assert_eq!(m, vec![4.0, 4.0], "running stats of the last model");
    }

    #[test]
    fn geometric_mean_is_l1_normalised() {
        let a = vec![0.5, 0.5, 0.9, 0.1];
        let b = vec![0.5, 0.5, 0.1, 0.9];
        let g = ensemble_predictions(&[a.clone(), b.clone()], &[1.0, 1.0], true, 2).unwrap();
        assert!((g[0] - 0.5).abs() < 1e-6 && (g[2] - 0.5).abs() < 1e-6);
        let w = ensemble_predictions(&[a, b], &[3.0, 1.0], false, 2).unwrap();
        assert!((w[2] - 0.7).abs() < 1e-6);
    }
}
