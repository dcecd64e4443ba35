//! tympan's own kernels for the operations that dominate a training step on the flex backend,
//! registered through Burn's backend-extension API (`#[backend_extension]`, burn 0.22.1).
//!
//! Burn 0.22.1's flex backend leaves these to `burn-backend`'s generic code, and that code
//! is where the PSLA EfficientNet step spent most of its time (perf, docs/results.md):
//! - convolution backward ([`conv2d`], [`conv1d`], [`Convolve`]): dense weight gradients as a
//!   convolution with batch and channel swapped, depthwise weight gradients as one conv2d per
//!   channel;
//! - batch norm in training ([`batch_norm`]): a composite of transposes, copies and reductions;
//! - swish ([`swish`]): two graph nodes, and a scalar libm `exp` per element.
//!
//! Models call these functions where they would call the module's `forward`. Each extension
//! trait has default bodies made of Burn's own primitives, and on any backend other than flex
//! the functions call the module's `forward` directly, so wgpu and cuda run exactly what they
//! ran before. `TYMPAN_KERNELS=burn` in the environment turns the kernels off on flex too (for
//! side-by-side measurements: `cargo xtask bench train`).

mod batch_norm;
#[cfg(feature = "flex")]
mod batch_norm_flex;
mod batch_norm_ops;
mod conv;
mod conv_autodiff;
#[cfg(feature = "flex")]
mod conv_flex;
mod conv_ops;
#[cfg(feature = "flex")]
mod flex_tensor;
mod swish;
#[cfg(feature = "flex")]
mod swish_flex;
mod swish_ops;

use std::sync::OnceLock;

use burn::prelude::Device;

pub use batch_norm::batch_norm;
pub use batch_norm_ops::BatchNormKernels;
pub use conv::{Convolve, conv1d, conv2d};
pub use conv_ops::ConvKernels;
pub use swish::swish;
pub use swish_ops::SwishKernels;

/// Whether the kernels are on: everywhere unless `TYMPAN_KERNELS=burn`.
pub fn kernels_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("TYMPAN_KERNELS").map_or(true, |v| v != "burn"))
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
