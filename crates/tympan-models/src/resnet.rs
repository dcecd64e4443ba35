//! Bottleneck ResNet (He et al. 2016) laid out as torchvision's `resnet.py` builds it, so that
//! torchvision / PSLA state dicts map onto it key for key (see [`crate::weights`]).
//!
//! Used by PSLA's `ResNetAttention` (1-channel 7x7/2 stem), and configurable for Hershey et al.'s
//! ResNet-50 (no stride on the first 7x7 conv).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use tympan_kernels::{Act, batch_norm, batch_norm_act, conv2d, max_pool2d, relu};

fn conv(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .init(device)
}

fn bn(c: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(c).init(device)
}

/// 1x1 projection shortcut (`downsample.0` conv, `downsample.1` BN in torchvision).
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1x1 strided conv.
    pub conv: Conv2d,
    /// BN.
    pub bn: BatchNorm,
}

/// Bottleneck block: 1x1 -> 3x3 (stride, torchvision "v1.5") -> 1x1 (x4), identity or projection
/// shortcut, ReLU after the addition.
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1x1 reduction.
    pub conv1: Conv2d,
    /// BN 1.
    pub bn1: BatchNorm,
    /// 3x3 conv (carries the stride).
    pub conv2: Conv2d,
    /// BN 2.
    pub bn2: BatchNorm,
    /// 1x1 expansion.
    pub conv3: Conv2d,
    /// BN 3.
    pub bn3: BatchNorm,
    /// Projection shortcut when the shape changes.
    pub downsample: Option<Downsample>,
}

impl Bottleneck {
    fn new(cin: usize, width: usize, stride: usize, device: &Device) -> Self {
        let cout = width * 4;
        let downsample = (stride != 1 || cin != cout).then(|| Downsample {
            conv: conv(cin, cout, 1, stride, device),
            bn: bn(cout, device),
        });
        Self {
            conv1: conv(cin, width, 1, 1, device),
            bn1: bn(width, device),
            conv2: conv(width, width, 3, stride, device),
            bn2: bn(width, device),
            conv3: conv(width, cout, 1, 1, device),
            bn3: bn(cout, device),
            downsample,
        }
    }

    /// Forward pass.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => batch_norm(&d.bn, conv2d(&d.conv, x.clone())),
            None => x.clone(),
        };
        let y = batch_norm_act(&self.bn1, conv2d(&self.conv1, x), Act::Relu);
        let y = batch_norm_act(&self.bn2, conv2d(&self.conv2, y), Act::Relu);
        let y = batch_norm(&self.bn3, conv2d(&self.conv3, y));
        relu(y + identity)
    }
}

/// Configuration of a bottleneck ResNet trunk (no pooling head, no classifier).
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Blocks per stage; `[3, 4, 6, 3]` is ResNet-50.
    #[config(default = "[3, 4, 6, 3]")]
    pub layers: [usize; 4],
    /// Input channels.
    #[config(default = 1)]
    pub in_channels: usize,
    /// Stride of the 7x7 stem conv (2 in torchvision; 1 in Hershey et al.).
    #[config(default = 2)]
    pub stem_stride: usize,
}

/// ResNet trunk: `[B, C_in, H, W] -> [B, 2048, H/32, W/32]` (for stem stride 2).
#[derive(Module, Debug)]
pub struct ResNet {
    /// 7x7 stem conv.
    pub conv1: Conv2d,
    /// Stem BN.
    pub bn1: BatchNorm,
    /// 3x3/2 max pool.
    pub maxpool: MaxPool2d,
    /// Stage 1 (64 wide).
    pub layer1: Vec<Bottleneck>,
    /// Stage 2 (128 wide, stride 2).
    pub layer2: Vec<Bottleneck>,
    /// Stage 3 (256 wide, stride 2).
    pub layer3: Vec<Bottleneck>,
    /// Stage 4 (512 wide, stride 2).
    pub layer4: Vec<Bottleneck>,
}

impl ResNetConfig {
    /// Build the trunk on `device`.
    pub fn init(&self, device: &Device) -> ResNet {
        let mut cin = 64;
        let mut stage = |n: usize, width: usize, stride: usize| {
            (0..n)
                .map(|i| {
                    let b = Bottleneck::new(cin, width, if i == 0 { stride } else { 1 }, device);
                    cin = width * 4;
                    b
                })
                .collect::<Vec<_>>()
        };
        let layer1 = stage(self.layers[0], 64, 1);
        let layer2 = stage(self.layers[1], 128, 2);
        let layer3 = stage(self.layers[2], 256, 2);
        let layer4 = stage(self.layers[3], 512, 2);
        ResNet {
            conv1: conv(self.in_channels, 64, 7, self.stem_stride, device),
            bn1: bn(64, device),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1,
            layer2,
            layer3,
            layer4,
        }
    }
}

impl ResNet {
    /// Output channels of the trunk.
    pub fn out_channels(&self) -> usize {
        self.layer4
            .last()
            .map(|b| b.bn3.gamma.dims()[0])
            .unwrap_or(64)
    }

    /// Stem and the four stages, returning every stage's output (for multi-level heads).
    pub fn forward_stages(&self, x: Tensor<4>) -> [Tensor<4>; 4] {
        let x = batch_norm_act(&self.bn1, conv2d(&self.conv1, x), Act::Relu);
        let x = max_pool2d(&self.maxpool, x);
        let run = |x: Tensor<4>, blocks: &[Bottleneck]| blocks.iter().fold(x, |x, b| b.forward(x));
        let s1 = run(x, &self.layer1);
        let s2 = run(s1.clone(), &self.layer2);
        let s3 = run(s2.clone(), &self.layer3);
        let s4 = run(s3.clone(), &self.layer4);
        [s1, s2, s3, s4]
    }

    /// Trunk output.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, _, s4] = self.forward_stages(x);
        s4
    }
}
