//! One registry for every architecture, in the spirit of timm's `create_model`:
//! [`create`]`("psla-effnet-b2", 527, &device)`.
//!
//! Names:
//! - `psla-effnet-b{0..7}`: PSLA `EffNetAttention` with 4 attention heads (PSLA's default).
//! - `psla-effnet-b{0..7}-att1`: single-head attention; `psla-effnet-b{0..7}-mean`: mean pooling.
//! - `psla-effnet-lite{0..4}` (and `-att1`, `-mean`): the same heads on EfficientNet-Lite.
//! - `psla-resnet50`: PSLA `ResNetAttention`.
//! - `m3`, `m5`, `m11`, `m18`, `m34-res-rb{1..6}`: Dai et al.'s raw-waveform networks;
//!   `m10-res-rb{1..6}`: M34-res's widths with one block per stage (tympan's CPU-scale variant).
//! - `slim2d-rb{1..6}`: Naranjo-Alcazar et al.'s slim 2D log-mel network.
//! - `chen-resnet`: Chen et al.'s 1D ResNet-18 -> 2D ResNet-50 with multi-level attention.
//! - `densenet-logmel`, `densenet-wave`: Jeong & Lim's DenseNet.
//! - `hershey-fc`, `hershey-alexnet`, `hershey-vgg`, `hershey-inception`, `hershey-resnet50`
//!   (`-b128`: with the 128-d bottleneck): Hershey et al.

use burn::module::Module;
use burn::prelude::*;

use crate::dcase::{DenseInput, DenseNet, DenseNetConfig};
use crate::efficientnet::EfficientNetVariant;
use crate::error::ModelError;
use crate::hershey::{HersheyArch, HersheyConfig, HersheyNet};
use crate::psla::{EffNetAttention, EffNetAttentionConfig, ResNetAttention, ResNetAttentionConfig};
use crate::rawwave::{
    ChenNet, ChenNetConfig, MNet, MNetConfig, MVariant, ResidualKind, Slim2d, Slim2dConfig,
};

/// The frontend a model reads: one of `tympan-audio`'s feature presets, or raw samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frontend {
    /// PSLA's Kaldi fbank (`tympan_audio::Preset::Psla`), `[T, 128]`.
    Psla,
    /// Naranjo-Alcazar et al.'s 64-bin log-mel (`tympan_audio::Preset::Slim2d`).
    Slim2d,
    /// Hershey et al.'s 96x64 log-mel patches (`tympan_audio::Preset::Vggish`).
    Vggish,
    /// Raw samples `[1, N]`; any log-mel is computed inside the model.
    Waveform,
}

impl Frontend {
    /// The name recipes and the CLI use (`features.input`, `tympan models list`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Psla => "psla",
            Self::Slim2d => "slim2d",
            Self::Vggish => "vggish",
            Self::Waveform => "waveform",
        }
    }
}

impl std::fmt::Display for Frontend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a model expects as input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSpec {
    /// The frontend that makes the model's input.
    pub preset: Frontend,
    /// Sample rate the model is trained at.
    pub sample_rate: u32,
    /// Frames per example (features) or samples per example (waveform) at training time.
    pub frames: usize,
    /// Feature bins per frame (1 for waveform models).
    pub bins: usize,
}

/// How a model's input is normalised: the card's answer to "which mean and std".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalisation {
    /// `(x - mean) / std` with the training set's statistics, computed by each run (PSLA's
    /// `get_norm_stats.py`; a recipe's `features.mean`/`std` fix them) and recorded in the run's
    /// `card.json`, which `tympan tag --run` reads. `released`: the constants of the publisher's
    /// own weights, where there are any (PSLA's AudioSet values, which `tympan tag --pretrained`
    /// uses; weights given alone must state theirs).
    FromRun {
        /// Mean and std of the released weights.
        released: Option<(f32, f32)>,
    },
    /// Each clip normalises itself in the frontend (slim 2D: every frequency channel
    /// standardised over the clip); no constants.
    PerClip,
    /// Raw samples: the recipe's `features.wave_norm` per clip (none, scale-max, z-score), or a
    /// log-mel computed inside the model.
    Waveform,
}

impl std::fmt::Display for Normalisation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FromRun { released: None } => f.write_str("from the run"),
            Self::FromRun {
                released: Some((m, s)),
            } => write!(f, "from the run (released: {m}/{s})"),
            Self::PerClip => f.write_str("per clip"),
            Self::Waveform => f.write_str("wave_norm"),
        }
    }
}

