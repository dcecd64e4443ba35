//! Experiment recipes: TOML files in `experiments/` whose names are what users type
//! (`cargo xtask train fsdd-psla`). Any key can be overridden with `--set section.key=value`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::schedule::Schedule;

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
    /// `fsdd`, `urbansound8k`, `esc50`, `audioset`, `folder`, `csv`.
    pub dataset: String,
    /// Dataset root (overridden by `--data-dir`).
    pub data_dir: PathBuf,
    /// `cargo xtask download <name>` that fetches it, for the error message when it is absent.
    #[serde(default)]
    pub download: Option<String>,
    /// Held-out fold for fold-based datasets (UrbanSound8K, ESC-50); FSDD uses its official split.
    #[serde(default)]
    pub test_fold: Option<u32>,
    /// Folds to leave out entirely (e.g. absent on disk).
    #[serde(default)]
    pub exclude_folds: Vec<u32>,
    /// AudioSet: training datafile (PSLA JSON).
    #[serde(default)]
    pub train_json: Option<PathBuf>,
    /// AudioSet: evaluation datafile.
    #[serde(default)]
    pub eval_json: Option<PathBuf>,
    /// AudioSet: `class_labels_indices.csv`.
    #[serde(default)]
    pub class_csv: Option<PathBuf>,
    /// Resample every clip to this rate (Hz); `None` keeps each file's rate (PSLA).
    #[serde(default)]
    pub sample_rate: Option<u32>,
    /// Keep decoded waveforms in memory (small datasets).
    #[serde(default = "yes")]
    pub cache_audio: bool,
}

/// Input settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSection {
    /// `fbank` (PSLA's Kaldi fbank), `slim2d` (64-bin log-mel at 8 kHz), `vggish` (Hershey et
    /// al.'s 96x64 patches at 16 kHz) or `waveform`.
    #[serde(default = "fbank")]
    pub input: String,
    /// Frames per example (PSLA: 1056 on AudioSet, 3000 on FSD50K); samples for `waveform`.
    #[serde(default = "psla_frames")]
    pub target_length: usize,
    /// Waveform normalisation: `none`, `scale-max`, `zero-mean-unit-std` (Naranjo-Alcazar).
    #[serde(default = "none")]
    pub wave_norm: String,
    /// Waveform input: where short clips are zero-padded, `end` or `both` (Jeong & Lim: at both
    /// ends, a random split in training, centred at evaluation).
    #[serde(default = "end")]
    pub pad: String,
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
            input: fbank(),
            target_length: psla_frames(),
            wave_norm: none(),
            pad: end(),
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
    pub pretrained: Option<PathBuf>,
    /// Train from scratch (and say so) when `pretrained` is absent, instead of failing.
    #[serde(default)]
    pub pretrained_optional: bool,
    /// Weight initialisation: `default` (Burn's, Kaiming-uniform like PyTorch) or `glorot`
    /// (Glorot-uniform weights and zero biases, as Keras; the M34-res study).
    #[serde(default = "default_init")]
    pub init: String,
    /// Start from a trained tympan model (`.bpk`, e.g. stage 1 of Chen et al.'s mix-training);
    /// a relative path is taken from the working directory.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
    /// Stem of a pretrained model: `fresh` (PSLA) or `average-rgb`.
    #[serde(default = "fresh")]
    pub stem: String,
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
    pub sampler: String,
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
    #[serde(default = "psla")]
    pub mix: String,
    /// Scale augmentation (Jeong & Lim): every training clip is multiplied by a gain drawn
    /// uniformly in `[low, high]`.
    #[serde(default)]
    pub scale: Option<(f64, f64)>,
    /// Jeong & Lim's batch-wise loss masking: a clip's loss is kept when its label is manually
    /// verified or the loss is below `ratio` x the batch's largest loss (0.8 in the paper).
    #[serde(default)]
    pub loss_mask: Option<f64>,
    /// Frequency mask width (PSLA: 48).
    #[serde(default)]
    pub freqm: usize,
    /// Time mask width (PSLA: 192).
    #[serde(default)]
    pub timem: usize,
    /// `bce` (multi-label, on clamped probabilities as PSLA) or `ce` (cross-entropy on the
    /// probabilities of softmax models).
    #[serde(default = "bce")]
    pub loss: String,
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

