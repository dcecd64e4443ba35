//! flex kernels for the STFT and its input gradient, through `realfft`: `O(n log n)` per frame
//! where the convolution with the DFT basis costs `O(n^2)`.
//!
//! - Forward: each frame times the window, a real-to-complex FFT, its bins written into the
//!   `[b, 2 (n / 2 + 1), frames]` output (real parts, then imaginary parts).
//! - Backward: the gradient of frame `f` is `w[t] Re sum_k (gr[k] + i gi[k]) e^{2 pi i k t / n}`
//!   (the conv's transposed basis applied to the output's gradient); a complex-to-real inverse
//!   FFT computes `X_0 + X_{n/2} (-1)^t + 2 Re sum_{0<k<n/2} X_k e^{2 pi i k t / n}`, so it is
//!   given `X_k = (gr[k] + i gi[k]) / 2`, and the real parts alone at bin 0 and, for even `n`,
//!   bin `n / 2`. The frames' gradients are then added back onto the signal, frame by frame in
//!   order, as Burn's transposed convolution does (`burn-backend` 0.22.1
//!   `conv1d_x_backward`).
//!
//! Frames run in parallel; f32 only, other types take the default bodies.

use std::sync::{Mutex, MutexGuard, OnceLock};

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::tensor::DType;
use rayon::prelude::*;
use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

use super::flex_tensor::{contiguous, tensor, values};
use super::stft_ops::{StftKernels, composite_stft, composite_stft_backward, composite_stft_power};

impl StftKernels for Flex {
    fn tympan_stft(
        x: FloatTensor<Self>,
        window: FloatTensor<Self>,
        hop: usize,
    ) -> FloatTensor<Self> {
        let Some(g) = Frames::new(&x, &window, hop) else {
            return composite_stft::<Self>(x, window, hop);
        };
        let rows = 2 * g.bins;
        // Frame-major spectra `[b * frames, rows]`, then transposed into the output.
        let spectra = g.each_frame(&x, &window, hop, rows, |bins, out| {
            for (k, c) in bins.iter().enumerate() {
                out[k] = c.re;
                out[g.bins + k] = c.im;
            }
        });
        let mut y = vec![0.0f32; g.b * rows * g.frames];
        y.par_chunks_mut(rows * g.frames)
            .enumerate()
            .for_each(|(s, y_s)| {
                let sp = &spectra[s * g.frames * rows..][..g.frames * rows];
                for (f, col) in sp.chunks(rows).enumerate() {
                    for (r, v) in col.iter().enumerate() {
                        y_s[r * g.frames + f] = *v;
                    }
                }
            });
        tensor(y, [g.b, rows, g.frames])
    }

    fn tympan_stft_power(
        x: FloatTensor<Self>,
        window: FloatTensor<Self>,
        hop: usize,
    ) -> FloatTensor<Self> {
        let Some(g) = Frames::new(&x, &window, hop) else {
            return composite_stft_power::<Self>(Self::tympan_stft(x, window, hop));
        };
        // Already frame-major: each frame's squared magnitudes are its row of the output.
        let power = g.each_frame(&x, &window, hop, g.bins, |bins, out| {
            for (o, c) in out.iter_mut().zip(bins) {
                *o = c.re * c.re + c.im * c.im;
            }
        });
        tensor(power, [g.b, g.frames, g.bins])
    }

