//! Block tables and compound scaling of EfficientNet, as the `efficientnet_pytorch` package builds
//! them (`efficientnet_pytorch/utils.py`: `efficientnet`, `efficientnet_params`, `round_filters`,
//! `round_repeats`, `BlockDecoder`), plus the Lite variants of TensorFlow's
//! `efficientnet_lite_builder.py` (no SE, ReLU6, fixed stem/head, first and last stage not
//! depth-scaled).

use serde::{Deserialize, Serialize};

/// One stage of the base (B0) network: `r{repeats}_k{kernel}_s{stride}_e{expand}_i{in}_o{out}_se0.25`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageArgs {
    /// Number of MBConv blocks in the stage (before depth scaling).
    pub repeats: usize,
    /// Depthwise kernel size.
    pub kernel: usize,
    /// Stride of the first block of the stage.
    pub stride: usize,
    /// Expansion ratio of the inverted bottleneck.
    pub expand: usize,
    /// Input channels (before width scaling).
    pub input_filters: usize,
    /// Output channels (before width scaling).
    pub output_filters: usize,
}

const fn stage(
    repeats: usize,
    kernel: usize,
    stride: usize,
    expand: usize,
    input_filters: usize,
    output_filters: usize,
) -> StageArgs {
    StageArgs {
        repeats,
        kernel,
        stride,
        expand,
        input_filters,
        output_filters,
    }
}

/// The seven stages of EfficientNet-B0 (`efficientnet_pytorch/utils.py::efficientnet`).
pub const B0_STAGES: [StageArgs; 7] = [
    stage(1, 3, 1, 1, 32, 16),
    stage(2, 3, 2, 6, 16, 24),
    stage(2, 5, 2, 6, 24, 40),
    stage(3, 3, 2, 6, 40, 80),
    stage(3, 5, 1, 6, 80, 112),
    stage(4, 5, 2, 6, 112, 192),
    stage(1, 3, 1, 6, 192, 320),
];

/// Which member of the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EfficientNetVariant {
    /// EfficientNet-B0 .. B7 (index 0..=7): SE ratio 0.25, swish.
    B(usize),
    /// EfficientNet-Lite0 .. Lite4 (index 0..=4): no SE, ReLU6, fixed 32-channel stem and
    /// 1280-channel head.
    Lite(usize),
}

/// Coefficients of one variant: `(width, depth, image size, dropout)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coefficients {
    /// Width multiplier.
    pub width: f64,
    /// Depth multiplier.
    pub depth: f64,
    /// Nominal (ImageNet) image size; TF "same" padding is computed statically from it.
    pub image_size: usize,
    /// Dropout before the ImageNet classifier.
    pub dropout: f64,
}

impl EfficientNetVariant {
    /// The compound-scaling coefficients (`efficientnet_params`, `efficientnet_lite_builder`).
    pub fn coefficients(self) -> Option<Coefficients> {
        let c = |width, depth, image_size, dropout| Coefficients {
            width,
            depth,
            image_size,
            dropout,
        };
        Some(match self {
            Self::B(0) => c(1.0, 1.0, 224, 0.2),
            Self::B(1) => c(1.0, 1.1, 240, 0.2),
            Self::B(2) => c(1.1, 1.2, 260, 0.3),
            Self::B(3) => c(1.2, 1.4, 300, 0.3),
            Self::B(4) => c(1.4, 1.8, 380, 0.4),
            Self::B(5) => c(1.6, 2.2, 456, 0.4),
            Self::B(6) => c(1.8, 2.6, 528, 0.5),
            Self::B(7) => c(2.0, 3.1, 600, 0.5),
            Self::Lite(0) => c(1.0, 1.0, 224, 0.2),
            Self::Lite(1) => c(1.0, 1.1, 240, 0.2),
            Self::Lite(2) => c(1.1, 1.2, 260, 0.3),
            Self::Lite(3) => c(1.2, 1.4, 280, 0.3),
            Self::Lite(4) => c(1.4, 1.8, 300, 0.3),
            _ => return None,
        })
    }

    /// `true` for the Lite variants.
    pub fn is_lite(self) -> bool {
        matches!(self, Self::Lite(_))
    }

