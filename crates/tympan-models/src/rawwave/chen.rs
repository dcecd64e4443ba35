//! Chen et al. (Hikvision), Interspeech 2019, Sec. 3.1: AudioSet tagging from raw waveforms, a 1D ResNet-18
//! front end on 10 s of 16 kHz audio gives `C x 1 x T` (128 x 1 x 2500: total stride 64),
//! transposed to a one-channel image `1 x C x T` for a 2D ResNet-50 with multi-level prediction
//! after blocks 2, 3 and 4.
//!
//! Each level pools its feature map over the frequency (channel-derived) axis to `[B, C, T]` and
//! has two attention modules (Kong et al.'s decision-level attention, as PSLA's `Attention`):
//! one directly on the block output and one after two fully connected layers of 600 ReLU units;
//! their outputs are concatenated and mapped to the classes. The network outputs the mean of the
//! levels' probabilities; training uses the mean of the levels' losses ([`ChenNet::forward_levels`],
//! read by `Tagger::forward_train` and the training engine).
//!
//! The paper does not give the 1D ResNet-18's kernel sizes; we use a 7-wide stride-4 stem and
//! basic blocks of 3-wide convs with widths (32, 64, 96, 128) and strides (1, 2, 2, 4); Table 3's
//! 1,250-frame front end strides (2, 2, 2, 4) (`front_stride = 128`, registry `-1250`).

use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig1d};
use burn::prelude::*;

use crate::resnet::{ResNet, ResNetConfig};
use tympan_kernels::{
    Act, batch_norm, batch_norm_act, conv1d, expand, linear, matmul, mean_dim, relu, sigmoid,
    sum_dim,
};

/// 1D basic block (two 3-wide convs) with a projection shortcut when the shape changes.
#[derive(Module, Debug)]
pub struct BasicBlock1d {
    /// First conv (carries the stride).
    pub conv1: Conv1d,
    /// BN 1.
    pub bn1: BatchNorm,
    /// Second conv.
    pub conv2: Conv1d,
    /// BN 2.
    pub bn2: BatchNorm,
    /// 1x1 projection.
    pub down: Option<Conv1d>,
    /// Projection BN.
    pub down_bn: Option<BatchNorm>,
}

impl BasicBlock1d {
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        let conv = |i, o, k: usize, s| {
            Conv1dConfig::new(i, o, k)
                .with_stride(s)
                .with_padding(PaddingConfig1d::Explicit(k / 2, k / 2))
                .with_bias(false)
                .init(device)
        };
        let proj = stride != 1 || cin != cout;
        Self {
            conv1: conv(cin, cout, 3, stride),
            bn1: BatchNormConfig::new(cout).init(device),
            conv2: conv(cout, cout, 3, 1),
            bn2: BatchNormConfig::new(cout).init(device),
            down: proj.then(|| conv(cin, cout, 1, stride)),
            down_bn: proj.then(|| BatchNormConfig::new(cout).init(device)),
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let skip = match (&self.down, &self.down_bn) {
            (Some(c), Some(b)) => batch_norm(b, conv1d(c, x.clone())),
            _ => x.clone(),
        };
        let y = batch_norm_act(&self.bn1, conv1d(&self.conv1, x), Act::Relu);
        let y = batch_norm(&self.bn2, conv1d(&self.conv2, y));
        relu(y + skip)
    }
}

/// Sigmoid attention pooling over time on `[B, C, T]` (1x1 convs as 1D convs).
#[derive(Module, Debug)]
pub struct TimeAttention {
    /// Attention conv.
    pub att: Conv1d,
    /// Classification conv.
    pub cla: Conv1d,
}

