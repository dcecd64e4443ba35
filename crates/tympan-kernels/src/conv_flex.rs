//! flex kernels for the convolution forward pass and its two gradients (Burn 0.22.1's flex has
//! no backward of its own).
//!
//! - Dense convolutions (`groups = 1`), sample by sample through [`gemm`] on im2col columns
//!   built in chunks of the column budget: the forward pass `Y_b = W cols_b`, written straight
//!   into the NCHW output (Burn's flex converts the input to NHWC on one thread, runs one gemm per
//!   512-position tile and writes the result back transposed); the input gradient
//!   `col2im(W^T dY_b)`, one input plane per task (Burn's generic path: a transposed
//!   convolution); the weight gradient `sum_b dY_b cols_b^T` (Burn's generic path: a convolution
//!   with batch and channel swapped, one matrix-vector product per input channel for a 1x1 conv).
//!   Below [`SHARED_BELOW`] output positions a chunk's samples share each product instead, their
//!   columns side by side; a small weight gradient over many positions is summed in a fixed
//!   number of partial sums in parallel ([`weight_grad_units`]).
//! - Pointwise convolutions (1x1, stride 1, no padding), whose columns are the input itself:
//!   `Y_b = W X_b`, `dX_b = W^T dY_b` and `dW = sum_b dY_b X_b^T`, samples in parallel when
//!   each one's product is too small for `gemm` to split.
//!
//!   Every product goes through [`gemm`], never through flex's `conv2d` or `matmul`, so that a
//!   step's bits are the same with `gemm`'s AVX2 and AVX-512 kernels.
//! - Depthwise (`groups = Ci = Co`): both gradients computed directly, one channel plane at a
//!   time in parallel, where Burn's generic path runs one conv2d per channel for the weight
//!   gradient and a grouped transposed convolution for the input gradient.
//!
//! Every other case (grouped but not depthwise, non-f32) takes Burn's generic code. The kernels
//! compute the sums of `burn-backend` 0.22.1's `conv2d_x_backward` / `conv2d_weight_backward`
//! (`src/backend/ops/modules/conv.rs`) in a different order; `tests` checks them against it.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::tensor::DType;
use std::borrow::Cow;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv_taps::TapWise;
use super::conv3x3::Conv3x3;
use super::direct::Direct3x3;
use super::flex_tensor::{OutPtr, contiguous, tensor, unfilled, values};
use super::gemm::{DEPTH_BLOCK, Out, View, gemm, gemm_serial, gemm_strided};
use super::taps::Axis;
use super::winograd::Winograd;

use super::conv_ops::ConvKernels;

/// Floats of im2col columns built at once (256 MiB); larger batches are split.
const COLUMNS_BUDGET: usize = 1 << 26;

/// Multiply-adds of one sample's product below which samples run in parallel (`gemm` runs such
/// a product on one thread; above it, `gemm` splits the product over rayon's pool itself).
const PARALLEL_SAMPLE_OPS: usize = 192 * 192 * 192;

/// Output positions per plane below which a chunk's samples share one product: im2col lays
/// their columns side by side ([`Layout::Shared`]), so that the forward pass is one `Y [co, nb l]
/// = W C` and the input gradient one `dC = W^T dY`, where each sample's product would be narrow
/// (one weight packing per sample, few columns per thread). The products alone, timed through
/// [`gemm`] by a throwaway harness on the 2-core AMD EPYC (2026-12-06), batch 4, GFLOP/s shared
/// against per sample: M34-res's [192, 576] x 125 positions 192 / 134 forward, 182 / 182 input
/// gradient; [96, 288] x 500 210 / 175 and 199 / 141; ResNet-50's [512, 4608] x 24 201 / 115 and
/// 224 / 138, x 3 94 / 21 and 111 / 28.
const SHARED_BELOW: usize = 512;

/// The same for the weight gradient `dW = dY C^T`, whose shared product was slower from a few
/// hundred positions on ([128, 1152] x 384: 120 against 191 GFLOP/s per sample; x 125: 203
/// against 182; x 24 210 against 190).
const SHARED_WEIGHT_GRAD_BELOW: usize = 256;

/// Weight gradients with at most this many elements are split over their depth (samples and
/// positions) into units run in parallel ([`weight_grad_units`]), where `gemm` would split
/// their few outputs: the DenseNet's first layers ([16, 144] over 4 x 32,064 positions) ran
/// at 18 GFLOP/s that way (2026-12-06, AMD EPYC).
const SPLIT_WEIGHT_GRAD: usize = 1 << 17;

/// Positions of one sample that make one unit of a split weight gradient: eight of `gemm`'s
/// depth blocks.
const UNIT_DEPTH: usize = 8 * DEPTH_BLOCK;

/// Floats of one tile's im2col columns (512 KiB): a tiled forward pass builds the columns of
/// one tile of positions at a time, on the thread that multiplies them, so that they are still
/// in its caches when `gemm` reads them, where the whole batch's columns (74 MB for the
/// DenseNet's first layers at batch 4) went out to memory and back. Per step, timed around each
/// convolution (2026-12-06, AMD EPYC, two paired runs): those layers' forward passes 12.5-13.0
/// ms before, 7.8-8.2 tiled; the 32-channel ones 7.4-9.0 and 5.2-5.5. The weight gradient's
/// units built their own columns the same way and were slower (17-20 ms against 27), so they
/// read the chunk's im2col.
const TILE_FLOATS: usize = 1 << 17;