    fn tympan_stft_backward(
        x: FloatTensor<Self>,
        window: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        hop: usize,
    ) -> FloatTensor<Self> {
        let g = match Frames::new(&x, &window, hop) {
            Some(g) if grad.dtype() == DType::F32 => g,
            _ => return composite_stft_backward::<Self>(x, window, grad, hop),
        };
        let (window, grad) = (contiguous(window), contiguous(grad));
        let (w, gs) = (values(&window), values(&grad));
        let ifft = planner().plan_fft_inverse(g.n);
        let rows = 2 * g.bins;
        let nyquist = g.n % 2 == 0;
        // Each frame's gradient `[b * frames, n]`.
        let mut frames = vec![0.0f32; g.b * g.frames * g.n];
        frames.par_chunks_mut(g.n).enumerate().for_each_init(
            || (ifft.make_input_vec(), ifft.make_scratch_vec()),
            |(bins, scratch), (bf, out)| {
                let (s, f) = (bf / g.frames, bf % g.frames);
                let gr = &gs[s * rows * g.frames..][..rows * g.frames];
                for (k, c) in bins.iter_mut().enumerate() {
                    let (re, im) = (gr[k * g.frames + f], gr[(g.bins + k) * g.frames + f]);
                    let edge = k == 0 || (nyquist && k == g.bins - 1);
                    *c = if edge {
                        Complex::new(re, 0.0)
                    } else {
                        Complex::new(0.5 * re, 0.5 * im)
                    };
                }
                ifft.process_with_scratch(bins, out, scratch)
                    .expect("buffers sized by the plan, real edge bins");
                for (d, w) in out.iter_mut().zip(w) {
                    *d *= w;
                }
            },
        );
        let mut dx = vec![0.0f32; g.b * g.len];
        dx.par_chunks_mut(g.len).enumerate().for_each(|(s, dx_s)| {
            let fs = &frames[s * g.frames * g.n..][..g.frames * g.n];
            for (f, frame) in fs.chunks(g.n).enumerate() {
                for (d, v) in dx_s[f * hop..][..g.n].iter_mut().zip(frame) {
                    *d += v;
                }
            }
        });
        tensor(dx, [g.b, 1, g.len])
    }
}

/// Sizes of one STFT: `b` signals of `len` samples, `frames` frames of `n`, `bins` bins.
#[derive(Debug, Clone, Copy)]
struct Frames {
    b: usize,
    len: usize,
    n: usize,
    bins: usize,
    frames: usize,
}

impl Frames {
    /// The sizes, or `None` for what the kernels leave to the default bodies: non-f32 tensors,
    /// more than one channel, an empty window or a signal shorter than it.
    fn new(x: &FlexTensor, window: &FlexTensor, hop: usize) -> Option<Self> {
        let xs = x.layout().shape();
        let n = window.layout().shape().num_elements();
        let f32 = [x.dtype(), window.dtype()] == [DType::F32; 2];
        if !f32 || xs.num_dims() != 3 || xs[1] != 1 || n == 0 || hop == 0 || xs[2] < n {
            return None;
        }
        Some(Self {
            b: xs[0],
            len: xs[2],
            n,
            bins: n / 2 + 1,
            frames: 1 + (xs[2] - n) / hop,
        })
    }

    /// Every frame of `x` times `window`, through a real FFT, handed to `write` with that
    /// frame's `width` values of the returned frame-major `[b * frames, width]` buffer; frames
    /// in parallel.
    fn each_frame(
        &self,
        x: &FlexTensor,
        window: &FlexTensor,
        hop: usize,
        width: usize,
        write: impl Fn(&[Complex<f32>], &mut [f32]) + Sync,
    ) -> Vec<f32> {
        let g = *self;
        let (x, window) = (contiguous(x.clone()), contiguous(window.clone()));
        let (xs, w) = (values(&x), values(&window));
        let fft = planner().plan_fft_forward(g.n);
        let mut out = vec![0.0f32; g.b * g.frames * width];
        out.par_chunks_mut(width).enumerate().for_each_init(
            || {
                (
                    fft.make_input_vec(),
                    fft.make_output_vec(),
                    fft.make_scratch_vec(),
                )
            },
            |(frame, bins, scratch), (bf, out)| {
                let (s, f) = (bf / g.frames, bf % g.frames);
                let src = &xs[s * g.len + f * hop..][..g.n];
                for ((d, x), w) in frame.iter_mut().zip(src).zip(w) {
                    *d = x * w;
                }
                fft.process_with_scratch(frame, bins, scratch)
                    .expect("buffers sized by the plan");
                write(bins, out);
            },
        );
        out
    }
}

/// The process's FFT planner (it keeps the plans it made).
fn planner() -> MutexGuard<'static, RealFftPlanner<f32>> {
    static PLANNER: OnceLock<Mutex<RealFftPlanner<f32>>> = OnceLock::new();
    PLANNER
        .get_or_init(|| Mutex::new(RealFftPlanner::new()))
        .lock()
        // A panic while planning leaves the planner's cache with complete plans only.
        .unwrap_or_else(|e| e.into_inner())
}
