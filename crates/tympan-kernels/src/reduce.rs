//! Reductions whose bits do not depend on the CPU: sums and means over an axis, softmax and
//! log-softmax, through [`ReduceKernels`] on flex (a fixed accumulation order; see
//! `reduce_flex`), Burn's own ops elsewhere. Models and losses call these where they would call
//! `sum_dim`, `mean_dim`, `softmax` or `log_softmax`.

use burn::backend::Dispatch;
use burn::prelude::*;
use burn::tensor::activation;

use super::reduce_ops::ReduceKernels;
use super::uses_kernels;

/// `x.sum_dim(dim)`.
pub fn sum_dim<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    if !uses_kernels(&x.device()) {
        return x.sum_dim(dim);
    }
    Tensor::from_dispatch(<Dispatch as ReduceKernels>::tympan_sum_dim(
        x.into_dispatch(),
        dim,
    ))
}

/// `x.expand(shape)`, whose gradient sums over the broadcast axes with [`sum_dim`]'s fixed order.
/// Use it for the operand of size 1 before an elementwise operation with a larger tensor
/// (`x / expand(s, x.shape())`): the implicit broadcast of `x / s` sums `s`'s gradient with the
/// backend's own, CPU-dependent, reduction.
pub fn expand<const D: usize>(x: Tensor<D>, shape: Shape) -> Tensor<D> {
    if !uses_kernels(&x.device()) || x.shape() == shape {
        return x.expand(shape);
    }
    Tensor::from_dispatch(<Dispatch as ReduceKernels>::tympan_expand(
        x.into_dispatch(),
        shape,
    ))
}

/// `x.mean_dim(dim)`: [`sum_dim`] divided by the axis length.
pub fn mean_dim<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    if !uses_kernels(&x.device()) {
        return x.mean_dim(dim);
    }
    let n = x.dims()[dim];
    sum_dim(x, dim).div_scalar(n as f32)
}

/// `x.sum()`, as a `[1]` tensor.
pub fn sum<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    if !uses_kernels(&x.device()) {
        return x.sum();
    }
    let n = x.shape().num_elements();
    sum_dim(x.reshape([1, n]), 1).reshape([1])
}

/// `x.mean()`, as a `[1]` tensor.
pub fn mean<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    if !uses_kernels(&x.device()) {
        return x.mean();
    }
    let n = x.shape().num_elements();
    sum(x).div_scalar(n as f32)
}

/// `softmax(x, dim)`: `exp(x - max) / sum(exp(x - max))`, as Burn computes it.
pub fn softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    if !uses_kernels(&x.device()) {
        return activation::softmax(x, dim);
    }
    let shifted = x.clone() - x.detach().max_dim(dim);
    let e = shifted.exp();
    let s = expand(sum_dim(e.clone(), dim), e.shape());
    e / s
}

/// `log_softmax(x, dim)`: `(x - max) - log(sum(exp(x - max)))`, as Burn computes it.
pub fn log_softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    if !uses_kernels(&x.device()) {
        return activation::log_softmax(x, dim);
    }
    let shifted = x.clone() - x.detach().max_dim(dim);
    let log_sum = sum_dim(shifted.clone().exp(), dim).log();
    let shape = shifted.shape();
    shifted - expand(log_sum, shape)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// Against Burn's ops on autodiff flex, outputs and gradients, every axis of a 4-D tensor
    /// and the softmaxes, within 1e-6 of the largest magnitude (sums reordered).
    #[test]
    fn match_burns_reductions_and_gradients() {
        let device = Device::flex().autodiff();
        let x0 = Tensor::<4>::random([3, 5, 37, 41], Distribution::Normal(0.0, 2.0), &device);
        type F = fn(Tensor<4>) -> Tensor<4>;
        let cases: Vec<(&str, F, F)> = vec![
            ("sum_dim 0", |x| sum_dim(x, 0), |x| x.sum_dim(0)),
            ("sum_dim 2", |x| sum_dim(x, 2), |x| x.sum_dim(2)),
            ("sum_dim 3", |x| sum_dim(x, 3), |x| x.sum_dim(3)),
            ("mean_dim 1", |x| mean_dim(x, 1), |x| x.mean_dim(1)),
            ("mean_dim 3", |x| mean_dim(x, 3), |x| x.mean_dim(3)),
            (
                "softmax 3",
                |x| softmax(x, 3),
                |x| activation::softmax(x, 3),
            ),
            (
                "softmax 1",
                |x| softmax(x, 1),
                |x| activation::softmax(x, 1),
            ),
            (
                "log_softmax 3",
                |x| log_softmax(x, 3),
                |x| activation::log_softmax(x, 3),
            ),
        ];
        let r0 = Tensor::<4>::random([3, 5, 37, 41], Distribution::Normal(0.0, 1.0), &device);
        for (name, ours, burns) in cases {
            let run = |f: F| {
                let x = x0.clone().require_grad();
                let y = f(x.clone());
                let r = r0
                    .clone()
                    .slice([0..3, 0..y.dims()[1], 0..y.dims()[2], 0..y.dims()[3]]);
                let g = (y.clone() * r).sum().backward();
                [
                    y.into_data().try_to_vec::<f32>().unwrap(),
                    x.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap(),
                ]
            };
            let (a, b) = (run(ours), run(burns));
            for (what, (p, q)) in ["output", "gradient"].iter().zip(a.iter().zip(&b)) {
                assert_eq!(p.len(), q.len(), "{name} {what}");
                let scale = q.iter().fold(0f32, |m, v| m.max(v.abs()));
                let worst = p.iter().zip(q).fold(0f32, |m, (u, v)| m.max((u - v).abs()));
                assert!(
                    worst <= 1e-6 * scale,
                    "{name} {what}: {worst} (scale {scale})"
                );
            }
        }
        let x = Tensor::<2>::random([7, 300], Distribution::Normal(0.0, 1.0), &Device::flex());
        let (a, b) = (
            sum(x.clone()).into_scalar::<f32>(),
            x.clone().sum().into_scalar::<f32>(),
        );
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        let (a, b) = (
            mean(x.clone()).into_scalar::<f32>(),
            x.mean().into_scalar::<f32>(),
        );
        assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
    }
}
