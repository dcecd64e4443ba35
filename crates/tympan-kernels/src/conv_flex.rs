//! flex kernels for the convolution forward pass and its two gradients (Burn 0.22.1's flex has
//! no backward of its own).
//!
//! - Dense convolutions (`groups = 1`, not 1x1 stride 1, at least [`MIN_DENSE_DEPTH`] taps per
//!   output), sample by sample through [`gemm`] on im2col columns built in chunks of the column
//!   budget: the forward pass `Y_b = W cols_b`, written straight into the NCHW output (Burn's
//!   flex converts the input to NHWC on one thread, runs one gemm per 512-position tile and
//!   writes the result back transposed); the input gradient `col2im(W^T dY_b)`, one input plane
//!   per task (Burn's generic path: a transposed convolution); the weight gradient
//!   `sum_b dY_b cols_b^T` (Burn's generic path: a convolution with batch and channel swapped).
//! - Weight gradient of 1x1 stride-1 convs (whose columns are the input itself) and of shallower
//!   dense convs: one batched matmul `dY [N, Co, L] x cols^T [N, L, Ci*kh*kw]` summed over the
//!   batch. For a 1x1 conv Burn's generic path makes one matrix-vector product per input channel.
//! - Pointwise input gradient (1x1, stride 1, no padding): `W^T [Ci, Co] x dY [N, Co, L]`.
//! - Depthwise (`groups = Ci = Co`): both gradients computed directly, one channel plane at a
//!   time in parallel, where Burn's generic path runs one conv2d per channel for the weight
//!   gradient and a grouped transposed convolution for the input gradient.
//!
//! Every other case (grouped but not depthwise, non-f32) takes Burn's generic code. The kernels
//! compute the sums of `burn-backend` 0.22.1's `conv2d_x_backward` / `conv2d_weight_backward`
//! (`src/backend/ops/modules/conv.rs`) in a different order; `tests` checks them against it.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, Shape};
use rayon::prelude::*;

use super::flex_tensor::{contiguous, tensor, values};
use super::gemm::{View, gemm};

use super::conv_ops::ConvKernels;

/// Floats of im2col columns built at once (256 MiB); larger batches are split.
const COLUMNS_BUDGET: usize = 1 << 26;

/// Taps per output (`Ci * kh * kw`) from which dense convolutions take im2col + [`gemm`] for the
/// forward pass and both gradients; below it Burn's flex forward for few input channels and the
/// batched weight gradient stay.
const MIN_DENSE_DEPTH: usize = 64;

impl ConvKernels for Flex {
    fn tympan_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let g = Geometry::forward(&x, &weight, &options);
        if g.deep_dense() {
            dense_forward(x, weight, &g)
        } else {
            Self::conv2d(x, weight, None, options)
        }
    }

    fn tympan_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let g = Geometry::new(&x, &weight, &grad, &options);
        match g.kind() {
            Kind::Pointwise => pointwise_x_grad(weight, grad, &g),
            Kind::Depthwise => depthwise_x_grad(&weight, &grad, &g),
            Kind::Dense if g.deep_dense() => dense_x_grad(weight, grad, &g),
            Kind::Dense | Kind::Other => Self::conv2d_x_backward(x, weight, grad, options),
        }
    }

    fn tympan_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let g = Geometry::new(&x, &weight, &grad, &options);
        match g.kind() {
            Kind::Dense if g.deep_dense() => dense_weight_grad(x, grad, &g),
            Kind::Pointwise | Kind::Dense => batched_weight_grad(x, grad, &g),
            Kind::Depthwise => depthwise_weight_grad(&x, &grad, &g),
            Kind::Other => Self::conv2d_weight_backward(x, weight, grad, options),
        }
    }
}

/// Which kernel a convolution takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 1x1, stride 1, no padding, groups 1.
    Pointwise,
    /// groups 1.
    Dense,
    /// groups = in = out channels.
    Depthwise,
    /// Anything else: Burn's generic backward.
    Other,
}

