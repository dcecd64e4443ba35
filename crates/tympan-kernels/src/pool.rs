//! Max pooling through [`PoolKernels`] on flex: `MaxPool2d::forward` / `MaxPool1d::forward`
//! with tympan's kernels where the pooling is one they cover (dilation 1, floor rounding, the
//! same padding on both sides of an axis), the module's own `forward` everywhere else.

use burn::backend::Dispatch;
use burn::nn::pool::{MaxPool1d, MaxPool2d};
use burn::nn::{PaddingConfig1d, PaddingConfig2d};
use burn::prelude::*;

use super::pool_ops::{PoolKernels, PoolWindow};
use super::uses_kernels;

/// `pool.forward(x)`, with tympan's kernel and backward on flex.
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let padding = match pool.padding {
        PaddingConfig2d::Valid => Some([0, 0]),
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            Some([top, left])
        }
        _ => None,
    };
    match padding {
        Some(padding) if covered(&x.device(), pool.dilation == [1, 1], pool.ceil_mode) => {
            let window = PoolWindow {
                kernel: pool.kernel_size,
                stride: pool.stride,
                padding,
            };
            pool_kernel(x, window)
        }
        _ => pool.forward(x),
    }
}

/// `pool.forward(x)` for a 1D pooling, run as a 2D one of height 1.
pub fn max_pool1d(pool: &MaxPool1d, x: Tensor<3>) -> Tensor<3> {
    let padding = match pool.padding {
        PaddingConfig1d::Valid => Some(0),
        PaddingConfig1d::Explicit(left, right) if left == right => Some(left),
        _ => None,
    };
    match padding {
        Some(padding) if covered(&x.device(), pool.dilation == 1, pool.ceil_mode) => {
            let [n, c, l] = x.dims();
            let window = PoolWindow {
                kernel: [1, pool.kernel_size],
                stride: [1, pool.stride],
                padding: [0, padding],
            };
            let y = pool_kernel(x.reshape([n, c, 1, l]), window);
            let [n, c, _, lo] = y.dims();
            y.reshape([n, c, lo])
        }
        _ => pool.forward(x),
    }
}

/// Whether the kernels take a pooling on `device` with this dilation and rounding.
fn covered(device: &Device, unit_dilation: bool, ceil_mode: bool) -> bool {
    unit_dilation && !ceil_mode && uses_kernels(device)
}

fn pool_kernel(x: Tensor<4>, window: PoolWindow) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as PoolKernels>::tympan_max_pool2d(
        x.into_dispatch(),
        window,
    ))
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::nn::pool::{MaxPool1dConfig, MaxPool2dConfig};
    use burn::tensor::Distribution;

    use super::*;

    /// Output and input gradient of `f(x)` under the loss `sum(y * r)`.
    fn grads<const D: usize>(
        x: &Tensor<D>,
        r: &Tensor<D>,
        f: &dyn Fn(Tensor<D>) -> Tensor<D>,
    ) -> [Vec<f32>; 2] {
        let x = x.clone().require_grad();
        let y = f(x.clone());
        let g = (y.clone() * r.clone()).sum().backward();
        [
            y.into_data().try_to_vec::<f32>().unwrap(),
            x.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap(),
        ]
    }

    /// Inputs rounded to halves, so that windows hold ties: the gradient must go to the same
    /// one of them as Burn's.
    fn tied_input<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        (Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), device) * 2.0).round() / 2.0
    }

    /// The kernels against `MaxPool2d::forward` (Burn's generic pooling and backward) on the
    /// same inputs, bit for bit: the same maxima, and each gradient added at the same position
    /// in the same order.
    #[test]
    fn max_pool2d_matches_burn_bit_for_bit() {
        let device = Device::flex().autodiff();
        // kernel, stride, padding (top = bottom, left = right), input
        type Case = ([usize; 2], [usize; 2], [usize; 2], [usize; 4]);
        let cases: &[Case] = &[
            ([2, 2], [2, 2], [0, 0], [2, 3, 9, 8]), // the DenseNet's, odd height
            ([1, 4], [1, 4], [0, 0], [2, 3, 5, 19]), // slim 2D's first pooling
            ([4, 4], [4, 4], [0, 0], [2, 4, 13, 17]), // its later ones
            ([3, 3], [2, 2], [1, 1], [2, 3, 11, 10]), // ResNet-50's stem
            ([3, 3], [2, 2], [0, 0], [2, 3, 11, 12]), // Inception's
            ([3, 3], [1, 1], [1, 1], [1, 2, 7, 6]), // overlapping, stride 1
            ([2, 3], [1, 2], [1, 0], [2, 2, 6, 9]), // uneven
            ([4, 4], [4, 4], [0, 0], [1, 2, 3, 3]), // window larger than the input
        ];
        for &(kernel, stride, [ph, pw], shape) in cases {
            let pool = MaxPool2dConfig::new(kernel)
                .with_strides(stride)
                .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
                .init();
            let x = tied_input(shape, &device);
            let y_shape = pool.forward(x.clone()).dims();
            let r = Tensor::<4>::random(y_shape, Distribution::Normal(0.0, 1.0), &device);
            let ours = grads(&x, &r, &|x| max_pool2d(&pool, x));
            let burn = grads(&x, &r, &|x| pool.forward(x));
            assert_eq!(
                ours, burn,
                "kernel {kernel:?}, stride {stride:?}, input {shape:?}"
            );
        }
    }

    /// The M-nets' 1D pooling, bit for bit against `MaxPool1d::forward`.
    #[test]
    fn max_pool1d_matches_burn_bit_for_bit() {
        let device = Device::flex().autodiff();
        for (k, s, p, shape) in [(4, 4, 0, [2, 3, 103]), (3, 2, 1, [2, 2, 40])] {
            let pool = MaxPool1dConfig::new(k)
                .with_stride(s)
                .with_padding(PaddingConfig1d::Explicit(p, p))
                .init();
            let x = tied_input(shape, &device);
            let y_shape = pool.forward(x.clone()).dims();
            let r = Tensor::<3>::random(y_shape, Distribution::Normal(0.0, 1.0), &device);
            let ours = grads(&x, &r, &|x| max_pool1d(&pool, x));
            let burn = grads(&x, &r, &|x| pool.forward(x));
            assert_eq!(ours, burn, "kernel {k}, stride {s}, input {shape:?}");
        }
    }

    /// A NaN in a window wins it, forward and backward, as in Burn and PyTorch.
    #[test]
    fn nan_propagates() {
        let device = Device::flex().autodiff();
        let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        let x = Tensor::<4>::from_floats(
            [[[[1.0, f32::NAN, 3.0, 2.0], [0.5, 4.0, -1.0, 2.5]]]],
            &device,
        );
        let r = Tensor::<4>::ones([1, 1, 1, 2], &device);
        let [y, dx] = grads(&x, &r, &|x| max_pool2d(&pool, x));
        assert!(y[0].is_nan() && y[1] == 3.0, "{y:?}");
        assert_eq!(dx, [0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
