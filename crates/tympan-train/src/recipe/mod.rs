//! Experiment recipes: TOML files in `experiments/` whose names are what users type
//! (`cargo xtask train fsdd-psla`). Any key can be overridden with `--set section.key=value`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

mod choices;
mod load;
mod probe;
#[cfg(test)]
pub(crate) mod tests;
mod validate;

pub use choices::{
    Dataset, EvalInput, Init, Loss, Mix, Pad, Pretrained, Sampler, Stem, Validation,
};
pub use load::Experiment;
pub use probe::{EmbeddingSection, ProbeConfig, ProbeData, ProbeRecipe, ProbeSection};
pub use tympan_audio::{InputKind, WaveNorm};

/// A full experiment description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Recipe name.
    pub name: String,
    /// What the recipe reproduces.
    #[serde(default)]
    pub description: String,
    /// Data.
    pub data: DataSection,
    /// Input features.
    #[serde(default)]
    pub features: FeatureSection,
    /// Model.
    pub model: ModelSection,
    /// Optimiser and schedule.
    pub optim: OptimSection,
    /// Training loop.
    pub train: TrainSection,
    /// Weight averaging and ensembles.
    #[serde(default)]
    pub aggregate: AggregateSection,
    /// What loading changed that the user did not write (a weight-averaging window moved with
    /// a shrunk budget): the engine reports each as an [`crate::Event::Info`] when a run starts.
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// Which dataset and split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Which reader lists the clips.
    pub dataset: Dataset,
    /// Dataset root (overridden by `--data-dir`).
    pub data_dir: PathBuf,
    /// `cargo xtask download <name>` that fetches it, for the error message when it is absent.
    #[serde(default)]
    pub download: Option<String>,
    /// Held-out fold for fold-based datasets (UrbanSound8K, ESC-50); FSDD uses its official split.
    #[serde(default)]
    pub test_fold: Option<u32>,
    /// Instead of a fold: a seeded (`split_seed`), stratified share of the clips as the test
    /// split. Your own clips (`folder`, a `csv` manifest) default to 0.2 when neither is set.
    #[serde(default)]
    pub test_fraction: Option<f64>,
    /// The validation split (model selection, the plateau schedule, `train.validate_every`);
    /// unset: [`Validation::default_for`] the dataset.
    #[serde(default)]
    pub valid: Option<Validation>,
    /// Seed of a carved validation split (`valid = { fraction = .. }`), apart from
    /// `train.seed` so that runs of several training seeds share one split.
    #[serde(default)]
    pub split_seed: u64,
    /// Folds to leave out entirely (e.g. absent on disk).
    #[serde(default)]
    pub exclude_folds: Vec<u32>,
    /// AudioSet: training datafile (PSLA JSON).
    #[serde(default)]
    pub train_json: Option<PathBuf>,
    /// AudioSet: evaluation (test) datafile.
    #[serde(default)]
    pub eval_json: Option<PathBuf>,
    /// AudioSet: `class_labels_indices.csv`.
    #[serde(default)]
    pub class_csv: Option<PathBuf>,
    /// Resample every clip to this rate (Hz). Left out: the model card's rate, except for PSLA
    /// models, which keep each file's rate (PSLA).
    #[serde(default)]
    pub sample_rate: Option<u32>,
    /// Keep decoded waveforms in memory (small datasets).
    #[serde(default = "yes")]
    pub cache_audio: bool,
}

impl DataSection {
    /// The validation split: `data.valid`, or the dataset's default.
    pub fn validation(&self) -> Validation {
        self.valid
            .clone()
            .unwrap_or_else(|| Validation::default_for(self.dataset))
    }
}

/// Input settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSection {
    /// `fbank` (PSLA's Kaldi fbank), `slim2d` (64-bin log-mel at 8 kHz), `vggish` (Hershey et
    /// al.'s 96x64 patches at 16 kHz) or `waveform`. Left out, the model card's; any other value
    /// than the card's is refused when the recipe is read.
    #[serde(default)]
    pub input: InputKind,
    /// Frames per example (PSLA: 1056 on AudioSet, 3000 on FSD50K); samples for `waveform`.
    #[serde(default = "psla_frames")]
    pub target_length: usize,
    /// Fit the length to the clips: the length that holds this share of the training clips
    /// whole (`own-clips`: 0.99), rounded up to a multiple of 8 and at most `target_length`,
    /// measured on the first 2,000 training clips when the run starts. The run's `config.toml`
    /// records the length used (and no share). Left out: `target_length` as written.
    #[serde(default)]
    pub fit_length: Option<f64>,
    /// Waveform normalisation: `none`, `scale-max`, `zero-mean-unit-std` (Naranjo-Alcazar).
    #[serde(default)]
    pub wave_norm: WaveNorm,
    /// Waveform input: where short clips are zero-padded, `end` or `both` (Jeong & Lim: at both
    /// ends, a random split in training, centred at evaluation).
    #[serde(default)]
    pub pad: Pad,
    /// Waveform input at evaluation: `crop` (as in training) or `whole` (Jeong & Lim).
    #[serde(default)]
    pub eval_input: EvalInput,
    /// Normalisation mean; computed on the training set when absent.
    #[serde(default)]
    pub mean: Option<f32>,
    /// Normalisation std; computed on the training set when absent.
    #[serde(default)]
    pub std: Option<f32>,
}

impl Default for FeatureSection {
    fn default() -> Self {
        Self {
            input: InputKind::default(),
            target_length: psla_frames(),
            fit_length: None,
            wave_norm: WaveNorm::default(),
            pad: Pad::default(),
            eval_input: EvalInput::default(),
            mean: None,
            std: None,
        }
    }
}

