//! 2D convolution with tympan's own gradient kernels on the flex backend.
//!
//! Models call [`conv2d`] where they would call `Conv2d::forward`. The forward pass is Burn's
//! own; on flex (with or without autodiff) the backward runs the kernels of [`flex`] (dense
//! weight gradients as im2col + matmul, depthwise gradients computed directly) through Burn's
//! backend-extension API, instead of `burn-backend`'s generic fallback. Every other backend runs
//! `Conv2d::forward` unchanged. `TYMPAN_CONV=burn` in the environment turns the kernels off (for
//! comparisons: `cargo xtask bench train`).

mod autodiff;
#[cfg(feature = "flex")]
mod flex;
mod ops;

use std::sync::OnceLock;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

pub use ops::ConvKernels;

/// Whether `TYMPAN_CONV=burn` asked for Burn's own convolution backward.
pub fn kernels_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("TYMPAN_CONV").map_or(true, |v| v != "burn"))
}

/// Whether tensors on `device` take tympan's kernels.
fn uses_kernels(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        kernels_enabled()
            && matches!(
                device.clone().inner().as_dispatch(),
                burn::backend::DispatchDevice::Flex(_)
            )
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// `conv.forward(x)`: the same output, with tympan's gradient kernels where the backend has them.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !uses_kernels(&x.device()) {
        return conv.forward(x);
    }
    let [_, _, h, w] = x.dims();
    let ((top, bottom), (left, right)) = padding_pairs(conv, h, w);
    let options = burn::backend::ops::ConvOptions::new_with_padding(
        conv.stride,
        [(top, bottom), (left, right)],
        conv.dilation,
        conv.groups,
    );
    let out = Tensor::<4>::from_dispatch(<burn::backend::Dispatch as ConvKernels>::tympan_conv2d(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        options,
    ));
    match &conv.bias {
        Some(bias) => {
            let c = bias.dims()[0];
            out + bias.val().reshape([1, c, 1, 1])
        }
        None => out,
    }
}

