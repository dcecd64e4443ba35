//! Swish (`x * sigmoid(x)`, SiLU) as one extension operation with its own backward.
//!
//! Burn's `silu` is `x * sigmoid(x)` on the autodiff graph: two nodes, three full-size tensors
//! kept for the backward, and flex's sigmoid calls the scalar libm `expf` per element (10 % of
//! the PSLA B2 step under perf). The default bodies here compute the same from Burn's
//! primitives; flex supplies a vectorised kernel (`swish_flex`).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

use super::unary_node::{Keep, unary};

/// `x * sigmoid(x)` and its gradient.
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait SwishKernels: Backend {
    /// `x * sigmoid(x)`.
    fn tympan_swish(x: FloatTensor<Self>) -> FloatTensor<Self> {
        composite_swish::<Self>(x)
    }

    /// `grad * s * (1 + x * (1 - s))` with `s = sigmoid(x)`.
    fn tympan_swish_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composite_swish_backward::<Self>(x, grad)
    }
}

/// `x * sigmoid(x)` from Burn's primitives.
pub(super) fn composite_swish<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::float_mul(x.clone(), B::sigmoid(x))
}

/// `grad * s * (1 + x * (1 - s))` from Burn's primitives.
pub(super) fn composite_swish_backward<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let s = B::sigmoid(x.clone());
    let one_minus = B::float_neg(B::float_add_scalar(s.clone(), (-1.0f64).into()));
    let inner = B::float_add_scalar(B::float_mul(x, one_minus), 1.0f64.into());
    B::float_mul(grad, B::float_mul(s, inner))
}

impl<B: Backend + SwishKernels, C: CheckpointStrategy> SwishKernels for Autodiff<B, C> {
    fn tympan_swish(x: FloatTensor<Self>) -> FloatTensor<Self> {
        unary::<B, C>(x, B::tympan_swish, Keep::Input, B::tympan_swish_backward)
    }
}
