//! Training and evaluation data for a recipe: the dataset split, decoded clips, targets, and the
//! per-batch PSLA input pipeline (`src/dataloaders/audioset_dataset.py`, `__getitem__`):
//! optional waveform mixup with a uniformly drawn partner, fbank, padding/cutting to the target
//! length, frequency and time masking, then `(x - mean) / std`.
//!
//! Every random choice of sample `j` of batch `b` of epoch `e` comes from an RNG seeded by
//! `(seed, e, b, j)`, so a batch is identical whatever the thread count, and a run resumed from a
//! checkpoint sees exactly the batches an uninterrupted run would.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tympan_audio::augment::{
    beta_lambda, freq_mask, jeong_lim_lambda, mix_training_pair, peak_normalized, psla_mix_labels,
    psla_mix_waveforms, scale_augment, should_mix, time_mask,
};
use tympan_audio::{LoadOptions, Preset};
use tympan_data::{ClassList, Datafile, Dataset, datasets};

use crate::error::TrainError;
use crate::recipe::{DataSection, Recipe};
use crate::recipe::{Dataset as RecipeDataset, Mix, Validation};

/// One example: where it is, its target, and its samples when cached.
#[derive(Debug, Clone)]
pub struct Item {
    /// Audio file.
    pub path: PathBuf,
    /// Dense target over the classes.
    pub target: Vec<f32>,
    /// Decoded samples (when the recipe caches audio).
    pub samples: Option<Arc<Vec<f32>>>,
    /// Sample rate of `samples`.
    pub sample_rate: u32,
    /// Whether the label was manually verified (FSDKaggle2018; `true` for curated datasets).
    pub verified: bool,
}

impl Item {
    /// The first positive class of the target (the class of single-label data).
    pub fn class(&self) -> usize {
        self.target.iter().position(|&v| v > 0.0).unwrap_or(0)
    }
}

/// The prepared data of a recipe.
#[derive(Debug, Clone)]
pub struct PreparedData {
    /// Class names.
    pub classes: Vec<String>,
    /// Training examples.
    pub train: Vec<Item>,
    /// Validation examples: they pick the best model and drive the plateau schedule.
    pub valid: Vec<Item>,
    /// Test examples: scored for the reported numbers, never read by training.
    pub test: Vec<Item>,
    /// Files listed by the metadata but absent on disk.
    pub missing: usize,
    /// Listed and present clips of each split, where the metadata lists them per split
    /// (AudioSet datafiles).
    pub presence: Option<Presence>,
    /// Description of the split, for the log.
    pub split: String,
}

/// Resolve the dataset of a recipe and split it.
pub fn prepare(recipe: &Recipe) -> Result<PreparedData, TrainError> {
    let d = &recipe.data;
    if !d.data_dir.exists() {
        let hint = match &d.download {
            Some(name) => format!(
                "run `cargo xtask download {name} --dest {}` or pass --data-dir",
                d.data_dir.display()
            ),
            None => "pass --data-dir".to_string(),
        };
        return Err(TrainError::MissingData {
            path: d.data_dir.clone(),
            hint,
        });
    }
    let mut presence = None;
    let (classes, train, valid, test, missing, split) = match d.dataset {
        RecipeDataset::Audioset => {
            let (split, p) = audioset(d)?;
            presence = Some(p);
            split
        }
        other => {
            let ds = match other {
                RecipeDataset::Fsdd => datasets::fsdd(&d.data_dir)?,
                RecipeDataset::Urbansound8k => datasets::urbansound8k(&d.data_dir)?,
                RecipeDataset::Esc50 => datasets::esc50(&d.data_dir, false)?,
                RecipeDataset::Esc10 => datasets::esc50(&d.data_dir, true)?,
                RecipeDataset::Folder => datasets::folder_per_class(&d.data_dir)?,
                RecipeDataset::Csv => datasets::csv_manifest(&d.data_dir)?,
                RecipeDataset::Fsdkaggle2018 => datasets::fsdkaggle2018(&d.data_dir)?,
                RecipeDataset::Fsd50k => datasets::fsd50k(&d.data_dir)?,
                RecipeDataset::Audioset => unreachable!("matched above"),
            };
            split_dataset(&ds, d)?
        }
    };
    // Every split of every dataset must hold clips.
    for (what, v) in [
        ("training", &train),
        ("validation", &valid),
        ("test", &test),
    ] {
        if v.is_empty() {
            return Err(empty_split(&d.data_dir, what, &split));
        }
    }
    let (mut train, mut valid, mut test) = (train, valid, test);
    if d.cache_audio {
        decode_all(&mut train, d.sample_rate)?;
        decode_all(&mut valid, d.sample_rate)?;
        decode_all(&mut test, d.sample_rate)?;
    }
    Ok(PreparedData {
        classes,
        train,
        valid,
        test,
        missing,
        presence,
        split,
    })
}

