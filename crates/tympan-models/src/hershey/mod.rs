//! Hershey et al., "CNN architectures for large-scale audio classification" (ICASSP 2017): the
//! fully connected baseline, AlexNet, VGG (configuration E), Inception-V3 and ResNet-50 on 96x64 log-mel
//! patches (the `vggish` preset, 960 ms each), with an optional 128-d bottleneck before the
//! output. Outputs are logits; clip scores are the mean of the patches' sigmoids
//! ([`clip_scores`]).
//!
//! Every model reports its multiplies for one 96x64 patch ([`HersheyNet::multiplies`]), to
//! compare with the paper's Table 1 (3,087 outputs): AlexNet 37.3M / 767M, VGG 62M / 2.4B,
//! Inception-V3 28M / 4.7B, ResNet-50 30M / 1.9B.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

use crate::resnet::{ResNet, ResNetConfig};
use tympan_kernels::{Act, batch_norm_act, conv2d, linear, max_pool2d, mean_dim, relu};

pub mod cards;
mod inception;
pub use inception::{BasicConv, InceptionV3, Mixed};

/// Patch size: 96 frames x 64 mel bins.
pub const PATCH: [usize; 2] = [96, 64];

/// Architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HersheyArch {
    /// `layers` fully connected layers of `units` ReLU units (3 x 1000 in the paper).
    Fc {
        /// Layers.
        layers: usize,
        /// Units per layer.
        units: usize,
    },
    /// AlexNet, first conv stride 2x1, BN instead of LRN.
    AlexNet,
    /// VGG configuration E with BN.
    Vgg,
    /// ResNet-50 without stride on the first 7x7 conv, 6x4 average pooling.
    ResNet50,
    /// Inception-V3 without the first four stem layers and the auxiliary head, 10x6 average
    /// pooling.
    InceptionV3,
}

/// conv -> BN -> ReLU.
#[derive(Module, Debug)]
pub struct ConvBn {
    /// Conv.
    pub conv: Conv2d,
    /// BN.
    pub bn: BatchNorm,
    /// Kernel, stride, padding and channels, for counting multiplies.
    #[module(skip)]
    pub spec: [usize; 5],
}

impl ConvBn {
    fn new(cin: usize, cout: usize, k: usize, stride: [usize; 2], device: &Device) -> Self {
        let p = k / 2;
        Self {
            conv: Conv2dConfig::new([cin, cout], [k, k])
                .with_stride(stride)
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init(device),
            bn: BatchNormConfig::new(cout).init(device),
            spec: [k, stride[0], stride[1], cin, cout],
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm_act(&self.bn, conv2d(&self.conv, x), Act::Relu)
    }
    /// Output size and multiplies for an input `[h, w]`.
    fn count(&self, hw: [usize; 2]) -> ([usize; 2], u64) {
        let [k, sh, sw, cin, cout] = self.spec;
        let p = k / 2;
        let out = [(hw[0] + 2 * p - k) / sh + 1, (hw[1] + 2 * p - k) / sw + 1];
        (out, (out[0] * out[1] * k * k * cin * cout) as u64)
    }
}

/// One layer of a conv stack.
#[derive(Module, Debug)]
pub enum Layer {
    /// conv-BN-ReLU.
    Conv(ConvBn),
    /// Max pooling `(kernel, stride)`.
    Pool(PoolSpec),
}

/// Max pooling settings (no parameters).
#[derive(Module, Debug)]
pub struct PoolSpec {
    /// Kernel.
    #[module(skip)]
    pub kernel: usize,
    /// Stride.
    #[module(skip)]
    pub stride: usize,
}

impl PoolSpec {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let k = [self.kernel.min(h), self.kernel.min(w)];
        let pool = MaxPool2dConfig::new(k)
            .with_strides([self.stride, self.stride])
            .init();
        max_pool2d(&pool, x)
    }
    fn out(&self, hw: [usize; 2]) -> [usize; 2] {
        let o = |n: usize| (n - self.kernel.min(n)) / self.stride + 1;
        [o(hw[0]), o(hw[1])]
    }
}

/// Configuration.
#[derive(Config, Debug)]
pub struct HersheyConfig {
    /// Architecture.
    pub arch: HersheyArch,
    /// Outputs (3,087 in the paper's YouTube-100M experiments; 527 for AudioSet).
    pub num_classes: usize,
    /// Optional bottleneck before the output (128 in the paper's embedding experiments).
    #[config(default = "None")]
    pub bottleneck: Option<usize>,
}

/// A network of Hershey et al.: `[B, 96, 64]` patches -> logits `[B, K]`.
#[derive(Module, Debug)]
pub struct HersheyNet {
    /// Conv stack (AlexNet, VGG).
    pub features: Vec<Layer>,
    /// ResNet-50 trunk.
    pub resnet: Option<ResNet>,
    /// Inception-V3 trunk.
    pub inception: Option<InceptionV3>,
    /// Hidden fully connected layers.
    pub fc: Vec<Linear>,
    /// Optional bottleneck (linear, as the embedding layer).
    pub bottleneck: Option<Linear>,
    /// Output layer.
    pub out: Linear,
}

