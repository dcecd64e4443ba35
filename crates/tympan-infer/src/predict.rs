//! Whole clips to model outputs: each clip's examples (the clip, or Hershey et al.'s 960 ms
//! patches) go through the contract's evaluation transform ([`InputContract::eval_input`]) and
//! the model, `batch` examples per forward pass; a clip's row is the mean over its examples.
//! Training's evaluation calls this too, so a run's predictions and `tympan tag` share one path.

use burn::prelude::*;
use rayon::prelude::*;
use tympan_audio::{InputContract, ModelInput};

use crate::InferError;

/// Forward passes run at the same time, each on its own examples. On 2 cores one pass alone
/// kept 1.7 of them busy (`tympan tag` of 30 clips with Chen et al.'s network: 5.2 s of CPU time
/// in 3.1 s, 2-core AMD EPYC, 2026-12-07): ops too small or too short to split leave a core idle,
/// and another pass's work fills it. Outputs do not change: an example's output does not depend
/// on the other examples of its pass (the scoring tests check it bit for bit), nor a kernel's
/// bits on the threads it runs on. Memory: two passes' activations instead of one.
pub const PASSES_AT_ONCE: usize = 2;

/// One clip in memory, at `rate` Hz (already at the contract's rate, when it has one).
#[derive(Debug, Clone, Copy)]
pub struct Clip<'a> {
    /// Mono samples.
    pub samples: &'a [f32],
    /// Their rate.
    pub rate: u32,
}