fn end() -> String {
    "end".into()
}
fn default_init() -> String {
    "default".into()
}
fn psla() -> String {
    "psla".into()
}
fn fbank() -> String {
    "fbank".into()
}
fn none() -> String {
    "none".into()
}
fn yes() -> bool {
    true
}
fn psla_frames() -> usize {
    1056
}
fn fresh() -> String {
    "fresh".into()
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
fn bce() -> String {
    "bce".into()
}
fn eval_batch() -> usize {
    32
}

impl Recipe {
    /// Parse a recipe from TOML text, applying `section.key=value` overrides.
    pub fn from_toml(text: &str, source: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let bad = |reason: String| TrainError::Recipe {
            path: source.to_path_buf(),
            reason,
        };
        let mut value: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        for o in overrides {
            let (key, raw) = o
                .split_once('=')
                .ok_or_else(|| bad(format!("override `{o}` is not key=value")))?;
            set_path(&mut value, key.trim(), raw.trim()).map_err(bad)?;
        }
        let recipe: Recipe = value
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        recipe.validate().map_err(bad)?;
        Ok(recipe)
    }

    /// Read and parse a recipe file.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::Recipe {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_toml(&text, path, overrides)
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
        if !["balanced", "uniform", "class-balanced"].contains(&t.sampler.as_str()) {
            return Err(format!(
                "train.sampler must be balanced, uniform or class-balanced, got {:?}",
                t.sampler
            ));
        }
        t.mix
            .parse::<crate::data::MixKind>()
            .map_err(|e| format!("train.mix {e}"))?;
        if let Some((lo, hi)) = t.scale {
            if !(lo > 0.0 && lo <= hi) {
                return Err(format!(
                    "train.scale must satisfy 0 < low <= high, got [{lo}, {hi}]"
                ));
            }
        }
        if let Some(r) = t.loss_mask {
            if !(r > 0.0 && r <= 1.0) {
                return Err(format!("train.loss_mask is a ratio in (0, 1], got {r}"));
            }
        }
        if !["end", "both"].contains(&self.features.pad.as_str()) {
            return Err(format!(
                "features.pad must be end or both, got {:?}",
                self.features.pad
            ));
        }
        if !["default", "glorot"].contains(&self.model.init.as_str()) {
            return Err(format!(
                "model.init must be default or glorot, got {:?}",
                self.model.init
            ));
        }
        if !(0.0..=1.0).contains(&t.mixup) {
            return Err(format!("train.mixup is a rate in [0, 1], got {}", t.mixup));
        }
        if !["bce", "ce"].contains(&t.loss.as_str()) {
            return Err(format!("train.loss must be bce or ce, got {:?}", t.loss));
        }
        if !["fbank", "slim2d", "vggish", "waveform"].contains(&self.features.input.as_str()) {
            return Err(format!(
                "features.input must be fbank, slim2d, vggish or waveform, got {:?}",
                self.features.input
            ));
        }
        self.features
            .wave_norm
            .parse::<tympan_audio::WaveNorm>()
            .map_err(|e| format!("features.wave_norm: {e}"))?;
        if self.optim.lr.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err("optim.lr must be positive".into());
        }
        if !["fresh", "average-rgb"].contains(&self.model.stem.as_str()) {
            return Err(format!(
                "model.stem must be fresh or average-rgb, got {:?}",
                self.model.stem
            ));
        }
        if let Some(m) = self.model.bn_momentum {
            if !(0.0..=1.0).contains(&m) {
                return Err(format!("model.bn_momentum must lie in [0, 1], got {m}"));
            }
        }
        if let (Some(s), Some(e)) = (self.aggregate.wa_start, self.aggregate.wa_end) {
            if s == 0 || s > e || e > t.epochs {
                return Err(format!(
                    "aggregate.wa_start..wa_end must lie within 1..={}, got {s}..{e}",
                    t.epochs
                ));
            }
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
            .unwrap_err();
        assert!(
            e.to_string().contains("t.toml") && e.to_string().contains("sampler"),
            "{e}"
        );
        let e = Recipe::from_toml(R, Path::new("t.toml"), &["train.typo=1".into()]).unwrap_err();
        assert!(e.to_string().contains("typo"), "{e}");
    }
}