impl InputSpec {
    /// How this input is normalised (from the frontend: a PSLA fbank model's released
    /// constants are PSLA's AudioSet ones, `tympan_audio::presets::PSLA_MEAN`/`PSLA_STD`).
    pub fn normalisation(&self) -> Normalisation {
        match self.preset {
            Frontend::Psla => Normalisation::FromRun {
                released: Some((
                    tympan_audio::presets::PSLA_MEAN,
                    tympan_audio::presets::PSLA_STD,
                )),
            },
            Frontend::Vggish => Normalisation::FromRun { released: None },
            Frontend::Slim2d => Normalisation::PerClip,
            Frontend::Waveform => Normalisation::Waveform,
        }
    }

    /// `true` for raw-waveform models (input `[B, 1, N]`); features are `[B, T, F]`.
    pub fn is_waveform(&self) -> bool {
        self.preset == Frontend::Waveform
    }
}

/// What a model outputs from [`Tagger::forward`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputKind {
    /// Independent per-class probabilities (multi-label; sigmoid outputs).
    Probabilities,
    /// A distribution over classes (single-label; softmax outputs).
    Distribution,
}

/// Where a model's ImageNet backbone sits in its parameters, and which keys of an ImageNet
/// checkpoint it does not take: the stem (1 input channel instead of 3, fresh or averaged) and
/// the classifier (replaced by the tagging head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageNetKeys {
    /// Prefix of the backbone in the model's parameter names (`effnet.`, `model.`).
    pub prefix: &'static str,
    /// The stem convolution's weight in the checkpoint.
    pub stem: &'static str,
    /// The checkpoint's classifier weight and bias.
    pub classifier: [&'static str; 2],
}

/// A registry entry: the model card. Recipes, `tympan tag`, `embed` and `stats` take their
/// defaults from it (the frontend, sample rate and input length, the output kind, and where
/// ImageNet weights go).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Registry name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Paper and upstream file it matches.
    pub reference: &'static str,
    /// Input specification.
    pub input: InputSpec,
    /// Output kind.
    pub output: OutputKind,
    /// The backbone's ImageNet keys, for the models with an ImageNet initialisation (PSLA's
    /// EfficientNets and ResNet-50); `None` for the others.
    pub imagenet: Option<ImageNetKeys>,
}

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

    /// Outputs `[B, K]` (see [`OutputKind`]) for the model's input: features `[B, T, F]` or
    /// waveforms `[B, 1, N]`. Each model turns its card's input into its card's output itself
    /// (the `classify` of the families whose `forward` gives logits).
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

const PSLA_INPUT: InputSpec = InputSpec {
    preset: Frontend::Psla,
    sample_rate: 16_000,
    frames: 1056,
    bins: 128,
};
const PSLA_REF: &str = "Gong et al., PSLA (TASLP 2021), Sec. III; psla/src/models/Models.py";

#[derive(Debug, Clone, Copy)]
enum Arch {
    EffNet {
        variant: EfficientNetVariant,
        heads: usize,
    },
    ResNet50,
    MNet {
        variant: MVariant,
        block: ResidualKind,
    },
    Slim2d {
        block: ResidualKind,
    },
    Chen {
        /// One bottleneck per ResNet stage and a 64-channel front end (CPU-scale runs).
        small: bool,
        /// Front-end stride: 64 (2,500 frames per 10 s) or 128 (1,250; Table 3).
        stride: usize,
    },
    DenseNet {
        input: DenseInput,
        /// The reduced growth of [`DenseNetConfig::small_growth`] (CPU-scale runs).
        small: bool,
        /// Sample rate (Jeong & Lim's Table 1: 16, 32, 44.1 kHz).
        rate: u32,
        /// Softmax heads (8; 1 for their Fig. 3).
        heads: usize,
    },
    Hershey {
        arch: HersheyArch,
        bottleneck: Option<usize>,
    },
}

