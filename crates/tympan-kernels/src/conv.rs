//! Convolutions through [`ConvKernels`]: on flex, deep dense convolutions run forward as
//! im2col + matmul, and the backward runs `conv_flex`'s kernels (dense gradients as im2col +
//! matmul and matmul + col2im, depthwise gradients computed directly) instead of
//! `burn-backend`'s generic fallback; the other forward passes are Burn's own. Every other
//! backend runs `Conv1d::forward` / `Conv2d::forward` unchanged.

use burn::backend::Dispatch;
use burn::backend::ops::ConvOptions;
use burn::nn::conv::{Conv1d, Conv2d};
use burn::nn::{PaddingConfig1d, PaddingConfig2d};
use burn::prelude::*;

use super::conv_ops::ConvKernels;
use super::uses_kernels;

/// `conv.forward(x)`: the same output, with tympan's gradient kernels where the backend has them.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !uses_kernels(&x.device()) {
        return conv.forward(x);
    }
    let [_, _, h, w] = x.dims();
    let pads = [
        same_or(&conv.padding, 0, conv.kernel_size[0], conv.stride[0], h),
        same_or(&conv.padding, 1, conv.kernel_size[1], conv.stride[1], w),
    ];
    let options = ConvOptions::new_with_padding(conv.stride, pads, conv.dilation, conv.groups);
    with_bias(
        kernel(x, conv.weight.val(), options),
        conv.bias.as_ref().map(|b| b.val()),
    )
}

/// `conv.forward(x)` for a 1D conv, run as a 2D conv of height 1 so that it takes the same
/// kernels.
pub fn conv1d(conv: &Conv1d, x: Tensor<3>) -> Tensor<3> {
    if !uses_kernels(&x.device()) {
        return conv.forward(x);
    }
    let l = x.dims()[2];
    let pad = match conv.padding {
        PaddingConfig1d::Valid => (0, 0),
        PaddingConfig1d::Same => same_padding(conv.kernel_size, conv.stride, l),
        PaddingConfig1d::Explicit(left, right) => (left, right),
    };
    let options = ConvOptions::new_with_padding([conv.stride], [pad], [conv.dilation], conv.groups);
    kernel_1d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        options,
    )
}

/// `burn::tensor::module::conv1d(x, weight, None, options)` for a weight that is no module's
/// (a fixed filter bank), through the same kernels as [`conv1d`].
pub fn conv1d_weight(x: Tensor<3>, weight: Tensor<3>, options: ConvOptions<1>) -> Tensor<3> {
    if !uses_kernels(&x.device()) {
        return burn::tensor::module::conv1d(x, weight, None, options);
    }
    kernel_1d(x, weight, None, options)
}

/// A convolution module applied through [`conv1d`] or [`conv2d`]: lets code written once for
/// both ranks (the residual blocks) take the kernels.
pub trait Convolve<const D: usize> {
    /// `self.forward(x)`, through tympan's kernels where the backend has them.
    fn convolve(&self, x: Tensor<D>) -> Tensor<D>;
}

impl Convolve<4> for Conv2d {
    fn convolve(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(self, x)
    }
}

impl Convolve<3> for Conv1d {
    fn convolve(&self, x: Tensor<3>) -> Tensor<3> {
        conv1d(self, x)
    }
}

/// A 1D convolution run as a 2D one of height 1, so that it takes the same kernels.
fn kernel_1d(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<1>,
) -> Tensor<3> {
    let [n, c, l] = x.dims();
    let [co, ci, k] = weight.dims();
    let options = ConvOptions::new_with_padding(
        [1, options.stride[0]],
        [(0, 0), options.padding[0]],
        [1, options.dilation[0]],
        options.groups,
    );
    let y = kernel(
        x.reshape([n, c, 1, l]),
        weight.reshape([co, ci, 1, k]),
        options,
    );
    let y = with_bias(y, bias);
    let [n, co, _, lo] = y.dims();
    y.reshape([n, co, lo])
}

fn kernel(x: Tensor<4>, weight: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let (weight, options) = live_taps(weight, options, [h, w]);
    Tensor::from_dispatch(<Dispatch as ConvKernels>::tympan_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        options,
    ))
}