impl TimeAttention {
    fn new(cin: usize, k: usize, device: &Device) -> Self {
        Self {
            att: Conv1dConfig::new(cin, k, 1).init(device),
            cla: Conv1dConfig::new(cin, k, 1).init(device),
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let att = sigmoid(conv1d(&self.att, x.clone())).clamp(1e-7, 1.0 - 1e-7);
        let cla = sigmoid(conv1d(&self.cla, x));
        let shape = att.shape();
        let norm = att.clone() / expand(sum_dim(att, 2), shape);
        sum_dim(norm * cla, 2).squeeze_dim(2)
    }
}

/// One prediction level: attention on the block output, attention after 2 x FC-600, concatenated.
#[derive(Module, Debug)]
pub struct Level {
    /// Attention on the block output.
    pub att_direct: TimeAttention,
    /// First 600-unit layer (applied per time step).
    pub fc1: Linear,
    /// Second 600-unit layer.
    pub fc2: Linear,
    /// Attention after the FC layers.
    pub att_fc: TimeAttention,
    /// Concatenation -> classes.
    pub out: Linear,
}

impl Level {
    fn new(cin: usize, k: usize, device: &Device) -> Self {
        Self {
            att_direct: TimeAttention::new(cin, k, device),
            fc1: LinearConfig::new(cin, 600).init(device),
            fc2: LinearConfig::new(600, 600).init(device),
            att_fc: TimeAttention::new(600, k, device),
            out: LinearConfig::new(2 * k, k).init(device),
        }
    }

    /// `[B, C, F, T]` -> probabilities `[B, K]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x: Tensor<3> = mean_dim(x, 2).squeeze_dim(2); // [B, C, T]
        let a = self.att_direct.forward(x.clone());
        let b = self.att_fc.forward(self.fc_layers(x));
        sigmoid(linear(&self.out, Tensor::cat(vec![a, b], 1)))
    }

    /// The two 600-unit layers at every time step of `x` `[B, C, T]`: `[B, 600, T]`.
    ///
    /// One sample (`tympan tag`'s passes of one 10 s window) stays channel-major, `W^T x`
    /// with the weight read transposed in place: no transposes of the input or the output, and
    /// `[600, C] x [C, T]` products, which `gemm` runs faster than `[T, C] x [C, 600]` for these
    /// few time steps (the tag of 30 clips 2.72 -> 2.65 s, medians of six alternating runs,
    /// 2-core AMD EPYC, 2026-12-07). A batch takes one time-major product for all its samples
    /// (per-sample products made the training step at batch 32 11 % slower, one run). Both sum
    /// each output over the same depth blocks, so the bits are the same (tested).
    fn fc_layers(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, c, t] = x.dims();
        if b > 1 {
            let h = x.swap_dims(1, 2); // [B, T, C]
            let h = relu(linear(&self.fc2, relu(linear(&self.fc1, h))));
            return h.swap_dims(1, 2);
        }
        let step = |fc: &Linear, x: Tensor<2>| {
            let y = matmul(fc.weight.val().transpose(), x); // [out, T]
            match &fc.bias {
                Some(bias) => {
                    let shape = y.shape();
                    y + expand(bias.val().unsqueeze_dim::<2>(1), shape)
                }
                None => y,
            }
        };
        let h = relu(step(&self.fc1, x.reshape([c, t])));
        relu(step(&self.fc2, h)).unsqueeze_dim(0)
    }
}

/// Configuration of Chen et al.'s network.
#[derive(Config, Debug)]
pub struct ChenNetConfig {
    /// Classes.
    pub num_classes: usize,
    /// Channels of the 1D front end's output (128 in the paper).
    #[config(default = 128)]
    pub front_channels: usize,
    /// Total stride of the 1D front end: 64 gives the paper's 2,500 frames for 10 s at 16 kHz,
    /// 128 its Table 3 alternative of 1,250 (the first block strides 2 instead of 1).
    #[config(default = 64)]
    pub front_stride: usize,
    /// Bottleneck blocks per stage of the 2D ResNet (`[3, 4, 6, 3]`: ResNet-50). The registry's
    /// `chen-resnet-small` uses one per stage: a reduced-width variant for CPU-scale runs, not
    /// the paper's network.
    #[config(default = "[3, 4, 6, 3]")]
    pub resnet_layers: [usize; 4],
}

