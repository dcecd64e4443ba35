//! flex kernels for swish and sigmoid: a branch-free `exp` that the compiler vectorises, over
//! blocks of the activation in parallel.
//!
//! `exp(x) = 2^n * exp(r)`, `n = round(x / ln 2)`, `r = x - n ln 2` (ln 2 in two parts), `exp(r)`
//! by its degree-6 Taylor polynomial on `|r| <= ln 2 / 2` (relative error below 2e-7, within two
//! ulp of libm's `expf`), `2^n` built in the exponent bits; `x` is clamped to `[-87, 87]`, where
//! `sigmoid` is 1 to float precision, or below 1.6e-38 (the kernel's sigmoid stops at `exp(-87)`
//! for `x < -87`, where libm's goes on down to 0).

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::tensor::DType;
use rayon::prelude::*;

use super::flex_tensor::{contiguous, tensor, values};
use super::simd;
use super::swish_ops::{SwishKernels, composite_swish, composite_swish_backward};

/// Elements per parallel task.
const TASK: usize = 1 << 14;

impl SwishKernels for Flex {
    fn tympan_swish(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return composite_swish::<Self>(x);
        }
        map(x, |v| v * sigmoid(v))
    }

    fn tympan_swish_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return composite_swish_backward::<Self>(x, grad);
        }
        map2(x, grad, |v, g| {
            let s = sigmoid(v);
            g * s * (1.0 + v * (1.0 - s))
        })
    }

    fn tympan_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return <Self as ActivationOps<Self>>::sigmoid(x);
        }
        map(x, sigmoid)
    }

    fn tympan_sigmoid_backward(s: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if s.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return <Self as ActivationOps<Self>>::sigmoid_backward(s, grad);
        }
        map2(s, grad, |s, g| g * (s * (1.0 - s)))
    }
}

/// `f` of every element of the f32 tensor `x`, over blocks of [`TASK`] in parallel.
fn map(x: FlexTensor, f: impl Fn(f32) -> f32 + Sync) -> FlexTensor {
    let x = contiguous(x);
    let xs = values(&x);
    let mut out = vec![0.0f32; xs.len()];
    out.par_chunks_mut(TASK)
        .zip(xs.par_chunks(TASK))
        .for_each(|(o, v)| simd::map(o, Some(v), &f));
    tensor(out, x.layout().shape().clone())
}

/// `f(a, b)` of every pair of elements of the f32 tensors `a` and `b` (one shape), over blocks
/// of [`TASK`] in parallel.
fn map2(a: FlexTensor, b: FlexTensor, f: impl Fn(f32, f32) -> f32 + Sync) -> FlexTensor {
    let (a, b) = (contiguous(a), contiguous(b));
    let (av, bv) = (values(&a), values(&b));
    let mut out = vec![0.0f32; av.len()];
    out.par_chunks_mut(TASK)
        .zip(av.par_chunks(TASK).zip(bv.par_chunks(TASK)))
        .for_each(|(o, (x, y))| simd::map2(o, x, y, &f));
    tensor(out, a.layout().shape().clone())
}

#[inline(always)]
pub(super) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `e^x` for f32, branch-free (see the module documentation).
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer in float arithmetic.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 87.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n from the bits of n + 127 (an integer in [1, 253] once x is clamped): adding 2^23 puts
    // it in the low mantissa bits. Bit operations only, no float-to-int conversion (saturating,
    // with a NaN branch) or checked add, so the loop vectorises in every profile.
    let biased = (n + (127.0 + 8_388_608.0)).to_bits() & 0xff;
    let scale = f32::from_bits(biased << 23);
    p * scale
}

#[cfg(test)]
mod tests {
    use super::exp;

    /// Within 4e-7 relative of f64 `exp` over the whole clamped range.
    #[test]
    fn exp_matches_f64_exp() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 87.0 {
            let want = (x as f64).exp();
            worst = worst.max(((exp(x) as f64) - want).abs() / want);
            x += 0.001_3;
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
    }
}
