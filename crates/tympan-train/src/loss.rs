//! Losses, with a per-sample mask hook (Jeong & Lim's batch-wise loss masking uses it).

use burn::prelude::*;

/// PSLA clamps probabilities to `[EPS, 1 - EPS]` before `nn.BCELoss` (`traintest.py`).
pub const PROB_EPS: f64 = 1e-7;

/// Per-sample binary cross-entropy on probabilities `[B, K]` against soft targets `[B, K]`,
/// averaged over classes: `[B]`. PSLA's `BCELoss()(clamp(p), y)` is the mean of this.
pub fn bce_per_sample(probs: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let p = probs.clamp(PROB_EPS, 1.0 - PROB_EPS);
    let one_minus_t = targets.clone().neg().add_scalar(1.0);
    let l = targets * p.clone().log() + one_minus_t * p.neg().add_scalar(1.0).log();
    l.neg().mean_dim(1).squeeze_dim(1)
}

/// Per-sample cross-entropy `-sum_k y_k log p_k` on probabilities `[B, K]` (softmax outputs),
/// clamped as [`bce_per_sample`] clamps.
pub fn ce_on_probs_per_sample(probs: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let logp = probs.clamp(PROB_EPS, 1.0).log();
    (targets * logp).sum_dim(1).squeeze_dim(1).neg()
}

/// Per-sample softmax cross-entropy with soft targets on logits `[B, K]`: `[B]`.
pub fn soft_cross_entropy_per_sample(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let logp = burn::tensor::activation::log_softmax(logits, 1);
    (targets * logp).sum_dim(1).squeeze_dim(1).neg()
}

/// Mean of per-sample losses where `mask` is 1, or of all samples when `mask` is `None`.
/// A fully masked batch gives 0 (and no gradient).
pub fn masked_mean(losses: Tensor<1>, mask: Option<Tensor<1>>) -> Tensor<1> {
    match mask {
        None => losses.mean(),
        Some(m) => {
            let kept = m.clone().sum().clamp_min(1.0);
            (losses * m).sum() / kept
        }
    }
}