/// 3x3 stride-1 convolutions with at least this many input and output channels run forward, and
/// backward to the input, by Winograd's F(2x2, 3x3) ([`Winograd`]); with fewer, the transforms
/// cost more than the products they save. Measured in `tympan tag` of 30 clips (2-core AMD EPYC,
/// 2026-12-07): 48 (was 64) takes the slim 2D net's first stage (48 channels, 64 x 49 planes),
/// that layer 144 -> 97 ms, its forward pass at batch 16 275 -> 298-324 clips/s, its training
/// step at 32 unchanged within the noise; 32 takes the DenseNet's second module (32 channels,
/// 250 x 32 planes), 222 -> 166 ms, the whole command's median over six alternating runs 2.66
/// -> 2.56 s, its training step at batch 4 unchanged within the noise (0.17-0.24 s both ways);
/// 16 leaves its first module (16 channels, 501 x 64) where it was (240 ms either way). No
/// other registry model has 3x3 stride-1 convolutions with 32-47 channels.
const WINOGRAD_CHANNELS: usize = 32;

/// 3x3 stride-1 convolutions with at most this many input channels run forward directly
/// ([`Direct3x3`], on CPUs with AVX-512) instead of through im2col's nine-fold columns: one chain
/// of fused multiply-adds per output as in `gemm`'s micro-kernels for products this shallow
/// (`tympan tag` scores byte-identical for both models below), Jeong &
/// Lim's first module (16 channels, 501 x 64 planes) 240 -> 218 ms in `tympan tag` of 30 clips,
/// Hershey et al.'s VGG (its first layer: one channel) 5.49 -> 5.40 s, medians of three
/// alternating runs (2-core AMD EPYC, 2026-12-07).
const DIRECT_CHANNELS: usize = 16;

/// ... and at least this many 2x2 output tiles per sample (a sample's sizes alone decide, so
/// that its output does not depend on the batch it is in). 16 was set with the blocked schedule
/// alone (the slim 2D net's last stages, a few tiles each: 205 -> 90 clips/s without it); with
/// the whole-batch schedule, 4 takes Hershey et al.'s VGG's last stage (512 channels, 6 x 4
/// planes, 6 tiles): at 16 windows per pass 792-920 -> 722-738 ms of `tympan tag` of 30 clips,
/// at 4 windows 156-164 -> 184-194 ms (2-core AMD EPYC, 2026-12-07; whole commands below).
const WINOGRAD_TILES: usize = 4;

/// Convolutions of height 1 (1D) with at least this many input channels run as one product per
/// tap ([`TapWise`]); with fewer (the stems of raw-waveform networks, one channel and 7-80 taps),
/// each tap's product would be too shallow. Measured on 48-384 channels only.
const TAP_WISE_CHANNELS: usize = 32;

/// Partial sums of a split weight gradient, each over consecutive units: a fixed number, so
/// that the bits do not depend on how many threads run them.
const UNIT_GROUPS: usize = 16;

impl ConvKernels for Flex {
    fn tympan_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let g = Geometry::forward(&x, &weight, &options);
        match g.kind() {
            Kind::Pointwise if g.nonempty() && g.l() >= SHARED_BELOW => {
                pointwise_forward(x, weight, &g)
            }
            Kind::Pointwise | Kind::Dense if g.nonempty() => dense_forward(x, weight, &g),
            _ => Self::conv2d(x, weight, None, options),
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
            Kind::Pointwise if g.nonempty() && g.l() >= SHARED_BELOW => {
                pointwise_x_grad(weight, grad, &g)
            }
            Kind::Depthwise => depthwise_x_grad(&weight, &grad, &g),
            Kind::Pointwise | Kind::Dense if g.nonempty() => dense_x_grad(weight, grad, &g),
            _ => Self::conv2d_x_backward(x, weight, grad, options),
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
            Kind::Pointwise | Kind::Dense if g.nonempty() => dense_weight_grad(x, grad, &g),
            Kind::Depthwise => depthwise_weight_grad(&x, &grad, &g),
            _ => Self::conv2d_weight_backward(x, weight, grad, options),
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

/// How a chunk's im2col columns are laid out, rows `(ci, i, j)` of `l` positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `[nb, k, l]`: one matrix per sample.
    PerSample,
    /// `[k, nb l]`: one matrix, the samples' positions side by side ([`SHARED_BELOW`]).
    Shared,
}

impl Layout {
    /// Which run of `l` values holds row `r` (of `rows`) of sample `b` (of `nb`).
    fn run(self, b: usize, r: usize, nb: usize, rows: usize) -> usize {
        match self {
            Self::PerSample => b * rows + r,
            Self::Shared => r * nb + b,
        }
    }