/// How many clips of a split were listed and how many were on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitPresence {
    /// Clips the datafile lists.
    pub listed: usize,
    /// Clips found on disk (the ones used).
    pub present: usize,
}

/// [`SplitPresence`] of the training and the evaluation split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The training datafile (a validation share carved from it included).
    pub train: SplitPresence,
    /// The validation datafile, when validation has its own (`valid = { datafile = .. }`).
    #[serde(default)]
    pub valid: Option<SplitPresence>,
    /// The evaluation (test) datafile.
    pub eval: SplitPresence,
}

/// Classes, train, validation, test, missing files, the split's description.
type Split = (Vec<String>, Vec<Item>, Vec<Item>, Vec<Item>, usize, String);

fn empty_split(path: &Path, what: &str, split: &str) -> TrainError {
    TrainError::Recipe {
        path: path.to_path_buf(),
        reason: format!("the {what} split is empty ({split})"),
    }
}

fn split_dataset(ds: &Dataset, d: &DataSection) -> Result<Split, TrainError> {
    let item = |i: usize| Item {
        path: ds.clips[i].path.clone(),
        target: ds.target(i),
        samples: None,
        sample_rate: 0,
        verified: ds.clips[i].verified,
    };
    let kept: Vec<usize> = (0..ds.clips.len())
        .filter(|&i| !d.exclude_folds.contains(&ds.clips[i].fold))
        .collect();
    let by_fold =
        |f: u32| -> (Vec<usize>, Vec<usize>) { kept.iter().partition(|&&i| ds.clips[i].fold == f) };
    // Your own clips (a folder per class, a manifest without folds) have no split of their own:
    // a seeded, stratified fifth is the test split unless the recipe says otherwise.
    let own = matches!(ds.name.as_str(), "folders" | "manifest");
    let ((test, pool), split) = match (d.test_fold, d.test_fraction) {
        (Some(_), Some(_)) => {
            return Err(TrainError::Recipe {
                path: d.data_dir.clone(),
                reason: "data.test_fold and data.test_fraction are exclusive".into(),
            });
        }
        (None, None) if ds.name == "fsdd" => (
            by_fold(0),
            "official FSDD split: takes 0-4 test, 5-49 train".to_string(),
        ),
        (Some(f), None) => (by_fold(f), format!("fold {f} test, the other folds train")),
        (None, Some(x)) => (carve_test(ds, &kept, x, d.split_seed)?, carved(x)),
        (None, None) if own => (carve_test(ds, &kept, 0.2, d.split_seed)?, carved(0.2)),
        (None, None) => {
            return Err(TrainError::Recipe {
                path: d.data_dir.clone(),
                reason: format!(
                    "{} needs data.test_fold (a fold of its own) or data.test_fraction",
                    ds.name
                ),
            });
        }
    };
    let validation = d.validation();
    let held: Vec<usize> = match &validation {
        Validation::Fraction(f) => tympan_data::split::holdout(ds, &pool, *f, d.split_seed)?,
        Validation::Fold(k) => pool
            .iter()
            .copied()
            .filter(|&i| ds.clips[i].fold == *k)
            .collect(),
        Validation::Official => pool
            .iter()
            .copied()
            .filter(|&i| ds.clips[i].fold == tympan_data::datasets::SPLIT_VAL)
            .collect(),
        Validation::Cv { folds, index } => {
            tympan_data::split::kfold(ds, &pool, *folds, d.split_seed)?.swap_remove(*index)
        }
        Validation::Datafile(_) => {
            return Err(TrainError::Recipe {
                path: d.data_dir.clone(),
                reason: "data.valid.datafile is for dataset = \"audioset\"".into(),
            });
        }
    };
    let split = format!("{split}; validation: {validation}");
    let is_held: std::collections::HashSet<usize> = held.iter().copied().collect();
    let train: Vec<Item> = pool
        .iter()
        .filter(|i| !is_held.contains(i))
        .map(|&i| item(i))
        .collect();
    let valid: Vec<Item> = held.into_iter().map(item).collect();
    let test: Vec<Item> = test.into_iter().map(item).collect();
    Ok((
        ds.classes.clone(),
        train,
        valid,
        test,
        ds.missing.len(),
        split,
    ))
}

