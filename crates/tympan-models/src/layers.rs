//! Small layers shared by several architectures.

use std::sync::atomic::{AtomicU64, Ordering};

use burn::prelude::*;

/// State of the stochastic-depth mask generator (splitmix64), shared by every [`DropPath`].
static DROP_PATH_STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);

/// Reseed the drop-connect masks. Training loops call this at every epoch so that a run resumed
/// from a checkpoint draws the same masks as an uninterrupted one (Burn 0.22's device RNG is not
/// reset reproducibly by `Device::seed` on every backend).
pub fn seed_drop_path(seed: u64) {
    DROP_PATH_STATE.store(seed, Ordering::SeqCst);
}

fn next_uniform() -> f64 {
    // splitmix64
    let z = DROP_PATH_STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = z;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Stochastic depth ("drop connect" in `efficientnet_pytorch/utils.py::drop_connect`): in
/// training, each sample's residual branch is zeroed with probability `p` and the survivors are
/// scaled by `1 / (1 - p)`. Identity at inference (no autodiff device) and when `p == 0`.
#[derive(Module, Debug)]
pub struct DropPath {
    /// Drop probability.
    #[module(skip)]
    pub prob: f64,
}

impl DropPath {
    /// A drop path with probability `prob`.
    pub fn new(prob: f64) -> Self {
        Self { prob }
    }

    /// Apply to a batch-first tensor.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.prob <= 0.0 || !x.device().is_autodiff() {
            return x;
        }
        let keep = 1.0 - self.prob;
        let batch = x.dims()[0];
        // efficientnet_pytorch: floor(keep + U[0, 1)) per sample.
        let mask: Vec<f32> = (0..batch)
            .map(|_| {
                if next_uniform() < keep {
                    1.0 / keep as f32
                } else {
                    0.0
                }
            })
            .collect();
        let mut shape = [1usize; D];
        shape[0] = batch;
        let mask = Tensor::<1>::from_floats(mask.as_slice(), &x.device()).reshape(shape);
        x * mask
    }
}
