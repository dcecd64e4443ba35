//! Swish (`x * sigmoid(x)`, SiLU) and the logistic sigmoid as extension operations with their
//! own backward.
//!
//! Burn's `silu` is `x * sigmoid(x)` on the autodiff graph: two nodes, three full-size tensors
//! kept for the backward, and flex's sigmoid calls the scalar libm `expf` per element (10 % of
//! the PSLA B2 step under perf). flex's `sigmoid` itself (`burn-flex` 0.22.1,
//! `src/ops/activation.rs`) is one pass, but scalar: libm's `expf` per element behind a branch on
//! the sign (Chen et al.'s attention: 7.8 ms for two `[4, 527, 313]` tensors with their clamp,
//! 2026-12-06, AMD EPYC). The default bodies here compute the same from Burn's primitives; flex
//! supplies vectorised kernels (`swish_flex`).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

use super::unary_node::{Keep, unary};

/// `x * sigmoid(x)`, `sigmoid(x)`, and their gradients.
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait SwishKernels: Backend {
    /// `1 / (1 + exp(-x))`: the backend's own `sigmoid`.
    fn tympan_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::sigmoid(x)
    }

    /// `grad * s * (1 - s)` from the output `s`: the backend's own `sigmoid_backward`.
    fn tympan_sigmoid_backward(s: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::sigmoid_backward(s, grad)
    }

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

    fn tympan_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        unary::<B, C>(
            x,
            B::tympan_sigmoid,
            Keep::Output,
            B::tympan_sigmoid_backward,
        )
    }
}