/// 1D ResNet-18 -> transpose -> 2D ResNet-50 with multi-level attention.
#[derive(Module, Debug)]
pub struct ChenNet {
    /// 1D stem conv.
    pub stem: Conv1d,
    /// 1D stem BN.
    pub stem_bn: BatchNorm,
    /// 1D ResNet-18 blocks (4 stages x 2).
    pub front: Vec<BasicBlock1d>,
    /// 2D ResNet-50 (1-channel stem).
    pub resnet: ResNet,
    /// Levels after blocks 2, 3, 4.
    pub levels: Vec<Level>,
}

impl ChenNetConfig {
    /// Build the network.
    pub fn init(&self, device: &Device) -> ChenNet {
        let c = self.front_channels;
        let widths = [c / 4, c / 2, 3 * c / 4, c];
        let strides = [self.front_stride / 64, 2, 2, 4];
        let mut cin = widths[0];
        let mut front = Vec::new();
        for (w, s) in widths.iter().zip(strides) {
            front.push(BasicBlock1d::new(cin, *w, s, device));
            front.push(BasicBlock1d::new(*w, *w, 1, device));
            cin = *w;
        }
        ChenNet {
            stem: Conv1dConfig::new(1, widths[0], 7)
                .with_stride(4)
                .with_padding(PaddingConfig1d::Explicit(3, 3))
                .with_bias(false)
                .init(device),
            stem_bn: BatchNormConfig::new(widths[0]).init(device),
            front,
            resnet: ResNetConfig::new()
                .with_layers(self.resnet_layers)
                .init(device),
            levels: [512, 1024, 2048]
                .iter()
                .map(|&ch| Level::new(ch, self.num_classes, device))
                .collect(),
        }
    }
}

impl ChenNet {
    /// Per-level probabilities `[B, K]` (levels after ResNet blocks 2, 3, 4) for `[B, 1, N]`.
    pub fn forward_levels(&self, wave: Tensor<3>) -> Vec<Tensor<2>> {
        // C x 1 x T -> 1 x C x T
        let img: Tensor<4> = self.front_end(wave).unsqueeze_dim(1);
        let [_, s2, s3, s4] = self.resnet.forward_stages(img);
        self.levels
            .iter()
            .zip([s2, s3, s4])
            .map(|(l, s)| l.forward(s))
            .collect()
    }

    /// The 1D ResNet-18 front end: `[B, 1, N]` -> `[B, C, N / front_stride]` (128 x 2500 for
    /// 10 s at 16 kHz).
    pub fn front_end(&self, wave: Tensor<3>) -> Tensor<3> {
        let mut x = batch_norm_act(&self.stem_bn, conv1d(&self.stem, wave), Act::Relu);
        for b in &self.front {
            x = b.forward(x);
        }
        x
    }

    /// Mean of the levels' probabilities.
    pub fn forward(&self, wave: Tensor<3>) -> Tensor<2> {
        let levels = self.forward_levels(wave);
        let n = levels.len() as f64;
        levels
            .into_iter()
            .reduce(|a, b| a + b)
            .map(|s| s / n)
            .expect("three levels")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// The 600-unit layers give the same bits channel-major (one sample) and time-major (a
    /// batch): each sample of a batch of 3 against itself alone, and against the time-major
    /// route taken by hand for one sample.
    #[test]
    fn fc_layers_bits_do_not_depend_on_the_route() {
        let device = Device::flex();
        let level = Level::new(96, 10, &device);
        let x = Tensor::<3>::random([3, 96, 37], Distribution::Normal(0.0, 1.0), &device);
        let batch = level.fc_layers(x.clone());
        for i in 0..3 {
            let one = x.clone().narrow(0, i, 1);
            let alone = level.fc_layers(one.clone()).into_data();
            assert_eq!(
                alone,
                batch.clone().narrow(0, i, 1).into_data(),
                "sample {i}"
            );
            let h = one.swap_dims(1, 2);
            let h = relu(linear(&level.fc2, relu(linear(&level.fc1, h))));
            assert_eq!(
                alone,
                h.swap_dims(1, 2).into_data(),
                "sample {i}, time-major"
            );
        }
    }
}
