//! The normalisation statistics of a feature input over a training set (PSLA's
//! `get_norm_stats.py`); the features are the input contract's
//! ([`tympan_audio::InputContract::features`]).

use rayon::prelude::*;
use tympan_data::loader::NormAccumulator;

use crate::error::TrainError;

use super::pipeline::Pipeline;
use super::{Item, PROGRESS_CHUNK, samples_of};
use crate::Event;

/// Mean and std of the unnormalised features over (up to `limit`) training clips, as PSLA's
/// `get_norm_stats.py` computes them (over all values of the padded fbanks). Waveform inputs are
/// normalised per clip instead: `(0, 1)`.
pub fn norm_stats(items: &[Item], p: &Pipeline, limit: usize) -> Result<(f32, f32), TrainError> {
    norm_stats_reporting(items, p, limit, &mut |_| {})
}

/// [`norm_stats`], reporting the clips read so far ([`Event::Progress`], `norm stats`).
pub fn norm_stats_reporting(
    items: &[Item],
    p: &Pipeline,
    limit: usize,
    on_event: &mut dyn FnMut(Event),
) -> Result<(f32, f32), TrainError> {
    let c = &p.contract;
    if c.is_waveform() {
        return Ok((0.0, 1.0));
    }
    let n = items.len().min(limit);
    // One accumulator per clip, in parallel, merged in clip order: PSLA's sums, bit for bit the
    // sequential ones.
    let mut acc = NormAccumulator::default();
    for (i, chunk) in items[..n].chunks(PROGRESS_CHUNK).enumerate() {
        for clip in clip_stats(chunk, c)? {
            acc.merge(clip);
        }
        on_event(Event::Progress {
            task: "norm stats",
            done: (i * PROGRESS_CHUNK + chunk.len()),
            total: n,
        });
    }
    let stats = acc.stats();
    Ok((stats.mean as f32, stats.std.max(1e-6) as f32))
}

/// One accumulator per clip of `items`, computed in parallel.
fn clip_stats(
    items: &[Item],
    c: &tympan_audio::InputContract,
) -> Result<Vec<NormAccumulator>, TrainError> {
    items
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
        .collect()
}
