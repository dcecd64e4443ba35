//! The six residual block designs compared by Naranjo-Alcazar et al. (Fig. 3), 1D and 2D.
//!
//! With `F` = conv, `B` = BatchNorm, `R` = ReLU and `+` the identity addition:
//!
//! | Block | Layout | Source |
//! |---|---|---|
//! | RB1 | `F B R F B` `+` `R` | original ResNet (He et al. 2016a) |
//! | RB2 | `F B R F` `+` `B R` | BN after addition (He et al. 2016b, Fig. 4b) |
//! | RB3 | `F B R F B R` `+` | ReLU before addition (Fig. 4c) |
//! | RB4 | `R F B R F B` `+` | ReLU-only pre-activation (Fig. 4d) |
//! | RB5 | `B R F B R F` `+` | full pre-activation (Fig. 4e) |
//! | RB6 | `F B R F B` `+` `B R` | Dai et al.'s M34-res block: BN after the addition, then ReLU |
//!
//! When a block widens the channels (first block of a stage), the identity is zero-padded on the
//! channel axis (He et al.'s option A): the papers' parameter counts have no projection weights.

use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig1d, PaddingConfig2d};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use tympan_kernels::{Convolve, batch_norm, relu};

/// Residual block design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResidualKind {
    /// Original ResNet.
    Rb1,
    /// BN after the addition.
    Rb2,
    /// ReLU before the addition.
    Rb3,
    /// ReLU-only pre-activation.
    Rb4,
    /// Full pre-activation.
    Rb5,
    /// Dai et al.'s block.
    Rb6,
}

impl ResidualKind {
    /// All six, in order.
    pub const ALL: [ResidualKind; 6] = [
        Self::Rb1,
        Self::Rb2,
        Self::Rb3,
        Self::Rb4,
        Self::Rb5,
        Self::Rb6,
    ];

    /// Parse `rb1`..`rb6`.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "rb1" => Self::Rb1,
            "rb2" => Self::Rb2,
            "rb3" => Self::Rb3,
            "rb4" => Self::Rb4,
            "rb5" => Self::Rb5,
            "rb6" => Self::Rb6,
            _ => return None,
        })
    }

    /// `rb1`..`rb6`.
    pub fn name(self) -> &'static str {
        ["rb1", "rb2", "rb3", "rb4", "rb5", "rb6"][self as usize]
    }

    /// BatchNorms of a block: (first, second, after the addition); `first_on_input` for RB5.
    fn norms(self) -> (bool, bool, bool) {
        match self {
            Self::Rb1 | Self::Rb3 | Self::Rb4 | Self::Rb5 => (true, true, false),
            Self::Rb2 => (true, false, true),
            Self::Rb6 => (true, true, true),
        }
    }
}

fn pad_channels<const D: usize>(x: Tensor<D>, channels: usize) -> Tensor<D> {
    let c = x.dims()[1];
    if c == channels {
        return x;
    }
    let mut shape = x.dims();
    shape[1] = channels - c;
    let zeros = Tensor::<D>::zeros(shape, &x.device());
    Tensor::cat(vec![x, zeros], 1)
}