    /// The inverse of [`Layout::run`]: `(b, r)` of a run.
    fn sample_row(self, run: usize, nb: usize, rows: usize) -> (usize, usize) {
        match self {
            Self::PerSample => (run / rows, run % rows),
            Self::Shared => (run % nb, run / nb),
        }
    }
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

    /// This convolution's sizes if it is a dense 3x3 stride-1 one with something to multiply.
    fn three_by_three(&self) -> Option<Conv3x3> {
        let three = self.kh == 3 && self.kw == 3 && self.stride == [1, 1];
        let dense = self.kind() == Kind::Dense && self.dilation == [1, 1] && self.nonempty();
        (three && dense).then_some(Conv3x3 {
            n: self.n,
            ci: self.ci,
            h: self.h,
            w: self.w,
            co: self.co,
            ho: self.ho,
            wo: self.wo,
            pad: self.pad,
        })
    }

    /// The Winograd form of a 3x3 stride-1 convolution with [`WINOGRAD_CHANNELS`] channels or
    /// more on each side and [`WINOGRAD_TILES`] 2x2 tiles or more per sample, if this is one.
    fn winograd(&self) -> Option<Winograd> {
        let wide = self.ci.min(self.co) >= WINOGRAD_CHANNELS;
        self.three_by_three()
            .filter(|g| wide && g.tiles().iter().product::<usize>() >= WINOGRAD_TILES)
            .map(Winograd)
    }

    /// The direct form of a 3x3 stride-1 convolution with at most [`DIRECT_CHANNELS`] input
    /// channels, if this is one.
    fn direct(&self) -> Option<Direct3x3> {
        let few = self.ci <= DIRECT_CHANNELS && Direct3x3::vectorised();
        self.three_by_three().filter(|_| few).map(Direct3x3)
    }

    /// The per-tap form of a dense convolution of height 1 with [`TAP_WISE_CHANNELS`] input
    /// channels or more, if this is one.
    fn tap_wise(&self) -> Option<TapWise> {
        let rows = self.h == 1 && self.kh == 1 && self.ho == 1 && self.pad[0] == 0;
        let deep = self.ci >= TAP_WISE_CHANNELS;
        (rows && deep && self.kind() == Kind::Dense && self.nonempty()).then_some(TapWise {
            n: self.n,
            ci: self.ci,
            co: self.co,
            k: self.kw,
            axis: self.axis(1),
        })
    }

    /// Whether the product has something to multiply: outputs and taps.
    fn nonempty(&self) -> bool {
        self.n * self.co * self.l() * self.ci * self.kh * self.kw > 0
    }

    /// Whether one sample's product is small enough to run samples in parallel.
    fn small_per_sample(&self) -> bool {
        self.co * self.ci * self.kh * self.kw * self.l() < PARALLEL_SAMPLE_OPS
    }

    /// Output positions per plane.
    fn l(&self) -> usize {
        self.ho * self.wo
    }

    /// How im2col lays out the columns of a product shared below `below` positions.
    fn layout(&self, below: usize) -> Layout {
        if self.l() < below {
            Layout::Shared
        } else {
            Layout::PerSample
        }
    }

    /// Input row of output row `oh` under kernel row `i`, if inside the input.
    fn in_row(&self, oh: usize, i: usize) -> Option<usize> {
        self.axis(0).at(oh, i)
    }

    /// For kernel column `j`: the offset `off` with input column `ow * stride + off`, and the
    /// range `lo..hi` of output columns whose input column lies inside the input ([`Axis::range`]).
    fn col_range(&self, j: usize) -> (isize, usize, usize) {
        self.axis(1).range(j)
    }