    /// The package's model name, e.g. `efficientnet-b2` or `efficientnet-lite0`.
    pub fn name(self) -> String {
        match self {
            Self::B(i) => format!("efficientnet-b{i}"),
            Self::Lite(i) => format!("efficientnet-lite{i}"),
        }
    }
}

/// `round_filters`: scale a channel count by the width multiplier and round to a multiple of 8,
/// never rounding down by more than 10 %.
pub fn round_filters(filters: usize, width: f64) -> usize {
    let divisor = 8.0;
    let f = filters as f64 * width;
    let mut new = (((f + divisor / 2.0) as usize) / 8 * 8).max(8);
    if (new as f64) < 0.9 * f {
        new += 8;
    }
    new
}

/// `round_repeats`: `ceil(depth * repeats)`.
pub fn round_repeats(repeats: usize, depth: f64) -> usize {
    (depth * repeats as f64).ceil() as usize
}

/// One MBConv block after scaling, in network order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockSpec {
    /// Input channels.
    pub input_filters: usize,
    /// Output channels.
    pub output_filters: usize,
    /// Expansion ratio.
    pub expand: usize,
    /// Depthwise kernel.
    pub kernel: usize,
    /// Depthwise stride.
    pub stride: usize,
    /// Nominal input size of the block (for static "same" padding).
    pub image_size: [usize; 2],
}

/// The scaled block list of a variant, with the nominal image size entering each block,
/// exactly as `EfficientNet.__init__` walks `blocks_args`.
pub fn block_specs(variant: EfficientNetVariant, image_size: [usize; 2]) -> Vec<BlockSpec> {
    let Some(c) = variant.coefficients() else {
        return Vec::new();
    };
    let lite = variant.is_lite();
    // The stem has stride 2.
    let mut size = [image_size[0].div_ceil(2), image_size[1].div_ceil(2)];
    let mut out = Vec::new();
    let last = B0_STAGES.len() - 1;
    for (i, s) in B0_STAGES.iter().enumerate() {
        let input = round_filters(s.input_filters, c.width);
        let output = round_filters(s.output_filters, c.width);
        let input = if lite && i == 0 { 32 } else { input };
        let repeats = if lite && (i == 0 || i == last) {
            s.repeats
        } else {
            round_repeats(s.repeats, c.depth)
        };
        for r in 0..repeats {
            let (inp, stride) = if r == 0 {
                (input, s.stride)
            } else {
                (output, 1)
            };
            out.push(BlockSpec {
                input_filters: inp,
                output_filters: output,
                expand: s.expand,
                kernel: s.kernel,
                stride,
                image_size: size,
            });
            size = [size[0].div_ceil(stride), size[1].div_ceil(stride)];
        }
    }
    out
}

/// Stem width: `round_filters(32)`, fixed at 32 for Lite.
pub fn stem_filters(variant: EfficientNetVariant) -> usize {
    match (variant.is_lite(), variant.coefficients()) {
        (false, Some(c)) => round_filters(32, c.width),
        _ => 32,
    }
}

/// Head width: `round_filters(1280)`, fixed at 1280 for Lite. PSLA's `middim` list.
pub fn head_filters(variant: EfficientNetVariant) -> usize {
    match (variant.is_lite(), variant.coefficients()) {
        (false, Some(c)) => round_filters(1280, c.width),
        _ => 1280,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_widths_match_psla_middim() {
        // PSLA Models.py: self.middim = [1280, 1280, 1408, 1536, 1792, 2048, 2304, 2560]
        let middim = [1280, 1280, 1408, 1536, 1792, 2048, 2304, 2560];
        for (b, m) in middim.iter().enumerate() {
            assert_eq!(head_filters(EfficientNetVariant::B(b)), *m, "b{b}");
        }
    }

    #[test]
    fn block_counts() {
        let n = |v| block_specs(v, [224, 224]).len();
        assert_eq!(n(EfficientNetVariant::B(0)), 16);
        assert_eq!(n(EfficientNetVariant::B(2)), 23);
        assert_eq!(n(EfficientNetVariant::B(7)), 55);
        assert_eq!(n(EfficientNetVariant::Lite(0)), 16);
        // Lite2: 21 blocks in the released state dict.
        assert_eq!(n(EfficientNetVariant::Lite(2)), 21);
    }
}
