//! TensorFlow-style "same" padding, computed once from the nominal image size.
//!
//! Matches `Conv2dStaticSamePadding` in `efficientnet_pytorch/utils.py`: for input size `i`,
//! stride `s` and kernel `k`, the output is `ceil(i / s)` and the total padding
//! `max((ceil(i/s) - 1) * s + k - i, 0)` is split with the smaller half before (top/left).
//! The padding is fixed at construction from the model's *nominal* image size (260 for B2),
//! not from the actual input: PSLA's 128 x 1056 spectrograms get B2's 260 x 260 paddings.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

/// Padding `(before, after)` along one axis.
pub fn same_padding_1d(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out.saturating_sub(1)) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// Burn padding for a conv with the given nominal input size.
pub fn same_padding(image_size: [usize; 2], kernel: usize, stride: usize) -> PaddingConfig2d {
    let (top, bottom) = same_padding_1d(image_size[0], kernel, stride);
    let (left, right) = same_padding_1d(image_size[1], kernel, stride);
    PaddingConfig2d::Explicit(top, left, bottom, right)
}

/// A conv with static "same" padding (`Conv2dStaticSamePadding`).
#[allow(clippy::too_many_arguments)]
pub fn same_conv(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    bias: bool,
    image_size: [usize; 2],
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_bias(bias)
        .with_padding(same_padding(image_size, kernel, stride))
        .init(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_efficientnet_pytorch() {
        // k=3, s=2 on 260: out 130, pad (129*2+3-260)=1 -> (0, 1)
        assert_eq!(same_padding_1d(260, 3, 2), (0, 1));
        // k=5, s=2 on 65: out 33, pad 4 -> (2, 2)
        assert_eq!(same_padding_1d(65, 5, 2), (2, 2));
        // stride 1 keeps the size: k=5 -> (2, 2)
        assert_eq!(same_padding_1d(17, 5, 1), (2, 2));
        // 1x1 conv: no padding
        assert_eq!(same_padding_1d(9, 1, 1), (0, 0));
    }
}
