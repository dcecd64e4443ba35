//! The short-time Fourier transform as one extension operation, so that flex can compute it
//! with FFTs.
//!
//! An STFT inside a model (Jeong & Lim's in-graph log-mel) is a strided convolution whose
//! kernels are the windowed DFT basis: `2 (n / 2 + 1) x n` multiply-adds per frame, and as many
//! again for the input gradient. With `n = 1024` that product and its gradient took 78 ms of a
//! 0.44 s DenseNet training step at batch 4 (timed per product, 2026-12-06, AMD EPYC), where
//! PyTorch's transcription runs `torch.stft`. The default bodies are that convolution and Burn's own
//! convolution backward; flex supplies the real FFTs (`stft_flex`). The window is a constant:
//! it gets no gradient.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata, backend_extension};
use burn::tensor::TensorData;

use super::stft::dft_basis;

/// The STFT of a signal and its gradient.
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait StftKernels: Backend {
    /// The STFT of `x` `[b, 1, len]` under `window` `[n]` (its length is the DFT size), frames
    /// `hop` apart starting at 0 with no padding: `[b, 2 (n / 2 + 1), frames]`, the real parts of
    /// bins `0..=n / 2`, then their imaginary parts (`sum_t w[t] x[t] e^{-2 pi i k t / n}`).
    fn tympan_stft(
        x: FloatTensor<Self>,
        window: FloatTensor<Self>,
        hop: usize,
    ) -> FloatTensor<Self> {
        composite_stft::<Self>(x, window, hop)
    }

    /// The gradient with respect to `x` of [`StftKernels::tympan_stft`] under the output's
    /// gradient `grad`.
    fn tympan_stft_backward(
        x: FloatTensor<Self>,
        window: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        hop: usize,
    ) -> FloatTensor<Self> {
        composite_stft_backward::<Self>(x, window, grad, hop)
    }

    /// The power spectrogram of [`StftKernels::tympan_stft`], frame-major:
    /// `[b, frames, n / 2 + 1]`, `re^2 + im^2` per bin. The default body squares and transposes
    /// that STFT (on autodiff, with Burn's own gradients of those ops).
    fn tympan_stft_power(
        x: FloatTensor<Self>,
        window: FloatTensor<Self>,
        hop: usize,
    ) -> FloatTensor<Self> {
        composite_stft_power::<Self>(Self::tympan_stft(x, window, hop))
    }
}

/// `spec` `[b, 2 bins, frames]` (real parts, then imaginary parts) to the power spectrogram
/// `[b, frames, bins]`: `re * re + im * im`, as a sum over the two halves.
pub(super) fn composite_stft_power<B: Backend>(spec: FloatTensor<B>) -> FloatTensor<B> {
    let [b, rows, frames] = spec.shape().dims();
    let squares = B::float_mul(spec.clone(), spec);
    let squares = B::float_reshape(squares, [b, 2, rows / 2, frames].into());
    let power = B::float_reshape(B::float_sum_dim(squares, 1), [b, rows / 2, frames].into());
    B::float_swap_dims(power, 1, 2)
}

/// The STFT as Burn's `conv1d` with the windowed DFT basis as kernels.
pub(super) fn composite_stft<B: Backend>(
    x: FloatTensor<B>,
    window: FloatTensor<B>,
    hop: usize,
) -> FloatTensor<B> {
    B::conv1d(x, windowed_basis::<B>(window), None, options(hop))
}

/// The STFT's input gradient as Burn's `conv1d_x_backward` with the same kernels.
pub(super) fn composite_stft_backward<B: Backend>(
    x: FloatTensor<B>,
    window: FloatTensor<B>,
    grad: FloatTensor<B>,
    hop: usize,
) -> FloatTensor<B> {
    B::conv1d_x_backward(x, windowed_basis::<B>(window), grad, options(hop))
}

/// A stride-`hop` convolution without padding.
fn options(hop: usize) -> ConvOptions<1> {
    ConvOptions::new([hop], [0], [1], 1)
}

/// The DFT basis times `window`, as conv1d kernels `[2 (n / 2 + 1), 1, n]`.
fn windowed_basis<B: Backend>(window: FloatTensor<B>) -> FloatTensor<B> {
    let n = window.shape().num_elements();
    let rows = 2 * (n / 2 + 1);
    let basis = B::float_from_data(
        TensorData::new(dft_basis(n).to_vec(), [rows, n]),
        &window.device(),
    );
    let window = B::float_reshape(window, [1, n].into());
    B::float_reshape(B::float_mul(basis, window), [rows, 1, n].into())
}

#[derive(Debug)]
struct StftBackward;

impl<B: Backend + StftKernels> Backward<B, 1> for StftBackward {
    /// The input, the window and the hop.
    type State = (FloatTensor<B>, FloatTensor<B>, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            let (x, window, hop) = ops.state;
            grads.register::<B>(node.id, B::tympan_stft_backward(x, window, grad, hop));
        }
    }
}

impl<B: Backend + StftKernels, C: CheckpointStrategy> StftKernels for Autodiff<B, C> {
    fn tympan_stft(
        x: FloatTensor<Self>,
        window: FloatTensor<Self>,
        hop: usize,
    ) -> FloatTensor<Self> {
        let prep = StftBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let (x, window) = (x.into_primitive(), window.into_primitive());
        match prep {
            OpsKind::Tracked(prep) => {
                let y = B::tympan_stft(x.clone(), window.clone(), hop);
                prep.finish((x, window, hop), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::tympan_stft(x, window, hop)),
        }
    }
}
