//! Inception-V3 as Hershey et al. use it (Sec. 3.3): torchvision's `Inception3`
//! (`torchvision/models/inception.py`, Szegedy et al. 2016, Fig. 5-7) without the first four stem
//! layers (`Conv2d_1a_3x3`, `Conv2d_2a_3x3`, `Conv2d_2b_3x3` and the max pool after them) and
//! without the auxiliary head. A 96x64 patch goes `Conv2d_3b_1x1` -> `Conv2d_4a_3x3` -> max pool
//! (46x30) -> `Mixed_5b..d` -> `Mixed_6a` (22x14) -> `Mixed_6b..e` -> `Mixed_7a` (10x6) ->
//! `Mixed_7b..c`, then 10x6 average pooling to 2048 features.
//!
//! Every conv is torchvision's `BasicConv2d`: conv without bias, BatchNorm (eps 1e-3), ReLU.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2dConfig, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use tympan_kernels::{Act, batch_norm_act, conv2d, max_pool2d, mean_dim};

/// `BasicConv2d`: conv (no bias) -> BN (eps 1e-3) -> ReLU.
#[derive(Module, Debug)]
pub struct BasicConv {
    /// Conv.
    pub conv: Conv2d,
    /// BN.
    pub bn: BatchNorm,
    /// `[kh, kw, stride, ph, pw, cin, cout]`, for counting multiplies.
    #[module(skip)]
    pub spec: [usize; 7],
}

impl BasicConv {
    fn new(
        cin: usize,
        cout: usize,
        k: [usize; 2],
        stride: usize,
        pad: [usize; 2],
        device: &Device,
    ) -> Self {
        Self {
            conv: Conv2dConfig::new([cin, cout], k)
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad[0], pad[1], pad[0], pad[1]))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(cout).with_epsilon(1e-3).init(device),
            spec: [k[0], k[1], stride, pad[0], pad[1], cin, cout],
        }
    }

    /// A square kernel with "same" padding for odd `k` at stride 1, none at stride 2.
    fn sq(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Self {
        let p = if stride == 1 { k / 2 } else { 0 };
        Self::new(cin, cout, [k, k], stride, [p, p], device)
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm_act(&self.bn, conv2d(&self.conv, x), Act::Relu)
    }

    fn count(&self, hw: [usize; 2]) -> ([usize; 2], u64) {
        let [kh, kw, s, ph, pw, cin, cout] = self.spec;
        let out = [(hw[0] + 2 * ph - kh) / s + 1, (hw[1] + 2 * pw - kw) / s + 1];
        (out, (out[0] * out[1] * kh * kw * cin * cout) as u64)
    }
}

fn chain(convs: &[BasicConv], x: Tensor<4>) -> Tensor<4> {
    convs.iter().fold(x, |x, c| c.forward(x))
}

fn chain_count(convs: &[BasicConv], hw: [usize; 2]) -> ([usize; 2], u64) {
    convs.iter().fold((hw, 0), |(hw, m), c| {
        let (o, n) = c.count(hw);
        (o, m + n)
    })
}

fn avg3(x: Tensor<4>) -> Tensor<4> {
    // F.avg_pool2d(x, 3, stride=1, padding=1), count_include_pad=True.
    AvgPool2dConfig::new([3, 3])
        .with_strides([1, 1])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init()
        .forward(x)
}

fn max3s2(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(&MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init(), x)
}

fn half(hw: [usize; 2]) -> [usize; 2] {
    [(hw[0] - 3) / 2 + 1, (hw[1] - 3) / 2 + 1]
}

/// One Inception module: parallel branches of conv chains, concatenated on channels. `pool`
/// selects the pooling branch: `Avg` (3x3/1 average then a 1x1 conv, the last chain) or `Max`
/// (3x3/2 max pooling of the input, reduction modules).
#[derive(Module, Debug)]
pub struct Mixed {
    /// Branches; for `Avg` pooling the last branch runs on the average-pooled input.
    pub branches: Vec<Vec<BasicConv>>,
    /// Split tails (InceptionE): `(branch, [1x3, 3x1])` applied to that branch's output and
    /// concatenated in its place.
    pub splits: Vec<Vec<BasicConv>>,
    /// Branch index of each split (`usize::MAX` when none).
    #[module(skip)]
    pub split_of: Vec<usize>,
    /// `true`: max-pool branch (reduction); `false`: average-pool branch.
    #[module(skip)]
    pub max_pool: bool,
}

impl Mixed {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let n = self.branches.len();
        let mut outs = Vec::with_capacity(n + 1);
        for (i, b) in self.branches.iter().enumerate() {
            let input = if !self.max_pool && i == n - 1 {
                avg3(x.clone())
            } else {
                x.clone()
            };
            let y = chain(b, input);
            match self.split_of.iter().position(|&s| s == i) {
                Some(k) => {
                    let s = &self.splits[k];
                    outs.push(s[0].forward(y.clone()));
                    outs.push(s[1].forward(y));
                }
                None => outs.push(y),
            }
        }
        if self.max_pool {
            outs.push(max3s2(x));
        }
        Tensor::cat(outs, 1)
    }

    fn count(&self, hw: [usize; 2]) -> ([usize; 2], u64) {
        let mut total = 0;
        let mut out = hw;
        for (i, b) in self.branches.iter().enumerate() {
            let (o, m) = chain_count(b, hw);
            total += m;
            out = o;
            if let Some(k) = self.split_of.iter().position(|&s| s == i) {
                total += self.splits[k].iter().map(|c| c.count(o).1).sum::<u64>();
            }
        }
        (out, total)
    }
}