impl HersheyConfig {
    /// Build the network.
    pub fn init(&self, device: &Device) -> HersheyNet {
        let conv = |cin, cout, k, s: [usize; 2]| Layer::Conv(ConvBn::new(cin, cout, k, s, device));
        let pool = |k, s| {
            Layer::Pool(PoolSpec {
                kernel: k,
                stride: s,
            })
        };
        let inception = (self.arch == HersheyArch::InceptionV3).then(|| InceptionV3::new(device));
        let (features, resnet, flat, hidden): (Vec<Layer>, Option<ResNet>, usize, Vec<usize>) =
            match self.arch {
                HersheyArch::InceptionV3 => (vec![], None, 2048, vec![]),
                HersheyArch::Fc { layers, units } => {
                    (vec![], None, PATCH[0] * PATCH[1], vec![units; layers])
                }
                HersheyArch::AlexNet => {
                    let f = vec![
                        conv(1, 96, 11, [2, 1]),
                        pool(3, 2),
                        conv(96, 256, 5, [1, 1]),
                        pool(3, 2),
                        conv(256, 384, 3, [1, 1]),
                        conv(384, 384, 3, [1, 1]),
                        conv(384, 256, 3, [1, 1]),
                        pool(3, 2),
                    ];
                    let hw = stack_out(&f, PATCH);
                    (f, None, 256 * hw[0] * hw[1], vec![4096, 4096])
                }
                HersheyArch::Vgg => {
                    let mut f = Vec::new();
                    let mut cin = 1;
                    for (c, n) in [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)] {
                        for _ in 0..n {
                            f.push(conv(cin, c, 3, [1, 1]));
                            cin = c;
                        }
                        f.push(pool(2, 2));
                    }
                    let hw = stack_out(&f, PATCH);
                    (f, None, 512 * hw[0] * hw[1], vec![4096, 4096])
                }
                HersheyArch::ResNet50 => (
                    vec![],
                    Some(ResNetConfig::new().with_stem_stride(1).init(device)),
                    2048,
                    vec![],
                ),
            };
        let mut fc = Vec::new();
        let mut d = flat;
        for h in hidden {
            fc.push(LinearConfig::new(d, h).init(device));
            d = h;
        }
        let bottleneck = self.bottleneck.map(|b| {
            let l = LinearConfig::new(d, b).init(device);
            d = b;
            l
        });
        HersheyNet {
            features,
            resnet,
            inception,
            fc,
            bottleneck,
            out: LinearConfig::new(d, self.num_classes).init(device),
        }
    }
}

fn stack_out(layers: &[Layer], hw: [usize; 2]) -> [usize; 2] {
    layers.iter().fold(hw, |hw, l| match l {
        Layer::Conv(c) => c.count(hw).0,
        Layer::Pool(p) => p.out(hw),
    })
}

impl HersheyNet {
    /// The model card's output (`OutputKind::Probabilities`): per-class sigmoid probabilities
    /// `[B, K]` for patches `[B, 96, 64]` (Hershey et al. train with sigmoid cross-entropy).
    pub fn classify(&self, patches: Tensor<3>) -> Tensor<2> {
        burn::tensor::activation::sigmoid(self.forward(patches))
    }

    /// Logits for patches `[B, 96, 64]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        linear(&self.out, self.embed(x))
    }

    /// The layer before the output (the 128-d bottleneck when configured).
    pub fn embed(&self, x: Tensor<3>) -> Tensor<2> {
        let mut h: Tensor<2> = if let Some(i) = &self.inception {
            i.forward(x.unsqueeze_dim(1))
        } else if let Some(r) = &self.resnet {
            let y = r.forward(x.unsqueeze_dim(1)); // [B, 2048, 6, 4]
            mean_dim(mean_dim(y, 3), 2).flatten(1, 3)
        } else if self.features.is_empty() {
            x.flatten(1, 2)
        } else {
            let mut y: Tensor<4> = x.unsqueeze_dim(1);
            for l in &self.features {
                y = match l {
                    Layer::Conv(c) => c.forward(y),
                    Layer::Pool(p) => p.forward(y),
                };
            }
            y.flatten(1, 3)
        };
        for l in &self.fc {
            h = relu(linear(l, h));
        }
        match &self.bottleneck {
            Some(b) => linear(b, h),
            None => h,
        }
    }

    /// Multiplies for one 96x64 patch (convolutions and fully connected layers).
    pub fn multiplies(&self) -> u64 {
        let mut total = 0u64;
        let mut hw = PATCH;
        for l in &self.features {
            match l {
                Layer::Conv(c) => {
                    let (o, m) = c.count(hw);
                    total += m;
                    hw = o;
                }
                Layer::Pool(p) => hw = p.out(hw),
            }
        }
        if let Some(r) = &self.resnet {
            total += resnet_multiplies(r, PATCH);
        }
        if let Some(i) = &self.inception {
            total += i.count(PATCH).1;
        }
        let lin = |l: &Linear| {
            let [i, o] = l.weight.val().dims();
            (i * o) as u64
        };
        total += self.fc.iter().map(lin).sum::<u64>();
        total += self.bottleneck.iter().map(lin).sum::<u64>();
        total + lin(&self.out)
    }
}