/// `densenet-{logmel|wave}[-small][-16k|-32k|-44k][-h1|-h8]`: Jeong & Lim's front end, the
/// reduced growth, the sample rate (Table 1; 44.1 kHz by default) and the softmax heads (8 by
/// default; 1 for Fig. 3).
fn parse_densenet(rest: &str) -> Option<Arch> {
    let mut parts = rest.split('-');
    let input = match parts.next()? {
        "logmel" => DenseInput::LogMel,
        "wave" => DenseInput::Waveform,
        _ => return None,
    };
    let (mut small, mut rate, mut heads) = (false, 44_100, 8);
    let mut stage = 0;
    for p in parts {
        let s = match p {
            "small" => 1,
            "16k" | "32k" | "44k" => 2,
            "h1" | "h8" => 3,
            _ => return None,
        };
        // Each suffix at most once, in this order.
        if s <= stage {
            return None;
        }
        stage = s;
        match p {
            "small" => small = true,
            "16k" => rate = 16_000,
            "32k" => rate = 32_000,
            "44k" => rate = 44_100,
            "h1" => heads = 1,
            _ => heads = 8,
        }
    }
    Some(Arch::DenseNet {
        input,
        small,
        rate,
        heads,
    })
}

fn parse(name: &str) -> Option<Arch> {
    match name {
        "psla-resnet50" => return Some(Arch::ResNet50),
        "chen-resnet" => {
            return Some(Arch::Chen {
                small: false,
                stride: 64,
            });
        }
        "chen-resnet-1250" => {
            return Some(Arch::Chen {
                small: false,
                stride: 128,
            });
        }
        "chen-resnet-small" => {
            return Some(Arch::Chen {
                small: true,
                stride: 64,
            });
        }
        "chen-resnet-small-1250" => {
            return Some(Arch::Chen {
                small: true,
                stride: 128,
            });
        }
        _ => {}
    }
    if let Some(rest) = name.strip_prefix("densenet-") {
        return parse_densenet(rest);
    }
    if let Some(rest) = name.strip_prefix("hershey-") {
        // `-b128`: the optional 128-d bottleneck before the output (Sec. 4.4 embeddings).
        let (base, bottleneck) = match rest.strip_suffix("-b128") {
            Some(b) => (b, Some(128)),
            None => (rest, None),
        };
        let arch = match base {
            "fc" => HersheyArch::Fc {
                layers: 3,
                units: 1000,
            },
            "alexnet" => HersheyArch::AlexNet,
            "vgg" => HersheyArch::Vgg,
            "resnet50" => HersheyArch::ResNet50,
            "inception" => HersheyArch::InceptionV3,
            _ => return None,
        };
        return Some(Arch::Hershey { arch, bottleneck });
    }
    if let Some(rest) = name.strip_prefix("slim2d-") {
        return Some(Arch::Slim2d {
            block: ResidualKind::from_name(rest)?,
        });
    }
    if let Some(rest) = name.strip_prefix("m34-res-") {
        return Some(Arch::MNet {
            variant: MVariant::M34Res,
            block: ResidualKind::from_name(rest)?,
        });
    }
    if let Some(rest) = name.strip_prefix("m10-res-") {
        return Some(Arch::MNet {
            variant: MVariant::M10Res,
            block: ResidualKind::from_name(rest)?,
        });
    }
    if let Some(v) = ["m3", "m5", "m11", "m18"].iter().find(|v| **v == name) {
        return Some(Arch::MNet {
            variant: MVariant::from_name(v)?,
            block: ResidualKind::Rb6,
        });
    }
    let rest = name.strip_prefix("psla-effnet-")?;
    let (body, heads) = if let Some(b) = rest.strip_suffix("-att1") {
        (b, 1)
    } else if let Some(b) = rest.strip_suffix("-mean") {
        (b, 0)
    } else {
        (rest, 4)
    };
    let variant = if let Some(i) = body.strip_prefix("lite") {
        EfficientNetVariant::Lite(i.parse().ok()?)
    } else {
        EfficientNetVariant::B(body.strip_prefix('b')?.parse().ok()?)
    };
    variant.coefficients()?;
    Some(Arch::EffNet { variant, heads })
}

