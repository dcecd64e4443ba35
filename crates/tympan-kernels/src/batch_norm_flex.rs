//! flex kernels for batch norm in training: per-channel statistics and gradient sums read each
//! `[n, c]` plane of the NCHW activation in place (no transposes, no copies), in parallel over
//! channels, then one parallel pass over the planes writes the result.
//!
//! The statistics are those of `burn-backend` 0.22.1's default `batch_norm_train` (mean, then
//! the biased variance of the centred values), summed in f64 over f32 blocks; the input
//! gradient is its `batch_norm_train_backward`, `gamma / std * (dy - mean(dy) - xhat *
//! mean(dy * xhat))`, folded into `a * dy + b * x + c` per channel.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, Shape};
use rayon::prelude::*;

use super::flex_tensor::{contiguous, tensor, values};
use super::simd;

use super::batch_norm_ops::{Act, BatchNormKernels, composite_act};
use super::swish_flex::sigmoid;
use super::swish_ops::SwishKernels;

/// In inference, planes smaller than this take Burn's default body (BatchNorm after a linear
/// layer): an elementwise pass, the same bits either way. In training every plane takes the
/// kernels, whose sums have a fixed order; Burn's default body sums in lanes as wide as the CPU's
/// vectors (different bits with AVX2 and AVX-512: `cargo xtask numerics`).
const MIN_PLANE: usize = 16;

impl BatchNormKernels for Flex {
    fn tympan_batch_norm_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        act: Act,
    ) -> FloatTensor<Self> {
        match Planes::of(&x, &[&gamma, &beta, &mean, &variance], MIN_PLANE) {
            Some(p) => batch_norm_eval(x, p, [gamma, beta, mean, variance], epsilon, act),
            None => {
                let y = <Self as burn::backend::ops::ModuleOps<Self>>::batch_norm(
                    x, gamma, beta, mean, variance, epsilon,
                );
                // Swish through the swish kernel, as the unfused `swish` would take it.
                match act {
                    Act::Swish => <Self as SwishKernels>::tympan_swish(y),
                    act => composite_act::<Self>(y, act),
                }
            }
        }
    }

    fn tympan_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let Some(p) = Planes::of(&x, &[&gamma, &beta], 1) else {
            let r = <Self as burn::backend::ops::ModuleOps<Self>>::batch_norm_train(
                x, gamma, beta, epsilon,
            );
            return (r.output, r.mean, r.variance);
        };
        let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
        let (xs, gs, bs) = (values(&x), values(&gamma), values(&beta));
        let stats: Vec<(f64, f64)> = (0..p.c)
            .into_par_iter()
            .map(|ch| {
                let mean = p.planes(xs, ch).map(|pl| sum(pl, 0.0)).sum::<f64>() / p.m() as f64;
                let var = p
                    .planes(xs, ch)
                    .map(|pl| sum_sq(pl, mean as f32))
                    .sum::<f64>()
                    / p.m() as f64;
                (mean, var)
            })
            .collect();
        let affine: Vec<(f32, f32)> = stats
            .iter()
            .zip(gs.iter().zip(bs))
            .map(|(&(mean, var), (&g, &b))| {
                let scale = g as f64 / (var + epsilon).sqrt();
                (scale as f32, (b as f64 - mean * scale) as f32)
            })
            .collect();
        let mut out = vec![0.0f32; xs.len()];
        out.par_chunks_mut(p.s)
            .zip(xs.par_chunks(p.s))
            .enumerate()
            .for_each(|(bc, (o, xp))| {
                let (a, b) = affine[bc % p.c];
                simd::map(o, Some(xp), &|v| v * a + b);
            });
        let mean = stats.iter().map(|s| s.0 as f32).collect();
        let var = stats.iter().map(|s| s.1 as f32).collect();
        (
            tensor(out, x.layout().shape().clone()),
            tensor(mean, Shape::new([p.c])),
            tensor(var, Shape::new([p.c])),
        )
    }

    fn tympan_batch_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let Some(p) = Planes::of(&x, &[&gamma, &mean, &variance, &grad], 1) else {
            let r = <Self as burn::backend::ops::ModuleOps<Self>>::batch_norm_train_backward(
                x, gamma, mean, variance, epsilon, grad,
            );
            return (r.x_grad, r.gamma_grad, r.beta_grad);
        };
        let (x, gamma, grad) = (contiguous(x), contiguous(gamma), contiguous(grad));
        let (mean, variance) = (contiguous(mean), contiguous(variance));
        let (xs, gs, dys) = (values(&x), values(&gamma), values(&grad));
        let (ms, vs) = (values(&mean), values(&variance));
        // Per channel: sum(dy) and sum(dy * (x - mean)).
        let sums: Vec<(f64, f64)> = (0..p.c)
            .into_par_iter()
            .map(|ch| {
                let mu = ms[ch];
                p.planes(dys, ch)
                    .zip(p.planes(xs, ch))
                    .map(|(dy, xp)| (sum(dy, 0.0), sum_prod_centred(dy, xp, mu)))
                    .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
            })
            .collect();
        let m = p.m() as f64;
        let mut gamma_grad = Vec::with_capacity(p.c);
        let mut beta_grad = Vec::with_capacity(p.c);
        let mut coef = Vec::with_capacity(p.c);
        for ch in 0..p.c {
            let (s_dy, s_dyxc) = sums[ch];
            let inv_std = 1.0 / (vs[ch] as f64 + epsilon).sqrt();
            let g = gs[ch] as f64;
            let dgamma = s_dyxc * inv_std;
            gamma_grad.push(dgamma as f32);
            beta_grad.push(s_dy as f32);
            let a = g * inv_std;
            let b = -g * inv_std * inv_std * dgamma / m;
            let c = -a * s_dy / m - b * ms[ch] as f64;
            coef.push((a as f32, b as f32, c as f32));
        }
        let mut dx = vec![0.0f32; xs.len()];
        dx.par_chunks_mut(p.s)
            .zip(xs.par_chunks(p.s).zip(dys.par_chunks(p.s)))
            .enumerate()
            .for_each(|(bc, (o, (xp, dy)))| {
                let (a, b, c) = coef[bc % p.c];
                simd::map2(o, xp, dy, &|v, d| a * d + b * v + c);
            });
        (
            tensor(dx, x.layout().shape().clone()),
            tensor(gamma_grad, Shape::new([p.c])),
            tensor(beta_grad, Shape::new([p.c])),
        )
    }
}

