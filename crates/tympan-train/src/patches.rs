//! Hershey et al.'s examples (Sec. 2): a clip is cut into non-overlapping 960 ms patches (96
//! frames of 10 ms, VGGish's framing), every patch is a training example carrying the clip's
//! labels, and at evaluation a clip's score is the mean of its patches' outputs (the mean of the
//! sigmoid outputs, as `tympan_models::hershey::clip_scores` computes from logits).
//!
//! A patch is an [`Item`] whose samples are the clip's samples under that patch: frame `i` of
//! VGGish's log-mel covers samples `[i * hop, i * hop + window)` (hop 10 ms, window 25 ms), and
//! frames are computed independently, so the features of a patch's samples are exactly the
//! patch's 96 frames of the whole clip's features. A clip shorter than one patch stays one
//! example, zero-padded, as before.

use std::sync::Arc;

use crate::data::{InputKind, Item, Pipeline, samples_of};
use crate::error::TrainError;

/// VGGish frames per patch (960 ms).
const PATCH_FRAMES: usize = 96;

/// Sample ranges of the patches of a clip of `n` samples at `rate` Hz.
fn patch_ranges(n: usize, rate: u32) -> Vec<(usize, usize)> {
    let hop = rate as usize / 100;
    let window = rate as usize * 25 / 1000;
    let frames = if n >= window && hop > 0 {
        1 + (n - window) / hop
    } else {
        0
    };
    let patches = frames / PATCH_FRAMES;
    if patches <= 1 {
        return vec![(0, n)];
    }
    (0..patches)
        .map(|p| {
            let start = p * PATCH_FRAMES * hop;
            (start, (start + (PATCH_FRAMES - 1) * hop + window).min(n))
        })
        .collect()
}

/// The examples the model sees: with VGGish input, one per 960 ms patch of each clip, with the
/// index of its clip; with any other input, the clips themselves.
pub(crate) fn examples(
    items: &[Item],
    p: &Pipeline,
) -> Result<(Vec<Item>, Vec<usize>), TrainError> {
    if p.input != InputKind::Vggish {
        return Ok((items.to_vec(), (0..items.len()).collect()));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut clip = Vec::with_capacity(items.len());
    for (c, it) in items.iter().enumerate() {
        let (samples, rate) = samples_of(it, p.sample_rate)?;
        for (lo, hi) in patch_ranges(samples.len(), rate) {
            out.push(Item {
                samples: Some(Arc::new(samples[lo..hi].to_vec())),
                sample_rate: rate,
                ..it.clone()
            });
            clip.push(c);
        }
    }
    Ok((out, clip))
}

/// Clip scores `[clips, K]`: the mean of each clip's example scores (`scores` is
/// `[examples, K]`, `clip[e]` the clip of example `e`).
pub(crate) fn clip_means(scores: &[f32], clip: &[usize], clips: usize, k: usize) -> Vec<f32> {
    let mut sum = vec![0.0f64; clips * k];
    let mut count = vec![0usize; clips];
    for (e, &c) in clip.iter().enumerate() {
        count[c] += 1;
        for j in 0..k {
            sum[c * k + j] += scores[e * k + j] as f64;
        }
    }
    sum.iter()
        .enumerate()
        .map(|(i, &s)| (s / count[i / k.max(1)].max(1) as f64) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_are_96_frame_blocks_and_short_clips_stay_whole() {
        // 4 s at 16 kHz: 398 frames, 4 whole patches (the last 14 frames are dropped, as VGGish).
        let r = patch_ranges(64_000, 16_000);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], (0, 95 * 160 + 400));
        assert_eq!(r[1].0, 96 * 160);
        // 1 s: 98 frames, one patch; 0.5 s: fewer than 96 frames, one zero-padded example.
        assert_eq!(patch_ranges(16_000, 16_000), vec![(0, 16_000)]);
        assert_eq!(patch_ranges(8_000, 16_000), vec![(0, 8_000)]);
    }

    #[test]
    fn clip_scores_are_the_mean_of_their_patches() {
        let scores = [0.2, 0.4, 0.6, 0.8, 1.0, 0.0];
        assert_eq!(
            clip_means(&scores, &[0, 0, 1], 2, 2),
            vec![0.4, 0.6, 1.0, 0.0]
        );
    }
}