    /// Axis `d` (0: rows, 1: columns) of the sliding window.
    fn axis(&self, d: usize) -> Axis {
        Axis {
            size: [self.h, self.w][d],
            out: [self.ho, self.wo][d],
            stride: self.stride[d],
            dilation: self.dilation[d],
            pad: self.pad[d],
        }
    }
}

/// `Y_b = W X_b` for a 1x1 stride-1 conv, written straight into the NCHW output.
fn pointwise_forward(x: FlexTensor, weight: FlexTensor, g: &Geometry) -> FlexTensor {
    let l = g.l();
    let (x, weight) = (contiguous(x), contiguous(weight));
    let (xs, w) = (values(&x), values(&weight));
    // SAFETY: each sample's product (beta = 0) writes its `[co, l]` block in full, and the
    // blocks tile the output.
    let y = unsafe {
        unfilled(g.n * g.co * l, |y| {
            let y = &OutPtr(y.as_mut_ptr().cast());
            let run = |b: usize| {
                let x_b = View::rows(&xs[b * g.ci * l..][..g.ci * l], l);
                // SAFETY: sample b's block of the output, which no other task writes.
                let y_b = Out {
                    ptr: y.0.add(b * g.co * l),
                    rs: l,
                    cs: 1,
                };
                gemm_strided(g.co, g.ci, l, View::rows(w, g.ci), x_b, 0.0, y_b, true)
            };
            if g.small_per_sample() {
                (0..g.n).into_par_iter().for_each(run);
            } else {
                (0..g.n).for_each(run);
            }
        })
    };
    tensor(y, [g.n, g.co, g.ho, g.wo])
}

/// `dX_b = W^T dY_b` for a 1x1 stride-1 conv.
fn pointwise_x_grad(weight: FlexTensor, grad: FlexTensor, g: &Geometry) -> FlexTensor {
    let l = g.l();
    let (weight, grad) = (contiguous(weight), contiguous(grad));
    let (w, dy) = (values(&weight), values(&grad));
    let mut dx = vec![0.0f32; g.n * g.ci * l];
    per_sample(&mut dx, g.ci * l, g.small_per_sample(), |b, dx_b| {
        let dy_b = View::rows(&dy[b * g.co * l..][..g.co * l], l);
        gemm(g.ci, g.co, l, View::transposed(w, g.ci), dy_b, 0.0, dx_b);
    });
    tensor(dx, [g.n, g.ci, g.h, g.w])
}

/// `f(b, out_b)` for every sample's slice of `out`, in parallel when `parallel`.
fn per_sample(out: &mut [f32], len: usize, parallel: bool, f: impl Fn(usize, &mut [f32]) + Sync) {
    if parallel {
        out.par_chunks_mut(len)
            .enumerate()
            .for_each(|(b, o)| f(b, o));
    } else {
        out.chunks_mut(len).enumerate().for_each(|(b, o)| f(b, o));
    }
}

/// im2col of samples `b0..b0 + nb`: rows `(ci, i, j)` of the output positions, laid out as
/// `layout` says.
///
/// Every element is written exactly once (zeros where the kernel reaches into the padding), so
/// the buffer is not zero-filled first: that fill cost as much as the copies (perf, slim 2D
/// step, 2026-12-06).
fn im2col(x: &[f32], b0: usize, nb: usize, g: &Geometry, layout: Layout) -> Vec<f32> {
    let (k, l, plane) = (g.kh * g.kw, g.l(), g.h * g.w);
    let len = nb * g.ci * k * l;
    let mut cols: Vec<f32> = Vec::with_capacity(len);
    let zero = |d: &mut [MaybeUninit<f32>]| d.iter_mut().for_each(|v| _ = v.write(0.0));
    cols.spare_capacity_mut()[..len]
        .par_chunks_mut(l.max(1))
        .enumerate()
        .for_each(|(run, out)| {
            let (b, r) = layout.sample_row(run, nb, g.ci * k);
            let (c, ij) = (r / k, r % k);
            let (i, j) = (ij / g.kw, ij % g.kw);
            let src = &x[((b0 + b) * g.ci + c) * plane..][..plane];
            let (off, lo, hi) = g.col_range(j);
            for oh in 0..g.ho {
                let dst = &mut out[oh * g.wo..][..g.wo];
                let Some(r) = g.in_row(oh, i) else {
                    zero(dst);
                    continue;
                };
                let row_in = &src[r * g.w..][..g.w];
                zero(&mut dst[..lo]);
                zero(&mut dst[hi..]);
                if hi > lo && g.stride[1] == 1 {
                    // Contiguous: one copy (the columns `lo + off .. hi + off` lie in the row;
                    // `hi == lo` where every tap of this kernel column is padding).
                    let start = (lo as isize + off) as usize;
                    dst[lo..hi].write_copy_of_slice(&row_in[start..start + (hi - lo)]);
                } else {
                    for ow in lo..hi {
                        dst[ow].write(row_in[(ow as isize * g.stride[1] as isize + off) as usize]);
                    }
                }
            }
        });
    // SAFETY: the rows cover `cols[..len]` (`len` is a multiple of `l = ho * wo`), and every
    // output row `oh` of every row wrote all `wo` of its elements above: the kernel row outside
    // the input as zeros, inside it `..lo` and `hi..` as zeros and `lo..hi` from the input.
    unsafe { cols.set_len(len) };
    cols
}

/// `dW = sum_b dY_b cols_b^T`, in chunks of the column budget ([`for_chunks`]): one product
/// for the chunk below [`SHARED_WEIGHT_GRAD_BELOW`] positions, split into units for a small `dW`
/// ([`weight_grad_units`]), else accumulated sample by sample in order.
fn dense_weight_grad(x: FlexTensor, grad: FlexTensor, g: &Geometry) -> FlexTensor {
    let (k, l) = (g.ci * g.kh * g.kw, g.l());
    let (x, grad) = (contiguous(x), contiguous(grad));
    let dy = values(&grad);
    if let Some(tw) = g.tap_wise().filter(|_| l >= SHARED_WEIGHT_GRAD_BELOW) {
        return tensor(tw.weight_gradient(values(&x), dy), [g.co, g.ci, g.kh, g.kw]);
    }
    let mut dw = vec![0.0f32; g.co * k];
    let layout = g.layout(SHARED_WEIGHT_GRAD_BELOW);
    for_chunks(&x, g, layout, |b0, cols| {
        let nb = cols.len() / (k * l);
        let dy = &dy[b0 * g.co * l..][..nb * g.co * l];
        let units = nb * l.div_ceil(UNIT_DEPTH);
        if layout == Layout::Shared {
            let dys = to_columns(dy, g.co, l);
            let (dys, cols) = (View::rows(&dys, nb * l), View::transposed(cols, nb * l));
            gemm(g.co, nb * l, k, dys, cols, 1.0, &mut dw);
        } else if g.co * k <= SPLIT_WEIGHT_GRAD
            && units > 1
            && g.co * k * l * nb >= PARALLEL_SAMPLE_OPS
        {
            weight_grad_units(dy, cols, [g.co, k, l], &mut dw);
        } else {
            for (dy_b, cols_b) in dy.chunks(g.co * l).zip(cols.chunks(k * l)) {
                let (dy_b, cols_b) = (View::rows(dy_b, l), View::transposed(cols_b, l));
                gemm(g.co, l, k, dy_b, cols_b, 1.0, &mut dw);
            }
        }
    });
    tensor(dw, [g.co, g.ci, g.kh, g.kw])
}

/// `dW += sum_b dY_b cols_b^T` for a small `dW` `[co, k]` over samples `[nb, co, l]` and columns
/// `[nb, k, l]`, computed as `dW^T = sum_b cols_b dY_b^T` `[k, co]` when `co < k`: the depth cut
/// into units of [`UNIT_DEPTH`] positions of one sample, consecutive units summed on one thread
/// into one of at most [`UNIT_GROUPS`] partial sums, which are then added in order. The cut
/// depends on the sizes alone, so the bits do not depend on the threads.
///
/// The transposed orientation: with fewer output channels than taps `gemm` ran `C dY^T` up to
/// 8x faster than `dY C^T` ([16, 144] over 4,096 positions, one thread: 80-90 GFLOP/s against
/// 11; [64, 576] over 1,536: 94 against 39; the products alone, a throwaway harness over
/// [`gemm`], 2026-12-06, AMD EPYC); with more (ResNet-50's 1x1 [256, 64]) it was slower (10.4 ms
/// per step against 7.1, timed around the convolution). Transposing a small `dW` back costs
/// little (a large one's transposition cost more than the product gained: ResNet-50's
/// [512, 4608] gradients took twice as long, so the other paths keep `dY C^T`).
fn weight_grad_units(dy: &[f32], cols: &[f32], [co, k, l]: [usize; 3], dw: &mut [f32]) {
    let per_sample = l.div_ceil(UNIT_DEPTH);
    let units = dy.len() / (co * l) * per_sample;
    let groups = units.min(UNIT_GROUPS);
    let transposed = co < k;
    let mut partials = vec![0.0f32; groups * co * k];
    partials
        .par_chunks_mut(co * k)
        .enumerate()
        .for_each(|(group, p)| {
            let first = group * units / groups;
            for u in first..(group + 1) * units / groups {
                let (b, d0) = (u / per_sample, u % per_sample * UNIT_DEPTH);
                let d = UNIT_DEPTH.min(l - d0);
                let (dy_u, cols_u) = (&dy[b * co * l + d0..], &cols[b * k * l + d0..]);
                let beta = if u == first { 0.0 } else { 1.0 };
                if transposed {
                    let (cols_u, dy_u) = (View::rows(cols_u, l), View::transposed(dy_u, l));
                    gemm_serial(k, d, co, cols_u, dy_u, beta, p);
                } else {
                    let (dy_u, cols_u) = (View::rows(dy_u, l), View::transposed(cols_u, l));
                    gemm_serial(co, d, k, dy_u, cols_u, beta, p);
                }
            }
        });
    let mut sum = vec![0.0f32; co * k];
    for p in partials.chunks(co * k) {
        sum.iter_mut().zip(p).for_each(|(w, v)| *w += v);
    }
    if transposed {
        for (t, row) in sum.chunks(co).enumerate() {
            for (c, v) in row.iter().enumerate() {
                dw[c * k + t] += v;
            }
        }
    } else {
        dw.iter_mut().zip(&sum).for_each(|(w, v)| *w += v);
    }
}

/// `[nb, rows, l]` as `[rows, nb l]`, the samples side by side (no copy for one sample).
fn to_columns(src: &[f32], rows: usize, l: usize) -> Cow<'_, [f32]> {
    let nb = src.len() / (rows * l).max(1);
    if nb <= 1 {
        return Cow::Borrowed(src);
    }
    let mut out = vec![0.0f32; src.len()];
    for (b, sample) in src.chunks(rows * l).enumerate() {
        for (r, run) in sample.chunks(l).enumerate() {
            out[(r * nb + b) * l..][..l].copy_from_slice(run);
        }
    }
    Cow::Owned(out)
}