/// Sizes of one convolution: input `[n, ci, h, w]`, output `[n, co, ho, wo]`, kernel `kh x kw`.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    n: usize,
    ci: usize,
    h: usize,
    w: usize,
    co: usize,
    ho: usize,
    wo: usize,
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    dilation: [usize; 2],
    /// Padding before (top, left); the padding after only shows in `ho`, `wo`.
    pad: [usize; 2],
    groups: usize,
    f32: bool,
}

impl Geometry {
    fn new(x: &FlexTensor, weight: &FlexTensor, grad: &FlexTensor, o: &ConvOptions<2>) -> Self {
        let gs = grad.layout().shape();
        let mut g = Self::with_output(x, weight, [gs[1], gs[2], gs[3]], o);
        g.f32 &= grad.dtype() == DType::F32;
        g
    }

    /// The geometry of `conv2d(x, weight)`, its output size computed as Burn's
    /// `calculate_conv_output_size` does.
    fn forward(x: &FlexTensor, weight: &FlexTensor, o: &ConvOptions<2>) -> Self {
        let (xs, ws) = (x.layout().shape(), weight.layout().shape());
        let out = |d: usize| {
            let padded = xs[2 + d] + o.padding[d].0 + o.padding[d].1;
            let reach = o.dilation[d] * (ws[2 + d] - 1) + 1;
            padded.checked_sub(reach).map_or(0, |r| r / o.stride[d] + 1)
        };
        Self::with_output(x, weight, [ws[0], out(0), out(1)], o)
    }

    /// `out`: output channels, height and width.
    fn with_output(
        x: &FlexTensor,
        weight: &FlexTensor,
        out: [usize; 3],
        o: &ConvOptions<2>,
    ) -> Self {
        let xs = x.layout().shape();
        let ws = weight.layout().shape();
        let [co, ho, wo] = out;
        Self {
            n: xs[0],
            ci: xs[1],
            h: xs[2],
            w: xs[3],
            co,
            ho,
            wo,
            kh: ws[2],
            kw: ws[3],
            stride: o.stride,
            dilation: o.dilation,
            pad: o.padding_begin(),
            groups: o.groups,
            f32: [x.dtype(), weight.dtype()] == [DType::F32; 2],
        }
    }

    fn kind(&self) -> Kind {
        if !self.f32 {
            Kind::Other
        } else if self.groups == 1 {
            let unit = self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.pad == [0, 0];
            if unit && self.ho == self.h && self.wo == self.w {
                Kind::Pointwise
            } else {
                Kind::Dense
            }
        } else if self.groups == self.ci && self.groups == self.co {
            Kind::Depthwise
        } else {
            Kind::Other
        }
    }

    /// A dense convolution deep enough for im2col + matmul ([`MIN_DENSE_DEPTH`]), with a
    /// non-empty output.
    fn deep_dense(&self) -> bool {
        self.kind() == Kind::Dense
            && self.ci * self.kh * self.kw >= MIN_DENSE_DEPTH
            && self.n * self.co * self.l() > 0
    }

    /// Output positions per plane.
    fn l(&self) -> usize {
        self.ho * self.wo
    }

    /// Input row of output row `oh` under kernel row `i`, if inside the input.
    fn in_row(&self, oh: usize, i: usize) -> Option<usize> {
        let r = (oh * self.stride[0] + i * self.dilation[0]) as isize - self.pad[0] as isize;
        (r >= 0 && (r as usize) < self.h).then_some(r as usize)
    }

    /// For kernel column `j`: the offset `off` with input column `ow * stride + off`, and the
    /// range of output columns whose input column lies inside the input.
    fn col_range(&self, j: usize) -> (isize, usize, usize) {
        let s = self.stride[1] as isize;
        let off = (j * self.dilation[1]) as isize - self.pad[1] as isize;
        let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
        let last = self.w as isize - 1 - off;
        let hi = if last < 0 {
            0
        } else {
            (last / s + 1).min(self.wo as isize)
        };
        (off, lo as usize, (hi.max(lo)) as usize)
    }
}

