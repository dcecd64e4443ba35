//! flex kernels for max pooling and its backward, one channel plane per task, row by row.
//!
//! The forward pass takes the maximum over a window's taps one kernel row and column at a
//! time, for a whole output row at once (no per-element window bounds, where flex's generic
//! kernel computes them for every output element); the backward finds each window's maximum
//! again from the input with the rule of flex's forward pass (the first strict maximum in
//! row-major order, a NaN always winning: `burn-flex` 0.22.1 `src/ops/pool.rs`) and adds the
//! output's gradient there. f32 only; other types take Burn's own code.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::tensor::DType;
use rayon::prelude::*;

use super::flex_tensor::{contiguous, tensor, values};
use super::pool_ops::{
    PoolKernels, PoolWindow, composite_max_pool2d, composite_max_pool2d_backward,
};
use super::taps::Axis;

/// Elements below which a pooling runs on the calling thread.
const PARALLEL_ELEMS: usize = 1 << 15;

impl PoolKernels for Flex {
    fn tympan_max_pool2d(x: FloatTensor<Self>, window: PoolWindow) -> FloatTensor<Self> {
        let Some(g) = Planes::new(&x, window) else {
            return composite_max_pool2d::<Self>(x, window);
        };
        let x = contiguous(x);
        let xs = values(&x);
        let mut y = vec![0.0f32; g.planes * g.rows.out * g.cols.out];
        g.for_planes(&mut y, g.rows.out * g.cols.out, |p, y_p| {
            g.max_plane(&xs[p * g.plane_in()..][..g.plane_in()], y_p)
        });
        tensor(y, [g.n, g.c, g.rows.out, g.cols.out])
    }

    fn tympan_max_pool2d_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        window: PoolWindow,
    ) -> FloatTensor<Self> {
        let g = match Planes::new(&x, window) {
            Some(g) if grad.dtype() == DType::F32 => g,
            _ => return composite_max_pool2d_backward::<Self>(x, grad, window),
        };
        let (x, grad) = (contiguous(x), contiguous(grad));
        let (xs, gs) = (values(&x), values(&grad));
        let plane_out = g.rows.out * g.cols.out;
        let mut dx = vec![0.0f32; g.planes * g.plane_in()];
        g.for_planes(&mut dx, g.plane_in(), |p, dx_p| {
            let x_p = &xs[p * g.plane_in()..][..g.plane_in()];
            g.scatter_plane(x_p, &gs[p * plane_out..][..plane_out], dx_p);
        });
        tensor(dx, [g.n, g.c, g.rows.size, g.cols.size])
    }
}

/// The planes of one pooling: `n * c` planes of `rows.size x cols.size` inputs.
struct Planes {
    n: usize,
    c: usize,
    planes: usize,
    kernel: [usize; 2],
    rows: Axis,
    cols: Axis,
    /// Each kernel column's `(off, lo, hi)` ([`Axis::range`]), the same for every output row:
    /// computed once per pooling. Per output row, this setup (two divisions per tap) cost about
    /// as much as the comparisons on slim 2D's short rows (perf, 2026-12-07).
    col_taps: Vec<(isize, usize, usize)>,
}

impl Planes {
    /// The geometry of pooling an f32 `x`; `None` for other types and planes of 2^32 - 1
    /// elements or more.
    fn new(x: &FlexTensor, w: PoolWindow) -> Option<Self> {
        let s = x.layout().shape();
        // Positions within a plane are kept as u32 by the backward.
        if x.dtype() != DType::F32 || s[2] * s[3] >= NONE as usize {
            return None;
        }
        // Burn's output size with dilation 1 and floor rounding.
        let axis = |d: usize| {
            let padded = s[2 + d] + 2 * w.padding[d];
            Axis {
                size: s[2 + d],
                out: padded
                    .checked_sub(w.kernel[d])
                    .map_or(0, |r| r / w.stride[d] + 1),
                stride: w.stride[d],
                dilation: 1,
                pad: w.padding[d],
            }
        };
        let cols = axis(1);
        Some(Self {
            n: s[0],
            c: s[1],
            planes: s[0] * s[1],
            kernel: w.kernel,
            rows: axis(0),
            col_taps: (0..w.kernel[1]).map(|j| cols.range(j)).collect(),
            cols,
        })
    }

    fn plane_in(&self) -> usize {
        self.rows.size * self.cols.size
    }

    /// `f(p, out_p)` for every plane's slice of `out`, in parallel for large poolings.
    fn for_planes(&self, out: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
        if len == 0 {
            return;
        }
        if out.len() + self.planes * self.plane_in() < PARALLEL_ELEMS {
            out.chunks_mut(len).enumerate().for_each(|(p, o)| f(p, o));
        } else {
            out.par_chunks_mut(len)
                .enumerate()
                .for_each(|(p, o)| f(p, o));
        }
    }

    /// `f(r, row)` for every input row `r` (of plane `x`) that output row `oh` reads, in kernel
    /// order.
    #[inline(always)]
    fn for_rows(&self, x: &[f32], oh: usize, mut f: impl FnMut(usize, &[f32])) {
        let w = self.cols.size;
        for i in 0..self.kernel[0] {
            if let Some(r) = self.rows.at(oh, i) {
                f(r, &x[r * w..][..w]);
            }
        }
    }

