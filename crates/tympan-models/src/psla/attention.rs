//! PSLA's pooling heads (Gong et al., PSLA, Sec. II-C and Fig. 1; `src/models/HigherModels.py`
//! of the PSLA repository): mean pooling, single-head attention and multi-head attention.
//!
//! Every head takes backbone features laid out as PSLA lays them out, `[B, C, T, 1]`, and returns
//! clip-level probabilities `[B, K]`. The 1x1 convs keep PyTorch's weight shapes so that PSLA
//! checkpoints load without reshaping.

use burn::module::Param;
use burn::nn::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use tympan_kernels::{conv2d, expand, mean_dim, sum_dim};

/// Attention probabilities are clamped to `[EPS, 1 - EPS]` before normalisation over time.
pub const ATTENTION_EPS: f64 = 1e-7;

/// PSLA's `init_layer`: uniform in `±sqrt(2 / fan_in) * sqrt(3)`, zero bias.
fn head_conv(n_in: usize, n_out: usize, device: &Device) -> Conv2d {
    let scale = (2.0 / n_in as f64).sqrt() * 3f64.sqrt();
    Conv2dConfig::new([n_in, n_out], [1, 1])
        .with_initializer(Initializer::Uniform {
            min: -scale,
            max: scale,
        })
        .init(device)
        .map_bias_zero()
}

trait ZeroBias {
    fn map_bias_zero(self) -> Self;
}

impl ZeroBias for Conv2d {
    fn map_bias_zero(mut self) -> Self {
        if let Some(b) = self.bias.take() {
            self.bias = Some(b.map(|t| t.zeros_like()));
        }
        self
    }
}

/// Drop the trailing unit axis: `[B, K, T, 1] -> [B, K, T]`.
fn squeeze_last(x: Tensor<4>) -> Tensor<3> {
    x.squeeze_dim(3)
}

/// Sigmoid attention over time: `sum_t softmax-free-normalised(att) * cla`.
/// Returns the pooled scores `[B, K]` and the normalised attention `[B, K, T]`.
fn attend(att: Tensor<3>, cla: Tensor<3>) -> (Tensor<2>, Tensor<3>) {
    let att = att.clamp(ATTENTION_EPS, 1.0 - ATTENTION_EPS);
    let shape = att.shape();
    let norm = att.clone() / expand(sum_dim(att, 2), shape);
    let pooled = sum_dim(norm.clone() * cla, 2).squeeze_dim(2);
    (pooled, norm)
}

/// Mean pooling over time of a sigmoid classifier (`MeanPooling`, PSLA's "no attention" head).
#[derive(Module, Debug)]
pub struct MeanPooling {
    /// Classification conv.
    pub cla: Conv2d,
}

impl MeanPooling {
    /// New head for `n_in` channels and `n_out` classes.
    pub fn new(n_in: usize, n_out: usize, device: &Device) -> Self {
        Self {
            cla: head_conv(n_in, n_out, device),
        }
    }

    /// `[B, C, T, 1] -> [B, K]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let cla = squeeze_last(sigmoid(conv2d(&self.cla, x)));
        mean_dim(cla, 2).squeeze_dim(2)
    }
}

/// Single-head attention pooling (`Attention`): sigmoid attention, clamped and normalised over
/// time, weighting a sigmoid classification branch.
#[derive(Module, Debug)]
pub struct Attention {
    /// Attention conv.
    pub att: Conv2d,
    /// Classification conv.
    pub cla: Conv2d,
}

impl Attention {
    /// New head for `n_in` channels and `n_out` classes.
    pub fn new(n_in: usize, n_out: usize, device: &Device) -> Self {
        Self {
            att: head_conv(n_in, n_out, device),
            cla: head_conv(n_in, n_out, device),
        }
    }

    /// `[B, C, T, 1] -> ([B, K], attention [B, K, T])`.
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<3>) {
        let att = squeeze_last(sigmoid(conv2d(&self.att, x.clone())));
        let cla = squeeze_last(sigmoid(conv2d(&self.cla, x)));
        attend(att, cla)
    }
}

/// Multi-head attention pooling (`MHeadAttention`): `head_num` attention heads whose pooled
/// outputs are summed with learnable weights, initialised to `1 / head_num` and not normalised.
///
/// Unlike `Attention`, PSLA's `MHeadAttention` keeps PyTorch's default conv initialisation.
#[derive(Module, Debug)]
pub struct MHeadAttention {
    /// Attention convs, one per head.
    pub att: Vec<Conv2d>,
    /// Classification convs, one per head.
    pub cla: Vec<Conv2d>,
    /// Per-head weights `[head_num]`.
    pub head_weight: Param<Tensor<1>>,
}

impl MHeadAttention {
    /// New head for `n_in` channels, `n_out` classes and `heads` heads.
    pub fn new(n_in: usize, n_out: usize, heads: usize, device: &Device) -> Self {
        // PyTorch's default Conv2d init: kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(fan_in)),
        // bias U(±1/sqrt(fan_in)).
        let conv = || Conv2dConfig::new([n_in, n_out], [1, 1]).init(device);
        let w = 1.0 / heads as f32;
        Self {
            att: (0..heads).map(|_| conv()).collect(),
            cla: (0..heads).map(|_| conv()).collect(),
            head_weight: Param::from_tensor(Tensor::full([heads], w, device)),
        }
    }

    /// Number of heads.
    pub fn heads(&self) -> usize {
        self.att.len()
    }

    /// `[B, C, T, 1] -> [B, K]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let weights = self.head_weight.val();
        let mut out: Option<Tensor<2>> = None;
        for (i, (att, cla)) in self.att.iter().zip(&self.cla).enumerate() {
            let a = squeeze_last(sigmoid(conv2d(att, x.clone())));
            let c = squeeze_last(sigmoid(conv2d(cla, x.clone())));
            let (pooled, _) = attend(a, c);
            let w: Tensor<2> = weights.clone().slice(i..i + 1).unsqueeze_dim(0);
            let shape = pooled.shape();
            let term = pooled * expand(w, shape);
            out = Some(match out {
                Some(acc) => acc + term,
                None => term,
            });
        }
        out.expect("MHeadAttention has at least one head")
    }
}

/// The head of a PSLA model: `head_num` 0 = mean pooling, 1 = single-head attention,
/// > 1 = multi-head attention.
#[derive(Module, Debug)]
pub enum PoolingHead {
    /// Mean pooling.
    Mean(MeanPooling),
    /// Single-head attention.
    Single(Attention),
    /// Multi-head attention.
    Multi(MHeadAttention),
}

impl PoolingHead {
    /// Build the head PSLA builds for `head_num`.
    pub fn new(n_in: usize, n_out: usize, head_num: usize, device: &Device) -> Self {
        match head_num {
            0 => Self::Mean(MeanPooling::new(n_in, n_out, device)),
            1 => Self::Single(Attention::new(n_in, n_out, device)),
            h => Self::Multi(MHeadAttention::new(n_in, n_out, h, device)),
        }
    }

    /// `[B, C, T, 1] -> [B, K]` clip probabilities.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Self::Mean(h) => h.forward(x),
            Self::Single(h) => h.forward(x).0,
            Self::Multi(h) => h.forward(x),
        }
    }
}