/// Elements per parallel task of the inference pass.
const TASK: usize = 1 << 14;

/// The inference pass of [`BatchNormKernels::tympan_batch_norm_eval`] on flex: per element
/// `act(((x - mean) / std) * gamma + beta)` with `std = sqrt(var + eps)` in f32, the expression
/// and rounding of `ModuleOps::batch_norm` followed by the activation (swish through the same
/// `sigmoid` as the swish kernel), so the result is bit-identical to the separate ops.
fn batch_norm_eval(
    x: FlexTensor,
    p: Planes,
    stats: [FlexTensor; 4],
    epsilon: f64,
    act: Act,
) -> FlexTensor {
    let [gamma, beta, mean, var] = stats.map(contiguous);
    let (gs, bs, ms, vs) = (values(&gamma), values(&beta), values(&mean), values(&var));
    let eps = epsilon as f32;
    let coef: Vec<[f32; 4]> = (0..p.c)
        .map(|ch| [ms[ch], (vs[ch] + eps).sqrt(), gs[ch], bs[ch]])
        .collect();
    let shape = x.layout().shape().clone();
    let numel = shape.num_elements();
    let mut x = contiguous(x);
    // In place when this tensor is the only owner of exactly its values (a fresh conv output).
    let owns_all = x.storage::<f32>().len() == numel;
    if owns_all && let Some(buf) = x.try_storage_mut::<f32>() {
        affine_planes(buf, None, &p, &coef, act);
        return x;
    }
    let mut out = vec![0.0f32; numel];
    affine_planes(&mut out, Some(values(&x)), &p, &coef, act);
    tensor(out, shape)
}

/// `out[i] = act(((src[i] - m) / s) * g + b)` plane by plane (`src` = `out` when `None`).
fn affine_planes(out: &mut [f32], src: Option<&[f32]>, p: &Planes, coef: &[[f32; 4]], act: Act) {
    match act {
        Act::Identity => affine_planes_with(out, src, p, coef, |v| v),
        Act::Relu => affine_planes_with(out, src, p, coef, |v| v.max(0.0)),
        Act::Relu6 => affine_planes_with(out, src, p, coef, |v| v.clamp(0.0, 6.0)),
        Act::Swish => affine_planes_with(out, src, p, coef, |v| v * sigmoid(v)),
    }
}

