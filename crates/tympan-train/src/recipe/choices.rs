//! The closed choices of a recipe, as types. Each is a serde enum spelled in kebab-case in the
//! TOML, so an unknown value fails when the recipe is parsed, with the key, the value and the
//! allowed values in the message (`unknown variant "weird", expected one of ...`), and the engine
//! matches on variants instead of comparing strings.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Writes the kebab-case spelling a variant has in a recipe (for messages and summaries).
macro_rules! spelled {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The spelling in a recipe.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// `data.dataset`: which reader lists the clips (`tympan_data::datasets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// Free Spoken Digit Dataset (official split: takes 0-4 test).
    Fsdd,
    /// UrbanSound8K (ten folds; `data.test_fold` held out).
    Urbansound8k,
    /// ESC-50 (five folds).
    Esc50,
    /// ESC-10, the ten-class subset of ESC-50.
    Esc10,
    /// AudioSet from PSLA datafiles (`data.train_json`, `data.eval_json`, `data.class_csv`).
    Audioset,
    /// A folder of `<class>/*.wav`.
    Folder,
    /// A CSV manifest `path,label[,fold]`.
    Csv,
    /// FSDKaggle2018 (train.csv with the manually-verified flag, test_post_competition.csv).
    Fsdkaggle2018,
    /// FSD50K (official dev/eval split).
    Fsd50k,
}
spelled!(Dataset {
    Fsdd => "fsdd",
    Urbansound8k => "urbansound8k",
    Esc50 => "esc50",
    Esc10 => "esc10",
    Audioset => "audioset",
    Folder => "folder",
    Csv => "csv",
    Fsdkaggle2018 => "fsdkaggle2018",
    Fsd50k => "fsd50k",
});

/// `features.pad`: where a short waveform is zero-padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pad {
    /// After the clip.
    #[default]
    End,
    /// At both ends (Jeong & Lim): a random split in training, centred at evaluation.
    Both,
}
spelled!(Pad { End => "end", Both => "both" });

/// `features.eval_input`: what a waveform model sees of a clip at evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvalInput {
    /// `features.target_length` samples, as in training (padded as `features.pad` says, or cut
    /// to the start).
    #[default]
    Crop,
    /// The whole clip, zero-padded (as `features.pad` says) when shorter than
    /// `features.target_length` (Jeong & Lim: "whole clips at inference").
    Whole,
}
spelled!(EvalInput { Crop => "crop", Whole => "whole" });

/// `model.init`: weight initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// Burn's defaults (Kaiming-uniform, as PyTorch).
    #[default]
    Default,
    /// Glorot-uniform weights and zero biases (Keras; the M34-res study).
    Glorot,
}
spelled!(Init { Default => "default", Glorot => "glorot" });

/// `model.stem`: the first convolution of an ImageNet-initialised model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stem {
    /// A fresh one-channel stem (PSLA).
    #[default]
    Fresh,
    /// The ImageNet stem averaged over its RGB channels.
    AverageRgb,
}
spelled!(Stem { Fresh => "fresh", AverageRgb => "average-rgb" });

/// `train.sampler`: the order of an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sampler {
    /// PSLA Algorithm 1: draws weighted by inverse label frequency.
    Balanced,
    /// A seeded permutation of the training set.
    Uniform,
    /// Jeong & Lim: every batch holds one clip of each class (`batch_size` = class count).
    ClassBalanced,
    /// Chen et al.'s balanced batches on multi-label data: the classes in turn, in a fresh
    /// random order each round, each draw a clip carrying that label
    /// (`tympan_data::sampling::label_balanced_epoch`), so every class is equally frequent
    /// whatever the batch size.
    LabelBalanced,
}
spelled!(Sampler {
    Balanced => "balanced",
    Uniform => "uniform",
    ClassBalanced => "class-balanced",
    LabelBalanced => "label-balanced",
});

/// `train.mix`: how a training clip is mixed with a partner (with probability `train.mixup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mix {
    /// PSLA: `lambda ~ Beta(alpha, alpha)`, waveforms and labels mixed by `lambda`, the partner
    /// drawn uniformly.
    #[default]
    Psla,
    /// Chen et al.'s mix-training: `alpha ~ U(0.4, 0.6)`, label `sign(y_i + y_j)`.
    MixTraining,
    /// Jeong & Lim: `lambda ~ Beta(alpha, alpha)` folded onto `lambda > 0.5`, the partner drawn
    /// from another class, labels mixed by `lambda`.
    JeongLim,
}
spelled!(Mix {
    Psla => "psla",
    MixTraining => "mix-training",
    JeongLim => "jeong-lim",
});

/// `train.loss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Binary cross-entropy on clamped probabilities (multi-label, PSLA).
    #[default]
    Bce,
    /// Cross-entropy on the probabilities of a softmax model.
    Ce,
}
spelled!(Loss { Bce => "bce", Ce => "ce" });

