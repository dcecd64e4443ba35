//! The matrix product as an extension operation, so that flex can run it through [`crate::gemm`]'s
//! instruction-set-independent blocking.
//!
//! flex's own `float_matmul` calls the `gemm` crate directly, whose depth blocking and
//! dot-product kernels depend on the CPU's vector width once its AVX-512 kernels are built in.
//! The default body is Burn's `float_matmul`; the backward is Burn's own (`burn-autodiff`
//! 0.22.1, `src/ops/tensor.rs`, `float_matmul`: `dA = dC B^T`, `dB = A^T dC`) with both products
//! routed back through [`MatmulKernels::tympan_matmul`].

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

/// The product of two matrices.
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait MatmulKernels: Backend {
    /// `lhs [m, k] x rhs [k, n] -> [m, n]`.
    fn tympan_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(lhs, rhs)
    }
}

#[derive(Debug)]
struct MatmulBackward;

impl<B: Backend + MatmulKernels> Backward<B, 2> for MatmulBackward {
    /// Both operands, each kept only when the other one's gradient needs it.
    type State = (Option<FloatTensor<B>>, Option<FloatTensor<B>>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_lhs, node_rhs] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (lhs, rhs) = ops.state;
        if let (Some(node), Some(rhs)) = (node_lhs, rhs) {
            let g = B::tympan_matmul(grad.clone(), B::float_swap_dims(rhs, 0, 1));
            grads.register::<B>(node.id, g);
        }
        if let (Some(node), Some(lhs)) = (node_rhs, lhs) {
            let g = B::tympan_matmul(B::float_swap_dims(lhs, 0, 1), grad);
            grads.register::<B>(node.id, g);
        }
    }
}

impl<B: Backend + MatmulKernels, C: CheckpointStrategy> MatmulKernels for Autodiff<B, C> {
    fn tympan_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        // The lhs gradient needs rhs, the rhs gradient needs lhs.
        let (keep_rhs, keep_lhs) = (lhs.is_tracked(), rhs.is_tracked());
        let prep = MatmulBackward
            .prepare::<C>([lhs.node(), rhs.node()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(prep) => {
                let (lhs, rhs) = (lhs.into_primitive(), rhs.into_primitive());
                let out = B::tympan_matmul(lhs.clone(), rhs.clone());
                let state = (keep_lhs.then_some(lhs), keep_rhs.then_some(rhs));
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::tympan_matmul(lhs.into_primitive(), rhs.into_primitive()))
            }
        }
    }
}