fn describe(name: &str, arch: Arch) -> ModelInfo {
    let wave = |rate, n| InputSpec {
        preset: Frontend::Waveform,
        sample_rate: rate,
        frames: n,
        bins: 1,
    };
    let (description, reference, input, output) = match arch {
        Arch::EffNet { variant, heads } => {
            let head = match heads {
                0 => "mean pooling".to_string(),
                1 => "single-head attention".to_string(),
                h => format!("{h}-head attention"),
            };
            (
                format!("PSLA EffNetAttention: {} backbone, {head}", variant.name()),
                PSLA_REF,
                PSLA_INPUT,
                OutputKind::Probabilities,
            )
        }
        Arch::ResNet50 => (
            "PSLA ResNetAttention: ResNet-50 backbone, single-head attention".into(),
            PSLA_REF,
            PSLA_INPUT,
            OutputKind::Probabilities,
        ),
        Arch::MNet { variant, block } => (
            match variant {
                MVariant::M34Res => format!(
                    "Dai et al. M34-res with residual block {}",
                    block.name().to_uppercase()
                ),
                MVariant::M10Res => format!(
                    "M34-res reduced to one block per stage (tympan) with residual block {}",
                    block.name().to_uppercase()
                ),
                v => format!("Dai et al. {v:?} (plain conv layers)"),
            },
            "Dai et al. (ICASSP 2017) Table 1; Naranjo-Alcazar et al. Fig. 2-3",
            wave(8_000, 32_000),
            OutputKind::Distribution,
        ),
        Arch::Slim2d { block } => (
            format!(
                "Naranjo-Alcazar et al. slim 2D log-mel network with {}",
                block.name().to_uppercase()
            ),
            "Naranjo-Alcazar et al., Table I",
            InputSpec {
                preset: Frontend::Slim2d,
                sample_rate: 8_000,
                // 4 s: Naranjo-Alcazar et al.'s 64 x 199.
                frames: 199,
                bins: 64,
            },
            OutputKind::Distribution,
        ),
        Arch::Chen { small, stride } => (
            format!(
                "Chen et al. 1D ResNet-18 -> 2D {} with multi-level attention, {} frames per 10 s{}",
                if small {
                    "ResNet (one bottleneck per stage)"
                } else {
                    "ResNet-50"
                },
                160_000 / stride,
                if small {
                    " (reduced width for CPU-scale runs, not the paper's network)"
                } else {
                    ""
                }
            ),
            "Chen et al. (Hikvision), Sec. 2",
            wave(16_000, 160_000),
            OutputKind::Probabilities,
        ),
        Arch::DenseNet {
            input,
            small,
            rate,
            heads,
        } => (
            format!(
                "Jeong & Lim single-block DenseNet with SE, {} front end at {} kHz, {heads} softmax head{}{}",
                match input {
                    DenseInput::LogMel => "in-graph log-mel",
                    DenseInput::Waveform => "waveform",
                },
                rate as f64 / 1000.0,
                if heads == 1 { "" } else { "s" },
                if small {
                    " (reduced growth for CPU-scale runs)"
                } else {
                    ""
                }
            ),
            "Jeong & Lim, DCASE 2018 task 2, Fig. 2",
            // 64,000-sample crops at every rate (4 s at 16 kHz, 2 s at 32, 1.45 s at 44.1).
            wave(rate, 64_000),
            OutputKind::Distribution,
        ),
        Arch::Hershey { arch, bottleneck } => (
            format!(
                "Hershey et al. {arch:?} on 96x64 log-mel patches{}",
                if bottleneck.is_some() {
                    ", 128-d bottleneck"
                } else {
                    ""
                }
            ),
            "Hershey et al. (ICASSP 2017), Sec. 3",
            InputSpec {
                preset: Frontend::Vggish,
                sample_rate: 16_000,
                frames: 96,
                bins: 64,
            },
            OutputKind::Probabilities,
        ),
    };
    let imagenet = match arch {
        // efficientnet_pytorch's `_conv_stem` / `_fc`, after `weights.rs`'s key remapping.
        Arch::EffNet { .. } => Some(ImageNetKeys {
            prefix: "effnet.",
            stem: "conv_stem.weight",
            classifier: ["fc.weight", "fc.bias"],
        }),
        // torchvision's ResNet-50.
        Arch::ResNet50 => Some(ImageNetKeys {
            prefix: "model.",
            stem: "conv1.weight",
            classifier: ["fc.weight", "fc.bias"],
        }),
        _ => None,
    };
    ModelInfo {
        name: name.to_string(),
        description,
        reference,
        input,
        output,
        imagenet,
    }
}

