//! [`Tagger`]: any registered model, behind one forward.

use burn::module::Module;
use burn::prelude::*;

use crate::dcase::DenseNet;
use crate::hershey::HersheyNet;
use crate::psla::{EffNetAttention, ResNetAttention};
use crate::rawwave::{ChenNet, MNet, Slim2d};

/// A model created from the registry.
#[derive(Module, Debug)]
pub enum Tagger {
    /// PSLA `EffNetAttention`.
    EffNet(EffNetAttention),
    /// PSLA `ResNetAttention`.
    ResNet(ResNetAttention),
    /// Dai et al.'s M-networks (M34-res with RB1-RB6).
    MNet(MNet),
    /// Naranjo-Alcazar et al.'s slim 2D network.
    Slim2d(Slim2d),
    /// Chen et al.'s 1D -> 2D ResNet with multi-level attention.
    Chen(ChenNet),
    /// Jeong & Lim's DenseNet.
    DenseNet(DenseNet),
    /// Hershey et al.'s CNNs.
    Hershey(HersheyNet),
}

impl Tagger {
    /// Set the BatchNorm momentum of an EfficientNet backbone (see
    /// [`EfficientNet::set_bn_momentum`](crate::efficientnet::EfficientNet::set_bn_momentum)).
    /// Returns `false`, changing nothing, for the other families, whose BatchNorms already use
    /// PyTorch's default 0.1.
    pub fn set_bn_momentum(&mut self, momentum: f64) -> bool {
        match self {
            Self::EffNet(m) => {
                m.effnet.set_bn_momentum(momentum);
                true
            }
            _ => false,
        }
    }

    /// Outputs `[B, K]` (see [`OutputKind`](crate::OutputKind)) for the model's input: features
    /// `[B, T, F]` or waveforms `[B, 1, N]`. Each model turns its card's input into its card's
    /// output itself (the `classify` of the families whose `forward` gives logits).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        match self {
            Self::EffNet(m) => m.forward(x),
            Self::ResNet(m) => m.forward(x),
            Self::MNet(m) => m.classify(x),
            Self::Slim2d(m) => m.classify(x),
            Self::Chen(m) => m.forward(x),
            Self::DenseNet(m) => m.forward(x),
            Self::Hershey(m) => m.classify(x),
        }
    }

    /// The outputs the training loss reads, each `[B, K]` as [`Tagger::forward`]'s: the three
    /// levels of Chen et al.'s network, whose loss is the mean of the per-level losses (their
    /// eq. (3) and Sec. 3.2), and the one output of every other model.
    pub fn forward_train(&self, x: Tensor<3>) -> Vec<Tensor<2>> {
        match self {
            Self::Chen(m) => m.forward_levels(x),
            _ => vec![self.forward(x)],
        }
    }
}
