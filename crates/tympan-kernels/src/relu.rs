//! ReLU through [`ReluKernels`] on flex (the backward keeps the output); Burn's `relu` elsewhere.

use burn::backend::Dispatch;
use burn::prelude::*;

use super::relu_ops::ReluKernels;
use super::uses_kernels;

/// `max(x, 0)`; on flex the autodiff graph keeps the output for the backward instead of the
/// input (`relu_ops`), which the next convolution keeps anyway.
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !uses_kernels(&x.device()) {
        return burn::tensor::activation::relu(x);
    }
    Tensor::from_dispatch(<Dispatch as ReluKernels>::tympan_relu(x.into_dispatch()))
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// Output and gradient bit-identical to Burn's `relu` on autodiff flex, through a second
    /// operation that keeps the output (as a convolution does) and one that does not.
    #[test]
    fn matches_burns_relu_exactly() {
        let device = Device::flex().autodiff();
        let x0 = Tensor::<4>::random([2, 3, 17, 11], Distribution::Normal(0.0, 2.0), &device);
        let r = Tensor::<4>::random([2, 3, 17, 11], Distribution::Normal(0.0, 1.0), &device);
        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let x = x0.clone().require_grad();
            let y = f(x.clone() * 1.5);
            let g = ((y.clone() * r.clone()) + y.clone().exp()).sum().backward();
            [
                y.into_data().try_to_vec::<f32>().unwrap(),
                x.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap(),
            ]
        };
        let ours = run(&relu);
        let burn = run(&burn::tensor::activation::relu);
        assert_eq!(ours, burn);
        assert!(ours[1].contains(&0.0) && ours[1].iter().any(|&v| v != 0.0));
    }
}
