//! Max pooling as one extension operation whose backward finds each window's maximum again.
//!
//! Burn 0.22.1's flex pools through its generic 3D code (`burn-flex` `src/ops/pool.rs`,
//! `max_pool3d_with_indices_impl`): per output element it recomputes the window's valid range
//! and runs a scalar loop, and it keeps an `i64` index per output for the backward. Under perf
//! that loop was about 10 % of the DenseNet and slim 2D training steps (2026-12-06, AMD EPYC).
//! Here the backward keeps only the input and finds each window's maximum again (the same
//! first-maximum rule, so the same position), and flex supplies row-wise kernels (`pool_flex`).
//! The default bodies are Burn's own max pooling and its backward.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};
use burn::tensor::IntDType;

/// Windows of a 2D max pooling: dilation 1, floor output size, padding on both sides of each
/// axis (the padding never wins a maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolWindow {
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Strides.
    pub stride: [usize; 2],
    /// Padding before and after each axis (the same on both sides).
    pub padding: [usize; 2],
}

/// Max pooling and its gradient.
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait PoolKernels: Backend {
    /// The maximum of each window of `x` `[n, c, h, w]`.
    fn tympan_max_pool2d(x: FloatTensor<Self>, window: PoolWindow) -> FloatTensor<Self> {
        composite_max_pool2d::<Self>(x, window)
    }

    /// The gradient with respect to `x`: each output's gradient added at the position of its
    /// window's maximum (the first, in row-major order, where several are equal).
    fn tympan_max_pool2d_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        window: PoolWindow,
    ) -> FloatTensor<Self> {
        composite_max_pool2d_backward::<Self>(x, grad, window)
    }
}

/// Max pooling by Burn's own `max_pool2d`.
pub(super) fn composite_max_pool2d<B: Backend>(x: FloatTensor<B>, w: PoolWindow) -> FloatTensor<B> {
    B::max_pool2d(x, w.kernel, w.stride, w.padding, [1, 1], false)
}

/// The gradient of max pooling from Burn's primitives: the indices of
/// `max_pool2d_with_indices`, then its backward.
pub(super) fn composite_max_pool2d_backward<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
    window: PoolWindow,
) -> FloatTensor<B> {
    let PoolWindow {
        kernel,
        stride,
        padding,
    } = window;
    let indices = B::max_pool2d_with_indices(
        x.clone(),
        kernel,
        stride,
        padding,
        [1, 1],
        false,
        IntDType::I64,
    )
    .indices;
    B::max_pool2d_with_indices_backward(x, kernel, stride, padding, [1, 1], false, grad, indices)
        .x_grad
}

#[derive(Debug)]
struct MaxPoolBackward;

impl<B: Backend + PoolKernels> Backward<B, 1> for MaxPoolBackward {
    /// The input and the windows.
    type State = (FloatTensor<B>, PoolWindow);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            let (x, window) = ops.state;
            grads.register::<B>(node.id, B::tympan_max_pool2d_backward(x, grad, window));
        }
    }
}

impl<B: Backend + PoolKernels, C: CheckpointStrategy> PoolKernels for Autodiff<B, C> {
    fn tympan_max_pool2d(x: FloatTensor<Self>, window: PoolWindow) -> FloatTensor<Self> {
        let prep = MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let x = x.into_primitive();
        match prep {
            OpsKind::Tracked(prep) => {
                let y = B::tympan_max_pool2d(x.clone(), window);
                prep.finish((x, window), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::tympan_max_pool2d(x, window)),
        }
    }
}
