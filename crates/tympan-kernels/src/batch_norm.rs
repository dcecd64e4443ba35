//! `BatchNorm::forward` through [`BatchNormKernels`] on flex: in training (statistics, output
//! and backward as kernels) and in inference (one pass with the following activation fused).

use burn::backend::Dispatch;
use burn::nn::BatchNorm;
use burn::prelude::*;

use super::batch_norm_ops::{Act, BatchNormKernels};
use super::relu::relu;
use super::swish::swish;
use super::uses_kernels;

impl Act {
    /// The activation on its own (what [`batch_norm_act`] fuses): tympan's [`relu`], its clamp
    /// for ReLU6, tympan's [`swish`].
    pub fn apply<const D: usize>(self, y: Tensor<D>) -> Tensor<D> {
        match self {
            Act::Identity => y,
            Act::Relu => relu(y),
            Act::Relu6 => relu(y).clamp_max(6.0),
            Act::Swish => swish(y),
        }
    }
}

/// `act(bn.forward(x))`, with the activation fused into the batch norm's pass in inference on
/// flex ([`BatchNormKernels::tympan_batch_norm_eval`]); in training it is
/// `act(`[`batch_norm`]`(bn, x))`. The result is bit-identical to the separate operations.
pub fn batch_norm_act<const D: usize>(bn: &BatchNorm, x: Tensor<D>, act: Act) -> Tensor<D> {
    let device = x.device();
    let training = device.is_autodiff() && bn.training.is_enabled();
    if training || !uses_kernels(&device) || D < 2 || x.dims()[1] != bn.gamma.dims()[0] {
        return act.apply(batch_norm(bn, x));
    }
    let running = |p: &burn::module::RunningState<Tensor<1>>| p.value().to_device(&device);
    Tensor::from_dispatch(<Dispatch as BatchNormKernels>::tympan_batch_norm_eval(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        running(&bn.running_mean).into_dispatch(),
        running(&bn.running_var).into_dispatch(),
        bn.epsilon,
        act,
    ))
}

