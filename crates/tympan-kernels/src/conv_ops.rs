//! The convolution operation tympan registers with Burn's backend-extension API.
//!
//! Burn 0.22.1's flex backend implements convolution forward only; autodiff then falls back to
//! `burn-backend`'s generic backward (`src/backend/ops/modules/conv.rs`), which computes a dense
//! weight gradient as a convolution with batch and channel swapped (one matrix-vector product per
//! input channel for a 1x1 conv) and a depthwise weight gradient as one conv2d per channel.
//! This trait lets a backend supply both gradients itself. Every method has a default body made
//! of Burn's own primitives, which is exactly what `Tensor::conv2d` computes, so a backend
//! without its own kernels computes the same thing as before.

use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

/// A 2D convolution without bias whose backward a backend can provide.
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait ConvKernels: Backend {
    /// The forward pass: `conv2d(x, weight)` with no bias.
    fn tympan_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// The gradient with respect to `x`, given the output gradient `grad`.
    fn tympan_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, grad, options)
    }

    /// The gradient with respect to `weight`, given the output gradient `grad`.
    fn tympan_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, grad, options)
    }
}