/// `((top, bottom), (left, right))` as `Conv2d::forward` computes them (`PaddingConfig2d`'s
/// private `calculate_padding_2d_pairs` in burn-nn 0.22.1 `src/padding.rs`: "same" splits the
/// total with the smaller half first and ignores dilation, as Burn does).
fn padding_pairs(conv: &Conv2d, h: usize, w: usize) -> ((usize, usize), (usize, usize)) {
    let same = |k: usize, s: usize, size: usize| {
        let out = size.div_ceil(s);
        let total = if out > 0 {
            ((out - 1) * s + k).saturating_sub(size)
        } else {
            0
        };
        (total / 2, total - total / 2)
    };
    match conv.padding {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Same => (
            same(conv.kernel_size[0], conv.stride[0], h),
            same(conv.kernel_size[1], conv.stride[1], w),
        ),
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((top, bottom), (left, right)),
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    use super::*;

    /// Output, input gradient and weight/bias gradients of `f(conv, x)` under the loss
    /// `sum(y * r)` for a fixed random `r`.
    fn grads(
        conv: &Conv2d,
        x: &Tensor<4>,
        r: &Tensor<4>,
        f: fn(&Conv2d, Tensor<4>) -> Tensor<4>,
    ) -> Vec<Vec<f32>> {
        let x = x.clone().require_grad();
        let y = f(conv, x.clone());
        let g = (y.clone() * r.clone()).sum().backward();
        let mut out = vec![
            y.into_data().try_to_vec::<f32>().unwrap(),
            x.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap(),
            conv.weight
                .grad(&g)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        ];
        if let Some(b) = &conv.bias {
            out.push(b.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap());
        }
        out
    }

    /// name, channels, kernel, stride, dilation, padding, groups, bias, input shape.
    type Case = (
        &'static str,
        [usize; 2],
        usize,
        usize,
        usize,
        PaddingConfig2d,
        usize,
        bool,
        [usize; 4],
    );

    /// tympan's kernels against Burn's generic backward (`Conv2d::forward`) on the same
    /// weights and inputs. Tolerance: 2e-5 of the largest magnitude of each gradient (float32
    /// sums taken in another order).
    #[test]
    fn kernels_match_burns_generic_backward() {
        let device = Device::flex().autodiff();
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // name, channels, kernel, stride, dilation, padding, groups, bias, input
            ("pointwise", [24, 40], 1, 1, 1, PaddingConfig2d::Explicit(0, 0, 0, 0), 1, false, [2, 24, 9, 7]),
            ("pointwise+bias", [8, 12], 1, 1, 1, PaddingConfig2d::Valid, 1, true, [3, 8, 5, 6]),
            ("stem 3x3/2 asym", [1, 16], 3, 2, 1, PaddingConfig2d::Explicit(0, 0, 1, 1), 1, false, [2, 1, 33, 16]),
            ("dense 3x3 same", [6, 10], 3, 1, 1, PaddingConfig2d::Same, 1, true, [2, 6, 11, 9]),
            ("dense 1x1/2", [6, 10], 1, 2, 1, PaddingConfig2d::Valid, 1, false, [2, 6, 11, 9]),
            ("dense dilated", [4, 5], 3, 1, 2, PaddingConfig2d::Explicit(2, 2, 2, 2), 1, false, [2, 4, 12, 10]),
            ("depthwise 3x3/1", [12, 12], 3, 1, 1, PaddingConfig2d::Explicit(1, 1, 1, 1), 12, false, [2, 12, 17, 13]),
            ("depthwise 5x5/2 asym", [8, 8], 5, 2, 1, PaddingConfig2d::Explicit(1, 1, 2, 2), 8, false, [2, 8, 21, 14]),
            ("depthwise 3x3/2 asym+bias", [6, 6], 3, 2, 1, PaddingConfig2d::Explicit(0, 0, 1, 1), 6, true, [3, 6, 16, 9]),
            ("grouped (generic)", [8, 8], 3, 1, 1, PaddingConfig2d::Explicit(1, 1, 1, 1), 2, false, [2, 8, 7, 7]),
        ];
        for (name, ch, k, s, d, pad, groups, bias, shape) in cases {
            let conv = Conv2dConfig::new(*ch, [*k, *k])
                .with_stride([*s, *s])
                .with_dilation([*d, *d])
                .with_padding(pad.clone())
                .with_groups(*groups)
                .with_bias(*bias)
                .init(&device);
            let x = Tensor::<4>::random(*shape, Distribution::Normal(0.0, 1.0), &device);
            let y_shape = conv.forward(x.clone()).dims();
            let r = Tensor::<4>::random(y_shape, Distribution::Normal(0.0, 1.0), &device);
            let ours = grads(&conv, &x, &r, conv2d);
            let burn = grads(&conv, &x, &r, |c, x| c.forward(x));
            for (what, (a, b)) in ["output", "x grad", "weight grad", "bias grad"]
                .iter()
                .zip(ours.iter().zip(&burn))
            {
                assert_eq!(a.len(), b.len(), "{name}: {what} sizes");
                let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
                let worst = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
                assert!(
                    worst <= 2e-5 * scale,
                    "{name}: {what} differs by {worst} (largest magnitude {scale})"
                );
            }
        }
    }

    /// Without autodiff the op is Burn's forward, bias included.
    #[test]
    fn inference_output_is_conv2d_forward() {
        let device = Device::flex();
        let conv = Conv2dConfig::new([3, 5], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .init(&device);
        let x = Tensor::<4>::random([2, 3, 8, 6], Distribution::Normal(0.0, 1.0), &device);
        let a = conv2d(&conv, x.clone()).into_data();
        let b = conv.forward(x).into_data();
        a.assert_approx_eq::<f32>(&b, burn::tensor::Tolerance::absolute(1e-6));
    }
}