/// The convolution without the kernel rows and columns that read only padding at every output
/// position (a 3x3 kernel on an input one column wide reads padding with both side columns):
/// the weight narrowed to the taps that reach the input, the padding before cut by the taps
/// dropped, the padding after chosen for the same output size. Same output, each sum without
/// its zero terms; the dropped taps' weight gradient is zero, as their products are (Jeong &
/// Lim's DenseNet pools down to 7 x 1 and 3 x 1 planes under 3x3 kernels). Unchanged where a
/// live tap would need padding removed before the input.
fn live_taps(
    weight: Tensor<4>,
    options: ConvOptions<2>,
    size: [usize; 2],
) -> (Tensor<4>, ConvOptions<2>) {
    let dims = weight.dims();
    let mut out = (weight, options.clone());
    for d in 0..2 {
        let (k, s, dil) = (dims[2 + d], options.stride[d], options.dilation[d]);
        let (before, after) = options.padding[d];
        let reach = dil * (k - 1) + 1;
        let Some(n) = (size[d] + before + after)
            .checked_sub(reach)
            .map(|r| r / s + 1)
        else {
            continue;
        };
        // Tap i reads input positions o s + i dil - before for outputs o in 0..n.
        let live = |i: usize| {
            let last = (n - 1) * s + i * dil;
            last >= before && i * dil < size[d] + before
        };
        let Some(lo) = (0..k).find(|&i| live(i)) else {
            continue;
        };
        let hi = (lo..k).rev().find(|&i| live(i)).unwrap_or(lo);
        if (lo, hi) == (0, k - 1) || lo * dil > before {
            continue;
        }
        let taps = hi - lo + 1;
        let before = before - lo * dil;
        // The smallest padding after that keeps n outputs: (n - 1) s + reach <= padded size.
        let reach = dil * (taps - 1) + 1;
        let after = ((n - 1) * s + reach).saturating_sub(size[d] + before);
        if (size[d] + before + after - reach) / s + 1 != n {
            continue;
        }
        let (weight, mut o) = out;
        o.padding[d] = (before, after);
        out = (weight.narrow(2 + d, lo, taps), o);
    }
    out
}

/// `y + bias` per channel, the bias broadcast by [`crate::expand`] so that its gradient (a sum
/// over the batch and positions) has a fixed order.
fn with_bias(y: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    match bias {
        Some(b) => {
            let c = b.dims()[0];
            let shape = y.shape();
            y + crate::expand(b.reshape([1, c, 1, 1]), shape)
        }
        None => y,
    }
}

/// `(before, after)` padding of one axis as `Conv2d::forward` computes it from its
/// `PaddingConfig2d` (whose `calculate_padding_2d_pairs` is private in burn-nn 0.22.1,
/// `src/padding.rs`).
fn same_or(
    padding: &PaddingConfig2d,
    axis: usize,
    k: usize,
    s: usize,
    size: usize,
) -> (usize, usize) {
    match (padding, axis) {
        (PaddingConfig2d::Valid, _) => (0, 0),
        (PaddingConfig2d::Same, _) => same_padding(k, s, size),
        (PaddingConfig2d::Explicit(top, _, bottom, _), 0) => (*top, *bottom),
        (PaddingConfig2d::Explicit(_, left, _, right), _) => (*left, *right),
    }
}