/// `bn.forward(x)`: the same output and the same running-statistics update, with tympan's
/// kernels when training on flex. In inference, on other backends, or for a frozen layer it is
/// `bn.forward(x)` itself.
///
/// The running statistics follow burn-nn 0.22.1's `BatchNorm::forward_train`
/// (`src/modules/norm/batch.rs`): `running = running * (1 - momentum) + batch * momentum`, with the
/// biased batch variance.
pub fn batch_norm<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    let channels = bn.gamma.dims()[0];
    let training = device.is_autodiff() && bn.training.is_enabled();
    if !training && uses_kernels(&device) && D >= 2 && x.dims()[1] == channels {
        return batch_norm_act(bn, x, Act::Identity);
    }
    if !(training && uses_kernels(&device)) || D < 2 || x.dims()[1] != channels {
        return bn.forward(x);
    }
    let (out, mean, var) = <Dispatch as BatchNormKernels>::tympan_batch_norm_train(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
    let (mean, var) = (
        Tensor::<1>::from_dispatch(mean),
        Tensor::<1>::from_dispatch(var),
    );
    let m = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean
        .update((running_mean.mul_scalar(1.0 - m) + mean.detach().mul_scalar(m)).detach());
    bn.running_var
        .update((running_var.mul_scalar(1.0 - m) + var.detach().mul_scalar(m)).detach());
    Tensor::from_dispatch(out)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    use super::*;

    /// Inference on flex: `batch_norm_act` against Burn's `BatchNorm::forward` followed by the
    /// activation, for every fused activation, on EfficientNet-like, M-net-like (height 1) and
    /// too-small planes, with non-trivial running statistics. The kernel computes Burn's
    /// expression in Burn's order, so the tolerance (1e-6 of the largest magnitude) only covers
    /// another test switching the kernels off meanwhile (then `silu` uses libm's `exp`). An input
    /// that is still shared is left untouched (the kernel writes in place only into a tensor it
    /// owns alone).
    #[test]
    fn inference_matches_burns_batch_norm_and_activation() {
        let device = Device::flex();
        for dims in [[2, 6, 33, 17], [3, 5, 1, 70], [2, 4, 3, 5]] {
            let c = dims[1];
            let bn = BatchNormConfig::new(c).with_epsilon(1e-3).init(&device);
            let stat = |lo: f32, hi: f32| {
                Tensor::<1>::random([c], Distribution::Uniform(lo as f64, hi as f64), &device)
            };
            let bn = BatchNorm {
                gamma: bn.gamma.map(|_| stat(0.5, 2.0)),
                beta: bn.beta.map(|_| stat(-1.0, 1.0)),
                running_mean: burn::module::RunningState::new(stat(-0.5, 0.5)),
                running_var: burn::module::RunningState::new(stat(0.2, 3.0)),
                ..bn
            };
            let x = Tensor::<4>::random(dims, Distribution::Normal(0.3, 2.5), &device);
            let before = x.clone().into_data().try_to_vec::<f32>().unwrap();
            for act in [Act::Identity, Act::Relu, Act::Relu6, Act::Swish] {
                let ours = batch_norm_act(&bn, x.clone(), act);
                let burn = act.apply(bn.forward(x.clone()));
                let (a, b) = (
                    ours.into_data().try_to_vec::<f32>().unwrap(),
                    burn.into_data().try_to_vec::<f32>().unwrap(),
                );
                let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
                let worst = a
                    .iter()
                    .zip(&b)
                    .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
                assert!(
                    worst <= 1e-6 * scale,
                    "{dims:?} {act:?}: differs by {worst} (largest {scale})"
                );
                assert_eq!(x.clone().into_data().try_to_vec::<f32>().unwrap(), before);
            }
            // The plain `batch_norm` takes the same pass in inference.
            let (a, b) = (batch_norm(&bn, x.clone()), bn.forward(x.clone()));
            let (a, b) = (
                a.into_data().try_to_vec::<f32>().unwrap(),
                b.into_data().try_to_vec::<f32>().unwrap(),
            );
            let worst = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(worst <= 1e-6 * b.iter().fold(0f32, |m, v| m.max(v.abs())));
        }
    }

    /// Output, input/gamma/beta gradients and the updated running statistics against
    /// `BatchNorm::forward`, for EfficientNet-like and M-net-like (height 1) activations and one plane too small for the kernels. Tolerance: 1e-5
    /// of the largest magnitude of each (Burn sums in f32, the kernels in f64 over f32 blocks).
    #[test]
    fn matches_burns_batch_norm_in_training() {
        let device = Device::flex().autodiff();
        for shape in [vec![2, 6, 33, 17], vec![3, 5, 70], vec![2, 4, 3, 5]] {
            let c = shape[1];
            let dims: [usize; 4] = match shape.len() {
                4 => [shape[0], shape[1], shape[2], shape[3]],
                _ => [shape[0], shape[1], 1, shape[2]],
            };
            let x0 = Tensor::<4>::random(dims, Distribution::Normal(0.5, 2.0), &device);
            let r = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device);
            let run = |f: &dyn Fn(&BatchNorm, Tensor<4>) -> Tensor<4>| {
                let bn = BatchNormConfig::new(c)
                    .with_momentum(0.01)
                    .with_epsilon(1e-3)
                    .init(&device);
                let x = x0.clone().require_grad();
                let r = r.clone();
                // A non-trivial gamma and beta.
                let bn = BatchNorm {
                    gamma: bn
                        .gamma
                        .map(|g| g.mul_scalar(1.7).add_scalar(0.2).detach().require_grad()),
                    beta: bn.beta.map(|b| b.add_scalar(-0.3).detach().require_grad()),
                    ..bn
                };
                let y = f(&bn, x.clone());
                let g = (y.clone() * r).sum().backward();
                vec![
                    y.into_data().try_to_vec::<f32>().unwrap(),
                    x.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap(),
                    bn.gamma
                        .grad(&g)
                        .unwrap()
                        .into_data()
                        .try_to_vec::<f32>()
                        .unwrap(),
                    bn.beta
                        .grad(&g)
                        .unwrap()
                        .into_data()
                        .try_to_vec::<f32>()
                        .unwrap(),
                    bn.running_mean
                        .value_sync()
                        .into_data()
                        .try_to_vec::<f32>()
                        .unwrap(),
                    bn.running_var
                        .value_sync()
                        .into_data()
                        .try_to_vec::<f32>()
                        .unwrap(),
                ]
            };
            let ours = run(&|bn, x| batch_norm(bn, x));
            let burn = run(&|bn, x| bn.forward(x));
            for (what, (a, b)) in [
                "output",
                "x grad",
                "gamma grad",
                "beta grad",
                "running mean",
                "running var",
            ]
            .iter()
            .zip(ours.iter().zip(&burn))
            {
                let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
                let worst = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
                assert!(
                    worst <= 1e-5 * scale,
                    "{shape:?}: {what} differs by {worst} (largest magnitude {scale})"
                );
            }
        }
    }
}
