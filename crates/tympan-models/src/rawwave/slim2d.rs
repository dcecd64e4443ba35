//! Naranjo-Alcazar et al.'s slim 2D network (Table I) on 64-bin log-mel (`slim2d` preset):
//! a 1x80 conv and 1x4 max pooling along time, then `[RB, 48]x1, [RB, 96]x2, [RB, 192]x3,
//! [RB, 384]x1` with 4x4 max pooling between stages, global average pooling and a linear
//! classifier (logits; the paper ends in softmax). Any residual block RB1-RB6.
//!
//! Pooling between stages is clamped to the remaining size of each axis (a 4 s clip has the
//! paper's 199 frames: 49 after the first pooling, then 12, 3), so short inputs never pool to
//! zero.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

use super::residual::{ResidualBlock2d, ResidualKind};
use tympan_kernels::{Act, batch_norm_act, conv2d, linear, max_pool2d, mean_dim};

/// Configuration of the slim 2D network.
#[derive(Config, Debug)]
pub struct Slim2dConfig {
    /// Classes.
    pub num_classes: usize,
    /// Residual block.
    #[config(default = "ResidualKind::Rb1")]
    pub block: ResidualKind,
}

/// The slim 2D network: `[B, 1, F, T]` log-mel -> logits `[B, K]`.
#[derive(Module, Debug)]
pub struct Slim2d {
    /// 1x80 conv along time.
    pub conv0: Conv2d,
    /// Its BN.
    pub bn0: BatchNorm,
    /// Stages of residual blocks.
    pub stages: Vec<Vec<ResidualBlock2d>>,
    /// Classifier.
    pub fc: Linear,
}

impl Slim2dConfig {
    /// Build the network.
    pub fn init(&self, device: &Device) -> Slim2d {
        let mut cin = 48;
        let stages = [(48usize, 1usize), (96, 2), (192, 3), (384, 1)]
            .iter()
            .map(|&(c, n)| {
                let v = (0..n)
                    .map(|i| {
                        ResidualBlock2d::new(self.block, if i == 0 { cin } else { c }, c, device)
                    })
                    .collect();
                cin = c;
                v
            })
            .collect();
        Slim2d {
            conv0: Conv2dConfig::new([1, 48], [1, 80])
                .with_padding(PaddingConfig2d::Explicit(0, 39, 0, 40))
                .init(device),
            bn0: BatchNormConfig::new(48).init(device),
            stages,
            fc: LinearConfig::new(cin, self.num_classes).init(device),
        }
    }
}

fn pool(x: Tensor<4>, k: [usize; 2]) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let k = [k[0].min(h).max(1), k[1].min(w).max(1)];
    if k == [1, 1] {
        return x;
    }
    max_pool2d(&MaxPool2dConfig::new(k).with_strides(k).init(), x)
}

impl Slim2d {
    /// The model card's output (`OutputKind::Distribution`) on the card's input: class
    /// probabilities `[B, K]` for log-mel frames `[B, T, F]` (the frontend's layout), turned
    /// into the one-channel image `[B, 1, F, T]` that [`Slim2d::forward`] reads, then softmax.
    pub fn classify(&self, frames: Tensor<3>) -> Tensor<2> {
        let image = frames.swap_dims(1, 2).unsqueeze_dim(1);
        tympan_kernels::softmax(self.forward(image), 1)
    }

    /// Logits for log-mel `[B, 1, F, T]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = pool(
            batch_norm_act(&self.bn0, conv2d(&self.conv0, x), Act::Relu),
            [1, 4],
        );
        let last = self.stages.len() - 1;
        for (s, stage) in self.stages.iter().enumerate() {
            for b in stage {
                x = b.forward(x);
            }
            if s < last {
                x = pool(x, [4, 4]);
            }
        }
        let x: Tensor<2> = mean_dim(mean_dim(x, 3), 2).flatten(1, 3);
        linear(&self.fc, x)
    }
}
