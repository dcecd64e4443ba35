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
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

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
                    Some(b) => b.forward(x),
                    None => x,
                }
            }

            /// Forward pass.
            pub fn forward(&self, x: Tensor<$rank>) -> Tensor<$rank> {
                let skip = pad_channels(x.clone(), self.channels);
                let (b1, b2) = (&self.bn1, &self.bn2);
                match self.kind {
                    ResidualKind::Rb1 => {
                        let y = relu(Self::bn(b1, self.conv1.forward(x)));
                        let y = Self::bn(b2, self.conv2.forward(y));
                        relu(y + skip)
                    }
                    ResidualKind::Rb2 => {
                        let y = relu(Self::bn(b1, self.conv1.forward(x)));
                        let y = self.conv2.forward(y);
                        relu(Self::bn(&self.bn_out, y + skip))
                    }
                    ResidualKind::Rb3 => {
                        let y = relu(Self::bn(b1, self.conv1.forward(x)));
                        let y = relu(Self::bn(b2, self.conv2.forward(y)));
                        y + skip
                    }
                    ResidualKind::Rb4 => {
                        let y = Self::bn(b1, self.conv1.forward(relu(x)));
                        let y = Self::bn(b2, self.conv2.forward(relu(y)));
                        y + skip
                    }
                    ResidualKind::Rb5 => {
                        let y = self.conv1.forward(relu(Self::bn(b1, x)));
                        let y = self.conv2.forward(relu(Self::bn(b2, y)));
                        y + skip
                    }
                    ResidualKind::Rb6 => {
                        let y = relu(Self::bn(b1, self.conv1.forward(x)));
                        let y = Self::bn(b2, self.conv2.forward(y));
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
