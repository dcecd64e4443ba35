//! PSLA's models (`src/models/Models.py` of the PSLA repository): `EffNetAttention` and
//! `ResNetAttention` (Gong et al., PSLA, Sec. II-C, Fig. 1).
//!
//! Input: fbank `[B, T, F]` (PSLA: 1056 frames x 128 bins). It is viewed as a one-channel image
//! `[B, 1, F, T]`, run through the backbone, average-pooled over the remaining frequency rows and
//! pooled over time by the attention head.

use burn::prelude::*;

use super::attention::PoolingHead;
use crate::efficientnet::{EfficientNet, EfficientNetConfig, EfficientNetVariant};
use crate::resnet::{ResNet, ResNetConfig};

/// `[B, T, F] -> [B, 1, F, T]` as PSLA's `x.unsqueeze(1).transpose(2, 3)`.
fn to_image(x: Tensor<3>) -> Tensor<4> {
    x.unsqueeze_dim::<4>(1).swap_dims(2, 3)
}

/// PSLA's frequency pooling: `AvgPool2d((4, 1))` then `transpose(2, 3)`, giving `[B, C, T, 1]`.
///
/// For 128 input bins the backbone leaves 4 frequency rows and this equals PSLA exactly. For other
/// input sizes we average all remaining rows (PSLA would average groups of 4 and its head would
/// then read only the first group).
fn freq_pool(x: Tensor<4>) -> Tensor<4> {
    tympan_kernels::mean_dim(x, 2).swap_dims(2, 3)
}

/// Configuration of PSLA's `EffNetAttention`.
#[derive(Config, Debug)]
pub struct EffNetAttentionConfig {
    /// Number of classes (527 for AudioSet).
    pub num_classes: usize,
    /// EfficientNet variant (PSLA: B2).
    #[config(default = "EfficientNetVariant::B(2)")]
    pub variant: EfficientNetVariant,
    /// 0 = mean pooling, 1 = single-head attention, > 1 = multi-head attention (PSLA: 4).
    #[config(default = 4)]
    pub head_num: usize,
    /// Drop-connect rate of the backbone.
    #[config(default = 0.2)]
    pub drop_connect_rate: f64,
}

/// EfficientNet backbone + attention pooling.
#[derive(Module, Debug)]
pub struct EffNetAttention {
    /// Backbone (PSLA: `effnet`).
    pub effnet: EfficientNet,
    /// Pooling head (PSLA: `attention`).
    pub attention: PoolingHead,
}

impl EffNetAttentionConfig {
    /// Build the model on `device`.
    pub fn init(&self, device: &Device) -> EffNetAttention {
        let effnet = EfficientNetConfig::new(self.variant)
            .with_in_channels(1)
            .with_drop_connect_rate(self.drop_connect_rate)
            .init(device);
        let attention = PoolingHead::new(
            effnet.out_channels(),
            self.num_classes,
            self.head_num,
            device,
        );
        EffNetAttention { effnet, attention }
    }
}

impl EffNetAttention {
    /// Clip probabilities `[B, K]` for fbank input `[B, T, F]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let x = self.effnet.forward(to_image(x));
        self.attention.forward(freq_pool(x))
    }
}

/// Configuration of PSLA's `ResNetAttention` (ResNet-50, 1-channel stem, single-head attention).
#[derive(Config, Debug)]
pub struct ResNetAttentionConfig {
    /// Number of classes.
    pub num_classes: usize,
}

/// ResNet-50 backbone + single-head attention.
#[derive(Module, Debug)]
pub struct ResNetAttention {
    /// Backbone (PSLA: `model`).
    pub model: ResNet,
    /// Attention head (PSLA: `attention`).
    pub attention: PoolingHead,
}

impl ResNetAttentionConfig {
    /// Build the model on `device`.
    pub fn init(&self, device: &Device) -> ResNetAttention {
        let model = ResNetConfig::new().init(device);
        let attention = PoolingHead::new(model.out_channels(), self.num_classes, 1, device);
        ResNetAttention { model, attention }
    }
}

impl ResNetAttention {
    /// Clip probabilities `[B, K]` for fbank input `[B, T, F]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let x = self.model.forward(to_image(x));
        self.attention.forward(freq_pool(x))
    }
}