/// Every registered name (the heads variants included).
pub fn names() -> Vec<String> {
    let mut out = Vec::new();
    let mut push_heads = |base: String| {
        out.push(base.clone());
        out.push(format!("{base}-att1"));
        out.push(format!("{base}-mean"));
    };
    for b in 0..=7 {
        push_heads(format!("psla-effnet-b{b}"));
    }
    for l in 0..=4 {
        push_heads(format!("psla-effnet-lite{l}"));
    }
    out.push("psla-resnet50".into());
    for m in ["m3", "m5", "m11", "m18"] {
        out.push(m.into());
    }
    for k in ResidualKind::ALL {
        out.push(format!("m34-res-{}", k.name()));
    }
    for k in ResidualKind::ALL {
        out.push(format!("m10-res-{}", k.name()));
    }
    for k in ResidualKind::ALL {
        out.push(format!("slim2d-{}", k.name()));
    }
    out.push("chen-resnet".into());
    out.push("chen-resnet-1250".into());
    out.push("chen-resnet-small".into());
    out.push("densenet-logmel".into());
    out.push("densenet-wave".into());
    out.push("densenet-logmel-small".into());
    out.push("densenet-wave-small".into());
    // Jeong & Lim's Table 1 rates and Fig. 3's single head (any combination parses).
    out.push("densenet-logmel-16k".into());
    out.push("densenet-logmel-32k".into());
    out.push("densenet-logmel-h1".into());
    for h in ["fc", "alexnet", "vgg", "inception", "resnet50"] {
        out.push(format!("hershey-{h}"));
        out.push(format!("hershey-{h}-b128"));
    }
    out
}

/// Registry entries, one per name.
pub fn list() -> Vec<ModelInfo> {
    names()
        .iter()
        .filter_map(|n| parse(n).map(|a| describe(n, a)))
        .collect()
}

fn unknown(name: &str) -> ModelError {
    ModelError::UnknownModel {
        name: name.to_string(),
        known: nearest(name, &names(), 3).join(", "),
    }
}

/// The entry of one name.
pub fn info(name: &str) -> Result<ModelInfo, ModelError> {
    parse(name)
        .map(|a| describe(name, a))
        .ok_or_else(|| unknown(name))
}

/// Create a freshly initialised model.
pub fn create(name: &str, num_classes: usize, device: &Device) -> Result<Tagger, ModelError> {
    if num_classes == 0 {
        return Err(ModelError::Config("num_classes must be at least 1".into()));
    }
    Ok(match parse(name).ok_or_else(|| unknown(name))? {
        Arch::EffNet { variant, heads } => Tagger::EffNet(
            EffNetAttentionConfig::new(num_classes)
                .with_variant(variant)
                .with_head_num(heads)
                .init(device),
        ),
        Arch::ResNet50 => Tagger::ResNet(ResNetAttentionConfig::new(num_classes).init(device)),
        Arch::MNet { variant, block } => Tagger::MNet(
            MNetConfig::new(variant, num_classes)
                .with_block(block)
                .init(device),
        ),
        Arch::Slim2d { block } => Tagger::Slim2d(
            Slim2dConfig::new(num_classes)
                .with_block(block)
                .init(device),
        ),
        Arch::Chen { small, stride } => {
            let mut cfg = ChenNetConfig::new(num_classes).with_front_stride(stride);
            if small {
                cfg = cfg.with_front_channels(64).with_resnet_layers([1, 1, 1, 1]);
            }
            Tagger::Chen(cfg.init(device))
        }
        Arch::DenseNet {
            input,
            small,
            rate,
            heads,
        } => {
            let mut cfg = DenseNetConfig::new(num_classes, input)
                .with_sample_rate(rate)
                .with_heads(heads);
            if small {
                cfg = cfg.with_growth(Some(DenseNetConfig::small_growth(input)));
            }
            Tagger::DenseNet(cfg.init(device))
        }
        Arch::Hershey { arch, bottleneck } => Tagger::Hershey(
            HersheyConfig::new(arch, num_classes)
                .with_bottleneck(bottleneck)
                .init(device),
        ),
    })
}

/// The `n` names closest to `name` by edit distance (ties in registry order).
fn nearest(name: &str, names: &[String], n: usize) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> =
        names.iter().map(|k| (edit_distance(name, k), k)).collect();
    scored.sort_by_key(|&(d, _)| d);
    scored.into_iter().take(n).map(|(_, k)| k.clone()).collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Number of BatchNorm running-statistic values (running mean and variance) in a model.
