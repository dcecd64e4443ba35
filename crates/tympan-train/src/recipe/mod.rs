//! Experiment recipes: TOML files in `experiments/` whose names are what users type
//! (`cargo xtask train fsdd-psla`). Any key can be overridden with `--set section.key=value`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::schedule::Schedule;

mod choices;
mod probe;

pub use choices::{
    Dataset, EvalInput, Init, Input, Loss, Mix, Pad, Pretrained, Sampler, Stem, Validation,
};
pub use probe::{EmbeddingSection, ProbeConfig, ProbeData, ProbeRecipe, ProbeSection};
pub use tympan_audio::WaveNorm;

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
    /// al.'s 96x64 patches at 16 kHz) or `waveform`.
    #[serde(default)]
    pub input: Input,
    /// Frames per example (PSLA: 1056 on AudioSet, 3000 on FSD50K); samples for `waveform`.
    #[serde(default = "psla_frames")]
    pub target_length: usize,
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
            input: Input::default(),
            target_length: psla_frames(),
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
    /// Draws per epoch for the balanced sampler (default: the training-set size).
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

/// What a recipe file describes, by its top-level `kind` (`"train"` when absent).
// One value per run, parsed once: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Experiment {
    /// A training run (`kind = "train"`, the default).
    Train(Recipe),
    /// A probe of a trained run's embeddings (`kind = "probe"`).
    Probe(ProbeRecipe),
}

/// The top-level `kind` key of a recipe file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    #[default]
    Train,
    Probe,
}

impl Experiment {
    /// Read and parse a recipe file of either kind; `overrides` apply to training recipes only.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        Self::from_toml(&read_recipe(path)?, path, overrides)
    }

    /// Parse recipe text of either kind.
    pub fn from_toml(text: &str, source: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let mut table = parse_table(text, source)?;
        match take_kind(&mut table, source)? {
            Kind::Train => Recipe::from_table(table, source, overrides).map(Self::Train),
            Kind::Probe if !overrides.is_empty() => Err(recipe_error(
                source,
                "probe recipes take no --set overrides".into(),
            )),
            Kind::Probe => typed(table, source).map(Self::Probe),
        }
    }
}

fn recipe_error(source: &Path, reason: String) -> TrainError {
    TrainError::Recipe {
        path: source.to_path_buf(),
        reason,
    }
}

fn read_recipe(path: &Path) -> Result<String, TrainError> {
    std::fs::read_to_string(path).map_err(|e| recipe_error(path, e.to_string()))
}

fn parse_table(text: &str, source: &Path) -> Result<toml::Table, TrainError> {
    text.parse()
        .map_err(|e: toml::de::Error| recipe_error(source, e.to_string()))
}

fn take_kind(table: &mut toml::Table, source: &Path) -> Result<Kind, TrainError> {
    match table.remove("kind") {
        None => Ok(Kind::Train),
        Some(v) => Kind::deserialize(v)
            .map_err(|e: toml::de::Error| recipe_error(source, format!("kind: {e}"))),
    }
}

/// A table as `T`. serde_path_to_error names the key of a bad value (`train.sampler: unknown
/// variant "weird", expected one of ...`); toml's value deserializer alone gives no position once
/// `--set` overrides have been merged into the table.
fn typed<T: serde::de::DeserializeOwned>(
    table: toml::Table,
    source: &Path,
) -> Result<T, TrainError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(
        |e: serde_path_to_error::Error<toml::de::Error>| {
            recipe_error(source, format!("{}: {}", e.path(), e.inner()))
        },
    )
}

impl Recipe {
    /// Parse a training recipe from TOML text, applying `section.key=value` overrides.
    pub fn from_toml(text: &str, source: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let mut table = parse_table(text, source)?;
        match take_kind(&mut table, source)? {
            Kind::Train => Self::from_table(table, source, overrides),
            Kind::Probe => Err(recipe_error(
                source,
                "kind = \"probe\": a probe recipe, not a training one (Experiment::load reads both)"
                    .into(),
            )),
        }
    }