/// A seeded, stratified `fraction` of `kept` as the test split, the rest for training and
/// validation (a seed apart from the validation carve's).
fn carve_test(
    ds: &Dataset,
    kept: &[usize],
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), TrainError> {
    let test = tympan_data::split::holdout(ds, kept, fraction, seed ^ 0x7E57_7E57_7E57_7E57)?;
    let is_test: std::collections::HashSet<usize> = test.iter().copied().collect();
    let pool = kept
        .iter()
        .copied()
        .filter(|i| !is_test.contains(i))
        .collect();
    Ok((test, pool))
}

fn carved(fraction: f64) -> String {
    format!(
        "a seeded, stratified {:.0}% test split (data.test_fraction)",
        fraction * 100.0
    )
}

fn audioset(d: &DataSection) -> Result<(Split, Presence), TrainError> {
    let need = |p: &Option<PathBuf>, key: &str| {
        p.as_ref()
            .map(|p| d.data_dir.join(p))
            .ok_or_else(|| TrainError::Recipe {
                path: d.data_dir.clone(),
                reason: format!("data.{key} is required for audioset"),
            })
    };
    let classes = ClassList::load(&need(&d.class_csv, "class_csv")?)?;
    let read = |file: PathBuf| -> Result<(Vec<Item>, usize), TrainError> {
        let df = Datafile::load(&file)?;
        let mut items = Vec::new();
        let mut missing = 0;
        for e in &df.data {
            let path = PathBuf::from(&e.wav);
            if !path.is_file() {
                missing += 1;
                continue;
            }
            let target = classes
                .multi_hot(e.label_list())
                .map_err(|e| TrainError::Recipe {
                    path: file.clone(),
                    reason: e.to_string(),
                })?;
            items.push(Item {
                path,
                target,
                samples: None,
                sample_rate: 0,
                verified: true,
            });
        }
        Ok((items, missing))
    };
    let presence = |items: &[Item], missing: usize| SplitPresence {
        listed: items.len() + missing,
        present: items.len(),
    };
    let (pool, m1) = read(need(&d.train_json, "train_json")?)?;
    let (test, m2) = read(need(&d.eval_json, "eval_json")?)?;
    let mut p = Presence {
        train: presence(&pool, m1),
        valid: None,
        eval: presence(&test, m2),
    };
    let validation = d.validation();
    let (train, valid, m3) = match &validation {
        Validation::Datafile(file) => {
            let (valid, m3) = read(d.data_dir.join(file))?;
            p.valid = Some(presence(&valid, m3));
            (pool, valid, m3)
        }
        Validation::Fraction(f) => {
            let held = tympan_data::split::holdout_by(
                classes.classes().len(),
                &(0..pool.len()).collect::<Vec<_>>(),
                |i| pool[i].class(),
                |_| None,
                *f,
                d.split_seed,
            )?;
            let (train, valid) = split_off(pool, &held);
            (train, valid, 0)
        }
        Validation::Cv { folds, index } => {
            let held = tympan_data::split::kfold_by(
                classes.classes().len(),
                &(0..pool.len()).collect::<Vec<_>>(),
                |i| pool[i].class(),
                |_| None,
                *folds,
                d.split_seed,
            )?
            .swap_remove(*index);
            let (train, valid) = split_off(pool, &held);
            (train, valid, 0)
        }
        other => {
            return Err(TrainError::Recipe {
                path: d.data_dir.clone(),
                reason: format!(
                    "data.valid = {other:?}: AudioSet datafiles take {{ fraction = .. }}, {{ cv = .. }} or {{ datafile = .. }}"
                ),
            });
        }
    };
    let names = classes.classes().iter().map(|c| c.name.clone()).collect();
    let split = format!("AudioSet datafiles; validation: {validation}");
    Ok(((names, train, valid, test, m1 + m2 + m3, split), p))
}