fn running_stat_count<M: Module>(model: &M) -> usize {
    struct Running {
        n: usize,
        path: Vec<String>,
    }
    impl burn::module::ModuleVisitor for Running {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if self
                .path
                .last()
                .is_some_and(|l| l == "running_mean" || l == "running_var")
            {
                self.n += param.val().shape().num_elements();
            }
        }
    }
    let mut v = Running {
        n: 0,
        path: Vec::new(),
    };
    model.visit(&mut v);
    v.n
}

/// Every parameter gradient of `model` in `grads` (parameters without one skipped), in the
/// module's visiting order, as host vectors: what gradient checks compare between two runs of
/// a step (tympan's kernels against Burn's own ops, tests/golden_models.rs).
pub fn parameter_gradients<M: Module>(model: &M, grads: &burn::tensor::Gradients) -> Vec<Vec<f32>> {
    struct Grads<'a> {
        grads: &'a burn::tensor::Gradients,
        out: Vec<Vec<f32>>,
    }
    impl burn::module::ModuleVisitor for Grads<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if let Some(g) = param.grad(self.grads) {
                self.out.push(g.into_data().iter::<f32>().collect());
            }
        }
    }
    let mut v = Grads {
        grads,
        out: Vec::new(),
    };
    model.visit(&mut v);
    v.out
}

/// Number of trainable parameters, as PyTorch's `sum(p.numel() for p in model.parameters())`
/// counts them (Burn's `Module::num_params` also counts BatchNorm running statistics).
pub fn num_params<M: Module>(model: &M) -> usize {
    model.num_params() - running_stat_count(model)
}