fn affine_planes_with<F: Fn(f32) -> f32 + Sync>(
    out: &mut [f32],
    src: Option<&[f32]>,
    p: &Planes,
    coef: &[[f32; 4]],
    f: F,
) {
    let min_planes = (TASK / p.s).max(1);
    let one = |bc: usize, o: &mut [f32], xp: Option<&[f32]>| {
        let [m, s, g, b] = coef[bc % p.c];
        simd::map(o, xp, &|v| f(((v - m) / s) * g + b));
    };
    match src {
        Some(xs) => out
            .par_chunks_mut(p.s)
            .zip(xs.par_chunks(p.s))
            .with_min_len(min_planes)
            .enumerate()
            .for_each(|(bc, (o, xp))| one(bc, o, Some(xp))),
        None => out
            .par_chunks_mut(p.s)
            .with_min_len(min_planes)
            .enumerate()
            .for_each(|(bc, o)| one(bc, o, None)),
    }
}

/// An activation `[n, c, s]` seen as `n * c` planes of `s` values.
#[derive(Debug, Clone, Copy)]
struct Planes {
    n: usize,
    c: usize,
    s: usize,
}

impl Planes {
    /// The planes of `x`, if it and `others` are f32, `x` has a channel axis and its planes hold
    /// at least `min` values (and one).
    fn of(x: &FlexTensor, others: &[&FlexTensor], min: usize) -> Option<Self> {
        let shape = x.layout().shape();
        if shape.num_dims() < 2
            || x.dtype() != DType::F32
            || others.iter().any(|t| t.dtype() != DType::F32)
        {
            return None;
        }
        let (n, c) = (shape[0], shape[1]);
        let s = shape.num_elements() / (n * c).max(1);
        (s >= min.max(1)).then_some(Self { n, c, s })
    }

    /// Values per channel.
    fn m(&self) -> usize {
        self.n * self.s
    }

    /// The `n` planes of channel `ch`.
    fn planes<'a>(&self, v: &'a [f32], ch: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (c, s) = (self.c, self.s);
        (0..self.n).map(move |b| &v[(b * c + ch) * s..][..s])
    }
}

/// Blocks summed in f32 lanes before they are added in f64.
const BLOCK: usize = 512;

/// `sum(v - shift)`, f32 lanes within blocks, f64 across them.
fn sum(v: &[f32], shift: f32) -> f64 {
    v.chunks(BLOCK)
        .map(|blk| {
            let mut acc = [0.0f32; 8];
            let (chunks, rest) = blk.as_chunks::<8>();
            for ch in chunks {
                for t in 0..8 {
                    acc[t] += ch[t] - shift;
                }
            }
            acc.iter().sum::<f32>() as f64 + rest.iter().map(|&x| (x - shift) as f64).sum::<f64>()
        })
        .sum()
}

/// `sum((v - mean)^2)`.
fn sum_sq(v: &[f32], mean: f32) -> f64 {
    v.chunks(BLOCK)
        .map(|blk| {
            let mut acc = [0.0f32; 8];
            let (chunks, rest) = blk.as_chunks::<8>();
            for ch in chunks {
                for t in 0..8 {
                    let d = ch[t] - mean;
                    acc[t] += d * d;
                }
            }
            let tail: f64 = rest.iter().map(|&x| ((x - mean) as f64).powi(2)).sum();
            acc.iter().sum::<f32>() as f64 + tail
        })
        .sum()
}

/// `sum(dy * (x - mean))`.
fn sum_prod_centred(dy: &[f32], x: &[f32], mean: f32) -> f64 {
    dy.chunks(BLOCK)
        .zip(x.chunks(BLOCK))
        .map(|(d, v)| {
            let mut acc = [0.0f32; 8];
            let (dc, dr) = d.as_chunks::<8>();
            let (vc, vr) = v.as_chunks::<8>();
            for (a, b) in dc.iter().zip(vc) {
                for t in 0..8 {
                    acc[t] += a[t] * (b[t] - mean);
                }
            }
            let tail: f64 = dr
                .iter()
                .zip(vr)
                .map(|(&a, &b)| a as f64 * (b - mean) as f64)
                .sum();
            acc.iter().sum::<f32>() as f64 + tail
        })
        .sum()
}