    /// `f(r, row, start, lo..hi)` for every tap of output row `oh` that reaches the input:
    /// `row` is input row `r` (of plane `x`), and outputs `lo..hi` of the row read it at
    /// `start`, `start + stride`, ... (kernel rows, then columns, in order).
    #[inline(always)]
    fn for_taps(
        &self,
        x: &[f32],
        oh: usize,
        mut f: impl FnMut(usize, &[f32], usize, std::ops::Range<usize>),
    ) {
        self.for_rows(x, oh, |r, row| {
            for &(off, lo, hi) in &self.col_taps {
                if hi > lo {
                    let start = (lo as isize * self.cols.stride as isize + off) as usize;
                    f(r, row, start, lo..hi);
                }
            }
        });
    }

    /// One plane's maxima, an output row at a time: the row starts at -inf and takes the
    /// maximum with each tap's inputs in turn (kernel rows, then columns, the order of
    /// [`Planes::for_taps`]). Windows that tile a row (stride = width, no padding: the M-nets'
    /// and the slim 2D net's poolings) take their taps from one contiguous run each
    /// ([`tiled_max`], the same comparisons in the same order).
    fn max_plane(&self, x: &[f32], y: &mut [f32]) {
        let (s, k) = (self.cols.stride, self.kernel[1]);
        let tiled = s == k && self.cols.pad == 0 && self.cols.dilation == 1;
        for (oh, out) in y.chunks_mut(self.cols.out).enumerate() {
            out.fill(f32::NEG_INFINITY);
            if tiled {
                self.for_rows(x, oh, |_, row| tiled_max(out, row, k));
                continue;
            }
            self.for_taps(x, oh, |_, row, start, outs| {
                let out = &mut out[outs];
                if s == 1 {
                    for (o, &v) in out.iter_mut().zip(&row[start..]) {
                        *o = wins(*o, v);
                    }
                } else {
                    for (o, &v) in out.iter_mut().zip(row[start..].iter().step_by(s)) {
                        *o = wins(*o, v);
                    }
                }
            });
        }
    }

    /// Adds each output's gradient `g` at its window's maximum in `x`, found an output row at
    /// a time as [`Planes::max_plane`] finds the maxima, with their positions: a tap takes over
    /// where its window has no position yet, where it is larger, or where it is NaN (flex's
    /// rule: the first strict maximum in row-major order, or the last NaN).
    fn scatter_plane(&self, x: &[f32], g: &[f32], dx: &mut [f32]) {
        let (w, wo, s) = (self.cols.size, self.cols.out, self.cols.stride);
        if wo == 0 {
            return; // no windows
        }
        let mut best = vec![f32::NEG_INFINITY; wo];
        let mut at = vec![NONE; wo];
        let mut taps = vec![0.0f32; wo];
        for (oh, g_row) in g.chunks(wo).enumerate() {
            best.fill(f32::NEG_INFINITY);
            at.fill(NONE);
            self.for_taps(x, oh, |r, row, start, outs| {
                let n = outs.len();
                // The taps side by side first, so that the update below vectorises.
                let taps = &mut taps[..n];
                let strided = &row[start..=start + (n - 1) * s];
                for (t, v) in taps.iter_mut().enumerate() {
                    *v = strided[t * s];
                }
                let base = (r * w + start) as u32;
                let (best, at) = (&mut best[outs.clone()], &mut at[outs]);
                for (t, ((b, a), &v)) in best.iter_mut().zip(at).zip(&*taps).enumerate() {
                    // Without branches: which tap holds the maximum is data, and a branch on
                    // it was mispredicted about half the time (perf, DenseNet).
                    let take = (*a == NONE) | (v > *b) | v.is_nan();
                    let mask = (take as u32).wrapping_neg();
                    *b = f32::from_bits(b.to_bits() & !mask | v.to_bits() & mask);
                    *a = *a & !mask | (base + t as u32 * s as u32) & mask;
                }
            });
            for (&a, &gv) in at.iter().zip(g_row) {
                if a != NONE {
                    dx[a as usize] += gv;
                }
            }
        }
    }
}

/// No position yet (a window wholly in the padding keeps it).
const NONE: u32 = u32::MAX;

/// `out[o] = wins(out[o], row[o k + j])` for j = 0..k in order: windows `k` wide that tile
/// `row`. Two and four wide (the M-nets', slim 2D's and the DenseNet's poolings) are unrolled so
/// that the loop over windows vectorises (interleaved loads), compiled for AVX-512F where the CPU
/// has it; the operations and their order are those of the generic loop, so the bits are too.
fn tiled_max(out: &mut [f32], row: &[f32], k: usize) {
    match k {
        2 => tiled_max_n::<2>(out, row),
        4 => tiled_max_n::<4>(out, row),
        _ => {
            for (o, win) in out.iter_mut().zip(row.chunks_exact(k)) {
                *o = win.iter().fold(*o, |m, &v| wins(m, v));
            }
        }
    }
}

fn tiled_max_n<const K: usize>(out: &mut [f32], row: &[f32]) {
    #[inline(always)]
    fn body<const K: usize>(out: &mut [f32], row: &[f32]) {
        let (windows, _) = row.as_chunks::<K>();
        for (o, win) in out.iter_mut().zip(windows) {
            let mut m = *o;
            for &v in win {
                m = wins(m, v);
            }
            *o = m;
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn wide<const K: usize>(out: &mut [f32], row: &[f32]) {
            body::<K>(out, row)
        }
        if super::simd::avx512() {
            // SAFETY: the CPU has AVX-512F (checked at run time just above).
            return unsafe { wide::<K>(out, row) };
        }
    }
    body::<K>(out, row)
}

/// The running maximum after seeing `v`: `v` where it is larger or NaN (NaN propagates, as in
/// PyTorch and flex).
#[inline(always)]
fn wins(m: f32, v: f32) -> f32 {
    if v > m || v.is_nan() { v } else { m }
}
