//! The EfficientNet feature extractor (`EfficientNet.extract_features` in
//! `efficientnet_pytorch/model.py`): stem conv 3x3/2 -> BN -> act, MBConv blocks with linearly
//! increasing drop-connect, head conv 1x1 -> BN -> act. The ImageNet classifier is not part of
//! the module (PSLA replaces `_fc` by an identity).

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::mbconv::{Activation, MbConvBlock, effnet_bn};
use super::params::{EfficientNetVariant, block_specs, head_filters, stem_filters};
use super::same_conv::same_conv;
use tympan_kernels::{batch_norm_act, conv2d};

/// Configuration of an EfficientNet backbone.
#[derive(Config, Debug)]
pub struct EfficientNetConfig {
    /// Family member.
    pub variant: EfficientNetVariant,
    /// Input channels (1 for spectrograms, 3 for ImageNet images).
    #[config(default = 1)]
    pub in_channels: usize,
    /// Drop-connect rate of the last block (`drop_connect_rate`, 0.2 in the package).
    #[config(default = 0.2)]
    pub drop_connect_rate: f64,
}

/// EfficientNet backbone: `[B, C_in, H, W] -> [B, head, H/32, W/32]`.
#[derive(Module, Debug)]
pub struct EfficientNet {
    /// Stem conv (3x3, stride 2).
    pub conv_stem: Conv2d,
    /// Stem BN.
    pub bn0: BatchNorm,
    /// MBConv blocks.
    pub blocks: Vec<MbConvBlock>,
    /// Head conv (1x1).
    pub conv_head: Conv2d,
    /// Head BN.
    pub bn1: BatchNorm,
    /// Activation of stem, blocks and head.
    #[module(skip)]
    pub activation: Activation,
}

impl EfficientNetConfig {
    /// Build the backbone on `device`.
    ///
    /// # Panics
    /// If the variant index is out of range (B0-B7, Lite0-Lite4); the registry checks names first.
    pub fn init(&self, device: &Device) -> EfficientNet {
        let c = self
            .variant
            .coefficients()
            .unwrap_or_else(|| panic!("unknown EfficientNet variant {:?}", self.variant));
        let size = [c.image_size, c.image_size];
        let lite = self.variant.is_lite();
        let activation = if lite {
            Activation::Relu6
        } else {
            Activation::Swish
        };
        let stem = stem_filters(self.variant);
        let specs = block_specs(self.variant, size);
        let n = specs.len();
        let blocks = specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                // efficientnet_pytorch scales the rate by idx / len(blocks).
                let rate = self.drop_connect_rate * i as f64 / n as f64;
                MbConvBlock::new(s, !lite, activation, rate, device)
            })
            .collect::<Vec<_>>();
        let last = specs.last().map(|s| s.output_filters).unwrap_or(stem);
        let final_size = specs
            .last()
            .map(|s| {
                [
                    s.image_size[0].div_ceil(s.stride),
                    s.image_size[1].div_ceil(s.stride),
                ]
            })
            .unwrap_or(size);
        let head = head_filters(self.variant);
        EfficientNet {
            conv_stem: same_conv([self.in_channels, stem], 3, 2, 1, false, size, device),
            bn0: effnet_bn(stem, device),
            blocks,
            conv_head: same_conv([last, head], 1, 1, 1, false, final_size, device),
            bn1: effnet_bn(head, device),
            activation,
        }
    }
}

impl EfficientNet {
    /// Output channels of the head conv.
    pub fn out_channels(&self) -> usize {
        self.bn1.gamma.dims()[0]
    }

    /// Set the momentum of every BatchNorm. `efficientnet_pytorch` uses 0.01, tuned for ImageNet
    /// and AudioSet-sized runs; on a dataset of a few thousand clips the running statistics then
    /// still carry the ImageNet ones after several epochs, and evaluation mode is wrong. Small
    /// recipes set PyTorch's default 0.1 (`model.bn_momentum`).
    pub fn set_bn_momentum(&mut self, momentum: f64) {
        self.bn0.momentum = momentum;
        self.bn1.momentum = momentum;
        for b in &mut self.blocks {
            if let Some(bn) = &mut b.bn0 {
                bn.momentum = momentum;
            }
            b.bn1.momentum = momentum;
            b.bn2.momentum = momentum;
        }
    }

    /// Features of the head: `[B, C_in, H, W] -> [B, head, ceil(H/32), ceil(W/32)]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let act = self.activation.fused();
        let mut x = batch_norm_act(&self.bn0, conv2d(&self.conv_stem, x), act);
        for block in &self.blocks {
            x = block.forward(x);
        }
        batch_norm_act(&self.bn1, conv2d(&self.conv_head, x), act)
    }
}
