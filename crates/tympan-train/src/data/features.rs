//! Features of one clip for a feature input, and their normalisation statistics over a training
//! set (PSLA's `get_norm_stats.py`).

use rayon::prelude::*;
use tympan_audio::Preset;
use tympan_data::loader::NormAccumulator;

use crate::error::TrainError;

use super::pipeline::{InputKind, Pipeline};
use super::{Item, samples_of};

/// Unnormalised features `[target_length, bins]` of one clip for a feature input.
pub(super) fn features(
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

/// Mean and std of the unnormalised features over (up to `limit`) training clips, as PSLA's
/// `get_norm_stats.py` computes them (over all values of the padded fbanks). Waveform inputs are
/// normalised per clip instead: `(0, 1)`.
pub fn norm_stats(items: &[Item], p: &Pipeline, limit: usize) -> Result<(f32, f32), TrainError> {
    if matches!(p.input, InputKind::Waveform(_)) {
        return Ok((0.0, 1.0));
    }
    let n = items.len().min(limit);
    // One accumulator per clip, in parallel, merged in clip order: PSLA's sums, bit for bit the
    // sequential ones.
    let per_clip: Vec<Result<NormAccumulator, TrainError>> = items[..n]
        .par_iter()
        .map(|it| {
            let (s, r) = samples_of(it, p.sample_rate)?;
            let f = features(&s, r, p).map_err(|source| TrainError::Audio {
                path: it.path.clone(),
                source,
            })?;
            let mut acc = NormAccumulator::default();
            acc.add_batch(&f.data);
            Ok(acc)
        })
        .collect();
    let mut acc = NormAccumulator::default();
    for clip in per_clip {
        acc.merge(clip?);
    }
    let stats = acc.stats();
    Ok((stats.mean as f32, stats.std.max(1e-6) as f32))
}