/// `pool` without and with the entries at the indices `held`, each in `pool`'s order.
fn split_off<T>(pool: Vec<T>, held: &[usize]) -> (Vec<T>, Vec<T>) {
    let mut is_held = vec![false; pool.len()];
    held.iter().for_each(|&i| is_held[i] = true);
    let (mut kept, mut out) = (Vec::new(), Vec::new());
    for (i, it) in pool.into_iter().enumerate() {
        if is_held[i] { &mut out } else { &mut kept }.push(it);
    }
    (kept, out)
}

fn decode_all(items: &mut [Item], rate: Option<u32>) -> Result<(), TrainError> {
    let opts = LoadOptions {
        sample_rate: rate,
        ..LoadOptions::default()
    };
    let decoded: Vec<Result<(Vec<f32>, u32), TrainError>> = items
        .par_iter()
        .map(|it| {
            tympan_audio::load::load(&it.path, &opts)
                .map(|w| (w.samples, w.sample_rate))
                .map_err(|source| TrainError::Audio {
                    path: it.path.clone(),
                    source,
                })
        })
        .collect();
    for (it, r) in items.iter_mut().zip(decoded) {
        let (s, sr) = r?;
        it.samples = Some(Arc::new(s));
        it.sample_rate = sr;
    }
    Ok(())
}

pub(crate) fn samples_of(it: &Item, rate: Option<u32>) -> Result<(Arc<Vec<f32>>, u32), TrainError> {
    if let Some(s) = &it.samples {
        return Ok((s.clone(), it.sample_rate));
    }
    let opts = LoadOptions {
        sample_rate: rate,
        ..LoadOptions::default()
    };
    let w = tympan_audio::load::load(&it.path, &opts).map_err(|source| TrainError::Audio {
        path: it.path.clone(),
        source,
    })?;
    Ok((Arc::new(w.samples), w.sample_rate))
}

/// PSLA Algorithm 1 on dense targets: `w_i = sum_{k in labels(i)} 1000 / (c_k + 0.01)`.
pub fn balanced_weights(items: &[Item], num_classes: usize) -> Vec<f64> {
    let mut counts = vec![0.0f64; num_classes];
    for it in items {
        for (k, &t) in it.target.iter().enumerate() {
            if t > 0.0 {
                counts[k] += 1.0;
            }
        }
    }
    items
        .iter()
        .map(|it| {
            it.target
                .iter()
                .enumerate()
                .filter(|(_, t)| **t > 0.0)
                .map(|(k, _)| 1000.0 / (counts[k] + 0.01))
                .sum()
        })
        .collect()
}

/// What the model reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputKind {
    /// PSLA's Kaldi fbank `[T, 128]`.
    Fbank,
    /// Naranjo-Alcazar's 64-bin log-mel `[T, 64]` (8 kHz).
    Slim2d,
    /// Hershey et al.'s 96x64 log-mel patch (VGGish input, 16 kHz): the first `target_length`
    /// frames, zero-padded.
    Vggish,
    /// Raw samples `[1, N]`, zero-padded or cropped to `target_length`, then normalised.
    Waveform(tympan_audio::WaveNorm),
}

/// Feature pipeline settings.
#[derive(Debug, Clone, Copy)]
pub struct Pipeline {
    /// Input kind.
    pub input: InputKind,
    /// Frames (samples for waveform input) per example.
    pub target_length: usize,
    /// Normalisation mean.
    pub mean: f32,
    /// Normalisation std.
    pub std: f32,
    /// Mixup rate.
    pub mixup: f64,
    /// Mixup alpha.
    pub mixup_alpha: f64,
    /// Frequency mask width.
    pub freqm: usize,
    /// Time mask width.
    pub timem: usize,
    /// Resample rate.
    pub sample_rate: Option<u32>,
    /// How training clips are mixed.
    pub mix: Mix,
    /// Scale augmentation gain range (Jeong & Lim's eq. (2)): every clip is peak-normalised
    /// (before mixing, and at evaluation too), and every training clip then multiplied by a gain
    /// drawn in the range.
    pub scale: Option<(f64, f64)>,
    /// Waveform input: pad short clips at both ends (Jeong & Lim) instead of at the end.
    pub pad_both: bool,
    /// Waveform input: evaluate clips longer than `target_length` whole (Jeong & Lim).
    pub eval_whole: bool,
}

