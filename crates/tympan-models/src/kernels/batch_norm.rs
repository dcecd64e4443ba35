//! `BatchNorm::forward` through [`BatchNormKernels`] when training on flex.

use burn::backend::Dispatch;
use burn::nn::BatchNorm;
use burn::prelude::*;

use super::batch_norm_ops::BatchNormKernels;
use super::uses_kernels;

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