/// Outputs `[clips, K]` (row-major) of `forward` on the evaluation inputs of `clips`: with VGGish
/// input a clip's row is the mean over its patches; with `eval_whole`, a waveform longer than the
/// input is fed whole, on its own; the others are batched `batch` at a time, and those passes run
/// [`PASSES_AT_ONCE`] at the same time. `forward` maps a batch `[B, T, F]` to its rows: the
/// model's scores ([`tympan_models::Tagger::forward`]) or an embedding.
pub fn predict(
    forward: &(dyn Fn(Tensor<3>) -> Tensor<2> + Sync),
    contract: &InputContract,
    clips: &[Clip<'_>],
    batch: usize,
    device: &Device,
) -> Result<Vec<f32>, InferError> {
    let (rows, clip_of) = example_outputs(forward, contract, clips, batch, device)?;
    if clip_of.len() == clips.len() {
        return Ok(rows);
    }
    Ok(clip_means(&rows, &clip_of, clips.len()))
}

/// Outputs `[examples, K]` (row-major) of every example of `clips` (see [`predict`]), and the
/// clip of each example.
pub fn example_outputs(
    forward: &(dyn Fn(Tensor<3>) -> Tensor<2> + Sync),
    contract: &InputContract,
    clips: &[Clip<'_>],
    batch: usize,
    device: &Device,
) -> Result<(Vec<f32>, Vec<usize>), InferError> {
    // (clip, example samples) in clip order.
    let mut examples: Vec<(usize, &[f32], u32)> = Vec::with_capacity(clips.len());
    for (c, clip) in clips.iter().enumerate() {
        for (lo, hi) in contract.example_ranges(clip.samples.len(), clip.rate) {
            examples.push((c, &clip.samples[lo..hi], clip.rate));
        }
    }
    let long = |s: &[f32]| contract.for_clip(s.len()) != *contract;
    let (whole, short): (Vec<usize>, Vec<usize>) =
        (0..examples.len()).partition(|&e| long(examples[e].1));
    let run = |chunk: &[usize], q: &InputContract| -> Result<Vec<f32>, InferError> {
        let inputs = chunk
            .par_iter()
            .map(|&e| {
                let (c, s, rate) = examples[e];
                q.eval_input(s, rate)
                    .map_err(|source| InferError::Clip { index: c, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = tympan_kernels::on_pool(|| forward(stack(&inputs, device)));
        out.into_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| InferError::ReadBack(format!("{e:?}")))
    };
    // The passes, cut into `PASSES_AT_ONCE` runs of consecutive passes that go at the same time.
    let passes = even_passes(&short, batch);
    let per_run = passes.len().div_ceil(PASSES_AT_ONCE).max(1);
    let runs: Vec<Result<Vec<Vec<f32>>, InferError>> = passes
        .par_chunks(per_run)
        .map(|run_of| run_of.iter().map(|chunk| run(chunk, contract)).collect())
        .collect();
    let mut rows: Vec<Vec<f32>> = vec![Vec::new(); examples.len()];
    let mut put = |chunk: &[usize], probs: Vec<f32>| {
        let k = probs.len() / chunk.len().max(1);
        for (r, &e) in chunk.iter().enumerate() {
            rows[e] = probs[r * k..(r + 1) * k].to_vec();
        }
    };
    for (run_of, outs) in passes.chunks(per_run).zip(runs) {
        for (chunk, probs) in run_of.iter().zip(outs?) {
            put(chunk, probs);
        }
    }
    // Inputs longer than the model's go alone, one at a time: each holds a whole clip.
    for &e in &whole {
        put(&[e], run(&[e], &contract.for_clip(examples[e].1.len()))?);
    }
    Ok((rows.concat(), examples.iter().map(|&(c, ..)| c).collect()))
}

/// `examples` in consecutive passes of at most `batch`, as few as that allows but, beyond one, a
/// multiple of [`PASSES_AT_ONCE`] where there are examples enough, their sizes within one of each
/// other: the runs that go at the same time then have the same work. Forty VGGish patches at 16
/// per pass: four passes of ten, not 16 + 16 beside 8.
fn even_passes(examples: &[usize], batch: usize) -> Vec<&[usize]> {
    let n = examples.len();
    let mut count = n.div_ceil(batch.max(1));
    if count > 1 {
        count = count.next_multiple_of(PASSES_AT_ONCE).min(n);
    }
    (0..count)
        .map(|i| &examples[n * i / count..n * (i + 1) / count])
        .collect()
}

/// A batch `[B, frames, bins]` of inputs of one shape.
fn stack(inputs: &[ModelInput], device: &Device) -> Tensor<3> {
    let (frames, bins) = inputs.first().map_or((0, 0), |i| (i.frames, i.bins));
    let mut x: Vec<f32> = Vec::with_capacity(inputs.iter().map(|i| i.data.len()).sum());
    for i in inputs {
        x.extend_from_slice(&i.data);
    }
    Tensor::<1>::from_floats(x.as_slice(), device).reshape([inputs.len(), frames, bins])
}

/// Clip rows `[clips, K]`: the mean of each clip's example rows (`scores` is `[examples, K]`,
/// `clip[e]` the clip of example `e`), summed in f64.
fn clip_means(scores: &[f32], clip: &[usize], clips: usize) -> Vec<f32> {
    let k = scores.len() / clip.len().max(1);
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
    fn passes_are_even_and_come_in_runs_of_the_same_length() {
        let e: Vec<usize> = (0..40).collect();
        let sizes = |n: usize, b: usize| -> Vec<usize> {
            let p = even_passes(&e[..n], b);
            assert_eq!(
                p.concat(),
                e[..n],
                "{n} at {b}: every example once, in order"
            );
            p.iter().map(|p| p.len()).collect()
        };
        assert_eq!(sizes(40, 16), [10, 10, 10, 10]);
        assert_eq!(sizes(32, 16), [16, 16]);
        assert_eq!(sizes(12, 16), [12]);
        assert_eq!(sizes(5, 2), [1, 1, 1, 2]);
        assert_eq!(sizes(3, 1), [1, 1, 1], "no empty pass");
        assert_eq!(sizes(0, 4), Vec::<usize>::new());
    }

    #[test]
    fn clip_scores_are_the_mean_of_their_patches() {
        let scores = [0.2, 0.4, 0.6, 0.8, 1.0, 0.0];
        assert_eq!(clip_means(&scores, &[0, 0, 1], 2), vec![0.4, 0.6, 1.0, 0.0]);
    }
}