/// Model settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Registry name, e.g. `psla-effnet-b2`.
    pub arch: String,
    /// ImageNet weights (`efficientnet_pytorch` state dict); a relative path is taken from
    /// `data.data_dir`. `"none"` trains from scratch (the pretraining ablation:
    /// `--set model.pretrained=none`).
    #[serde(default)]
    pub pretrained: Option<Pretrained>,
    /// Weight initialisation: `default` (Burn's, Kaiming-uniform like PyTorch) or `glorot`
    /// (Glorot-uniform weights and zero biases, as Keras; the M34-res study).
    #[serde(default)]
    pub init: Init,
    /// Start from a trained tympan model (`.bpk`, e.g. stage 1 of Chen et al.'s mix-training);
    /// a relative path is taken from the working directory.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
    /// Stem of a pretrained model: `fresh` (PSLA) or `average-rgb`.
    #[serde(default)]
    pub stem: Stem,
    /// BatchNorm momentum of an EfficientNet backbone; `None` keeps `efficientnet_pytorch`'s 0.01
    /// (PSLA). Small datasets need PyTorch's 0.1 for usable running statistics.
    #[serde(default)]
    pub bn_momentum: Option<f64>,
}

/// Optimiser settings (Adam).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimSection {
    /// Base learning rate.
    pub lr: f64,
    /// Adam betas (PSLA: 0.95, 0.999).
    #[serde(default = "psla_betas")]
    pub betas: (f32, f32),
    /// L2 weight decay added to the gradient, as `torch.optim.Adam(weight_decay=...)` (PSLA 5e-7).
    #[serde(default = "psla_wd")]
    pub weight_decay: f32,
    /// Warm-up iterations (PSLA: 1000).
    #[serde(default = "psla_warmup")]
    pub warmup_iters: u64,
    /// Schedule after the warm-up.
    pub schedule: Schedule,
}

/// Training-loop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Batch size.
    pub batch_size: usize,
    /// Epochs.
    pub epochs: usize,
    /// `balanced` (PSLA Algorithm 1), `uniform`, or `class-balanced` (Jeong & Lim: every batch
    /// holds one clip of each class, so `batch_size` must equal the class count).
    pub sampler: Sampler,
    /// Clips drawn per epoch, for every sampler (default: the training-set size). `uniform` takes
    /// a prefix of its shuffle, or further shuffles when larger (until 2026-12-03 `uniform`
    /// ignored it).
    #[serde(default)]
    pub draws_per_epoch: Option<usize>,
    /// Mixup rate (PSLA: 0.5).
    #[serde(default)]
    pub mixup: f64,
    /// Mixup Beta(alpha, alpha) (PSLA: 10).
    #[serde(default = "ten")]
    pub mixup_alpha: f64,
    /// How a clip is mixed: `psla`, `mix-training` (Chen et al.: `alpha ~ U(0.4, 0.6)`, label
    /// `sign(y_i + y_j)`) or `jeong-lim` (`lambda > 0.5`, a partner of another class).
    #[serde(default)]
    pub mix: Mix,
    /// Scale augmentation (Jeong & Lim): every training clip is multiplied by a gain drawn
    /// uniformly in `[low, high]`.
    #[serde(default)]
    pub scale: Option<(f64, f64)>,
    /// Jeong & Lim's batch-wise loss masking: a clip's loss is kept when its label is manually
    /// verified or the loss is below `ratio` x the batch's largest loss (0.8 in the paper).
    #[serde(default)]
    pub loss_mask: Option<f64>,
    /// Keras-style L2 regularisation on kernels and weight matrices only (tensors of rank 2 and
    /// up), not biases or BatchNorm's scale and shift: `loss + l2_weights * sum(w^2)`
    /// (Naranjo-Alcazar et al.: `kernel_regularizer=l2(1e-4)`). `optim.weight_decay` instead
    /// decays every parameter, as `torch.optim.Adam(weight_decay=...)` does.
    #[serde(default)]
    pub l2_weights: f64,
    /// Frequency mask width (PSLA: 48).
    #[serde(default)]
    pub freqm: usize,
    /// Time mask width (PSLA: 192).
    #[serde(default)]
    pub timem: usize,
    /// `bce` (multi-label, on clamped probabilities as PSLA) or `ce` (cross-entropy on the
    /// probabilities of softmax models).
    #[serde(default)]
    pub loss: Loss,
    /// Seed of every random choice.
    #[serde(default)]
    pub seed: u64,
    /// Evaluation batch size.
    #[serde(default = "eval_batch")]
    pub eval_batch_size: usize,
    /// Also evaluate every this many iterations inside an epoch (Jeong & Lim validate every
    /// 1,000 iterations and keep the best model): each such evaluation is a row of
    /// `validation.csv` and may replace `model-best.bpk`. Unset: once per epoch only.
    #[serde(default)]
    pub validate_every: Option<u64>,
}

/// Aggregation (PSLA Sec. VI).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSection {
    /// First epoch of weight averaging (1-based, inclusive); `None` disables it.
    #[serde(default)]
    pub wa_start: Option<usize>,
    /// Last epoch of weight averaging (inclusive).
    #[serde(default)]
    pub wa_end: Option<usize>,
}

fn yes() -> bool {
    true
}
fn psla_frames() -> usize {
    1056
}
fn psla_betas() -> (f32, f32) {
    (0.95, 0.999)
}
fn psla_wd() -> f32 {
    5e-7
}
fn psla_warmup() -> u64 {
    1000
}
fn ten() -> f64 {
    10.0
}
fn eval_batch() -> usize {
    32
}