impl Pipeline {
    /// The pipeline a recipe describes, with the normalisation left at (0, 1) for the caller to
    /// set (from the recipe, the training set or a resumed run).
    pub fn for_recipe(recipe: &crate::recipe::Recipe) -> Self {
        use crate::recipe::{Input, Pad};
        let (f, t) = (&recipe.features, &recipe.train);
        Self {
            input: match f.input {
                Input::Fbank => InputKind::Fbank,
                Input::Slim2d => InputKind::Slim2d,
                Input::Vggish => InputKind::Vggish,
                Input::Waveform => InputKind::Waveform(f.wave_norm),
            },
            target_length: f.target_length,
            mean: 0.0,
            std: 1.0,
            mixup: t.mixup,
            mixup_alpha: t.mixup_alpha,
            freqm: t.freqm,
            timem: t.timem,
            sample_rate: recipe.data.sample_rate,
            mix: t.mix,
            scale: t.scale,
            pad_both: f.pad == Pad::Both,
            eval_whole: f.eval_input == crate::recipe::EvalInput::Whole,
        }
    }
}

/// A batch ready for the model: features `[B, T, F]` row-major and targets `[B, K]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// Features.
    pub x: Vec<f32>,
    /// Targets.
    pub y: Vec<f32>,
    /// Batch size.
    pub batch: usize,
    /// Frames.
    pub frames: usize,
    /// Bins.
    pub bins: usize,
    /// Classes.
    pub classes: usize,
    /// Whether each clip's label was manually verified (for loss masking).
    pub verified: Vec<bool>,
}

/// Unnormalised features `[target_length, bins]` of one clip for a feature input.
fn features(
    wave: &[f32],
    rate: u32,
    p: &Pipeline,
) -> Result<tympan_audio::Features, tympan_audio::AudioError> {
    match p.input {
        InputKind::Slim2d | InputKind::Vggish => {
            let preset = if p.input == InputKind::Slim2d {
                Preset::Slim2d
            } else {
                Preset::Vggish
            };
            let mut f = preset.extractor(rate)?.compute(wave)?;
            let (t, b) = (p.target_length, f.bins);
            f.data.resize(t * b, 0.0);
            f.frames = t;
            Ok(f)
        }
        _ => Preset::Psla {
            target_length: p.target_length,
            mean: 0.0,
            std: 1.0,
        }
        .extractor(rate)?
        .compute(wave),
    }
}

/// The seed of sample `j` of batch `b` of epoch `e`.
pub fn sample_seed(seed: u64, epoch: u64, batch: u64, j: u64) -> u64 {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for v in [epoch, batch, j] {
        h = (h ^ v).wrapping_mul(0x100_0000_01B3).rotate_left(29) ^ (h >> 17);
    }
    h
}