/// Parameter count as Keras reports it: trainable parameters plus BatchNorm running mean and
/// variance (non-trainable parameters in Keras). The M34-res papers quote this count.
pub fn keras_param_count<M: Module>(model: &M) -> usize {
    num_params(model) + running_stat_count(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every card says how its input is normalised: PSLA's cards carry PSLA's AudioSet constants
    /// for the released weights, the other feature models take their run's statistics, slim 2D
    /// standardises each clip, waveform models follow `features.wave_norm`.
    #[test]
    fn every_card_names_its_normalisation() {
        for m in list() {
            let n = m.input.normalisation();
            let want = match m.input.preset {
                Frontend::Psla => Normalisation::FromRun {
                    released: Some((-4.6476, 4.5699)),
                },
                Frontend::Vggish => Normalisation::FromRun { released: None },
                Frontend::Slim2d => Normalisation::PerClip,
                Frontend::Waveform => Normalisation::Waveform,
            };
            assert_eq!(n, want, "{}", m.name);
        }
        let psla = info("psla-effnet-b2").unwrap().input.normalisation();
        assert_eq!(psla.to_string(), "from the run (released: -4.6476/4.5699)");
    }

    #[test]
    fn a_mistyped_name_gets_the_nearest_names() {
        let e = info("psla-efficientnet-b2").unwrap_err().to_string();
        assert!(e.contains("psla-effnet-b2"), "{e}");
        let e = info("m34res-rb1").unwrap_err().to_string();
        assert!(e.contains("m34-res-rb1"), "{e}");
        assert_eq!(e.matches(", ").count(), 2, "three names: {e}");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn names_parse() {
        for n in names() {
            assert!(parse(&n).is_some(), "{n}");
        }
        assert!(parse("psla-effnet-b8").is_none());
        // Jeong & Lim: rate and head count by suffix, each once and in order.
        let Some(Arch::DenseNet {
            input,
            small,
            rate,
            heads,
        }) = parse("densenet-logmel-small-32k-h1")
        else {
            panic!("densenet-logmel-small-32k-h1");
        };
        assert_eq!(
            (input, small, rate, heads),
            (DenseInput::LogMel, true, 32_000, 1)
        );
        assert_eq!(info("densenet-wave-16k").unwrap().input.sample_rate, 16_000);
        assert_eq!(info("densenet-wave").unwrap().input.sample_rate, 44_100);
        for bad in [
            "densenet-logmel-h1-16k",
            "densenet-logmel-16k-16k",
            "densenet-mfcc",
            "densenet-logmel-8k",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        let Tagger::DenseNet(one) =
            create("densenet-logmel-small-16k-h1", 41, &Device::flex()).unwrap()
        else {
            panic!("not a DenseNet");
        };
        assert_eq!(one.heads.len(), 1);
        assert_eq!(
            one.logmel.as_ref().map(|l| l.config.sample_rate),
            Some(16_000.0)
        );
        assert!(parse("psla-effnet-lite5").is_none());
        assert!(info("nope").is_err());
    }

    /// Chen et al. train on each level (the loss is the mean of the per-level losses); the
    /// network's output is the mean of the levels' probabilities.
    #[test]
    fn chen_trains_three_levels_whose_mean_is_the_output() {
        let device = Device::flex();
        let Tagger::Chen(net) = create("chen-resnet", 3, &device).unwrap() else {
            panic!("chen-resnet is not Chen's network");
        };
        let model = Tagger::Chen(net);
        let wave = Tensor::<3>::random(
            [2, 1, 4096],
            burn::tensor::Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let levels = model.forward_train(wave.clone());
        assert_eq!(levels.len(), 3);
        let mean: Vec<f32> = (levels[0].clone() + levels[1].clone() + levels[2].clone())
            .div_scalar(3.0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let out: Vec<f32> = model.forward(wave).into_data().try_to_vec::<f32>().unwrap();
        for (a, b) in mean.iter().zip(&out) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // Table 3's front ends: 2,500 or 1,250 frames per 10 s (here 1 s: 250 or 125).
        for (name, frames) in [("chen-resnet-small", 250), ("chen-resnet-small-1250", 125)] {
            let Tagger::Chen(net) = create(name, 3, &device).unwrap() else {
                panic!("{name}");
            };
            let x = Tensor::<3>::zeros([1, 1, 16_000], &device);
            assert_eq!(net.front_end(x).dims(), [1, 64, frames], "{name}");
        }
        let other = create("hershey-fc", 3, &device).unwrap();
        let patch = Tensor::<3>::zeros([1, 96, 64], &device);
        assert_eq!(other.forward_train(patch).len(), 1);
    }

    /// Naranjo-Alcazar et al. quote Keras counts for M34-res on 10 classes: 4,001,242 for Dai's
    /// block (RB6: three BNs), 3,988,570 for RB5 (its first BN sees the narrower input) and
    /// 3,989,914 for the others.
    #[test]
    fn m34_res_parameter_counts_match_the_paper() {
        use crate::rawwave::{MNetConfig, MVariant, ResidualKind};
        let device = Device::flex();
        for (kind, want) in [
            (ResidualKind::Rb1, 3_989_914),
            (ResidualKind::Rb2, 3_989_914),
            (ResidualKind::Rb3, 3_989_914),
            (ResidualKind::Rb4, 3_989_914),
            (ResidualKind::Rb5, 3_988_570),
            (ResidualKind::Rb6, 4_001_242),
        ] {
            let m = MNetConfig::new(MVariant::M34Res, 10)
                .with_block(kind)
                .init(&device);
            assert_eq!(keras_param_count(&m), want, "{kind:?}");
        }
        let m = MNetConfig::new(MVariant::M34Res, 10).init(&device);
        let x = Tensor::<3>::zeros([2, 1, 32_000], &device);
        assert_eq!(m.forward(x).dims(), [2, 10]);
    }

    /// M10-res (one RB1 block per stage) by hand, Keras-style (BN: 4 values per channel; the
    /// zero-padding shortcut has no weights): first conv 80*48+48, its BN 4*48; a block
    /// (cin -> cout) is 3*cin*cout+cout + 3*cout*cout+cout + 2*4*cout; classifier 384*10+10.
    /// 3,888 + 192 + 14,304 + 42,432 + 167,808 + 667,392 + 3,850 = 899,866. The same formula
    /// gives M34-res's 3,989,914 above.
    #[test]
    fn m10_res_parameter_count_matches_the_hand_count() {
        use crate::rawwave::{MNetConfig, MVariant, ResidualKind};
        let device = Device::flex();
        let m = MNetConfig::new(MVariant::M10Res, 10)
            .with_block(ResidualKind::Rb1)
            .init(&device);
        assert_eq!(keras_param_count(&m), 899_866);
        let m = create("m10-res-rb3", 10, &device).expect("registered");
        let x = Tensor::<3>::zeros([2, 1, 8_000], &device);
        assert_eq!(m.forward(x).dims(), [2, 10]);
    }
}