    fn from_table(
        mut value: toml::Table,
        source: &Path,
        overrides: &[String],
    ) -> Result<Self, TrainError> {
        let bad = |reason: String| recipe_error(source, reason);
        for o in overrides {
            let (key, raw) = o
                .split_once('=')
                .ok_or_else(|| bad(format!("override `{o}` is not key=value")))?;
            set_path(&mut value, key.trim(), raw.trim()).map_err(bad)?;
        }
        let mut recipe: Recipe = typed(value, source)?;
        recipe.take_model_defaults();
        recipe.validate().map_err(bad)?;
        Ok(recipe)
    }

    /// Fill what the recipe leaves out from the model's card (its registry `InputSpec`), so the
    /// input contract lives in one place: the sample rate of every non-PSLA model. PSLA models
    /// keep each file's own rate when none is given, as PSLA's loader does. The filled value is
    /// part of the recipe written to the run's `config.toml`.
    fn take_model_defaults(&mut self) {
        if self.data.sample_rate.is_none()
            && let Ok(info) = tympan_models::info(&self.model.arch)
            && info.input.preset != "psla"
        {
            self.data.sample_rate = Some(info.input.sample_rate);
        }
    }

    /// Read and parse a training recipe file.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        Self::from_toml(&read_recipe(path)?, path, overrides)
    }

    /// Serialise (the config snapshot of an experiment folder).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    fn validate(&self) -> Result<(), String> {
        if self.train.validate_every == Some(0) {
            return Err("train.validate_every must be at least 1 (or left out)".into());
        }
        let t = &self.train;
        if t.batch_size == 0 || t.epochs == 0 || t.eval_batch_size == 0 {
            return Err(
                "train.batch_size, train.epochs and train.eval_batch_size must be positive".into(),
            );
        }
        if let Some((lo, hi)) = t.scale
            && !(lo > 0.0 && lo <= hi)
        {
            return Err(format!(
                "train.scale must satisfy 0 < low <= high, got [{lo}, {hi}]"
            ));
        }
        if let Some(r) = t.loss_mask
            && !(r > 0.0 && r <= 1.0)
        {
            return Err(format!("train.loss_mask is a ratio in (0, 1], got {r}"));
        }
        if !(t.l2_weights >= 0.0 && t.l2_weights.is_finite()) {
            return Err(format!(
                "train.l2_weights must be >= 0, got {}",
                t.l2_weights
            ));
        }
        if !(0.0..=1.0).contains(&t.mixup) {
            return Err(format!("train.mixup is a rate in [0, 1], got {}", t.mixup));
        }
        if self.optim.lr.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err("optim.lr must be positive".into());
        }
        if let Some(m) = self.model.bn_momentum
            && !(0.0..=1.0).contains(&m)
        {
            return Err(format!("model.bn_momentum must lie in [0, 1], got {m}"));
        }
        if let Some(x) = self.data.test_fraction
            && !(x > 0.0 && x < 1.0)
        {
            return Err(format!("data.test_fraction lies in (0, 1), got {x}"));
        }
        if self.features.eval_input == EvalInput::Whole && self.features.input != Input::Waveform {
            return Err(
                "features.eval_input = \"whole\" is for features.input = \"waveform\"".into(),
            );
        }
        match self.data.validation() {
            Validation::Fraction(f) if !(f > 0.0 && f < 1.0) => {
                return Err(format!("data.valid.fraction lies in (0, 1), got {f}"));
            }
            Validation::Fold(k) if self.data.test_fold == Some(k) => {
                return Err(format!(
                    "data.valid.fold = {k} is also data.test_fold: validation must not be the test split"
                ));
            }
            Validation::Datafile(_) if self.data.dataset != Dataset::Audioset => {
                return Err("data.valid.datafile is for dataset = \"audioset\"".into());
            }
            Validation::Cv { folds, index } if folds < 2 || index >= folds => {
                return Err(format!(
                    "data.valid.cv needs folds >= 2 and index in 0..folds, got folds = {folds}, index = {index}"
                ));
            }
            Validation::Official if self.data.dataset != Dataset::Fsd50k => {
                return Err(format!(
                    "data.valid = \"official\": {} has no official validation split; use {{ fraction = 0.1 }} or {{ fold = N }}",
                    self.data.dataset
                ));
            }
            _ => {}
        }
        if let (Some(s), Some(e)) = (self.aggregate.wa_start, self.aggregate.wa_end)
            && (s == 0 || s > e || e > t.epochs)
        {
            return Err(format!(
                "aggregate.wa_start..wa_end must lie within 1..={}, got {s}..{e}",
                t.epochs
            ));
        }
        Ok(())
    }
}

