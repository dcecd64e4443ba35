//! A sum over one axis as an extension operation, so that flex can give it a fixed accumulation
//! order.
//!
//! flex's own `sum_dim` (and so `mean_dim`, `softmax`'s denominator, `log_softmax`) sums a
//! contiguous axis in SIMD lanes as wide as the CPU's vectors, then across the lanes: the same
//! inputs give different bits with AVX2 and with AVX-512 (`cargo xtask numerics`,
//! docs/upstream.md). The default body is Burn's `float_sum_dim`; flex supplies the fixed-order
//! kernel (`reduce_flex`). The backward broadcasts the gradient back over the axis.
//!
//! A broadcast inside an operation (`x / s` with `s` of size 1 along an axis) has a sum in its
//! backward too, Burn's own; [`ReduceKernels::tympan_expand`] makes the broadcast explicit, with
//! the sum above in its backward.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata, backend_extension};
use burn::tensor::Shape;

/// The sum over one axis, and a broadcast whose gradient is that sum.
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait ReduceKernels: Backend {
    /// The sum of `x` over axis `dim`, which is kept with size 1.
    fn tympan_sum_dim(x: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        Self::float_sum_dim(x, dim)
    }

    /// `x` broadcast to `shape` (Burn's `expand`). Its gradient sums over the broadcast axes with
    /// [`ReduceKernels::tympan_sum_dim`], where an implicit broadcast in `x * y` or `x + y` would
    /// reduce with the backend's own sum.
    fn tympan_expand(x: FloatTensor<Self>, shape: Shape) -> FloatTensor<Self> {
        Self::float_expand(x, shape)
    }
}

#[derive(Debug)]
struct SumDimBackward;

impl<B: Backend + ReduceKernels> Backward<B, 1> for SumDimBackward {
    /// The input's shape.
    type State = Shape;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::float_expand(grad, ops.state));
        }
    }
}

#[derive(Debug)]
struct ExpandBackward;

impl<B: Backend + ReduceKernels> Backward<B, 1> for ExpandBackward {
    /// The input's shape.
    type State = Shape;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let mut grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            let out = grad.shape();
            let input = ops.state;
            // Axes the input lacks (leading) and axes of size 1 that were broadcast.
            let lead = out.num_dims() - input.num_dims();
            for d in 0..out.num_dims() {
                let was = if d < lead { 1 } else { input[d - lead] };
                if was == 1 && out[d] != 1 {
                    grad = B::tympan_sum_dim(grad, d);
                }
            }
            grads.register::<B>(node.id, B::float_reshape(grad, input));
        }
    }
}

impl<B: Backend + ReduceKernels, C: CheckpointStrategy> ReduceKernels for Autodiff<B, C> {
    fn tympan_expand(x: FloatTensor<Self>, shape: Shape) -> FloatTensor<Self> {
        let prep = ExpandBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let x = x.into_primitive();
        match prep {
            OpsKind::Tracked(prep) => {
                let input = x.shape();
                prep.finish(input, B::tympan_expand(x, shape))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::tympan_expand(x, shape)),
        }
    }

    fn tympan_sum_dim(x: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        let prep = SumDimBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let x = x.into_primitive();
        match prep {
            OpsKind::Tracked(prep) => {
                let shape = x.shape();
                prep.finish(shape, B::tympan_sum_dim(x, dim))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::tympan_sum_dim(x, dim)),
        }
    }
}
