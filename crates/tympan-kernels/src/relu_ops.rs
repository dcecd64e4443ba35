//! ReLU as an extension operation whose backward keeps the output instead of the input.
//!
//! burn-autodiff 0.22.1's `relu` (`src/ops/activation.rs`) checkpoints its input. After a batch
//! norm, or a residual sum, that input is a full-size tensor nothing else keeps, while the output
//! is kept anyway by the convolution or pooling that reads it. PyTorch's in-place ReLU keeps only
//! the output. `out > 0` exactly where `x > 0`, so the gradient is bit-identical to Burn's.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

use super::unary_node::{Keep, unary};

/// `max(x, 0)`, differentiated from its output.
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait ReluKernels: Backend {
    /// `max(x, 0)`: the backend's own `relu`.
    fn tympan_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu(x)
    }
}

#[cfg(feature = "flex")]
impl ReluKernels for burn::backend::Flex {}

impl<B: Backend + ReluKernels, C: CheckpointStrategy> ReluKernels for Autodiff<B, C> {
    fn tympan_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        unary::<B, C>(x, B::tympan_relu, Keep::Output, B::relu_backward)
    }
}
