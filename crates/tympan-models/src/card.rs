//! The model card: what a registered architecture reads, outputs and initialises from, and the
//! [`Family`] seam through which each family's module declares its cards (`psla/cards.rs`,
//! `rawwave/cards.rs`, `dcase/cards.rs`, `hershey/cards.rs`). The registry only looks names up.

use burn::prelude::Device;
use tympan_audio::{InputContract, InputKind};

use crate::tagger::Tagger;

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

/// A registry entry: the model card. Recipes, `tympan tag`, `embed` and `stats` take their
/// defaults from it (the input contract, the output kind, and where ImageNet weights go).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Registry name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Paper and upstream file it matches.
    pub reference: &'static str,
    /// The input contract the architecture is defined for: frontend, sample rate, input length
    /// and, for PSLA's fbank models, the normalisation of the released weights. A run's
    /// `card.json` holds the contract it trained with (its own statistics, its recipe's length).
    pub input: InputContract,
    /// Output kind.
    pub output: OutputKind,
    /// The backbone's ImageNet keys, for the models with an ImageNet initialisation (PSLA's
    /// EfficientNets and ResNet-50); `None` for the others.
    pub imagenet: Option<ImageNetKeys>,
}

impl ModelInfo {
    /// A card without ImageNet keys.
    pub(crate) fn new(
        name: &str,
        description: String,
        reference: &'static str,
        input: InputContract,
        output: OutputKind,
    ) -> Self {
        Self {
            name: name.to_string(),
            description,
            reference,
            input,
            output,
            imagenet: None,
        }
    }

    /// How this model's input is normalised (from the frontend; a PSLA fbank model's released
    /// constants are its contract's, PSLA's AudioSet `tympan_audio::presets::PSLA_MEAN`/`PSLA_STD`).
    pub fn normalisation(&self) -> Normalisation {
        match self.input.input {
            InputKind::Fbank => Normalisation::FromRun {
                released: Some((self.input.mean, self.input.std)),
            },
            InputKind::Vggish => Normalisation::FromRun { released: None },
            InputKind::Slim2d => Normalisation::PerClip,
            InputKind::Waveform => Normalisation::Waveform,
        }
    }

    /// Values per input frame (1 for waveform models, whose input is `[B, 1, N]`).
    pub fn bins(&self) -> usize {
        self.input.input.bins()
    }
}

/// One family of architectures, declared in its own module: the names it registers, the card of
/// each, and how to build each. Adding a family is a new implementation plus one line in the
/// registry's list (and a [`Tagger`] variant for a new network type).
pub trait Family: Sync {
    /// Every name this family registers (the ones `tympan models list` shows; a family may
    /// parse more, as DenseNet's suffix combinations).
    fn names(&self) -> Vec<String>;
    /// The card of `name`, or `None` when the name is not this family's.
    fn card(&self, name: &str) -> Option<ModelInfo>;
    /// A freshly initialised `name` with `num_classes` outputs, or `None` when the name is not
    /// this family's. `num_classes` is at least 1.
    fn create(&self, name: &str, num_classes: usize, device: &Device) -> Option<Tagger>;
}