macro_rules! residual_block {
    ($name:ident, $conv:ty, $rank:literal, $make:expr) => {
        /// A residual block (see the module table).
        #[derive(Module, Debug)]
        pub struct $name {
            /// First conv.
            pub conv1: $conv,
            /// Second conv.
            pub conv2: $conv,
            /// First BatchNorm (on the input channels for RB5).
            pub bn1: Option<BatchNorm>,
            /// Second BatchNorm.
            pub bn2: Option<BatchNorm>,
            /// BatchNorm after the addition (RB2, RB6).
            pub bn_out: Option<BatchNorm>,
            /// Design.
            #[module(skip)]
            pub kind: ResidualKind,
            /// Output channels.
            #[module(skip)]
            pub channels: usize,
        }

        impl $name {
            /// A block from `cin` to `cout` channels.
            pub fn new(kind: ResidualKind, cin: usize, cout: usize, device: &Device) -> Self {
                let (n1, n2, n3) = kind.norms();
                let bn1_ch = if kind == ResidualKind::Rb5 { cin } else { cout };
                let make = $make;
                Self {
                    conv1: make(cin, cout, device),
                    conv2: make(cout, cout, device),
                    bn1: n1.then(|| BatchNormConfig::new(bn1_ch).init(device)),
                    bn2: n2.then(|| BatchNormConfig::new(cout).init(device)),
                    bn_out: n3.then(|| BatchNormConfig::new(cout).init(device)),
                    kind,
                    channels: cout,
                }
            }

            fn bn(bn: &Option<BatchNorm>, x: Tensor<$rank>) -> Tensor<$rank> {
                match bn {
                    Some(b) => batch_norm(b, x),
                    None => x,
                }
            }

            /// Forward pass.
            pub fn forward(&self, x: Tensor<$rank>) -> Tensor<$rank> {
                let skip = pad_channels(x.clone(), self.channels);
                let (b1, b2) = (&self.bn1, &self.bn2);
                match self.kind {
                    ResidualKind::Rb1 => {
                        let y = relu(Self::bn(b1, self.conv1.convolve(x)));
                        let y = Self::bn(b2, self.conv2.convolve(y));
                        relu(y + skip)
                    }
                    ResidualKind::Rb2 => {
                        let y = relu(Self::bn(b1, self.conv1.convolve(x)));
                        let y = self.conv2.convolve(y);
                        relu(Self::bn(&self.bn_out, y + skip))
                    }
                    ResidualKind::Rb3 => {
                        let y = relu(Self::bn(b1, self.conv1.convolve(x)));
                        let y = relu(Self::bn(b2, self.conv2.convolve(y)));
                        y + skip
                    }
                    ResidualKind::Rb4 => {
                        let y = Self::bn(b1, self.conv1.convolve(relu(x)));
                        let y = Self::bn(b2, self.conv2.convolve(relu(y)));
                        y + skip
                    }
                    ResidualKind::Rb5 => {
                        let y = self.conv1.convolve(relu(Self::bn(b1, x)));
                        let y = self.conv2.convolve(relu(Self::bn(b2, y)));
                        y + skip
                    }
                    ResidualKind::Rb6 => {
                        let y = relu(Self::bn(b1, self.conv1.convolve(x)));
                        let y = Self::bn(b2, self.conv2.convolve(y));
                        relu(Self::bn(&self.bn_out, y + skip))
                    }
                }
            }
        }
    };
}

residual_block!(
    ResidualBlock1d,
    Conv1d,
    3,
    |cin: usize, cout: usize, device: &Device| {
        Conv1dConfig::new(cin, cout, 3)
            .with_padding(PaddingConfig1d::Explicit(1, 1))
            .init(device)
    }
);