/// `dX = W^T dY` for a 1x1 stride-1 conv: `[1, Ci, Co] x [N, Co, L]` through flex's batched
/// matmul. (Routing EfficientNet's 1x1 convolutions, forward and both gradients, through [`gemm`]
/// sample by sample made the PSLA B2 step slower: 1.81-2.00 s against 1.50-1.66 s, same runs,
/// with dependencies still built with debug assertions.)
fn pointwise_x_grad(weight: FlexTensor, grad: FlexTensor, g: &Geometry) -> FlexTensor {
    let wt = Flex::float_swap_dims(
        Flex::float_reshape(weight, Shape::new([1, g.co, g.ci])),
        1,
        2,
    );
    let dy = Flex::float_reshape(grad, Shape::new([g.n, g.co, g.l()]));
    let dx = Flex::float_matmul(wt, dy);
    Flex::float_reshape(dx, Shape::new([g.n, g.ci, g.h, g.w]))
}

/// `dW = sum_b dY_b cols_b^T` through flex's batched matmul, for 1x1 stride-1 convs (whose
/// columns are the input itself) and for dense convs below [`MIN_DENSE_DEPTH`] (EfficientNet's
/// one-channel stem: `gemm` sample by sample was not faster there).
fn batched_weight_grad(x: FlexTensor, grad: FlexTensor, g: &Geometry) -> FlexTensor {
    let (k, l) = (g.ci * g.kh * g.kw, g.l());
    let pointwise = g.kind() == Kind::Pointwise;
    let x = contiguous(x);
    let chunk = if pointwise { g.n } else { chunk_len(g) };
    let mut dw = FlexTensor::zeros(Shape::new([g.co, k]), DType::F32);
    let mut b0 = 0;
    while b0 < g.n {
        let nb = chunk.min(g.n - b0);
        let cols = if pointwise {
            Flex::float_reshape(x.narrow(0, b0, nb), Shape::new([nb, k, l]))
        } else {
            tensor(im2col(values(&x), b0, nb, g), [nb, k, l])
        };
        let dy = Flex::float_reshape(grad.narrow(0, b0, nb), Shape::new([nb, g.co, l]));
        let part = Flex::float_matmul(dy, Flex::float_swap_dims(cols, 1, 2));
        let part = Flex::float_reshape(Flex::float_sum_dim(part, 0), Shape::new([g.co, k]));
        dw = Flex::float_add(dw, part);
        b0 += nb;
    }
    Flex::float_reshape(dw, Shape::new([g.co, g.ci, g.kh, g.kw]))
}

/// im2col of samples `b0..b0 + nb`: rows `(b, ci, i, j)`, columns the output positions.
fn im2col(x: &[f32], b0: usize, nb: usize, g: &Geometry) -> Vec<f32> {
    let (k, l, plane) = (g.kh * g.kw, g.l(), g.h * g.w);
    let mut cols = vec![0.0f32; nb * g.ci * k * l];
    cols.par_chunks_mut(l).enumerate().for_each(|(row, out)| {
        let (bc, ij) = (row / k, row % k);
        let (i, j) = (ij / g.kw, ij % g.kw);
        let src = &x[(b0 * g.ci + bc) * plane..][..plane];
        let (off, lo, hi) = g.col_range(j);
        for oh in 0..g.ho {
            let Some(r) = g.in_row(oh, i) else { continue };
            let dst = &mut out[oh * g.wo..][..g.wo];
            let row_in = &src[r * g.w..][..g.w];
            for ow in lo..hi {
                dst[ow] = row_in[(ow as isize * g.stride[1] as isize + off) as usize];
            }
        }
    });
    cols
}

