//! The input length fitted to a folder's clips (`features.fit_length`): a recipe written for
//! 10 s clips (`own-clips`, 1000 frames) trains 1 s clips at about 100 frames instead of nine
//! parts padding, and nobody has to know the clips' durations first.

use rayon::prelude::*;
use tympan_audio::InputContract;

use super::pipeline::Pipeline;
use super::{Item, STATS_CLIPS, samples_of};
use crate::error::TrainError;
use crate::recipe::Recipe;

/// Lengths are rounded up to a multiple of this.
const ROUND: usize = 8;

/// `recipe` with `features.target_length` fitted to the training clips as `features.fit_length`
/// says, and the share cleared (so that the run's `config.toml`, which tagging and resuming read,
/// holds the length used), with a line for the log; `recipe` itself when it fits nothing.
pub(crate) fn fit_recipe(
    recipe: &Recipe,
    train: &[Item],
) -> Result<(Recipe, Option<String>), TrainError> {
    let Some(share) = recipe.features.fit_length else {
        return Ok((recipe.clone(), None));
    };
    let contract = Pipeline::for_recipe(recipe).contract;
    let cap = recipe.features.target_length;
    let mut fitted = recipe.clone();
    fitted.features.fit_length = None;
    let unit = if contract.is_waveform() {
        "samples"
    } else {
        "frames"
    };
    let note = match fit_length(train, &contract, share, cap)? {
        Some(len) => {
            fitted.features.target_length = len;
            format!(
                "features.target_length = {len} {unit}: {:.0}% of the first {} training clips fit whole (features.fit_length = {share}, at most {cap})",
                share * 100.0,
                train.len().min(STATS_CLIPS),
            )
        }
        None => format!("features.fit_length: no clip lengths to fit, keeping {cap} {unit}"),
    };
    Ok((fitted, Some(note)))
}

/// The input length (frames, samples for waveforms) that holds `share` of the first
/// [`STATS_CLIPS`] `items` whole, rounded up to a multiple of 8, at least 8 and at most `cap`.
/// `None` for inputs whose length is not a clip's (VGGish patches) or when there are no clips.
pub(crate) fn fit_length(
    items: &[Item],
    contract: &InputContract,
    share: f64,
    cap: usize,
) -> Result<Option<usize>, TrainError> {
    let n = items.len().min(STATS_CLIPS);
    let lengths: Vec<Option<usize>> = items[..n]
        .par_iter()
        .map(|it| {
            let (s, rate) = samples_of(it, contract.sample_rate)?;
            Ok(contract.length_of(s.len(), rate))
        })
        .collect::<Result<_, TrainError>>()?;
    let Some(mut lengths) = lengths.into_iter().collect::<Option<Vec<usize>>>() else {
        return Ok(None);
    };
    if lengths.is_empty() {
        return Ok(None);
    }
    lengths.sort_unstable();
    Ok(Some(length_for_share(&lengths, share, cap)))
}

/// The length at `share` of the sorted `lengths` (the smallest that holds at least that many
/// of them whole), rounded up to [`ROUND`] and clamped to `ROUND..=cap`.
fn length_for_share(sorted: &[usize], share: f64, cap: usize) -> usize {
    let k = ((share * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    let len = sorted[k - 1].div_ceil(ROUND) * ROUND;
    len.max(ROUND).min(cap.max(1))
}

#[cfg(test)]
mod tests {
    use super::length_for_share;

    #[test]
    fn the_share_of_clips_held_whole() {
        let lengths: Vec<usize> = (1..=100).collect();
        // 99 of 100 clips fit in 99 frames, rounded up to 104.
        assert_eq!(length_for_share(&lengths, 0.99, 1000), 104);
        assert_eq!(length_for_share(&lengths, 1.0, 1000), 104);
        assert_eq!(length_for_share(&lengths, 0.5, 1000), 56);
        // The recipe's length caps it; no clip or a tiny share still gives one block.
        assert_eq!(length_for_share(&lengths, 0.99, 100), 100);
        assert_eq!(length_for_share(&[0, 0, 3], 0.5, 1000), 8);
        assert_eq!(length_for_share(&[40], 1e-9, 1000), 40);
    }
}