/// The inverse of [`to_columns`]: `[rows, nb l]` into `dst` `[nb, rows, l]`, every element of
/// `dst` written.
fn from_columns(src: &[f32], rows: usize, l: usize, dst: &mut [MaybeUninit<f32>]) {
    let nb = src.len() / (rows * l).max(1);
    for (b, sample) in dst.chunks_mut(rows * l).enumerate() {
        for (r, run) in sample.chunks_mut(l).enumerate() {
            run.write_copy_of_slice(&src[(r * nb + b) * l..][..l]);
        }
    }
}

/// Samples per im2col chunk under the column budget.
fn chunk_len(g: &Geometry) -> usize {
    (COLUMNS_BUDGET / (g.ci * g.kh * g.kw * g.l()).max(1)).clamp(1, g.n.max(1))
}

/// Calls `f(b0, columns)` for consecutive chunks of samples, `columns` being the chunk's im2col
/// in `layout`; a pointwise conv's per-sample columns are its input, passed whole without a copy.
fn for_chunks(x: &FlexTensor, g: &Geometry, layout: Layout, mut f: impl FnMut(usize, &[f32])) {
    let xs = values(x);
    if !g.nonempty() {
        return; // nothing to multiply: callers that need an output fill it themselves
    }
    if g.kind() == Kind::Pointwise && (layout == Layout::PerSample || g.n == 1) {
        return f(0, xs);
    }
    let chunk = chunk_len(g);
    let mut b0 = 0;
    while b0 < g.n {
        let nb = chunk.min(g.n - b0);
        f(b0, &im2col(xs, b0, nb, g, layout));
        b0 += nb;
    }
}