/// `dW = sum_b dY_b cols_b^T`, accumulated sample by sample; im2col in chunks of the column
/// budget.
fn dense_weight_grad(x: FlexTensor, grad: FlexTensor, g: &Geometry) -> FlexTensor {
    let (k, l) = (g.ci * g.kh * g.kw, g.l());
    let (x, grad) = (contiguous(x), contiguous(grad));
    let dy = values(&grad);
    let mut dw = vec![0.0f32; g.co * k];
    for_chunks(&x, g, |b0, cols| {
        for (t, cols_b) in cols.chunks(k * l).enumerate() {
            let dy_b = View::rows(&dy[(b0 + t) * g.co * l..][..g.co * l], l);
            gemm(g.co, l, k, dy_b, View::transposed(cols_b, l), 1.0, &mut dw);
        }
    });
    tensor(dw, [g.co, g.ci, g.kh, g.kw])
}

/// Samples per im2col chunk under the column budget.
fn chunk_len(g: &Geometry) -> usize {
    (COLUMNS_BUDGET / (g.ci * g.kh * g.kw * g.l()).max(1)).clamp(1, g.n.max(1))
}

/// Calls `f(b0, columns)` for consecutive chunks of samples, `columns` being the chunk's im2col
/// `[nb, Ci*kh*kw, L]`.
fn for_chunks(x: &FlexTensor, g: &Geometry, mut f: impl FnMut(usize, &[f32])) {
    let xs = values(x);
    if g.n * g.l() * g.ci * g.kh * g.kw == 0 {
        return; // nothing to multiply: the caller's zeros stand
    }
    let chunk = chunk_len(g);
    let mut b0 = 0;
    while b0 < g.n {
        let nb = chunk.min(g.n - b0);
        f(b0, &im2col(xs, b0, nb, g));
        b0 += nb;
    }
}

/// `Y_b = W cols_b` for every sample, written straight into the NCHW output.
fn dense_forward(x: FlexTensor, weight: FlexTensor, g: &Geometry) -> FlexTensor {
    let (k, l) = (g.ci * g.kh * g.kw, g.l());
    let (x, weight) = (contiguous(x), contiguous(weight));
    let w = values(&weight);
    let mut y = vec![0.0f32; g.n * g.co * l];
    for_chunks(&x, g, |b0, cols| {
        for (t, cols_b) in cols.chunks(k * l).enumerate() {
            let out = &mut y[(b0 + t) * g.co * l..][..g.co * l];
            gemm(
                g.co,
                k,
                l,
                View::rows(w, k),
                View::rows(cols_b, l),
                0.0,
                out,
            );
        }
    });
    tensor(y, [g.n, g.co, g.ho, g.wo])
}

/// `dX = col2im(W^T dY_b)` for every sample.
fn dense_x_grad(weight: FlexTensor, grad: FlexTensor, g: &Geometry) -> FlexTensor {
    let (k, l, plane) = (g.ci * g.kh * g.kw, g.l(), g.h * g.w);
    let (weight, grad) = (contiguous(weight), contiguous(grad));
    let (w, dy) = (values(&weight), values(&grad));
    let mut dx = vec![0.0f32; g.n * g.ci * plane];
    let mut dcols = vec![0.0f32; k * l];
    for (b, dx_b) in dx.chunks_mut(g.ci * plane).enumerate() {
        let dy_b = View::rows(&dy[b * g.co * l..][..g.co * l], l);
        gemm(k, g.co, l, View::transposed(w, k), dy_b, 0.0, &mut dcols);
        col2im(&dcols, dx_b, g);
    }
    tensor(dx, [g.n, g.ci, g.h, g.w])
}

/// The adjoint of [`im2col`]: adds column rows `(b, ci, i, j)` back onto the input planes
/// `(b, ci)` of `dx`, one plane per task.
fn col2im(cols: &[f32], dx: &mut [f32], g: &Geometry) {
    let (k, l, plane) = (g.kh * g.kw, g.l(), g.h * g.w);
    dx.par_chunks_mut(plane).enumerate().for_each(|(bc, out)| {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &cols[(bc * k + i * g.kw + j) * l..][..l];
                let (off, lo, hi) = g.col_range(j);
                for oh in 0..g.ho {
                    let Some(r) = g.in_row(oh, i) else { continue };
                    let src = &row[oh * g.wo..][..g.wo];
                    let dst = &mut out[r * g.w..][..g.w];
                    for ow in lo..hi {
                        dst[(ow as isize * g.stride[1] as isize + off) as usize] += src[ow];
                    }
                }
            }
        }
    });
}