fn conv_mults(conv: &Conv2d, hw: [usize; 2]) -> ([usize; 2], u64) {
    let [cout, cin_g, kh, kw] = conv.weight.val().dims();
    let s = conv.stride;
    let (ph, pw) = match &conv.padding {
        PaddingConfig2d::Explicit(t, l, _, _) => (*t, *l),
        _ => (0, 0),
    };
    let out = [
        (hw[0] + 2 * ph - kh) / s[0] + 1,
        (hw[1] + 2 * pw - kw) / s[1] + 1,
    ];
    (out, (out[0] * out[1] * kh * kw * cin_g * cout) as u64)
}

fn resnet_multiplies(r: &ResNet, hw: [usize; 2]) -> u64 {
    let (mut hw, mut total) = conv_mults(&r.conv1, hw);
    hw = [(hw[0] - 1) / 2 + 1, (hw[1] - 1) / 2 + 1]; // 3x3/2 max pool, padding 1
    for b in r
        .layer1
        .iter()
        .chain(&r.layer2)
        .chain(&r.layer3)
        .chain(&r.layer4)
    {
        let (h1, m1) = conv_mults(&b.conv1, hw);
        let (h2, m2) = conv_mults(&b.conv2, h1);
        let (h3, m3) = conv_mults(&b.conv3, h2);
        total += m1 + m2 + m3;
        if let Some(d) = &b.downsample {
            total += conv_mults(&d.conv, hw).1;
        }
        hw = h3;
    }
    total
}

/// Clip scores: the mean over a clip's patches of the sigmoid outputs. `logits` is
/// `[patches, K]` for one clip.
pub fn clip_scores(logits: Tensor<2>) -> Tensor<1> {
    mean_dim(sigmoid(logits), 0).squeeze_dim(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_next_to_the_paper() {
        let device = Device::flex();
        // (arch, paper params, paper multiplies, tolerance) with 3,087 outputs.
        for (arch, p, m, tol) in [
            (HersheyArch::Vgg, 62e6, 2.4e9, 0.15),
            (HersheyArch::ResNet50, 30e6, 1.9e9, 0.15),
            (HersheyArch::InceptionV3, 28e6, 4.7e9, 0.15),
        ] {
            let net = HersheyConfig::new(arch, 3087).init(&device);
            let (ours_p, ours_m) = (crate::num_params(&net) as f64, net.multiplies() as f64);
            eprintln!("{arch:?}: {ours_p} params (paper {p}), {ours_m} multiplies (paper {m})");
            assert!(
                (ours_p / p - 1.0).abs() < tol,
                "{arch:?}: {ours_p} params vs {p}"
            );
            assert!(
                (ours_m / m - 1.0).abs() < 2.0 * tol,
                "{arch:?}: {ours_m} multiplies vs {m}"
            );
            assert_eq!(
                net.forward(Tensor::zeros([1, 96, 64], &device)).dims(),
                [1, 3087]
            );
        }
        // AlexNet (docs/models.md): the paper's 37.3M weights are ours with a 2x2x256 = 1,024
        // input to the first fully connected layer; AlexNet's own layers (11x11 stride 2x1, three
        // 3/2 poolings, "same" padding) leave 5x7x256 = 8,960 of a 96x64 patch. The whole
        // difference is in that one layer: ours minus 4096 x (8960 - 1024) is the paper's count
        // within 0.5%. The multiplies follow the larger maps: ours are 1.37x the paper's 767M
        // (tolerance 0.45).
        let alex = HersheyConfig::new(HersheyArch::AlexNet, 3087).init(&device);
        let flat = alex.fc[0].weight.dims()[0];
        assert_eq!(flat, 256 * 5 * 7);
        let ours = crate::num_params(&alex) as f64;
        let implied = ours - (4096 * (flat - 1024)) as f64;
        assert!(
            (implied / 37.3e6 - 1.0).abs() < 0.005,
            "{ours} params, implied {implied}"
        );
        let mults = alex.multiplies() as f64;
        assert!((mults / 767e6 - 1.0).abs() < 0.45, "{mults} multiplies");
        eprintln!("AlexNet: {ours} params ({implied} at the paper's 2x2 map), {mults} multiplies");
        // The paper's 10x6 average pooling is what is left of a 96x64 patch.
        let inc = InceptionV3::new(&device);
        assert_eq!(inc.count(PATCH).0, [10, 6]);
        let fc = HersheyConfig::new(
            HersheyArch::Fc {
                layers: 3,
                units: 1000,
            },
            527,
        )
        .with_bottleneck(Some(128))
        .init(&device);
        assert_eq!(
            fc.embed(Tensor::zeros([2, 96, 64], &device)).dims(),
            [2, 128]
        );
    }
}