/// `Y_b = W cols_b` for every sample, written straight into the NCHW output.
fn dense_forward(x: FlexTensor, weight: FlexTensor, g: &Geometry) -> FlexTensor {
    let (k, l) = (g.ci * g.kh * g.kw, g.l());
    let (x, weight) = (contiguous(x), contiguous(weight));
    let w = values(&weight);
    if let Some(tw) = g.tap_wise() {
        return tensor(tw.forward(values(&x), w), [g.n, g.co, g.ho, g.wo]);
    }
    if let Some(d) = g.direct() {
        // SAFETY: `Direct3x3::forward` writes every output.
        let y = unsafe { unfilled(g.n * g.co * l, |y| d.forward(values(&x), w, y)) };
        return tensor(y, [g.n, g.co, g.ho, g.wo]);
    }
    if let Some(wg) = g.winograd() {
        // SAFETY: `Winograd::forward` writes every output.
        let y = unsafe { unfilled(g.n * g.co * l, |y| wg.forward(values(&x), w, y)) };
        return tensor(y, [g.n, g.co, g.ho, g.wo]);
    }
    if g.layout(SHARED_BELOW) == Layout::Shared {
        // One product for the chunk, `Y [co, nb l] = W C` ([`SHARED_BELOW`]), into a buffer
        // (written in full by the product, beta = 0), then out into the samples' outputs.
        let len = g.n * g.co * l;
        // `for_chunks` skips a convolution with nothing to multiply, which would leave `y`
        // unwritten; the dispatch sends none here.
        assert!(g.nonempty(), "dense_forward: an empty convolution");
        // SAFETY: the chunks cover every sample, and `from_columns` writes each one's output.
        let y = unsafe {
            unfilled(len, |out| {
                for_chunks(&x, g, Layout::Shared, |b0, cols| {
                    let nb = cols.len() / (k * l);
                    let (w, cols) = (View::rows(w, k), View::rows(cols, nb * l));
                    // SAFETY (inside the unsafe block above): the product (beta = 0) writes
                    // all of `[co, nb l]`.
                    let ys = unfilled(g.co * nb * l, |ys| {
                        let ys = Out {
                            ptr: ys.as_mut_ptr().cast(),
                            rs: nb * l,
                            cs: 1,
                        };
                        gemm_strided(g.co, k, nb * l, w, cols, 0.0, ys, true)
                    });
                    from_columns(&ys, g.co, l, &mut out[b0 * g.co * l..][..nb * g.co * l]);
                });
            })
        };
        return tensor(y, [g.n, g.co, g.ho, g.wo]);
    }
    // Tiles of positions of one sample, in parallel: im2col of the tile, then `W cols` on the
    // same thread, written straight into the output. Each output is the same chain of depth
    // blocks as in one product for the sample: a tile only cuts the columns.
    let xs = values(&x);
    let plane = g.ci * g.h * g.w;
    let tile = tile_len(k, l);
    let tiles = l.div_ceil(tile);
    // SAFETY: the tiles cover every position of every sample, and each tile's product (beta =
    // 0) writes all output channels at its positions.
    let y = unsafe {
        unfilled(g.n * g.co * l, |y| {
            let y = &OutPtr(y.as_mut_ptr().cast());
            (0..g.n * tiles).into_par_iter().for_each_init(
                || vec![0.0f32; k * tile],
                |cols, t| {
                    let (b, p0) = (t / tiles, t % tiles * tile);
                    let tw = tile.min(l - p0);
                    let cols = &mut cols[..k * tw];
                    im2col_tile(&xs[b * plane..][..plane], g, p0, cols);
                    let (w, cols) = (View::rows(w, k), View::rows(cols, tw));
                    // SAFETY: positions p0..p0 + tw of sample b's `[co, l]` output, which only
                    // tile t writes.
                    let y_t = Out {
                        ptr: y.0.add(b * g.co * l + p0),
                        rs: l,
                        cs: 1,
                    };
                    gemm_strided(g.co, k, tw, w, cols, 0.0, y_t, false)
                },
            );
        })
    };
    tensor(y, [g.n, g.co, g.ho, g.wo])
}

