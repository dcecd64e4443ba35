//! # tympan-kernels
//!
//! tympan's own kernels for the operations that dominate a training step on the flex backend,
//! registered through Burn's backend-extension API (`#[backend_extension]`, burn 0.22.1).
//!
//! Burn 0.22.1's flex backend leaves these to `burn-backend`'s generic code, and that code
//! is where the PSLA EfficientNet step spent most of its time (perf, docs/results.md):
//! - convolution backward ([`conv2d`], [`conv1d`], [`Convolve`]): dense weight gradients as a
//!   convolution with batch and channel swapped, depthwise weight gradients as one conv2d per
//!   channel;
//! - batch norm in training ([`batch_norm`]): a composite of transposes, copies and reductions;
//!   in inference ([`batch_norm_act`]): four full-size passes, then the activation's;
//! - swish ([`swish`]) and sigmoid ([`sigmoid`]): two graph nodes for swish, and a scalar libm
//!   `exp` per element behind a branch on the sign;
//! - Adam's step ([`adam_step`]): about fifteen passes over every parameter, each into a new
//!   tensor (a fifth of Hershey et al.'s VGG step); one pass, in place, with the same bits;
//! - matrix products ([`matmul`], [`linear`]): flex's `matmul` calls the `gemm` crate directly,
//!   whose depth blocking and dot-product kernels differ between AVX2 and AVX-512; these cut
//!   depth into fixed blocks and avoid those kernels (`gemm`'s AVX-512 path is built in);
//! - max pooling ([`max_pool2d`], [`max_pool1d`]): flex's generic 3D loop recomputes each
//!   window's bounds per output element and keeps an `i64` index per output for the backward
//!   (a tenth of the DenseNet step); here row-wise maxima, and a backward that finds each
//!   window's maximum again from the input;
//! - the short-time Fourier transform ([`stft`]): an in-model log-mel's windowed DFT as a strided
//!   convolution (a fifth of the DenseNet step with 1024-point frames); here real FFTs, forward
//!   and for the input gradient;
//! - sums over an axis ([`sum_dim`], and [`mean_dim`], [`sum`], [`mean`], [`softmax`],
//!   [`log_softmax`] built on it): flex's accumulate in lanes as wide as the CPU's vectors, so
//!   their bits differ between AVX2 and AVX-512; these accumulate in an order fixed by the code.
//!
//! Models call these functions where they would call the module's `forward`. Each extension
//! trait has default bodies made of Burn's own primitives, and on any backend other than flex
//! the functions call the module's `forward` directly, so wgpu and cuda run exactly what they
//! ran before. `TYMPAN_KERNELS=burn` in the environment turns the kernels off on flex too (for
//! side-by-side measurements: `cargo xtask bench train`).

#![warn(missing_docs)]

mod adam;
#[cfg(feature = "flex")]
mod adam_flex;
mod adam_ops;
mod batch_norm;
#[cfg(feature = "flex")]
mod batch_norm_flex;
mod batch_norm_ops;
mod conv;
#[cfg(feature = "flex")]
mod conv3x3;
mod conv_autodiff;
#[cfg(feature = "flex")]
mod conv_flex;
mod conv_ops;
#[cfg(feature = "flex")]
mod conv_taps;
#[cfg(feature = "flex")]
mod direct;
#[cfg(feature = "flex")]
mod flex_tensor;
#[cfg(feature = "flex")]
mod gemm;
mod linear;
#[cfg(feature = "flex")]
mod matmul_flex;
mod matmul_ops;
mod pool;
#[cfg(feature = "flex")]
mod pool_flex;
mod pool_ops;
mod reduce;
#[cfg(feature = "flex")]
mod reduce_flex;
mod reduce_ops;
mod relu;
mod relu_ops;
#[cfg(feature = "flex")]
mod simd;
mod stft;
#[cfg(feature = "flex")]
mod stft_flex;
mod stft_ops;
mod swish;
#[cfg(feature = "flex")]
mod swish_flex;
mod swish_ops;
#[cfg(feature = "flex")]
mod taps;
mod unary_node;
#[cfg(feature = "flex")]
mod winograd;

