//! Jeong & Lim, "Audio tagging system for DCASE 2018: focusing on label noise, data augmentation
//! and its efficient learning" (DCASE 2018 task 2): a single-block DenseNet with
//! squeeze-excitation and a multi-head softmax classifier (Fig. 2, Sec. 3.2).
//!
//! - Low-level module, log-mel model (Fig. 2a): BN on the waveform, the in-graph log-mel
//!   ([`LogMel`]), BN, viewed as `(time, frequency, 1)`, a 3x3 conv whose output is concatenated
//!   with its input.
//! - Low-level module, waveform model: the BN'd waveform `[B, 1, 1, N]` concatenated with a 1x3
//!   conv of it.
//! - DenseNet modules: 1x1 bottleneck conv (width k), 3x3 conv (1x3 for waveform), SE,
//!   concatenation with everything before, 2x2 max pooling (1x2 for waveform). Pooling is clamped
//!   to each axis's remaining size so deep stacks never pool to zero.
//! - Classifier: global average pooling and the mean of `n` softmax heads (n = 8).
//!
//! The low-level conv has 15 filters (log-mel) or 1 (waveform), the paper's "Low-level-15" and
//! "Low-level-1" ([`DenseNetConfig::paper_stem`]). The paper does not give the bottleneck width
//! or the SE ratio; we use the module's growth k for the bottleneck, ratio 16 and BN + ReLU
//! before each conv (DenseNet's pre-activation). That gives ~11M parameters for the log-mel
//! model and ~16M for the waveform model on 41 classes, as the paper states.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

use super::logmel::{LogMel, LogMelConfig};
use tympan_kernels::{
    Act, batch_norm, batch_norm_act, conv2d, expand, linear, max_pool2d, mean_dim, relu, softmax,
};

/// Front end of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DenseInput {
    /// In-graph log-mel (2D, 3x3 convs, 2x2 pooling).
    LogMel,
    /// Raw waveform (1x3 convs, 1x2 pooling).
    Waveform,
}

/// Squeeze-excitation (Hu et al.) with ratio 16.
#[derive(Module, Debug)]
pub struct Se {
    /// Reduction.
    pub fc1: Linear,
    /// Expansion.
    pub fc2: Linear,
}

impl Se {
    fn new(c: usize, device: &Device) -> Self {
        let r = (c / 16).max(1);
        Self {
            fc1: LinearConfig::new(c, r).init(device),
            fc2: LinearConfig::new(r, c).init(device),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let s: Tensor<2> = mean_dim(mean_dim(x.clone(), 3), 2).flatten(1, 3);
        let s = sigmoid(linear(&self.fc2, relu(linear(&self.fc1, s))));
        let shape = x.shape();
        x * expand(s.unsqueeze_dim::<3>(2).unsqueeze_dim::<4>(3), shape)
    }
}

/// One DenseNet module.
#[derive(Module, Debug)]
pub struct DenseModule {
    /// BN before the bottleneck.
    pub bn1: BatchNorm,
    /// 1x1 bottleneck.
    pub conv1: Conv2d,
    /// BN before the main conv.
    pub bn2: BatchNorm,
    /// 3x3 (or 1x3) conv.
    pub conv2: Conv2d,
    /// Squeeze-excitation.
    pub se: Se,
    /// Pooling window.
    #[module(skip)]
    pub pool: [usize; 2],
}

impl DenseModule {
    fn new(cin: usize, k: usize, input: DenseInput, device: &Device) -> Self {
        let (kernel, pad, pool) = match input {
            DenseInput::LogMel => ([3, 3], PaddingConfig2d::Explicit(1, 1, 1, 1), [2, 2]),
            DenseInput::Waveform => ([1, 3], PaddingConfig2d::Explicit(0, 1, 0, 1), [1, 2]),
        };
        Self {
            bn1: BatchNormConfig::new(cin).init(device),
            conv1: Conv2dConfig::new([cin, k], [1, 1])
                .with_bias(false)
                .init(device),
            bn2: BatchNormConfig::new(k).init(device),
            conv2: Conv2dConfig::new([k, k], kernel)
                .with_padding(pad)
                .with_bias(false)
                .init(device),
            se: Se::new(k, device),
            pool,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = conv2d(&self.conv1, batch_norm_act(&self.bn1, x.clone(), Act::Relu));
        let y = conv2d(&self.conv2, batch_norm_act(&self.bn2, y, Act::Relu));
        let y = self.se.forward(y);
        // Pooling works channel by channel, so pooling both parts before concatenating gives
        // the same values as pooling the concatenation, with a quarter of the copying.
        Tensor::cat(vec![self.pool(x), self.pool(y)], 1)
    }

    /// The module's max pooling, clamped to the input's size.
    fn pool(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let k = [self.pool[0].min(h).max(1), self.pool[1].min(w).max(1)];
        if k == [1, 1] {
            x
        } else {
            max_pool2d(&MaxPool2dConfig::new(k).with_strides(k).init(), x)
        }
    }
}

/// Configuration of the DenseNet tagger.
#[derive(Config, Debug)]
pub struct DenseNetConfig {
    /// Classes (41 for DCASE 2018 task 2).
    pub num_classes: usize,
    /// Front end.
    pub input: DenseInput,
    /// Growth per module; default: the paper's for the chosen input.
    #[config(default = "None")]
    pub growth: Option<Vec<usize>>,
    /// Softmax heads (8 in the paper; 1 is its Fig. 3 comparison).
    #[config(default = 8)]
    pub heads: usize,
    /// Sample rate of the waveform; the in-graph log-mel's filter bank follows it (Table 1:
    /// 16, 32 and 44.1 kHz).
    #[config(default = 44100)]
    pub sample_rate: u32,
    /// Filters of the low-level conv; default the paper's for the chosen input
    /// ([`Self::paper_stem`]).
    #[config(default = "None")]
    pub stem_channels: Option<usize>,
}

impl DenseNetConfig {
    /// The paper's growth: log-mel k = (16, 32, ..., 512, 512, 512); waveform k = (2, 4, ...,
    /// 512, then 512 to 15 modules).
    pub fn paper_growth(input: DenseInput) -> Vec<usize> {
        match input {
            DenseInput::LogMel => vec![16, 32, 64, 128, 256, 512, 512, 512],
            DenseInput::Waveform => {
                let mut g: Vec<usize> = (1..=9).map(|i| 1usize << i).collect();
                g.resize(15, 512);
                g
            }
        }
    }

