//! The per-batch input pipeline (PSLA `src/dataloaders/audioset_dataset.py`, `__getitem__`):
//! optional waveform mixing, features, padding/cutting to the target length, masking, then
//! `(x - mean) / std`, every random choice seeded by `(seed, epoch, batch, sample)` through
//! [`tympan_data::seed::mix`].

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use tympan_audio::augment::{
    beta_lambda, freq_mask, jeong_lim_lambda, mix_training_pair, mix_waveforms, psla_mix_labels,
    psla_mix_waveforms, scale_augment, should_mix, time_mask,
};

use tympan_data::seed;

use crate::error::TrainError;
use crate::recipe::Mix;

use tympan_audio::{InputContract, Placement};

use super::{Item, samples_of};

/// The per-batch pipeline of a run: the model's input contract (features, length, rate,
/// normalisation, the evaluation transform; [`InputContract`]) and the training augmentations
/// around it.
#[derive(Debug, Clone, Copy)]
pub struct Pipeline {
    /// The model's input contract; evaluation batches are exactly its transform.
    pub contract: InputContract,
    /// Mixup rate.
    pub mixup: f64,
    /// Mixup alpha.
    pub mixup_alpha: f64,
    /// Frequency mask width.
    pub freqm: usize,
    /// Time mask width.
    pub timem: usize,
    /// How training clips are mixed.
    pub mix: Mix,
    /// Scale augmentation gain range (Jeong & Lim's eq. (2)): every clip is peak-normalised
    /// (the contract's `peak_normalise`, before mixing, and at evaluation too), and every
    /// training clip then multiplied by a gain drawn in the range.
    pub scale: Option<(f64, f64)>,
}

impl Pipeline {
    /// The pipeline a recipe describes, with the normalisation left at (0, 1) for the caller to
    /// set (from the recipe, the training set or a resumed run).
    pub fn for_recipe(recipe: &crate::recipe::Recipe) -> Self {
        use crate::recipe::Pad;
        let (f, t) = (&recipe.features, &recipe.train);
        Self {
            contract: InputContract {
                wave_norm: f.wave_norm,
                peak_normalise: t.scale.is_some(),
                pad_both: f.pad == Pad::Both,
                eval_whole: f.eval_input == crate::recipe::EvalInput::Whole,
                ..InputContract::new(
                    f.input,
                    f.target_length,
                    (0.0, 1.0),
                    recipe.data.sample_rate,
                )
            },
            mixup: t.mixup,
            mixup_alpha: t.mixup_alpha,
            freqm: t.freqm,
            timem: t.timem,
            mix: t.mix,
            scale: t.scale,
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
            let mut rng = StdRng::seed_from_u64(seed::mix(seed.0, &[seed.1, seed.2, j as u64]));
            let it = &items[i];
            let c = &p.contract;
            let (samples, rate) = samples_of(it, c.sample_rate)?;
            // Jeong & Lim's eq. (2): each clip at unit peak before it is mixed and scaled.
            let peak = |s: Arc<Vec<f32>>| match c.prepare(&s) {
                std::borrow::Cow::Owned(v) => Arc::new(v),
                std::borrow::Cow::Borrowed(_) => s,
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
                let s2 = peak(samples_of(other, c.sample_rate)?.0);
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
                            mix_waveforms(&samples, &s2, lambda),
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
            if c.is_waveform() {
                // A random crop or padding offset in training (Jeong & Lim pad short clips at
                // both ends), the contract's evaluation placement otherwise.
                let room = wave.len().abs_diff(c.length);
                let at = if train && (wave.len() > c.length || c.pad_both) {
                    Placement::Offset(rng.random_range(0..=room))
                } else {
                    Placement::Eval
                };
                let x = c.place_waveform(&wave, at);
                return Ok((x, target, c.length));
            }
            let mut f = c.features(&wave, rate).map_err(audio_err)?;
            if train {
                if p.freqm > 0 {
                    freq_mask(&mut f, p.freqm, &mut rng);
                }
                if p.timem > 0 {
                    time_mask(&mut f, p.timem, &mut rng);
                }
            }
            c.normalise(&mut f.data);
            Ok((f.data, target, f.bins))
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
    let frames = if p.contract.is_waveform() {
        1
    } else {
        p.contract.length
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

#[cfg(test)]
mod mix_tests {
    use std::path::PathBuf;

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
            contract: InputContract::new(tympan_audio::InputKind::Waveform, 100, (0.0, 1.0), None),
            mixup: 1.0,
            mixup_alpha: 0.4,
            freqm: 0,
            timem: 0,
            mix,
            scale: None,
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
            // Eq. (2) without mean removal: the mix is lambda x_own + (1 - lambda) x_other.
            let other = (0..3).find(|&k| k != own && y[k] > 0.0);
            let o = other.map_or(0.0, |k| y[k] * items[k].samples.as_ref().unwrap()[0]);
            let want = y[own] * items[own].samples.as_ref().unwrap()[0] + o;
            assert!(
                (b.x[j * 100] - want).abs() < 1e-5,
                "{} against {want}",
                b.x[j * 100]
            );
        }
    }

    #[test]
    fn both_ends_padding_is_centred_at_evaluation() {
        let items = vec![item(0, 1.0)];
        let mut p = pipe(Mix::Psla);
        p.mixup = 0.0;
        p.contract.length = 140;
        p.contract.pad_both = true;
        let b = make_batch(&items, &[0], &p, false, (0, 0, 0)).unwrap();
        assert_eq!(b.x[19], 0.0);
        assert_eq!(b.x[20], 1.0);
        assert_eq!(b.x[119], 1.0);
        assert_eq!(b.x[120], 0.0);
    }
}
