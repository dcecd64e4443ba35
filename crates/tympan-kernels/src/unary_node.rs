//! The autodiff node of an elementwise operation whose backward is `f(kept, grad)`, `kept` being
//! its input or its output: swish keeps its input, tympan's ReLU its output.

use burn::backend::Backend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;

/// Which tensor the node keeps for its backward.
#[derive(Debug, Clone, Copy)]
pub(super) enum Keep {
    Input,
    Output,
}

/// `f(kept, grad)`, the gradient of the input.
type BackwardFn<B> = fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>;

#[derive(Debug)]
struct UnaryBackward<B: Backend>(BackwardFn<B>);

impl<B: Backend> Backward<B, 1> for UnaryBackward<B> {
    /// The kept tensor.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, (self.0)(ops.state, grad));
        }
    }
}

/// `forward(x)` on the autodiff graph, differentiated by `backward(kept, grad)`.
pub(super) fn unary<B: Backend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    forward: fn(FloatTensor<B>) -> FloatTensor<B>,
    keep: Keep,
    backward: BackwardFn<B>,
) -> FloatTensor<Autodiff<B, C>> {
    let prep = UnaryBackward(backward)
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful();
    let x = x.into_primitive();
    match prep {
        OpsKind::Tracked(prep) => {
            let (kept, y) = match keep {
                Keep::Input => (x.clone(), forward(x)),
                Keep::Output => {
                    let y = forward(x);
                    (y.clone(), y)
                }
            };
            prep.finish(kept, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x)),
    }
}
