//! The normalisation statistics of a feature input over a training set (PSLA's
//! `get_norm_stats.py`); the features are the input contract's
//! ([`tympan_audio::InputContract::features`]).

use rayon::prelude::*;
use tympan_data::loader::NormAccumulator;

use crate::error::TrainError;

use super::pipeline::Pipeline;
use super::{Item, samples_of};

/// Mean and std of the unnormalised features over (up to `limit`) training clips, as PSLA's
/// `get_norm_stats.py` computes them (over all values of the padded fbanks). Waveform inputs are
/// normalised per clip instead: `(0, 1)`.
pub fn norm_stats(items: &[Item], p: &Pipeline, limit: usize) -> Result<(f32, f32), TrainError> {
    let c = &p.contract;
    if c.is_waveform() {
        return Ok((0.0, 1.0));
    }
    let n = items.len().min(limit);
    // One accumulator per clip, in parallel, merged in clip order: PSLA's sums, bit for bit the
    // sequential ones.
    let per_clip: Vec<Result<NormAccumulator, TrainError>> = items[..n]
        .par_iter()
        .map(|it| {
            let (s, r) = samples_of(it, c.sample_rate)?;
            let f = c.features(&s, r).map_err(|source| TrainError::Audio {
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
