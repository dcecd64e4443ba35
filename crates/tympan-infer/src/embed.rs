//! Embeddings of audio files (`tympan embed`, Hershey et al. Sec. 4.4's probe): the patches of
//! a clip through a Hershey network's bottleneck or penultimate layer, or the normalised patches
//! themselves.

use burn::prelude::*;
use tympan_audio::{InputContract, InputKind};
use tympan_models::hershey::PATCH;

use crate::InferError;
use crate::predict::{Clip, example_outputs};

/// Embedding rows of audio files (`tympan embed`, the probe recipe).
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Row-major `[rows, dim]`.
    pub rows: Vec<f32>,
    /// Row width.
    pub dim: usize,
    /// Per row, its file (and `\t<patch>` for per-patch rows).
    pub names: Vec<String>,
}

/// Patches per forward pass in [`embed_files`] (16 x 96 x 64 floats of input, 15 s of audio).
const EMBED_BATCH: usize = 16;

/// What a clip's patches become.
#[derive(Clone, Copy)]
pub enum Embedder<'a> {
    /// A Hershey network's [`embed`](tympan_models::hershey::HersheyNet::embed) output (its 128-d
    /// bottleneck or penultimate layer) of 96-frame (960 ms) patches.
    Net(&'a tympan_models::hershey::HersheyNet),
    /// The normalised log-mel patches themselves, `frames` x 64 values: Hershey et al. Sec. 4.4's
    /// raw baseline is [`Embedder::RAW_FRAMES`] frames.
    Raw {
        /// Frames (of 10 ms) per patch.
        frames: usize,
    },
}

impl Embedder<'_> {
    /// The frames of Hershey et al. Sec. 4.4's log-mel baseline: 64 x 20 patches.
    pub const RAW_FRAMES: usize = 20;

    fn frames(&self) -> usize {
        match self {
            Embedder::Net(_) => PATCH[0],
            Embedder::Raw { frames } => *frames,
        }
    }
}

/// Embeddings of `files` (resampled to 16 kHz, features normalised with `mean`/`std` as in
/// training) by `embedder`. One row per clip (the mean over its patches) when `per_clip`, else
/// one per patch. Patches go through the network 16 at a time (two passes at once).
pub fn embed_files(
    embedder: Embedder<'_>,
    files: &[std::path::PathBuf],
    norm: (f32, f32),
    per_clip: bool,
    device: &Device,
) -> Result<Embeddings, InferError> {
    embed_files_reporting(embedder, files, norm, per_clip, device, &mut |_| {})
}

/// [`embed_files`], calling `done(n)` after each file with the files embedded so far (for a
/// progress bar).
pub fn embed_files_reporting(
    embedder: Embedder<'_>,
    files: &[std::path::PathBuf],
    (mean, std): (f32, f32),
    per_clip: bool,
    device: &Device,
    done: &mut dyn FnMut(usize),
) -> Result<Embeddings, InferError> {
    let mut out = Embeddings {
        rows: Vec::new(),
        dim: 0,
        names: Vec::new(),
    };
    // Hershey et al.'s examples: the clip cut into patches, VGGish log-mel, `(x - mean) / std`.
    let frames = embedder.frames();
    if frames == 0 {
        return Err(InferError::Input(
            "an embedding patch needs at least one frame".into(),
        ));
    }
    let contract = InputContract::new(InputKind::Vggish, frames, (mean, std), Some(16_000));
    let forward = |x: Tensor<3>| match embedder {
        Embedder::Net(net) => net.embed(x),
        Embedder::Raw { .. } => {
            let b = x.dims()[0];
            x.reshape([b, frames * PATCH[1]])
        }
    };
    for (i, file) in files.iter().enumerate() {
        let wav = tympan_audio::load::load(file, &tympan_audio::LoadOptions::at_rate(16_000))
            .map_err(InferError::audio(file))?;
        let clip = [Clip {
            samples: &wav.samples,
            rate: wav.sample_rate,
        }];
        // At most EMBED_BATCH patches per forward, so a long file's activations stay bounded.
        let (rows, of) =
            example_outputs(&forward, &contract, &clip, EMBED_BATCH, device).map_err(|e| {
                e.map_clip(|_, source| InferError::Audio {
                    path: file.clone(),
                    source,
                })
            })?;
        let n = of.len();
        out.dim = rows.len() / n.max(1);
        let e = Tensor::<1>::from_floats(rows.as_slice(), device).reshape([n, out.dim]);
        let e = if per_clip { e.mean_dim(0) } else { e };
        let values: Vec<f32> = e
            .into_data()
            .try_to_vec()
            .map_err(|e| InferError::ReadBack(format!("{e:?}")))?;
        out.rows.extend(values);
        if per_clip {
            out.names.push(file.display().to_string());
        } else {
            out.names
                .extend((0..n).map(|p| format!("{}\t{p}", file.display())));
        }
        done(i + 1);
    }
    Ok(out)
}