fn inception_a(cin: usize, pool_features: usize, d: &Device) -> Mixed {
    let c = |i, o, k| BasicConv::sq(i, o, k, 1, d);
    Mixed {
        branches: vec![
            vec![c(cin, 64, 1)],
            vec![c(cin, 48, 1), c(48, 64, 5)],
            vec![c(cin, 64, 1), c(64, 96, 3), c(96, 96, 3)],
            vec![c(cin, pool_features, 1)],
        ],
        splits: vec![],
        split_of: vec![],
        max_pool: false,
    }
}

fn inception_b(cin: usize, d: &Device) -> Mixed {
    Mixed {
        branches: vec![
            vec![BasicConv::sq(cin, 384, 3, 2, d)],
            vec![
                BasicConv::sq(cin, 64, 1, 1, d),
                BasicConv::sq(64, 96, 3, 1, d),
                BasicConv::sq(96, 96, 3, 2, d),
            ],
        ],
        splits: vec![],
        split_of: vec![],
        max_pool: true,
    }
}

fn inception_c(cin: usize, c7: usize, d: &Device) -> Mixed {
    let c1 = |i, o| BasicConv::sq(i, o, 1, 1, d);
    let r17 = |i, o| BasicConv::new(i, o, [1, 7], 1, [0, 3], d);
    let r71 = |i, o| BasicConv::new(i, o, [7, 1], 1, [3, 0], d);
    Mixed {
        branches: vec![
            vec![c1(cin, 192)],
            vec![c1(cin, c7), r17(c7, c7), r71(c7, 192)],
            vec![
                c1(cin, c7),
                r71(c7, c7),
                r17(c7, c7),
                r71(c7, c7),
                r17(c7, 192),
            ],
            vec![c1(cin, 192)],
        ],
        splits: vec![],
        split_of: vec![],
        max_pool: false,
    }
}

fn inception_d(cin: usize, d: &Device) -> Mixed {
    Mixed {
        branches: vec![
            vec![
                BasicConv::sq(cin, 192, 1, 1, d),
                BasicConv::sq(192, 320, 3, 2, d),
            ],
            vec![
                BasicConv::sq(cin, 192, 1, 1, d),
                BasicConv::new(192, 192, [1, 7], 1, [0, 3], d),
                BasicConv::new(192, 192, [7, 1], 1, [3, 0], d),
                BasicConv::sq(192, 192, 3, 2, d),
            ],
        ],
        splits: vec![],
        split_of: vec![],
        max_pool: true,
    }
}

fn inception_e(cin: usize, d: &Device) -> Mixed {
    let c1 = |i, o| BasicConv::sq(i, o, 1, 1, d);
    let split = || {
        vec![
            BasicConv::new(384, 384, [1, 3], 1, [0, 1], d),
            BasicConv::new(384, 384, [3, 1], 1, [1, 0], d),
        ]
    };
    Mixed {
        branches: vec![
            vec![c1(cin, 320)],
            vec![c1(cin, 384)],
            vec![c1(cin, 448), BasicConv::sq(448, 384, 3, 1, d)],
            vec![c1(cin, 192)],
        ],
        splits: vec![split(), split()],
        split_of: vec![1, 2],
        max_pool: false,
    }
}

/// Hershey et al.'s Inception-V3 trunk: `[B, 1, 96, 64]` -> `[B, 2048]`.
#[derive(Module, Debug)]
pub struct InceptionV3 {
    /// `Conv2d_3b_1x1` (1 -> 80; the first stem layer kept).
    pub conv3b: BasicConv,
    /// `Conv2d_4a_3x3` (80 -> 192, no padding), then 3x3/2 max pooling.
    pub conv4a: BasicConv,
    /// `Mixed_5b` .. `Mixed_7c`.
    pub mixed: Vec<Mixed>,
}

impl InceptionV3 {
    /// Build the trunk for single-channel patches.
    pub fn new(device: &Device) -> Self {
        let d = device;
        Self {
            conv3b: BasicConv::sq(1, 80, 1, 1, d),
            conv4a: BasicConv::new(80, 192, [3, 3], 1, [0, 0], d),
            mixed: vec![
                inception_a(192, 32, d),
                inception_a(256, 64, d),
                inception_a(288, 64, d),
                inception_b(288, d),
                inception_c(768, 128, d),
                inception_c(768, 160, d),
                inception_c(768, 160, d),
                inception_c(768, 192, d),
                inception_d(768, d),
                inception_e(1280, d),
                inception_e(2048, d),
            ],
        }
    }

    /// Features `[B, 2048]`: the trunk, then average pooling over what is left (10x6 for a
    /// 96x64 patch, the paper's pool size).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = max3s2(self.conv4a.forward(self.conv3b.forward(x)));
        let x = self.mixed.iter().fold(x, |x, m| m.forward(x));
        mean_dim(mean_dim(x, 3), 2).flatten(1, 3)
    }

    /// Spatial size before the final pooling, and the multiplies, for an input `[h, w]`.
    pub fn count(&self, hw: [usize; 2]) -> ([usize; 2], u64) {
        let (hw, m1) = self.conv3b.count(hw);
        let (hw, m2) = self.conv4a.count(hw);
        let mut hw = half(hw);
        let mut total = m1 + m2;
        for m in &self.mixed {
            let (o, n) = m.count(hw);
            total += n;
            hw = if m.max_pool { half(hw) } else { o };
        }
        (hw, total)
    }
}
