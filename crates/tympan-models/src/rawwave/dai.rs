//! Dai et al., "Very deep convolutional neural networks for raw waveforms" (ICASSP 2017),
//! Table 1: M3, M5, M11, M18 and M34-res, as Naranjo-Alcazar et al. (Fig. 2) use them with
//! selectable residual blocks.
//!
//! Input `[B, 1, N]` raw audio (8 kHz, 4 s in both papers). A first conv of 80-wide kernels with
//! stride 4, BN, ReLU and 4x max pooling; stages of 3-wide convs (BN + ReLU after each) or
//! residual blocks, 4x max pooling between stages; global average pooling; a linear classifier
//! (logits; the papers end in softmax).

use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig1d};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::residual::{ResidualBlock1d, ResidualKind};
use tympan_kernels::{Act, batch_norm_act, conv1d, linear, max_pool1d};

/// Which network of Dai et al.'s Table 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MVariant {
    /// 2 conv layers, 256 filters.
    M3,
    /// 4 conv layers.
    M5,
    /// 11 layers.
    M11,
    /// 18 layers.
    M18,
    /// 34 layers with residual blocks.
    M34Res,
    /// tympan's reduced M34-res for CPU-scale block studies: M34-res's widths with one residual
    /// block per stage (first conv + 4 blocks x 2 convs + classifier = 10 layers). Not in Dai et
    /// al.; used for Naranjo-Alcazar et al.'s Table II where M34-res does not fit the budget.
    M10Res,
}

impl MVariant {
    /// First-layer filters and `(filters, convs or blocks)` per stage.
    fn layout(self) -> (usize, &'static [(usize, usize)]) {
        match self {
            Self::M3 => (256, &[(256, 1)]),
            Self::M5 => (128, &[(128, 1), (256, 1), (512, 1)]),
            Self::M11 => (64, &[(64, 2), (128, 2), (256, 3), (512, 2)]),
            Self::M18 => (64, &[(64, 4), (128, 4), (256, 4), (512, 4)]),
            Self::M34Res => (48, &[(48, 3), (96, 4), (192, 6), (384, 3)]),
            Self::M10Res => (48, &[(48, 1), (96, 1), (192, 1), (384, 1)]),
        }
    }

    /// Whether the stages are residual blocks (M34-res, M10-res) rather than plain convs.
    pub fn is_residual(self) -> bool {
        matches!(self, Self::M34Res | Self::M10Res)
    }

    /// Parse `m3`, `m5`, `m11`, `m18`, `m34-res`, `m10-res`.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "m3" => Self::M3,
            "m5" => Self::M5,
            "m11" => Self::M11,
            "m18" => Self::M18,
            "m34-res" | "m34" => Self::M34Res,
            "m10-res" => Self::M10Res,
            _ => return None,
        })
    }
}

/// conv3 -> BN -> ReLU (the plain layers of M3-M18).
#[derive(Module, Debug)]
pub struct ConvBnRelu1d {
    /// Conv.
    pub conv: Conv1d,
    /// BN.
    pub bn: BatchNorm,
}

impl ConvBnRelu1d {
    fn new(cin: usize, cout: usize, device: &Device) -> Self {
        Self {
            conv: Conv1dConfig::new(cin, cout, 3)
                .with_padding(PaddingConfig1d::Explicit(1, 1))
                .init(device),
            bn: BatchNormConfig::new(cout).init(device),
        }
    }
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        batch_norm_act(&self.bn, conv1d(&self.conv, x), Act::Relu)
    }
}

/// One layer of a stage.
#[derive(Module, Debug)]
pub enum MLayer {
    /// Plain conv layer.
    Plain(ConvBnRelu1d),
    /// Residual block.
    Residual(ResidualBlock1d),
}

/// Configuration of an M-network.
#[derive(Config, Debug)]
pub struct MNetConfig {
    /// Network.
    pub variant: MVariant,
    /// Classes.
    pub num_classes: usize,
    /// Residual block of M34-res / M10-res (ignored by the plain networks).
    #[config(default = "ResidualKind::Rb6")]
    pub block: ResidualKind,
}

/// Dai et al.'s network.
#[derive(Module, Debug)]
pub struct MNet {
    /// 80/4 first conv.
    pub conv0: Conv1d,
    /// Its BN.
    pub bn0: BatchNorm,
    /// Stages.
    pub stages: Vec<Vec<MLayer>>,
    /// 4x max pooling.
    pub pool: MaxPool1d,
    /// Classifier.
    pub fc: Linear,
}

impl MNetConfig {
    /// Build the network.
    pub fn init(&self, device: &Device) -> MNet {
        let (first, stages) = self.variant.layout();
        let mut cin = first;
        let mut built = Vec::new();
        for &(c, n) in stages {
            let mut stage = Vec::new();
            for i in 0..n {
                let inp = if i == 0 { cin } else { c };
                stage.push(if self.variant.is_residual() {
                    MLayer::Residual(ResidualBlock1d::new(self.block, inp, c, device))
                } else {
                    MLayer::Plain(ConvBnRelu1d::new(inp, c, device))
                });
            }
            cin = c;
            built.push(stage);
        }
        let stages = built;
        MNet {
            conv0: Conv1dConfig::new(1, first, 80)
                .with_stride(4)
                .with_padding(PaddingConfig1d::Explicit(38, 38))
                .init(device),
            bn0: BatchNormConfig::new(first).init(device),
            stages,
            pool: MaxPool1dConfig::new(4).with_stride(4).init(),
            fc: LinearConfig::new(cin, self.num_classes).init(device),
        }
    }
}

impl MNet {
    /// The model card's output (`OutputKind::Distribution`): class probabilities `[B, K]`, the
    /// softmax of [`MNet::forward`]'s logits (Dai et al. train with cross-entropy).
    pub fn classify(&self, wave: Tensor<3>) -> Tensor<2> {
        tympan_kernels::softmax(self.forward(wave), 1)
    }

    /// Logits `[B, K]` for waveforms `[B, 1, N]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let mut x = max_pool1d(
            &self.pool,
            batch_norm_act(&self.bn0, conv1d(&self.conv0, x), Act::Relu),
        );
        let last = self.stages.len().saturating_sub(1);
        for (s, stage) in self.stages.iter().enumerate() {
            for layer in stage {
                x = match layer {
                    MLayer::Plain(l) => l.forward(x),
                    MLayer::Residual(b) => b.forward(x),
                };
            }
            if s < last {
                x = max_pool1d(&self.pool, x);
            }
        }
        let x: Tensor<2> = tympan_kernels::mean_dim(x, 2).squeeze_dim(2);
        linear(&self.fc, x)
    }
}