residual_block!(
    ResidualBlock2d,
    Conv2d,
    4,
    |cin: usize, cout: usize, device: &Device| {
        Conv2dConfig::new([cin, cout], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(device)
    }
);

#[cfg(test)]
mod tests {
    //! Layer-order tests: every design on a hand-built block whose outputs were worked by hand.
    use super::*;
    use burn::module::Param;

    /// The input, one channel of four samples (negative values exercise every ReLU).
    const X: [f32; 4] = [-2.0, -0.5, 1.0, 3.0];

    /// Expected outputs for the hand-built weights of [`hand_built`]. Worked example, RB1 at
    /// x = -2: conv1 -2.5, BN1 0.25, ReLU 0.25, conv2 1.25, BN2 2.875, + x 0.875, ReLU 0.875.
    /// RB5 at x = -2: BN1 0.5, ReLU 0.5, conv1 1.25, BN2 2.875, ReLU 2.875, conv2 -1.375,
    /// + x -3.375. Any two designs differ in at least one sample, so a swapped layer shows.
    const EXPECTED: [(ResidualKind, [f32; 4]); 6] = [
        (ResidualKind::Rb1, [0.875, 0.6875, 0.5, 0.25]),
        (ResidualKind::Rb2, [1.625, 1.8125, 2.0, 2.25]),
        (ResidualKind::Rb3, [0.875, 0.6875, 1.0, 3.0]),
        (ResidualKind::Rb4, [-1.375, 0.125, 0.5, 0.25]),
        (ResidualKind::Rb5, [-3.375, -3.5625, -3.75, -4.0]),
        (ResidualKind::Rb6, [2.4375, 2.34375, 2.25, 2.125]),
    ];

    /// A kernel that is zero except for its centre tap `a`: with "same" padding the conv is the
    /// pointwise map `a x + bias`.
    fn centre_tap<const D: usize>(w: &Param<Tensor<D>>, a: f32) -> Param<Tensor<D>> {
        w.clone().map(|t| {
            let dims = t.dims();
            let n = dims.iter().product::<usize>();
            let mut v = vec![0.0f32; n];
            v[n / 2] = a;
            Tensor::<1>::from_floats(v.as_slice(), &t.device()).reshape(dims)
        })
    }

    fn constant(p: &Param<Tensor<1>>, c: f32) -> Param<Tensor<1>> {
        p.clone().map(|t| t.zeros_like().add_scalar(c))
    }

    /// Inference-mode BatchNorm (running mean 0, variance 1) as the affine map `g x + b`.
    fn affine(bn: &mut Option<BatchNorm>, g: f32, b: f32) {
        if let Some(bn) = bn {
            bn.gamma = constant(&bn.gamma, g);
            bn.beta = constant(&bn.beta, b);
        }
    }

    /// conv1 = 1.5x + 0.5, conv2 = -x + 1.5, BN1 = 0.5x + 1.5, BN2 = 1.5x + 1, BN after the
    /// addition = 0.5x + 2 (BatchNorm's epsilon 1e-5 scales each by 1/sqrt(1 + 1e-5)).
    macro_rules! hand_built {
        ($block:ident, $kind:expr, $device:expr) => {{
            let mut b = $block::new($kind, 1, 1, $device);
            b.conv1.weight = centre_tap(&b.conv1.weight, 1.5);
            b.conv1.bias = b.conv1.bias.as_ref().map(|p| constant(p, 0.5));
            b.conv2.weight = centre_tap(&b.conv2.weight, -1.0);
            b.conv2.bias = b.conv2.bias.as_ref().map(|p| constant(p, 1.5));
            affine(&mut b.bn1, 0.5, 1.5);
            affine(&mut b.bn2, 1.5, 1.0);
            affine(&mut b.bn_out, 0.5, 2.0);
            b
        }};
    }

    fn check(kind: ResidualKind, got: Tensor<1>, want: [f32; 4], rank: &str) {
        let got: Vec<f32> = got.into_data().try_to_vec().expect("f32 output");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() < 1e-4,
                "{kind:?} {rank}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn each_design_applies_its_layers_in_the_papers_order_1d() {
        let device = Device::flex();
        for (kind, want) in EXPECTED {
            let block = hand_built!(ResidualBlock1d, kind, &device);
            let x = Tensor::<1>::from_floats(X.as_slice(), &device).reshape([1, 1, 4]);
            check(kind, block.forward(x).reshape([4]), want, "1D");
        }
    }

    #[test]
    fn each_design_applies_its_layers_in_the_papers_order_2d() {
        let device = Device::flex();
        for (kind, want) in EXPECTED {
            let block = hand_built!(ResidualBlock2d, kind, &device);
            let x = Tensor::<1>::from_floats(X.as_slice(), &device).reshape([1, 1, 2, 2]);
            check(kind, block.forward(x).reshape([4]), want, "2D");
        }
    }

    #[test]
    fn widening_pads_the_identity_with_zero_channels() {
        let device = Device::flex();
        let x = Tensor::<1>::from_floats([1.0, -2.0].as_slice(), &device).reshape([1, 1, 2]);
        let got: Vec<f32> = pad_channels(x, 3).into_data().try_to_vec().expect("f32");
        assert_eq!(got, vec![1.0, -2.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