/// Build one batch. `indices` index `items`; `train` enables mixup and masking.
pub fn make_batch(
    items: &[Item],
    indices: &[usize],
    p: &Pipeline,
    train: bool,
    seed: (u64, u64, u64),
) -> Result<HostBatch, TrainError> {
    let classes = items.first().map(|i| i.target.len()).unwrap_or(0);
    type Row = Result<(Vec<f32>, Vec<f32>, usize), TrainError>;
    let rows: Vec<Row> = indices
        .par_iter()
        .enumerate()
        .map(|(j, &i)| {
            let mut rng = StdRng::seed_from_u64(sample_seed(seed.0, seed.1, seed.2, j as u64));
            let it = &items[i];
            let (samples, rate) = samples_of(it, p.sample_rate)?;
            // Jeong & Lim's eq. (2): each clip at unit peak before it is mixed and scaled.
            let peak = |s: Arc<Vec<f32>>| match p.scale {
                Some(_) => Arc::new(peak_normalized(&s)),
                None => s,
            };
            let samples = peak(samples);
            let audio_err = |source| TrainError::Audio {
                path: it.path.clone(),
                source,
            };
            let (mut wave, target) = if train && p.mixup > 0.0 && should_mix(p.mixup, &mut rng) {
                let partner = match p.mix {
                    Mix::JeongLim => other_class_partner(items, i, &mut rng),
                    _ => tympan_data::sampling::mixup_partner(items.len(), &mut rng),
                };
                let other = &items[partner];
                let s2 = peak(samples_of(other, p.sample_rate)?.0);
                match p.mix {
                    Mix::Psla => {
                        let lambda = beta_lambda(p.mixup_alpha, &mut rng).map_err(audio_err)?;
                        (
                            psla_mix_waveforms(&samples, &s2, lambda),
                            psla_mix_labels(&it.target, &other.target, lambda),
                        )
                    }
                    Mix::JeongLim => {
                        let lambda =
                            jeong_lim_lambda(p.mixup_alpha, &mut rng).map_err(audio_err)?;
                        (
                            psla_mix_waveforms(&samples, &s2, lambda),
                            psla_mix_labels(&it.target, &other.target, lambda),
                        )
                    }
                    Mix::MixTraining => {
                        let (x, y, _) =
                            mix_training_pair(&samples, &s2, &it.target, &other.target, &mut rng);
                        (x, y)
                    }
                }
            } else {
                (samples.to_vec(), it.target.clone())
            };
            if train && let Some((lo, hi)) = p.scale {
                scale_augment(&mut wave, lo, hi, &mut rng).map_err(audio_err)?;
            }
            if let InputKind::Waveform(norm) = p.input {
                let n = p.target_length;
                let mut x = vec![0f32; n];
                if wave.len() > n {
                    // A random crop in training, the start at evaluation.
                    let off = if train {
                        rng.random_range(0..=wave.len() - n)
                    } else {
                        0
                    };
                    x.copy_from_slice(&wave[off..off + n]);
                } else if p.pad_both {
                    // Jeong & Lim: a short clip is zero-padded at both ends, at a random
                    // position in training and centred at evaluation.
                    let room = n - wave.len();
                    let off = if train {
                        rng.random_range(0..=room)
                    } else {
                        room / 2
                    };
                    x[off..off + wave.len()].copy_from_slice(&wave);
                } else {
                    x[..wave.len()].copy_from_slice(&wave);
                }
                norm.apply(&mut x);
                return Ok((x, target, n));
            }
            let mut f = features(&wave, rate, p).map_err(audio_err)?;
            if train {
                if p.freqm > 0 {
                    freq_mask(&mut f, p.freqm, &mut rng);
                }
                if p.timem > 0 {
                    time_mask(&mut f, p.timem, &mut rng);
                }
            }
            let bins = f.bins;
            let x = f.data.iter().map(|v| (v - p.mean) / p.std).collect();
            Ok((x, target, bins))
        })
        .collect();
    let mut x = Vec::new();
    let mut y = Vec::with_capacity(indices.len() * classes);
    let mut bins = 0;
    for r in rows {
        let (xi, yi, b) = r?;
        bins = b;
        x.extend(xi);
        y.extend(yi);
    }
    let frames = if matches!(p.input, InputKind::Waveform(_)) {
        1
    } else {
        p.target_length
    };
    Ok(HostBatch {
        x,
        y,
        batch: indices.len(),
        frames,
        bins,
        classes,
        verified: indices.iter().map(|&i| items[i].verified).collect(),
    })
}

/// A mixup partner of another class than clip `i` (Jeong & Lim), drawn uniformly among the
/// clips whose first class differs; any clip when all share one class.
fn other_class_partner<R: Rng + ?Sized>(items: &[Item], i: usize, rng: &mut R) -> usize {
    let c = items[i].class();
    for _ in 0..64 {
        let j = tympan_data::sampling::mixup_partner(items.len(), rng);
        if items[j].class() != c {
            return j;
        }
    }
    tympan_data::sampling::mixup_partner(items.len(), rng)
}

