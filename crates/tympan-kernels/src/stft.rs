//! The short-time Fourier transform through [`StftKernels`]: real FFTs on flex, the windowed DFT
//! basis as a strided convolution everywhere else.

use std::collections::HashMap;
use std::f64::consts::PI;
use std::sync::{Arc, Mutex, OnceLock};

use burn::backend::Dispatch;
use burn::prelude::*;

use super::stft_ops::{StftKernels, composite_stft, composite_stft_power};
use super::uses_kernels;

/// The STFT of `x` `[b, 1, len]` under `window` (its length `n` is the DFT size), frames `hop`
/// apart from sample 0, no padding (pad `x` first for centred frames):
/// `[b, 2 (n / 2 + 1), 1 + (len - n) / hop]`, the real parts of bins `0..=n / 2`, then their
/// imaginary parts. Differentiable in `x`; the window is a constant.
///
/// # Panics
/// When `window` is empty, `hop` is 0, `x` has more than one channel or is shorter than the
/// window: the caller's contract, as for Burn's convolutions.
pub fn stft(x: Tensor<3>, window: &[f32], hop: usize) -> Tensor<3> {
    check(&x, window, hop);
    let device = x.device();
    let w = Tensor::<1>::from_floats(window, &device);
    if uses_kernels(&device) {
        return Tensor::from_dispatch(<Dispatch as StftKernels>::tympan_stft(
            x.into_dispatch(),
            w.into_dispatch(),
            hop,
        ));
    }
    dft_convolution(x, w, hop)
}

/// The power spectrogram `|STFT|^2` of `x` `[b, 1, len]`, frame-major: `[b, frames, n / 2 + 1]`
/// with `re^2 + im^2` of [`stft`]'s bins (the same bits). On flex each frame's FFT is squared
/// where it is computed, with no `[b, 2 (n / 2 + 1), frames]` spectrum in between; elsewhere it
/// is [`stft`] squared and transposed. Differentiable in `x`.
///
/// # Panics
/// As [`stft`].
pub fn stft_power(x: Tensor<3>, window: &[f32], hop: usize) -> Tensor<3> {
    check(&x, window, hop);
    let device = x.device();
    let w = Tensor::<1>::from_floats(window, &device);
    if uses_kernels(&device) {
        return Tensor::from_dispatch(<Dispatch as StftKernels>::tympan_stft_power(
            x.into_dispatch(),
            w.into_dispatch(),
            hop,
        ));
    }
    Tensor::from_dispatch(composite_stft_power::<Dispatch>(
        dft_convolution(x, w, hop).into_dispatch(),
    ))
}

/// [`stft`]'s contract on its arguments.
fn check(x: &Tensor<3>, window: &[f32], hop: usize) {
    let [_, channels, len] = x.dims();
    assert!(
        !window.is_empty() && hop > 0 && channels == 1 && len >= window.len(),
        "stft: a window of {} with hop {hop} on [_, {channels}, {len}]",
        window.len()
    );
}

/// The STFT as Burn's `conv1d` with the windowed DFT basis as kernels: the extension's default
/// body, through Burn's own ops (and its autodiff).
fn dft_convolution(x: Tensor<3>, window: Tensor<1>, hop: usize) -> Tensor<3> {
    Tensor::from_dispatch(composite_stft::<Dispatch>(
        x.into_dispatch(),
        window.into_dispatch(),
        hop,
    ))
}

