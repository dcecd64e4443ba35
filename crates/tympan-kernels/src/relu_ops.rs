//! ReLU as an extension operation whose backward keeps the output instead of the input.
//!
//! burn-autodiff 0.22.1's `relu` (`src/ops/activation.rs`) checkpoints its input. After a batch
//! norm, or a residual sum, that input is a full-size tensor nothing else keeps, while the output
//! is kept anyway by the convolution or pooling that reads it. PyTorch's in-place ReLU keeps only
//! the output. `out > 0` exactly where `x > 0`, so the gradient is bit-identical to Burn's.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

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

#[derive(Debug)]
struct ReluBackward;

impl<B: Backend + ReluKernels> Backward<B, 1> for ReluBackward {
    /// The output.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::relu_backward(ops.state, grad));
        }
    }
}

impl<B: Backend + ReluKernels, C: CheckpointStrategy> ReluKernels for Autodiff<B, C> {
    fn tympan_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let prep = ReluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let x = x.into_primitive();
        match prep {
            OpsKind::Tracked(prep) => {
                let y = B::tympan_relu(x);
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::tympan_relu(x)),
        }
    }
}