    /// The low-level conv's filters: the paper's architecture table names the modules
    /// "Low-level-15" (log-mel) and "Low-level-1" (waveform), in the notation of its DenseNet
    /// modules, whose number is the filters a module adds. Concatenated with the one-channel
    /// input they give 16 and 2 channels, each model's first growth.
    pub fn paper_stem(input: DenseInput) -> usize {
        match input {
            DenseInput::LogMel => 15,
            DenseInput::Waveform => 1,
        }
    }

    /// A reduced growth for CPU-scale runs (registry `densenet-logmel-small`,
    /// `densenet-wave-small`): the paper's schedule capped at 64 channels per module, with 5
    /// log-mel or 8 waveform modules. Not in the paper.
    pub fn small_growth(input: DenseInput) -> Vec<usize> {
        match input {
            DenseInput::LogMel => vec![16, 32, 64, 64, 64],
            DenseInput::Waveform => vec![2, 4, 8, 16, 32, 64, 64, 64],
        }
    }

    /// Build the network.
    pub fn init(&self, device: &Device) -> DenseNet {
        let growth = self
            .growth
            .clone()
            .unwrap_or_else(|| Self::paper_growth(self.input));
        let (kernel, pad) = match self.input {
            DenseInput::LogMel => ([3, 3], PaddingConfig2d::Explicit(1, 1, 1, 1)),
            DenseInput::Waveform => ([1, 3], PaddingConfig2d::Explicit(0, 1, 0, 1)),
        };
        let stem = self
            .stem_channels
            .unwrap_or_else(|| Self::paper_stem(self.input));
        let mut c = 1 + stem;
        let modules = growth
            .iter()
            .map(|&k| {
                let m = DenseModule::new(c, k, self.input, device);
                c += k;
                m
            })
            .collect();
        DenseNet {
            wave_bn: BatchNormConfig::new(1).init(device),
            logmel: (self.input == DenseInput::LogMel).then(|| {
                LogMelConfig::new()
                    .with_sample_rate(self.sample_rate as f64)
                    .init()
            }),
            mel_bn: (self.input == DenseInput::LogMel)
                .then(|| BatchNormConfig::new(1).init(device)),
            stem: Conv2dConfig::new([1, stem], kernel)
                .with_padding(pad)
                .init(device),
            modules,
            final_bn: BatchNormConfig::new(c).init(device),
            heads: (0..self.heads)
                .map(|_| LinearConfig::new(c, self.num_classes).init(device))
                .collect(),
        }
    }
}

/// Jeong & Lim's DenseNet.
#[derive(Module, Debug)]
pub struct DenseNet {
    /// BN on the waveform.
    pub wave_bn: BatchNorm,
    /// In-graph log-mel (log-mel model).
    pub logmel: Option<LogMel>,
    /// BN on the log-mel (log-mel model).
    pub mel_bn: Option<BatchNorm>,
    /// Low-level conv.
    pub stem: Conv2d,
    /// Dense modules.
    pub modules: Vec<DenseModule>,
    /// BN before pooling.
    pub final_bn: BatchNorm,
    /// Softmax heads.
    pub heads: Vec<Linear>,
}

impl DenseNet {
    /// Class probabilities `[B, K]` (mean of the softmax heads) for waveforms `[B, 1, N]`;
    /// any length (global average pooling).
    pub fn forward(&self, wave: Tensor<3>) -> Tensor<2> {
        let logits = self.head_logits(wave);
        let n = logits.len() as f64;
        logits
            .into_iter()
            .map(|l| softmax(l, 1))
            .reduce(|a, b| a + b)
            .map(|s| s / n)
            .expect("at least one head")
    }

    /// The logits of every head. Training and inference both read [`Self::forward`], the mean of
    /// the heads' softmax outputs (eq. (2)): one loss on that mean, not a loss per head.
    pub fn head_logits(&self, wave: Tensor<3>) -> Vec<Tensor<2>> {
        let w = batch_norm(&self.wave_bn, wave);
        let x: Tensor<4> = match (&self.logmel, &self.mel_bn) {
            (Some(lm), Some(bn)) => {
                // (time, frequency, 1): [B, 1, T, mels]
                batch_norm(bn, lm.forward(w).unsqueeze_dim(1))
            }
            _ => w.unsqueeze_dim(2), // [B, 1, 1, N]
        };
        let x = Tensor::cat(vec![x.clone(), conv2d(&self.stem, x)], 1);
        let x = self.modules.iter().fold(x, |x, m| m.forward(x));
        let x = batch_norm_act(&self.final_bn, x, Act::Relu);
        let x: Tensor<2> = mean_dim(mean_dim(x, 3), 2).flatten(1, 3);
        self.heads.iter().map(|h| linear(h, x.clone())).collect()
    }
}
