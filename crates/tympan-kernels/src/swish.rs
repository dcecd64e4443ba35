//! Swish and sigmoid through [`SwishKernels`] on flex; Burn's `silu` and `sigmoid` elsewhere.

use burn::backend::Dispatch;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid as burn_sigmoid, silu};

use super::swish_ops::SwishKernels;
use super::uses_kernels;

/// `silu(x) = x * sigmoid(x)`, with tympan's kernel and backward on flex.
pub fn swish<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !uses_kernels(&x.device()) {
        return silu(x);
    }
    Tensor::from_dispatch(<Dispatch as SwishKernels>::tympan_swish(x.into_dispatch()))
}

/// `1 / (1 + exp(-x))`, with tympan's kernel on flex (one vectorised pass; the backward keeps
/// the output, as Burn's does). Close to Burn's `sigmoid`, not bit-identical: the `exp` is within
/// two ulp of libm's, and below `x = -87` the result stays at `exp(-87)` (about 1.6e-38) where
/// Burn's goes on down to 0.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !uses_kernels(&x.device()) {
        return burn_sigmoid(x);
    }
    Tensor::from_dispatch(<Dispatch as SwishKernels>::tympan_sigmoid(
        x.into_dispatch(),
    ))
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// Output and gradient against Burn's `silu` and `sigmoid` on autodiff flex, within 1e-6 of
    /// the largest magnitude (the kernel's `exp` is within two ulp of libm's).
    #[test]
    fn matches_burns_silu_and_sigmoid() {
        let device = Device::flex().autodiff();
        let x0 = Tensor::<4>::random([2, 3, 50, 41], Distribution::Normal(0.0, 4.0), &device);
        let r = Tensor::<4>::random([2, 3, 50, 41], Distribution::Normal(0.0, 1.0), &device);
        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let x = x0.clone().require_grad();
            let y = f(x.clone());
            let g = (y.clone() * r.clone()).sum().backward();
            [
                y.into_data().try_to_vec::<f32>().unwrap(),
                x.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap(),
            ]
        };
        for (ours, burn) in [
            (run(&swish), run(&silu)),
            (run(&sigmoid), run(&burn_sigmoid)),
        ] {
            for (what, (a, b)) in ["output", "gradient"].iter().zip(ours.iter().zip(&burn)) {
                let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
                let worst = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
                assert!(
                    worst <= 1e-6 * scale,
                    "{what} differs by {worst} (scale {scale})"
                );
            }
        }
    }
}
