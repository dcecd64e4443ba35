//! Mobile inverted bottleneck block with squeeze-excitation (`MBConvBlock` in
//! `efficientnet_pytorch/model.py`; Tan & Le 2019, Fig. 2 and MobileNetV2 Fig. 3).
//!
//! expand 1x1 -> BN -> act, depthwise kxk -> BN -> act, [SE], project 1x1 -> BN,
//! identity skip with drop-connect when stride 1 and in == out.

use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::params::BlockSpec;
use super::same_conv::same_conv;
use crate::layers::DropPath;
use tympan_kernels::{Act, batch_norm_act, conv2d, expand, mean_dim, swish};

/// BatchNorm as `efficientnet_pytorch` configures it: momentum `1 - 0.99`, eps `1e-3`.
pub fn effnet_bn(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_momentum(0.01)
        .with_epsilon(1e-3)
        .init(device)
}

/// The activation of a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Activation {
    /// `x * sigmoid(x)` (B0-B7).
    Swish,
    /// `min(max(x, 0), 6)` (Lite).
    Relu6,
}

impl Activation {
    /// The same activation, fused into a batch norm ([`batch_norm_act`]).
    pub fn fused(&self) -> Act {
        match self {
            Self::Swish => Act::Swish,
            Self::Relu6 => Act::Relu6,
        }
    }

    /// Apply the activation.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.fused().apply(x)
    }
}

/// Squeeze-excitation with biased 1x1 convs (`_se_reduce`, `_se_expand`), squeezed width
/// `max(1, int(input_filters * 0.25))`.
#[derive(Module, Debug)]
pub struct SqueezeExcitation {
    /// Reduction conv.
    pub se_reduce: Conv2d,
    /// Expansion conv.
    pub se_expand: Conv2d,
}

impl SqueezeExcitation {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let s = mean_dim(mean_dim(x.clone(), 2), 3);
        let s = swish(conv2d(&self.se_reduce, s));
        let s = conv2d(&self.se_expand, s);
        let shape = x.shape();
        x * expand(sigmoid(s), shape)
    }
}

/// One MBConv block.
#[derive(Module, Debug)]
pub struct MbConvBlock {
    /// 1x1 expansion (absent when the expansion ratio is 1).
    pub expand_conv: Option<Conv2d>,
    /// BN after the expansion.
    pub bn0: Option<BatchNorm>,
    /// Depthwise kxk conv.
    pub depthwise_conv: Conv2d,
    /// BN after the depthwise conv.
    pub bn1: BatchNorm,
    /// Squeeze-excitation (absent in Lite).
    pub se: Option<SqueezeExcitation>,
    /// 1x1 projection.
    pub project_conv: Conv2d,
    /// BN after the projection.
    pub bn2: BatchNorm,
    /// Stochastic depth on the residual branch.
    pub drop_path: DropPath,
    /// Activation.
    #[module(skip)]
    pub activation: Activation,
    /// Whether the identity skip is used.
    #[module(skip)]
    pub skip: bool,
}

impl MbConvBlock {
    /// Build a block from its spec. `se` selects squeeze-excitation, `drop_connect` its rate.
    pub fn new(
        spec: &BlockSpec,
        se: bool,
        activation: Activation,
        drop_connect: f64,
        device: &Device,
    ) -> Self {
        let inp = spec.input_filters;
        let oup = inp * spec.expand;
        let (expand_conv, bn0) = if spec.expand != 1 {
            (
                Some(same_conv(
                    [inp, oup],
                    1,
                    1,
                    1,
                    false,
                    spec.image_size,
                    device,
                )),
                Some(effnet_bn(oup, device)),
            )
        } else {
            (None, None)
        };
        let depthwise_conv = same_conv(
            [oup, oup],
            spec.kernel,
            spec.stride,
            oup,
            false,
            spec.image_size,
            device,
        );
        let after = [
            spec.image_size[0].div_ceil(spec.stride),
            spec.image_size[1].div_ceil(spec.stride),
        ];
        let se = se.then(|| {
            let squeezed = ((inp as f64 * 0.25) as usize).max(1);
            SqueezeExcitation {
                se_reduce: same_conv([oup, squeezed], 1, 1, 1, true, [1, 1], device),
                se_expand: same_conv([squeezed, oup], 1, 1, 1, true, [1, 1], device),
            }
        });
        Self {
            expand_conv,
            bn0,
            depthwise_conv,
            bn1: effnet_bn(oup, device),
            se,
            project_conv: same_conv([oup, spec.output_filters], 1, 1, 1, false, after, device),
            bn2: effnet_bn(spec.output_filters, device),
            drop_path: DropPath::new(drop_connect),
            activation,
            skip: spec.stride == 1 && inp == spec.output_filters,
        }
    }

    /// Forward pass.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = input.clone();
        if let (Some(conv), Some(bn)) = (&self.expand_conv, &self.bn0) {
            x = batch_norm_act(bn, conv2d(conv, x), self.activation.fused());
        }
        x = batch_norm_act(
            &self.bn1,
            conv2d(&self.depthwise_conv, x),
            self.activation.fused(),
        );
        if let Some(se) = &self.se {
            x = se.forward(x);
        }
        x = batch_norm_act(&self.bn2, conv2d(&self.project_conv, x), Act::Identity);
        if self.skip {
            self.drop_path.forward(x) + input
        } else {
            x
        }
    }
}