/// Positions per tile for `k` rows of columns and `l` positions ([`TILE_FLOATS`]): a multiple of
/// 16, at least 16, at most `l`.
fn tile_len(k: usize, l: usize) -> usize {
    ((TILE_FLOATS / k).max(16) / 16 * 16).min(l)
}

/// im2col of output positions `p0..p0 + cols.len() / k` of one sample `x_b` `[ci, h, w]` into
/// `cols` `[k, tile]`, rows `(ci, i, j)`: every element written (zeros where the kernel reaches
/// into the padding).
fn im2col_tile(x_b: &[f32], g: &Geometry, p0: usize, cols: &mut [f32]) {
    let (taps, plane) = (g.kh * g.kw, g.h * g.w);
    let tw = cols.len() / (g.ci * taps);
    for (r, dst) in cols.chunks_mut(tw).enumerate() {
        let (c, ij) = (r / taps, r % taps);
        let (i, j) = (ij / g.kw, ij % g.kw);
        let src = &x_b[c * plane..][..plane];
        let (off, lo, hi) = g.col_range(j);
        let mut p = p0;
        while p < p0 + tw {
            let (oh, ow0) = (p / g.wo, p % g.wo);
            let ow1 = g.wo.min(ow0 + p0 + tw - p);
            let d = &mut dst[p - p0..][..ow1 - ow0];
            p += ow1 - ow0;
            let Some(row) = g.in_row(oh, i) else {
                d.fill(0.0);
                continue;
            };
            let row_in = &src[row * g.w..][..g.w];
            // Outputs `ow0..ow1`: zeros before `lo` and from `hi`, the input between.
            let (a, z) = (
                lo.clamp(ow0, ow1),
                hi.clamp(ow0, ow1).max(lo.clamp(ow0, ow1)),
            );
            d[..a - ow0].fill(0.0);
            d[z - ow0..].fill(0.0);
            if z == a {
                // Every tap of this kernel column is padding here.
            } else if g.stride[1] == 1 {
                let start = (a as isize + off) as usize;
                d[a - ow0..z - ow0].copy_from_slice(&row_in[start..start + (z - a)]);
            } else {
                let s = g.stride[1];
                let start = (a as isize * s as isize + off) as usize;
                strided_copy(&mut d[a - ow0..z - ow0], &row_in[start..], s);
            }
        }
    }
}

/// `dst[i] = src[i * s]`: every `s`-th input of a strided convolution's row. Stride 2 (the
/// ResNets' downsampling) goes in pairs, which vectorises (interleaved loads); per element, the
/// index arithmetic cost more than the copy (perf, Chen et al.'s `tympan tag`, 2026-12-07).
fn strided_copy(dst: &mut [f32], src: &[f32], s: usize) {
    if s == 2 {
        let (pairs, _) = src.as_chunks::<2>();
        let n = dst.len().min(pairs.len());
        for (d, p) in dst[..n].iter_mut().zip(pairs) {
            *d = p[0];
        }
        // The last output may read the row's last value, which has no pair.
        for (i, d) in dst.iter_mut().enumerate().skip(n) {
            *d = src[i * 2];
        }
    } else {
        for (d, v) in dst.iter_mut().zip(src.iter().step_by(s)) {
            *d = *v;
        }
    }
}

/// `dX = col2im(W^T dY_b)` for every sample.
fn dense_x_grad(weight: FlexTensor, grad: FlexTensor, g: &Geometry) -> FlexTensor {
    let (k, l, plane) = (g.ci * g.kh * g.kw, g.l(), g.h * g.w);
    let (weight, grad) = (contiguous(weight), contiguous(grad));
    let (w, dy) = (values(&weight), values(&grad));
    if let Some(tw) = g.tap_wise() {
        return tensor(tw.input_gradient(w, dy), [g.n, g.ci, g.h, g.w]);
    }
    if let Some(dwg) = g.winograd().and_then(|wg| wg.input_gradient()) {
        // A 3x3 stride-1 convolution of the output's gradient by the flipped filters.
        // SAFETY: `Winograd::forward_flipped` writes every input gradient.
        let dx = unsafe { unfilled(g.n * g.ci * plane, |dx| dwg.forward_flipped(dy, w, dx)) };
        return tensor(dx, [g.n, g.ci, g.h, g.w]);
    }
    let mut dx = vec![0.0f32; g.n * g.ci * plane];
    if g.layout(SHARED_BELOW) == Layout::Shared {
        // One product per chunk of samples, `dC [k, nb l] = W^T dY` ([`SHARED_BELOW`]), then
        // col2im over the chunk's planes.
        let chunk = chunk_len(g);
        for (c, dx_c) in dx.chunks_mut(chunk * g.ci * plane).enumerate() {
            let nb = dx_c.len() / (g.ci * plane);
            let dys = to_columns(&dy[c * chunk * g.co * l..][..nb * g.co * l], g.co, l);
            let mut dcols = vec![0.0f32; k * nb * l];
            let (wt, dys) = (View::transposed(w, k), View::rows(&dys, nb * l));
            gemm(k, g.co, nb * l, wt, dys, 0.0, &mut dcols);
            col2im(&dcols, dx_c, g, Layout::Shared);
        }
        return tensor(dx, [g.n, g.ci, g.h, g.w]);
    }
    if g.n > 1 {
        // Samples in parallel, each in tiles of positions: `dC = W^T dY` for the tile, added
        // back at once while it is in cache ([`TILE_FLOATS`]). The DenseNet's first layers'
        // input gradients: 9.3 ms per step before, 5.4 tiled (timed around each convolution,
        // 2026-12-06, AMD EPYC); ResNet-50's and slim 2D's unchanged.
        let tile = tile_len(k, l);
        dx.par_chunks_mut(g.ci * plane)
            .enumerate()
            .for_each(|(b, dx_b)| {
                let mut dcols = vec![0.0f32; k * tile];
                for p0 in (0..l).step_by(tile) {
                    let tw = tile.min(l - p0);
                    let dcols = &mut dcols[..k * tw];
                    let dy_t = View::rows(&dy[b * g.co * l + p0..], l);
                    gemm_serial(k, g.co, tw, View::transposed(w, k), dy_t, 0.0, dcols);
                    col2im_tile(dcols, dx_b, g, p0);
                }
            });
        return tensor(dx, [g.n, g.ci, g.h, g.w]);
    }
    let mut dcols = vec![0.0f32; k * l];
    for (b, dx_b) in dx.chunks_mut(g.ci * plane).enumerate() {
        let dy_b = View::rows(&dy[b * g.co * l..][..g.co * l], l);
        gemm(k, g.co, l, View::transposed(w, k), dy_b, 0.0, &mut dcols);
        col2im(&dcols, dx_b, g, Layout::PerSample);
    }
    tensor(dx, [g.n, g.ci, g.h, g.w])
}