/// Set `a.b.c = raw` in a TOML table; `raw` is parsed as a TOML value, or taken as a string.
fn set_path(table: &mut toml::Table, key: &str, raw: &str) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().ok_or("empty override key")?;
    let mut cur = table;
    for p in parents {
        cur = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("override `{key}`: `{p}` is not a section"))?;
    }
    let parsed: toml::Value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    cur.insert(last.to_string(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = r#"
name = "t"
[data]
dataset = "fsdd"
data_dir = "x"
[model]
arch = "psla-effnet-b0"
[optim]
lr = 1e-3
schedule = { kind = "multistep", from_epoch = 10 }
[train]
batch_size = 4
epochs = 2
sampler = "uniform"
"#;

    #[test]
    fn parses_with_overrides() {
        let r = Recipe::from_toml(
            R,
            Path::new("t.toml"),
            &["train.epochs=3".into(), "data.data_dir=/d".into()],
        )
        .unwrap();
        assert_eq!(r.train.epochs, 3);
        assert_eq!(r.data.data_dir, PathBuf::from("/d"));
        assert_eq!(r.optim.betas, (0.95, 0.999));
        assert_eq!(
            r.optim.schedule,
            Schedule::Multistep {
                from_epoch: 10,
                every: 5,
                gamma: 0.5
            }
        );
        let back = Recipe::from_toml(&r.to_toml(), Path::new("t.toml"), &[]).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn rejects_bad_values_with_the_path() {
        let e = Recipe::from_toml(R, Path::new("t.toml"), &["train.sampler=\"weird\"".into()])
            .unwrap_err()
            .to_string();
        // The file, the key, the value and the allowed values.
        for part in [
            "t.toml",
            "train.sampler",
            "weird",
            "uniform",
            "class-balanced",
        ] {
            assert!(e.contains(part), "{part} missing from: {e}");
        }
        let e = Recipe::from_toml(R, Path::new("t.toml"), &["features.input=\"mfcc\"".into()])
            .unwrap_err()
            .to_string();
        for part in ["features.input", "mfcc", "fbank", "waveform"] {
            assert!(e.contains(part), "{part} missing from: {e}");
        }
        let e = Recipe::from_toml(R, Path::new("t.toml"), &["train.typo=1".into()]).unwrap_err();
        assert!(e.to_string().contains("typo"), "{e}");
    }

    #[test]
    fn validation_is_typed_and_never_the_test_split() {
        let r = Recipe::from_toml(R, Path::new("t.toml"), &[]).unwrap();
        assert_eq!(r.data.validation(), Validation::Fraction(0.1));
        let r = Recipe::from_toml(
            R,
            Path::new("t.toml"),
            &["data.valid={fraction=0.2}".into()],
        )
        .unwrap();
        assert_eq!(r.data.validation(), Validation::Fraction(0.2));
        let back = Recipe::from_toml(&r.to_toml(), Path::new("t.toml"), &[]).unwrap();
        assert_eq!(back, r);
        let err = |set: &[&str]| {
            let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
            Recipe::from_toml(R, Path::new("t.toml"), &set)
                .unwrap_err()
                .to_string()
        };
        let e = err(&["data.test_fold=2", "data.valid={fold=2}"]);
        assert!(e.contains("must not be the test split"), "{e}");
        let e = err(&["data.valid=\"official\""]);
        assert!(e.contains("no official validation split"), "{e}");
        let e = err(&["data.valid={fraction=1.5}"]);
        assert!(e.contains("(0, 1)"), "{e}");
        let e = err(&["data.valid={datafile=\"v.json\"}"]);
        assert!(e.contains("audioset"), "{e}");
        let e = err(&["data.valid={share=0.1}"]);
        assert!(e.contains("data.valid") && e.contains("fraction"), "{e}");
    }
}