/// Burn's "same" padding: the total that keeps `ceil(size / s)` outputs, smaller half first
/// (dilation is ignored, as Burn ignores it).
fn same_padding(k: usize, s: usize, size: usize) -> (usize, usize) {
    let out = size.div_ceil(s);
    let total = if out > 0 {
        ((out - 1) * s + k).saturating_sub(size)
    } else {
        0
    };
    (total / 2, total - total / 2)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::nn::conv::{Conv1dConfig, Conv2dConfig};
    use burn::tensor::Distribution;

    use super::*;
    use crate::test_util::assert_close;

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

    /// `live_taps` keeps the taps that reach the input and the output's size: a 3x3 kernel on
    /// 7 x 1 planes keeps its middle column, on 1 x 1 its middle tap, on 5 x 4 everything;
    /// dilation 2 with padding 2 on one column, the middle column; a 5x5 kernel with stride 2
    /// and padding 2 on 2 x 3 planes (one output row, reading rows `i - 2`), rows 2 and 3 and
    /// every column (the two outputs of a row reach columns -2..=4).
    #[test]
    fn live_taps_drops_what_reads_only_padding() {
        let device = Device::flex();
        let narrowed = |k: usize, s: usize, d: usize, p: usize, size: [usize; 2]| {
            let w = Tensor::<4>::zeros([3, 2, k, k], &device);
            let o = ConvOptions::new([s, s], [p, p], [d, d], 1);
            let (w, o) = live_taps(w, o, size);
            (w.dims(), o.padding)
        };
        assert_eq!(
            narrowed(3, 1, 1, 1, [7, 1]),
            ([3, 2, 3, 1], [(1, 1), (0, 0)])
        );
        assert_eq!(
            narrowed(3, 1, 2, 2, [6, 1]),
            ([3, 2, 3, 1], [(2, 2), (0, 0)])
        );
        assert_eq!(
            narrowed(3, 1, 1, 1, [1, 1]),
            ([3, 2, 1, 1], [(0, 0), (0, 0)])
        );
        assert_eq!(
            narrowed(3, 1, 1, 1, [5, 4]),
            ([3, 2, 3, 3], [(1, 1), (1, 1)])
        );
        assert_eq!(
            narrowed(5, 2, 1, 2, [2, 3]),
            ([3, 2, 2, 5], [(0, 0), (2, 2)])
        );
    }

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
            // Products deeper than gemm.rs's DEPTH_BLOCK (512): the forward pass (600 and 576
            // taps) and the weight gradient (1,200 output positions).
            ("pointwise deep", [600, 6], 1, 1, 1, PaddingConfig2d::Valid, 1, true, [2, 600, 3, 4]),
            ("pointwise long", [4, 3], 1, 1, 1, PaddingConfig2d::Valid, 1, false, [2, 4, 40, 30]),
            ("dense 3x3 deep", [64, 6], 3, 1, 1, PaddingConfig2d::Same, 1, false, [2, 64, 5, 5]),
            ("deep dense 3x3 same", [16, 24], 3, 1, 1, PaddingConfig2d::Same, 1, true, [3, 16, 11, 9]),
            ("deep dense 3x3/2 asym", [8, 12], 3, 2, 1, PaddingConfig2d::Explicit(0, 0, 1, 1), 1, false, [2, 8, 15, 10]),
            ("deep dense 5x5 dilated", [4, 6], 5, 1, 2, PaddingConfig2d::Explicit(4, 4, 4, 4), 1, false, [2, 4, 14, 12]),
            ("deep dense 4x4/3 valid", [5, 7], 4, 3, 1, PaddingConfig2d::Valid, 1, true, [2, 5, 13, 17]),
            ("depthwise 3x3/1", [12, 12], 3, 1, 1, PaddingConfig2d::Explicit(1, 1, 1, 1), 12, false, [2, 12, 17, 13]),
            ("depthwise 5x5/2 asym", [8, 8], 5, 2, 1, PaddingConfig2d::Explicit(1, 1, 2, 2), 8, false, [2, 8, 21, 14]),
            ("depthwise 3x3/2 asym+bias", [6, 6], 3, 2, 1, PaddingConfig2d::Explicit(0, 0, 1, 1), 6, true, [3, 6, 16, 9]),
            ("grouped (generic)", [8, 8], 3, 1, 1, PaddingConfig2d::Explicit(1, 1, 1, 1), 2, false, [2, 8, 7, 7]),
            // Padding wider than the input: kernel columns whose every tap is padding.
            ("dense 7x7 on width 1", [2, 3], 7, 1, 1, PaddingConfig2d::Explicit(3, 3, 3, 3), 1, true, [2, 2, 5, 1]),
            ("dense 7x7/2 on width 2", [2, 3], 7, 2, 1, PaddingConfig2d::Explicit(3, 3, 3, 3), 1, false, [2, 2, 6, 2]),
            // Kernel columns or rows that read only padding, dropped by `live_taps`: the
            // DenseNet's 3x3 convolutions on planes one column wide, dilated, strided; and one
            // that `live_taps` keeps (stride 2 on one column: the middle column reads only
            // padding, the outer ones do not), so that im2col still meets a dead column.
            ("3x3/2 keeping a dead column", [2, 3], 3, 2, 1, PaddingConfig2d::Explicit(2, 2, 2, 2), 1, true, [2, 2, 5, 1]),
            ("3x3 on one column", [16, 8], 3, 1, 1, PaddingConfig2d::Explicit(1, 1, 1, 1), 1, false, [2, 16, 7, 1]),
            ("3x3 dilated on one column", [4, 6], 3, 1, 2, PaddingConfig2d::Explicit(2, 2, 2, 2), 1, true, [2, 4, 6, 1]),
            ("5x5/2 on 2x3", [4, 6], 5, 2, 1, PaddingConfig2d::Explicit(2, 2, 2, 2), 1, false, [2, 4, 2, 3]),
            ("depthwise 3x3 on one column", [6, 6], 3, 1, 1, PaddingConfig2d::Explicit(1, 1, 1, 1), 6, false, [2, 6, 5, 1]),
            // One output position (slim 2D's last stage): one product for all samples.
            ("dense 3x3 to 1x1", [24, 40], 3, 1, 1, PaddingConfig2d::Valid, 1, true, [3, 24, 3, 3]),
            ("dense 3x3 deep to 1x1", [64, 20], 3, 1, 1, PaddingConfig2d::Valid, 1, false, [3, 64, 3, 3]),
            ("pointwise on 1x1", [40, 24], 1, 1, 1, PaddingConfig2d::Valid, 1, false, [3, 40, 1, 1]),
            // Fewer than 64 positions: every sample's positions in one product.
            ("dense 3x3 narrow", [32, 48], 3, 1, 1, PaddingConfig2d::Explicit(1, 1, 1, 1), 1, true, [3, 32, 1, 7]),
            // A weight gradient split over samples and positions (2 units of 4,096 positions
            // per sample, 6 units in 6 partial sums).
            ("dense 3x3 split weight grad", [8, 16], 3, 1, 1, PaddingConfig2d::Same, 1, false, [3, 8, 70, 65]),
            // The same with more output channels than taps (the untransposed products).
            ("pointwise split weight grad", [8, 80], 1, 1, 1, PaddingConfig2d::Valid, 1, false, [3, 8, 70, 65]),
            // 3x3 stride 1 with fewer than 32 channels on a side (im2col, or direct for at
            // most 16 input channels on AVX-512 CPUs): odd output sizes,
            // padding on one side only, depth beyond DEPTH_BLOCK.
            ("3x3 valid odd", [24, 20], 3, 1, 1, PaddingConfig2d::Valid, 1, false, [2, 24, 12, 9]),
            ("3x3 asym", [16, 32], 3, 1, 1, PaddingConfig2d::Explicit(0, 0, 1, 1), 1, true, [3, 16, 9, 14]),
            ("3x3 deep", [600, 16], 3, 1, 1, PaddingConfig2d::Same, 1, false, [1, 600, 5, 4]),
            // Winograd F(2x2, 3x3), forward and input gradient (32+ channels each side, 16+
            // tiles): odd output sizes (edge tiles cut by the output's end), no padding (the
            // input gradient's 2 zeros before), padding on one side only, wide rows of tiles
            // (the blocked schedule) and depth beyond DEPTH_BLOCK.
            ("winograd 3x3 same odd", [64, 72], 3, 1, 1, PaddingConfig2d::Same, 1, true, [2, 64, 9, 13]),
            ("winograd 3x3 valid", [72, 64], 3, 1, 1, PaddingConfig2d::Valid, 1, false, [3, 72, 11, 10]),
            ("winograd 3x3 asym", [64, 64], 3, 1, 1, PaddingConfig2d::Explicit(0, 0, 1, 1), 1, false, [2, 64, 9, 14]),
            ("winograd 3x3 blocked", [64, 64], 3, 1, 1, PaddingConfig2d::Same, 1, false, [2, 64, 41, 37]),
            ("winograd 3x3 deep", [600, 64], 3, 1, 1, PaddingConfig2d::Same, 1, false, [1, 600, 9, 8]),
            // Six tiles per sample (WINOGRAD_TILES), 96 in the batch: VGG's last stage.
            ("winograd 3x3 narrow batch", [64, 48], 3, 1, 1, PaddingConfig2d::Same, 1, true, [16, 64, 6, 4]),
            // 575 positions in tiles of 448 (288 taps): a tile ends inside an output row.
            ("dense 3x3/2 tiled", [32, 8], 3, 2, 1, PaddingConfig2d::Explicit(1, 1, 1, 1), 1, true, [2, 32, 50, 45]),
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
            assert_close(name, &ours, &burn);
        }
    }

    /// 1D convolutions (the raw-waveform families) through the same kernels, against
    /// `Conv1d::forward`.
    #[test]
    fn conv1d_matches_burns_generic_backward() {
        let device = Device::flex().autodiff();
        // channels, kernel, stride, padding, groups, bias, input [n, c, l]
        let cases = [
            ([1, 8], 80, 4, PaddingConfig1d::Valid, 1, true, [2, 1, 803]),
            ([8, 12], 3, 1, PaddingConfig1d::Same, 1, false, [2, 8, 50]),
            (
                [6, 6],
                3,
                2,
                PaddingConfig1d::Explicit(1, 1),
                6,
                false,
                [2, 6, 31],
            ),
            ([4, 6], 1, 1, PaddingConfig1d::Valid, 1, true, [3, 4, 17]),
            // 1,200 positions in tiles of 896 (144 taps).
            (
                [16, 8],
                9,
                1,
                PaddingConfig1d::Explicit(4, 4),
                1,
                false,
                [2, 16, 1200],
            ),
            (
                [16, 8],
                9,
                2,
                PaddingConfig1d::Explicit(4, 3),
                1,
                true,
                [2, 16, 61],
            ),
            // 32 input channels or more: one product per tap (`conv_taps`), its weight gradient
            // too from 256 positions on; strided, and a 1x1 stride-2 shortcut.
            (
                [48, 40],
                3,
                1,
                PaddingConfig1d::Explicit(1, 1),
                1,
                true,
                [3, 48, 300],
            ),
            (
                [32, 20],
                3,
                2,
                PaddingConfig1d::Explicit(1, 1),
                1,
                false,
                [2, 32, 61],
            ),
            (
                [36, 16],
                1,
                2,
                PaddingConfig1d::Valid,
                1,
                false,
                [2, 36, 50],
            ),
        ];
        for (i, (ch, k, s, pad, groups, bias, shape)) in cases.into_iter().enumerate() {
            let conv = Conv1dConfig::new(ch[0], ch[1], k)
                .with_stride(s)
                .with_padding(pad)
                .with_groups(groups)
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let r = Tensor::<3>::random(
                conv.forward(x.clone()).dims(),
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let run = |f: &dyn Fn(Tensor<3>) -> Tensor<3>| {
                let x = x.clone().require_grad();
                let y = f(x.clone());
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
            };
            let ours = run(&|x| conv1d(&conv, x));
            let burn = run(&|x| conv.forward(x));
            assert_close(&format!("conv1d case {i}"), &ours, &burn);
        }
    }

    /// Without autodiff the op is Burn's forward, bias included: Burn's own path for a shallow
    /// conv (tolerance 1e-6), the im2col + matmul kernel for a deep one (2e-5 of the largest
    /// output, float32 sums in another order).
    #[test]
    fn inference_output_is_conv2d_forward() {
        let device = Device::flex();
        for (ch, shape) in [([3, 5], [2, 3, 8, 6]), ([32, 16], [5, 32, 9, 7])] {
            let conv = Conv2dConfig::new(ch, [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(&device);
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let a = conv2d(&conv, x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let b = conv.forward(x).into_data().try_to_vec::<f32>().unwrap();
            assert_close(&format!("inference {ch:?}"), &[a], &[b]);
        }
    }

    /// A sample's output has the same bits whatever batch it is computed in, so that window
    /// scores do not depend on how many windows share a forward pass: which kernel a
    /// convolution takes (direct, Winograd, im2col per sample or shared, tap by tap) must be
    /// chosen from a sample's sizes alone. Samples 0, 5 and 15 of a batch of 16 against each
    /// alone: narrow planes under Winograd's channel count (VGG's last stage, 6 x 4), a few
    /// tiles (the DenseNet's 15 x 2), few channels (direct), Winograd on wide planes, positions
    /// shared across samples, 1D convolutions tap by tap.
    #[test]
    fn outputs_do_not_depend_on_the_batch() {
        let device = Device::flex();
        for (ch, k, shape) in [
            ([64, 64], [3, 3], [64, 6, 4]),
            ([64, 32], [3, 3], [64, 15, 2]),
            ([16, 16], [3, 3], [16, 9, 40]),
            ([48, 48], [3, 3], [48, 12, 10]),
            ([24, 40], [3, 3], [24, 3, 5]),
            ([32, 32], [1, 3], [32, 1, 50]),
        ] {
            let conv = Conv2dConfig::new(ch, k)
                .with_padding(PaddingConfig2d::Same)
                .init(&device);
            let [c, h, w] = shape;
            let x = Tensor::<4>::random([16, c, h, w], Distribution::Normal(0.0, 1.0), &device);
            let batch = conv2d(&conv, x.clone());
            for b in [0, 5, 15] {
                let alone = conv2d(&conv, x.clone().narrow(0, b, 1)).into_data();
                let within = batch.clone().narrow(0, b, 1).into_data();
                assert_eq!(alone, within, "{ch:?} {k:?} on {shape:?}: sample {b}");
            }
        }
    }
}
