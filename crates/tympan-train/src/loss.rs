//! Losses, with a per-sample mask hook (Jeong & Lim's batch-wise loss masking uses it). Their
//! sums go through `tympan_kernels`' reductions, whose bits do not depend on the CPU.

use burn::prelude::*;
use tympan_kernels::{log_softmax, mean, mean_dim, sum, sum_dim};

/// PSLA clamps probabilities to `[EPS, 1 - EPS]` before `nn.BCELoss` (`traintest.py`).
pub const PROB_EPS: f64 = 1e-7;

/// Per-sample binary cross-entropy on probabilities `[B, K]` against soft targets `[B, K]`,
/// averaged over classes: `[B]`. PSLA's `BCELoss()(clamp(p), y)` is the mean of this.
pub fn bce_per_sample(probs: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let p = probs.clamp(PROB_EPS, 1.0 - PROB_EPS);
    let one_minus_t = targets.clone().neg().add_scalar(1.0);
    let l = targets * p.clone().log() + one_minus_t * p.neg().add_scalar(1.0).log();
    mean_dim(l.neg(), 1).squeeze_dim(1)
}

/// Per-sample cross-entropy `-sum_k y_k log p_k` on probabilities `[B, K]` (softmax outputs),
/// clamped as [`bce_per_sample`] clamps.
pub fn ce_on_probs_per_sample(probs: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let logp = probs.clamp(PROB_EPS, 1.0).log();
    sum_dim(targets * logp, 1).squeeze_dim(1).neg()
}

/// Per-sample softmax cross-entropy with soft targets on logits `[B, K]`: `[B]`.
pub fn soft_cross_entropy_per_sample(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let logp = log_softmax(logits, 1);
    sum_dim(targets * logp, 1).squeeze_dim(1).neg()
}

/// Per-sample loss `[B]` of a model's training outputs (each `[B, K]` probabilities, as
/// `Tagger::forward_train` gives them) under `kind`: the mean over the outputs of each output's
/// loss. One output for most models; Chen et al.'s three levels, whose loss is the mean of the
/// per-level losses (their eq. (3)).
pub fn outputs_loss_per_sample(
    outputs: Vec<Tensor<2>>,
    targets: Tensor<2>,
    kind: crate::recipe::Loss,
) -> Tensor<1> {
    use crate::recipe::Loss;
    let n = outputs.len();
    let per_output = outputs.into_iter().map(|probs| match kind {
        Loss::Ce => ce_on_probs_per_sample(probs, targets.clone()),
        Loss::Bce => bce_per_sample(probs, targets.clone()),
    });
    let sum = per_output
        .reduce(|a, b| a + b)
        .expect("Tagger::forward_train gives at least one output");
    if n > 1 { sum / n as f64 } else { sum }
}

/// Jeong & Lim's batch-wise loss masking (DCASE 2018 task 2, Sec. 3.3): clip `i` keeps its loss
/// (mask 1) when its label is manually verified or `losses[i] < ratio * max(losses)`, and is
/// masked (0) otherwise, so the noisiest unverified clips of each batch do not drive the update.
/// The paper's ratio is 0.8.
pub fn jeong_lim_mask(losses: &[f32], verified: &[bool], ratio: f32) -> Vec<f32> {
    let max = losses.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    losses
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            let keep = verified.get(i).copied().unwrap_or(false) || l < ratio * max;
            if keep { 1.0 } else { 0.0 }
        })
        .collect()
}

/// Mean of per-sample losses where `mask` is 1, or of all samples when `mask` is `None`.
/// A fully masked batch gives 0 (and no gradient).
pub fn masked_mean(losses: Tensor<1>, mask: Option<Tensor<1>>) -> Tensor<1> {
    match mask {
        None => mean(losses),
        Some(m) => {
            let kept = sum(m.clone()).clamp_min(1.0);
            sum(losses * m) / kept
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_mask_by_hand() {
        // Batch max 2.0, threshold 0.8 * 2.0 = 1.6.
        let losses = [0.5, 1.7, 2.0, 1.6, 1.59, 1.9];
        let verified = [false, false, false, false, false, true];
        // 0.5 kept (below); 1.7 masked; 2.0 (the max) masked; 1.6 masked (not strictly below);
        // 1.59 kept; 1.9 kept because verified.
        assert_eq!(
            jeong_lim_mask(&losses, &verified, 0.8),
            vec![1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
        );
        // All verified: nothing masked.
        assert_eq!(jeong_lim_mask(&losses, &[true; 6], 0.8), vec![1.0; 6]);
        // The masked mean over the kept clips: (0.5 + 1.59 + 1.9) / 3.
        let device = Device::default();
        let l = Tensor::<1>::from_floats(losses.as_slice(), &device);
        let m =
            Tensor::<1>::from_floats(jeong_lim_mask(&losses, &verified, 0.8).as_slice(), &device);
        let v: f32 = masked_mean(l, Some(m)).into_scalar();
        assert!((v - (0.5 + 1.59 + 1.9) / 3.0).abs() < 1e-6, "{v}");
    }
}