/// `sum_t a[t] * b[start + t * step]` over `a`, in eight lanes so that it vectorises.
#[inline]
fn dot(a: &[f32], b: &[f32], start: usize, step: usize) -> f32 {
    let mut acc = [0.0f32; 8];
    if step == 1 {
        let b = &b[start..start + a.len()];
        let (ac, ar) = a.as_chunks::<8>();
        let (bc, br) = b.as_chunks::<8>();
        for (x, y) in ac.iter().zip(bc) {
            for t in 0..8 {
                acc[t] += x[t] * y[t];
            }
        }
        let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
        acc.iter().sum::<f32>() + tail
    } else {
        for (t, v) in a.iter().enumerate() {
            acc[t % 8] += v * b[start + t * step];
        }
        acc.iter().sum()
    }
}

/// Depthwise `dW[c, 0, i, j] = sum_{b, oh, ow} dY[b, c, oh, ow] X[b, c, oh s + i d - p, ...]`.
fn depthwise_weight_grad(x: &FlexTensor, grad: &FlexTensor, g: &Geometry) -> FlexTensor {
    let (x, grad) = (contiguous(x.clone()), contiguous(grad.clone()));
    let (xs, gs) = (values(&x), values(&grad));
    let (k, l, plane) = (g.kh * g.kw, g.l(), g.h * g.w);
    let mut dw = vec![0.0f32; g.ci * k];
    dw.par_chunks_mut(k).enumerate().for_each(|(c, out)| {
        for b in 0..g.n {
            let xp = &xs[(b * g.ci + c) * plane..][..plane];
            let gp = &gs[(b * g.ci + c) * l..][..l];
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let (off, lo, hi) = g.col_range(j);
                    if lo >= hi {
                        continue;
                    }
                    let mut acc = 0.0f32;
                    for oh in 0..g.ho {
                        let Some(r) = g.in_row(oh, i) else { continue };
                        let start = (lo as isize * g.stride[1] as isize + off) as usize;
                        acc += dot(
                            &gp[oh * g.wo + lo..oh * g.wo + hi],
                            &xp[r * g.w..][..g.w],
                            start,
                            g.stride[1],
                        );
                    }
                    out[i * g.kw + j] += acc;
                }
            }
        }
    });
    tensor(dw, [g.ci, 1, g.kh, g.kw])
}

/// Depthwise `dX[b, c] = sum_{i, j} W[c, i, j] dY[b, c]` placed at the taps' input positions.
fn depthwise_x_grad(weight: &FlexTensor, grad: &FlexTensor, g: &Geometry) -> FlexTensor {
    let (weight, grad) = (contiguous(weight.clone()), contiguous(grad.clone()));
    let (ws, gs) = (values(&weight), values(&grad));
    let (k, l, plane) = (g.kh * g.kw, g.l(), g.h * g.w);
    let mut dx = vec![0.0f32; g.n * g.ci * plane];
    dx.par_chunks_mut(plane).enumerate().for_each(|(bc, out)| {
        let c = bc % g.ci;
        let gp = &gs[bc * l..][..l];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let wv = ws[c * k + i * g.kw + j];
                let (off, lo, hi) = g.col_range(j);
                if lo >= hi {
                    continue;
                }
                for oh in 0..g.ho {
                    let Some(r) = g.in_row(oh, i) else { continue };
                    let src = &gp[oh * g.wo + lo..oh * g.wo + hi];
                    let start = r * g.w + (lo as isize * g.stride[1] as isize + off) as usize;
                    if g.stride[1] == 1 {
                        for (d, s) in out[start..start + src.len()].iter_mut().zip(src) {
                            *d += wv * s;
                        }
                    } else {
                        for (t, s) in src.iter().enumerate() {
                            out[start + t * g.stride[1]] += wv * s;
                        }
                    }
                }
            }
        }
    });
    tensor(dx, [g.n, g.ci, g.h, g.w])
}
