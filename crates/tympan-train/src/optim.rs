//! Adam as the recipes use it: `torch.optim.Adam`'s L2 weight decay added to the gradient (PSLA's
//! `src/traintest.py`), with Burn's `Adam` arithmetic (burn-optim 0.22.1 `src/optim/adam.rs`)
//! computed by [`tympan_kernels::adam_step`]: one pass over each parameter on flex instead of
//! about fifteen, the same bits, and Burn's `AdamState` as the state, so that checkpoints written
//! by either read back into the other.

use burn::optim::{AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer};
use burn::prelude::*;
use tympan_kernels::{AdamScalars, adam_step};

/// Adam with L2 weight decay, one kernel per parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedAdam {
    /// `(beta_1, beta_2)`.
    pub betas: (f32, f32),
    /// Added to the root of the second moment.
    pub epsilon: f32,
    /// L2 penalty added to the gradient (`grad + penalty * param`).
    pub weight_decay: Option<f32>,
}

impl Default for FusedAdam {
    /// Burn's `AdamConfig` defaults: betas 0.9 and 0.999, epsilon 1e-5, no weight decay.
    fn default() -> Self {
        Self {
            betas: (0.9, 0.999),
            epsilon: 1e-5,
            weight_decay: None,
        }
    }
}

impl FusedAdam {
    /// The optimizer over every parameter of a module.
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (time, moments) = match state {
            Some(s) => (
                s.momentum.time + 1,
                Some((s.momentum.moment_1, s.momentum.moment_2)),
            ),
            None => (1, None),
        };
        let s = AdamScalars::new(self.betas, self.epsilon, self.weight_decay, lr, time);
        let (param, m, v) = adam_step(tensor, grad, moments, s);
        let momentum = AdaptiveMomentumState::new(time, m, v);
        (param, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::{AdamConfig, GradientsParams};
    use tympan_tests::numerics::{fixed_tensor, parameters};

    use super::*;

    /// Three steps of M11 (1D convolutions, batch norm, a linear head) under Burn's `Adam` and
    /// under [`FusedAdam`], with and without weight decay: every parameter bit for bit equal
    /// after every step (no tolerance: the same f32 operations in the same order). Then Burn's
    /// optimizer state after two steps, saved and loaded into [`FusedAdam`], continues to the same
    /// third step as Burn's own: checkpoints written before the kernel resume unchanged.
    #[test]
    fn same_bits_as_burns_adam() {
        let dev = Device::flex().autodiff();
        let base = tympan_models::layers::glorot_uniform(
            tympan_models::create("m11", 4, &dev).unwrap(),
            0,
        );
        let loss = |m: &tympan_models::Tagger, step: usize| {
            let x = fixed_tensor([2, 1, 8_000], 3.0 + step as f32, 1.0, &dev);
            let out = m.forward_train(x).remove(0);
            let r = fixed_tensor([2, 4], 9.0 + step as f32, 1.0, &dev);
            (out * r).sum()
        };
        let dir = tempfile::tempdir().unwrap();
        for (betas, decay) in [((0.9, 0.999), None), ((0.95, 0.999), Some(5e-7f32))] {
            let mut burn_cfg = AdamConfig::new()
                .with_beta_1(betas.0)
                .with_beta_2(betas.1)
                .with_epsilon(1e-8);
            if let Some(d) = decay {
                burn_cfg = burn_cfg.with_weight_decay(Some(WeightDecayConfig::new(d)));
            }
            let fused = FusedAdam {
                betas,
                epsilon: 1e-8,
                weight_decay: decay,
            };
            let (mut burn_optim, mut ours) = (burn_cfg.init(), fused.init());
            let (mut a, mut b) = (base.clone(), base.clone());
            for step in 0..3 {
                if step == 2 {
                    let path = dir.path().join("adam.bpk");
                    burn_optim.save(&path).unwrap();
                    ours = fused.init().load(&path).unwrap();
                }
                let ga = GradientsParams::from_grads(loss(&a, step).backward(), &a);
                let gb = GradientsParams::from_grads(loss(&b, step).backward(), &b);
                a = burn_optim.step(1e-3, a, ga);
                b = ours.step(1e-3, b, gb);
                let (pa, pb) = (parameters(&a), parameters(&b));
                assert_eq!(pa.len(), pb.len());
                let differ = pa
                    .iter()
                    .zip(&pb)
                    .filter(|(x, y)| x.to_bits() != y.to_bits())
                    .count();
                assert_eq!(
                    differ, 0,
                    "decay {decay:?}, step {step}: {differ} parameters differ"
                );
            }
        }
    }
}
