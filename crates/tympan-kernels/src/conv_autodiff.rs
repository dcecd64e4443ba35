//! The backward pass of [`ConvKernels::tympan_conv2d`] on Burn's autodiff backend.
//!
//! The same graph node as Burn's own `Conv2DNoBias` in `burn-autodiff` 0.22.1
//! (`src/ops/module.rs`), with the two gradients routed through [`ConvKernels`] so that the inner
//! backend's kernels compute them.

use burn::backend::Backend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;

use super::conv_ops::ConvKernels;

#[derive(Debug)]
struct Conv2dBackward;

impl<B: Backend + ConvKernels> Backward<B, 2> for Conv2dBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, options) = ops.state;
        if let Some(node) = node_x {
            let gx = B::tympan_conv2d_x_backward(
                x.clone(),
                weight.clone(),
                grad.clone(),
                options.clone(),
            );
            grads.register::<B>(node.id, gx);
        }
        if let Some(node) = node_weight {
            let gw = B::tympan_conv2d_weight_backward(x, weight, grad, options);
            grads.register::<B>(node.id, gw);
        }
    }
}

impl<B: Backend + ConvKernels, C: CheckpointStrategy> ConvKernels for Autodiff<B, C> {
    fn tympan_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let prep = Conv2dBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.into_primitive(), weight.into_primitive());
                let out = B::tympan_conv2d(x.clone(), weight.clone(), options.clone());
                prep.finish((x, weight, options), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::tympan_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                options,
            )),
        }
    }
}