/// Mean and std of the unnormalised features over (up to `limit`) training clips, as PSLA's
/// `get_norm_stats.py` computes them (over all values of the padded fbanks). Waveform inputs are
/// normalised per clip instead: `(0, 1)`.
pub fn norm_stats(items: &[Item], p: &Pipeline, limit: usize) -> Result<(f32, f32), TrainError> {
    if matches!(p.input, InputKind::Waveform(_)) {
        return Ok((0.0, 1.0));
    }
    let n = items.len().min(limit);
    let sums: Vec<Result<(f64, f64, usize), TrainError>> = items[..n]
        .par_iter()
        .map(|it| {
            let (s, r) = samples_of(it, p.sample_rate)?;
            let f = features(&s, r, p).map_err(|source| TrainError::Audio {
                path: it.path.clone(),
                source,
            })?;
            let s1: f64 = f.data.iter().map(|&v| v as f64).sum();
            let s2: f64 = f.data.iter().map(|&v| (v as f64) * (v as f64)).sum();
            Ok((s1, s2, f.data.len()))
        })
        .collect();
    let (mut s1, mut s2, mut c) = (0.0, 0.0, 0usize);
    for r in sums {
        let (a, b, k) = r?;
        s1 += a;
        s2 += b;
        c += k;
    }
    let mean = s1 / c.max(1) as f64;
    let var = (s2 / c.max(1) as f64 - mean * mean).max(1e-12);
    Ok((mean as f32, var.sqrt() as f32))
}

/// Resolve a path relative to a base unless absolute.
pub fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod mix_tests {
    use super::*;

    fn item(class: usize, value: f32) -> Item {
        let mut target = vec![0.0; 3];
        target[class] = 1.0;
        Item {
            path: PathBuf::from(format!("c{class}.wav")),
            target,
            samples: Some(Arc::new(vec![value; 100])),
            sample_rate: 8000,
            verified: class != 2,
        }
    }

    fn pipe(mix: Mix) -> Pipeline {
        Pipeline {
            input: InputKind::Waveform(tympan_audio::WaveNorm::None),
            target_length: 100,
            mean: 0.0,
            std: 1.0,
            mixup: 1.0,
            mixup_alpha: 0.4,
            freqm: 0,
            timem: 0,
            sample_rate: None,
            mix,
            scale: None,
            pad_both: false,
            eval_whole: false,
        }
    }

    #[test]
    fn mix_training_labels_are_the_union_and_jeong_lim_keeps_the_majority() {
        let items = vec![item(0, 1.0), item(1, -1.0), item(2, 0.5)];
        let idx: Vec<usize> = (0..3).cycle().take(60).collect();
        let b = make_batch(&items, &idx, &pipe(Mix::MixTraining), true, (1, 1, 0)).unwrap();
        for (j, &own) in idx.iter().enumerate() {
            let y = &b.y[j * 3..j * 3 + 3];
            // sign(y_i + y_j): the clip's own class and its partner's, both 1.
            assert_eq!(y[own], 1.0);
            assert!(y.iter().all(|&v| v == 0.0 || v == 1.0));
            // The mix weight of the clip itself lies in (0.4, 0.6) unless the partner is itself.
            let x = b.x[j * 100];
            let (a, c) = (items[own].samples.as_ref().unwrap()[0], x);
            if y.iter().filter(|&&v| v == 1.0).count() == 2 {
                let other = (0..3).find(|&k| k != own && y[k] == 1.0).unwrap();
                let o = items[other].samples.as_ref().unwrap()[0];
                let alpha = (c - o) / (a - o);
                assert!((0.4..0.6).contains(&alpha), "alpha {alpha}");
            }
        }
        assert_eq!(b.verified[..3], [true, true, false]);
        let b = make_batch(&items, &idx, &pipe(Mix::JeongLim), true, (1, 1, 0)).unwrap();
        for (j, &own) in idx.iter().enumerate() {
            let y = &b.y[j * 3..j * 3 + 3];
            // lambda > 0.5 on the clip's own class, the rest on another class.
            assert!(y[own] >= 0.5, "{y:?}");
            assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn both_ends_padding_is_centred_at_evaluation() {
        let items = vec![item(0, 1.0)];
        let mut p = pipe(Mix::Psla);
        p.mixup = 0.0;
        p.target_length = 140;
        p.pad_both = true;
        let b = make_batch(&items, &[0], &p, false, (0, 0, 0)).unwrap();
        assert_eq!(b.x[19], 0.0);
        assert_eq!(b.x[20], 1.0);
        assert_eq!(b.x[119], 1.0);
        assert_eq!(b.x[120], 0.0);
    }
}