/// The DFT basis `[2 (n / 2 + 1), n]` row-major: `cos(2 pi k t / n)` rows for bins
/// `k = 0..=n / 2`, then `-sin(2 pi k t / n)` rows; computed in f64, rounded once, kept for the
/// process (a `cos` and a `sin` per element: 1.5 % of a DenseNet step when computed per call,
/// perf, 2026-12-06).
pub(super) fn dft_basis(n: usize) -> Arc<[f32]> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<[f32]>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        // A panic while the lock was held leaves only fully inserted entries.
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(n)
        .or_insert_with(|| {
            let bins = n / 2 + 1;
            let mut k = vec![0f32; 2 * bins * n];
            for b in 0..bins {
                for t in 0..n {
                    let phase = 2.0 * PI * (b * t % n) as f64 / n as f64;
                    k[b * n + t] = phase.cos() as f32;
                    k[(bins + b) * n + t] = -phase.sin() as f32;
                }
            }
            k.into()
        })
        .clone()
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// Output and input gradient of `f(x)` under the loss `sum(y * r)`.
    fn grads(x: &Tensor<3>, r: &Tensor<3>, f: &dyn Fn(Tensor<3>) -> Tensor<3>) -> Vec<Vec<f32>> {
        let x = x.clone().require_grad();
        let y = f(x.clone());
        let g = (y.clone() * r.clone()).sum().backward();
        vec![
            y.into_data().try_to_vec::<f32>().unwrap(),
            x.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap(),
        ]
    }

    fn hann(n: usize) -> Vec<f32> {
        (0..n)
            .map(|t| (0.5 - 0.5 * (2.0 * PI * t as f64 / n as f64).cos()) as f32)
            .collect()
    }

    /// The FFTs against the convolution with the windowed DFT basis (Burn's generic conv1d and
    /// its backward), output and input gradient within 2e-5 of the largest magnitude (f32
    /// sums of `n` terms in another order): the DenseNet's 1024-point frames, odd and small
    /// sizes (no Nyquist bin), a hop longer than the window, a random window.
    #[test]
    fn stft_matches_the_dft_convolution() {
        let device = Device::flex().autodiff();
        for (n, hop, len, random_window) in [
            (1024, 128, 5000, false),
            (255, 64, 1000, false),
            (16, 4, 60, true),
            (8, 11, 50, true),
            (7, 1, 7, true),
        ] {
            let window = if random_window {
                Tensor::<1>::random([n], Distribution::Uniform(0.0, 1.0), &device)
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap()
            } else {
                hann(n)
            };
            let x = Tensor::<3>::random([2, 1, len], Distribution::Normal(0.0, 1.0), &device);
            let frames = 1 + (len - n) / hop;
            let r = Tensor::<3>::random(
                [2, 2 * (n / 2 + 1), frames],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let ours = grads(&x, &r, &|x| stft(x, &window, hop));
            let w = Tensor::<1>::from_floats(&window[..], &device);
            let burn = grads(&x, &r, &|x| dft_convolution(x, w.clone(), hop));
            crate::test_util::assert_close(&format!("n {n}, hop {hop}"), &ours, &burn);
        }
    }

    /// The power spectrogram (flex: squared where each FFT is computed) against the DFT
    /// convolution's output squared and transposed with Burn's tensor ops, output and input
    /// gradient (flex's through the default body on autodiff) within 2e-5 of the largest
    /// magnitude; and bit for bit against [`stft`]'s bins squared, the same FFTs.
    #[test]
    fn stft_power_matches_the_squared_stft() {
        let device = Device::flex().autodiff();
        for (n, hop, len) in [(1024, 128, 5000), (255, 64, 1000), (8, 11, 50)] {
            let window = hann(n);
            let bins = n / 2 + 1;
            let x = Tensor::<3>::random([2, 1, len], Distribution::Normal(0.0, 1.0), &device);
            let frames = 1 + (len - n) / hop;
            let r = Tensor::<3>::random([2, frames, bins], Distribution::Normal(0.0, 1.0), &device);
            let squared = |spec: Tensor<3>| {
                let re = spec.clone().narrow(1, 0, bins);
                let im = spec.narrow(1, bins, bins);
                (re.clone() * re + im.clone() * im).swap_dims(1, 2)
            };
            let ours = grads(&x, &r, &|x| stft_power(x, &window, hop));
            let w = Tensor::<1>::from_floats(&window[..], &device);
            let burn = grads(&x, &r, &|x| squared(dft_convolution(x, w.clone(), hop)));
            crate::test_util::assert_close(&format!("n {n}, hop {hop}"), &ours, &burn);
            let plain = x.inner();
            let power = stft_power(plain.clone(), &window, hop).into_data();
            let fft = squared(stft(plain, &window, hop)).into_data();
            assert_eq!(power, fft, "n {n}, hop {hop}: not the squared FFT bins");
        }
    }
}