/// The adjoint of [`im2col`]: adds the column rows `(ci, i, j)` of each sample, laid out as
/// `layout` says, back onto the input planes `(b, ci)` of `dx`, one plane per task.
fn col2im(cols: &[f32], dx: &mut [f32], g: &Geometry, layout: Layout) {
    let (k, l, plane) = (g.kh * g.kw, g.l(), g.h * g.w);
    let nb = dx.len() / (g.ci * plane).max(1);
    dx.par_chunks_mut(plane).enumerate().for_each(|(bc, out)| {
        let (b, c) = (bc / g.ci, bc % g.ci);
        for i in 0..g.kh {
            for j in 0..g.kw {
                let run = layout.run(b, c * k + i * g.kw + j, nb, g.ci * k);
                let row = &cols[run * l..][..l];
                let (off, lo, hi) = g.col_range(j);
                for oh in 0..g.ho {
                    let Some(r) = g.in_row(oh, i) else { continue };
                    let src = &row[oh * g.wo..][..g.wo];
                    let dst = &mut out[r * g.w..][..g.w];
                    if hi > lo && g.stride[1] == 1 {
                        // Contiguous, the same additions in the same order, vectorised.
                        let start = (lo as isize + off) as usize;
                        let d = &mut dst[start..start + (hi - lo)];
                        for (d, s) in d.iter_mut().zip(&src[lo..hi]) {
                            *d += s;
                        }
                    } else {
                        for ow in lo..hi {
                            dst[(ow as isize * g.stride[1] as isize + off) as usize] += src[ow];
                        }
                    }
                }
            }
        }
    });
}

/// The adjoint of [`im2col_tile`]: adds the columns `dcols` `[k, tile]` of output positions
/// `p0..p0 + tile` back onto one sample's input planes `dx_b` `[ci, h, w]`.
fn col2im_tile(dcols: &[f32], dx_b: &mut [f32], g: &Geometry, p0: usize) {
    let (taps, plane) = (g.kh * g.kw, g.h * g.w);
    let tw = dcols.len() / (g.ci * taps);
    for (r, src) in dcols.chunks(tw).enumerate() {
        let (c, ij) = (r / taps, r % taps);
        let (i, j) = (ij / g.kw, ij % g.kw);
        let dst = &mut dx_b[c * plane..][..plane];
        let (off, lo, hi) = g.col_range(j);
        let mut p = p0;
        while p < p0 + tw {
            let (oh, ow0) = (p / g.wo, p % g.wo);
            let ow1 = g.wo.min(ow0 + p0 + tw - p);
            let s = &src[p - p0..][..ow1 - ow0];
            p += ow1 - ow0;
            let Some(row) = g.in_row(oh, i) else { continue };
            let row_out = &mut dst[row * g.w..][..g.w];
            let (a, z) = (lo.clamp(ow0, ow1), hi.clamp(ow0, ow1));
            if z <= a {
                continue;
            }
            if g.stride[1] == 1 {
                let start = (a as isize + off) as usize;
                let d = &mut row_out[start..start + (z - a)];
                for (d, v) in d.iter_mut().zip(&s[a - ow0..z - ow0]) {
                    *d += v;
                }
            } else {
                for ow in a..z {
                    row_out[(ow as isize * g.stride[1] as isize + off) as usize] += s[ow - ow0];
                }
            }
        }
    }
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
