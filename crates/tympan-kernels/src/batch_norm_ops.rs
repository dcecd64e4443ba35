//! Batch norm in training mode as an extension operation, and its autodiff node.
//!
//! Burn 0.22.1 has `ModuleOps::batch_norm_train` / `batch_norm_train_backward`, but flex does not
//! implement them: their default bodies (`burn-backend` `src/backend/ops/modules/base.rs`)
//! transpose every activation to channels-first rows and copy it, several times per pass. The
//! defaults here call those same bodies; flex supplies its own (`batch_norm_flex`). The graph
//! node mirrors `BatchNormTrainOps` in `burn-autodiff` 0.22.1 `src/ops/module.rs`.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

use super::swish_ops::composite_swish;

/// The activation that follows a batch norm in inference, applied in the same pass by
/// [`BatchNormKernels::tympan_batch_norm_eval`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// None.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)` (EfficientNet-Lite).
    Relu6,
    /// `x * sigmoid(x)` (EfficientNet B0-B7).
    Swish,
}

/// Batch norm over every axis but the channel axis 1, with its gradients.
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait BatchNormKernels: Backend {
    /// `(output, mean, biased variance)` of `x` normalised per channel with batch statistics.
    fn tympan_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train(x, gamma, beta, epsilon);
        (r.output, r.mean, r.variance)
    }

    /// `(x gradient, gamma gradient, beta gradient)` given the output gradient `grad`.
    fn tympan_batch_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
        (r.x_grad, r.gamma_grad, r.beta_grad)
    }

    /// `act(batch_norm(x))` with running statistics (inference), over the channel axis 1:
    /// `((x - mean) / sqrt(var + eps)) * gamma + beta`, then the activation. Burn's inference
    /// batch norm (`ModuleOps::batch_norm`, which flex does not override) makes four full-size
    /// passes, each into a new tensor, and the activation one or two more; flex computes the
    /// same expression, in the same order and precision, in one pass, in place when it can.
    #[allow(clippy::too_many_arguments)]
    fn tympan_batch_norm_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        act: Act,
    ) -> FloatTensor<Self> {
        let y = Self::batch_norm(x, gamma, beta, mean, variance, epsilon);
        composite_act::<Self>(y, act)
    }
}

/// `act(y)` from Burn's primitives: what the models' activations compute.
pub(super) fn composite_act<B: Backend>(y: FloatTensor<B>, act: Act) -> FloatTensor<B> {
    match act {
        Act::Identity => y,
        Act::Relu => B::relu(y),
        Act::Relu6 => B::float_clamp_max(B::relu(y), 6.0f64.into()),
        Act::Swish => composite_swish::<B>(y),
    }
}

#[derive(Debug)]
struct BatchNormBackward;

impl<B: Backend + BatchNormKernels> Backward<B, 3> for BatchNormBackward {
    /// Input, gamma, batch mean and variance, epsilon.
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        f64,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, gamma, mean, variance, epsilon) = ops.state;
        let (gx, gg, gb) =
            B::tympan_batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
        for (node, g) in [(node_x, gx), (node_gamma, gg), (node_beta, gb)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: Backend + BatchNormKernels, C: CheckpointStrategy> BatchNormKernels for Autodiff<B, C> {
    fn tympan_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let prep = BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        let (out, mean, variance) =
            B::tympan_batch_norm_train(x.clone(), gamma.clone(), beta, epsilon);
        let out = match prep {
            OpsKind::Tracked(prep) => {
                prep.finish((x, gamma, mean.clone(), variance.clone(), epsilon), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (
            out,
            FloatTensor::<Self>::new(mean),
            FloatTensor::<Self>::new(variance),
        )
    }
}