use std::sync::atomic::{AtomicU8, Ordering};

use burn::prelude::Device;

pub use adam::adam_step;
pub use adam_ops::{AdamKernels, AdamScalars};
pub use batch_norm::{batch_norm, batch_norm_act};
pub use batch_norm_ops::{Act, BatchNormKernels};
pub use conv::{Convolve, conv1d, conv1d_weight, conv2d};
pub use conv_ops::ConvKernels;
pub use linear::{linear, matmul};
pub use matmul_ops::MatmulKernels;
pub use pool::{max_pool1d, max_pool2d};
pub use pool_ops::{PoolKernels, PoolWindow};
pub use reduce::{expand, log_softmax, mean, mean_dim, softmax, sum, sum_dim};
pub use reduce_ops::ReduceKernels;
pub use relu::relu;
pub use relu_ops::ReluKernels;
pub use stft::{stft, stft_power};
pub use stft_ops::StftKernels;
pub use swish::{sigmoid, swish};
pub use swish_ops::SwishKernels;

/// 0: not decided yet, 1: on, 2: off.
static STATE: AtomicU8 = AtomicU8::new(0);

/// Whether the kernels are on: unless [`set_kernels_enabled`] said otherwise, everywhere but
/// where `TYMPAN_KERNELS=burn` is set in the environment.
pub fn kernels_enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var("TYMPAN_KERNELS").map_or(true, |v| v != "burn");
            STATE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
            on
        }
        s => s == 1,
    }
}

/// Turn the kernels on or off for the whole process (benchmarks compare both in one run).
pub fn set_kernels_enabled(on: bool) {
    STATE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether tensors on `device` take tympan's kernels (flex, with or without autodiff).
fn uses_kernels(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        kernels_enabled()
            && matches!(
                device.clone().inner().as_dispatch(),
                burn::backend::DispatchDevice::Flex(_)
            )
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// Runs `work` on a thread of rayon's global pool, and returns what it returns.
///
/// The flex kernels (ours and Burn flex's) split each operation over that pool. From a thread
/// outside it, such as a program's main thread, each operation's parallel section is injected
/// into the pool and waited for on a lock: two thread wake-ups per operation, a few hundred per
/// forward pass. From a worker, the section's halves go on the worker's own queue and the other
/// workers steal them. A forward pass run through here pays the injection once: `tympan tag`
/// with PSLA's EfficientNet-B2 took 10 % less time on 2 cores (docs/results.md, 2026-12-06).
/// With other backends, `work` just runs on another thread.
///
/// Not for training steps: Burn keeps batch norm's running statistics per thread
/// (`RunningState`), so steps run on whichever worker picks them up average statistics across
/// workers and a run's results depend on timing (the resume tests failed so, 2026-12-06). The
/// `tympan` and `cargo xtask` binaries make their main thread a worker instead
/// (`tympan::pool`), which serves training steps too.
///
/// The activations are then allocated on rayon's threads: with glibc, a program that keeps freed
/// memory for reuse must do so for every thread's arena (`tympan::allocator::keep_freed_memory`
/// uses one arena), or page faults come back.
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    // `scope` runs its body on a worker of the current pool (this thread, if it is one).
    rayon::scope(|_| work())
}

/// What the kernels' tests share.
#[cfg(all(test, feature = "flex"))]
mod test_util {
    /// Each of output, input gradient, weight gradient and bias gradient within 2e-5 of the
    /// largest magnitude of Burn's.
    pub fn assert_close(name: &str, ours: &[Vec<f32>], burn: &[Vec<f32>]) {
        assert_eq!(ours.len(), burn.len(), "{name}: number of gradients");
        for (what, (a, b)) in ["output", "x grad", "weight grad", "bias grad"]
            .iter()
            .zip(ours.iter().zip(burn))
        {
            assert_eq!(a.len(), b.len(), "{name}: {what} sizes");
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            let worst = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(
                worst <= 2e-5 * scale,
                "{name}: {what} differs by {worst} (largest magnitude {scale})"
            );
        }
    }
}

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