/// `model.pretrained`: ImageNet weights, or `"none"` to train from scratch.
///
/// In TOML it is one string: `"none"`, or a path (an `efficientnet_pytorch` state dict; a
/// relative path is taken from `data.data_dir`, else from the working directory). A file really
/// called `none` is written `"./none"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Pretrained {
    /// Train from scratch (the pretraining ablation: `--set model.pretrained=none`).
    None,
    /// Load these weights.
    Weights(PathBuf),
}

impl TryFrom<String> for Pretrained {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "none" => Ok(Self::None),
            "" => {
                Err("model.pretrained is \"none\" or a path to ImageNet weights, got \"\"".into())
            }
            _ => Ok(Self::Weights(PathBuf::from(s))),
        }
    }
}

impl From<Pretrained> for String {
    fn from(p: Pretrained) -> String {
        match p {
            Pretrained::None => "none".into(),
            Pretrained::Weights(p) => p.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct T {
        sampler: Sampler,
        mix: Mix,
        pretrained: Pretrained,
    }

    #[test]
    fn spellings_round_trip_and_unknown_values_name_the_choices() {
        let t: T = toml::from_str(
            "sampler = \"class-balanced\"\nmix = \"mix-training\"\npretrained = \"w/x.pth\"",
        )
        .unwrap();
        assert_eq!(t.sampler, Sampler::ClassBalanced);
        assert_eq!(t.mix.as_str(), "mix-training");
        assert_eq!(t.pretrained, Pretrained::Weights("w/x.pth".into()));
        let back: T = toml::from_str(&toml::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        let none: T =
            toml::from_str("sampler = \"uniform\"\nmix = \"psla\"\npretrained = \"none\"").unwrap();
        assert_eq!(none.pretrained, Pretrained::None);
        let e = toml::from_str::<T>("sampler = \"weird\"\nmix = \"psla\"\npretrained = \"none\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("weird") && e.contains("balanced") && e.contains("class-balanced"),
            "{e}"
        );
    }
}

/// `data.valid`: where the validation split comes from. It picks the best model
/// (`model-best.bpk`), drives the plateau schedule and `train.validate_every`; the test split
/// is only scored for the reported numbers.
///
/// ```toml
/// valid = { fraction = 0.1 }   # seeded (data.split_seed), stratified, recordings kept whole
/// valid = { fold = 3 }         # one of the training folds (UrbanSound8K, ESC-50, a CSV's fold)
/// valid = "official"           # the dataset's own validation split (FSD50K's `val`)
/// valid = { datafile = "datafiles/valid_data.json" }   # AudioSet: a PSLA datafile
/// valid = { cv = { folds = 5, index = 0 } }   # fold 0 of a seeded, stratified 5-fold partition
/// valid = "none"               # every training clip trains; no model is chosen
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Validation {
    /// This share of the training clips (`tympan_data::split::holdout`).
    Fraction(f64),
    /// One fold of the training folds.
    Fold(u32),
    /// The dataset's own validation split (FSD50K).
    Official,
    /// A PSLA datafile, relative to `data.data_dir` (AudioSet).
    Datafile(PathBuf),
    /// Fold `index` of a seeded (data.split_seed), stratified `folds`-fold partition of the
    /// training clips (`tympan_data::split::kfold`): the validation split of one model of a
    /// cross-validation ensemble (`cargo xtask cv`).
    Cv {
        /// Number of folds.
        folds: usize,
        /// The fold held out, `0..folds`.
        index: usize,
    },
    /// No validation split: every training clip trains, no model is chosen (no
    /// `model-best.bpk`), and the schedule must not read a validation metric (no plateau, no
    /// `train.validate_every`). PSLA's own practice: its runs score the evaluation list after
    /// every epoch, which tympan does as the test split, and report the last epoch, the mean of
    /// the last five, the weight average and the ensemble, never a model chosen on it.
    None,
}

impl Validation {
    /// The default of a dataset: its official split where it has one, else a tenth of the
    /// training clips.
    pub fn default_for(dataset: Dataset) -> Self {
        match dataset {
            Dataset::Fsd50k => Self::Official,
            _ => Self::Fraction(0.1),
        }
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fraction(x) => write!(
                f,
                "a seeded, stratified {:.0}% of the training clips",
                x * 100.0
            ),
            Self::Fold(k) => write!(f, "fold {k}"),
            Self::Official => f.write_str("the official validation split"),
            Self::Datafile(p) => write!(f, "{}", p.display()),
            Self::Cv { folds, index } => write!(
                f,
                "fold {index} of a seeded, stratified {folds}-fold partition of the training clips"
            ),
            Self::None => f.write_str("none (no model selection)"),
        }
    }
}
