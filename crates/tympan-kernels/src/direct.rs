//! 3x3 stride-1 convolutions with few input channels, computed directly: each output is the sum
//! of its `9 ci` products, taken in the order `(ci, kh, kw)` with one fused multiply-add each,
//! for 16 output channels at 16 consecutive output positions at a time (16 vector registers of
//! 16 floats under AVX-512).
//!
//! With few input channels im2col + matmul writes nine times the input in columns (74 MB, tile
//! by tile, for a batch of four of Jeong & Lim's first module, 16 channels on 501 x 64 planes)
//! for products only `9 ci` deep: that layer took 240 ms of the DenseNet's `tympan tag` of 30
//! clips (about 128 GFLOP/s; 218 ms here; 2-core AMD EPYC, 2026-12-07), and Winograd's
//! transforms cost more than they save at 16 channels. Here the input is copied once into
//! zero-padded planes, and every product reads it and a 16-channel block of filters that stays
//! in L1.
//!
//! Two versions of the block: AVX-512 intrinsics, and portable Rust with `f32::mul_add` (on CPUs
//! without AVX-512 `conv_flex` keeps im2col, whose AVX2 `gemm` kernels are faster than it). Each
//! output is the same chain of fused multiply-adds in both, so the same bits (tested).

use std::mem::MaybeUninit;
use std::ops::Deref;

use rayon::prelude::*;

use super::conv3x3::Conv3x3;
use super::flex_tensor::OutPtr;

/// Output positions per vector.
const LANES: usize = 16;

/// Output channels per block (each a vector of [`LANES`] accumulators).
const BLOCK: usize = 16;

/// Output rows per parallel task.
const ROWS_PER_TASK: usize = 4;

/// A 3x3 stride-1 convolution ([`Conv3x3`]) computed directly.
#[derive(Debug, Clone, Copy)]
pub(super) struct Direct3x3(pub Conv3x3);

impl Deref for Direct3x3 {
    type Target = Conv3x3;
    fn deref(&self) -> &Conv3x3 {
        &self.0
    }
}

impl Direct3x3 {
    /// Whether this CPU runs the vectorised blocks (AVX-512F). The portable ones give the same
    /// bits, but `gemm`'s AVX2 micro-kernels on im2col columns are faster than they are.
    pub fn vectorised() -> bool {
        #[cfg(target_arch = "x86_64")]
        return super::simd::avx512();
        #[cfg(not(target_arch = "x86_64"))]
        return false;
    }

    /// `y` `[n, co, ho, wo]` of `x` `[n, ci, h, w]` under `weight` `[co, ci, 3, 3]`; every output
    /// written.
    pub fn forward(&self, x: &[f32], weight: &[f32], y: &mut [MaybeUninit<f32>]) {
        self.forward_with(x, weight, y, Self::vectorised());
    }

    /// [`Direct3x3::forward`] through the AVX-512 blocks or the portable ones.
    fn forward_with(
        &self,
        x: &[f32],
        weight: &[f32],
        y: &mut [MaybeUninit<f32>],
        vectorised: bool,
    ) {
        assert_eq!(x.len(), self.n * self.ci * self.h * self.w, "direct: input");
        assert_eq!(weight.len(), self.co * self.ci * 9, "direct: weight");
        assert_eq!(
            y.len(),
            self.n * self.co * self.ho * self.wo,
            "direct: output"
        );
        let filters = self.blocked_filters(weight);
        let padded = self.padded(x);
        let plane = (self.ho + 2) * self.row_len();
        let tasks = self.ho.div_ceil(ROWS_PER_TASK);
        let y = &OutPtr(y.as_mut_ptr().cast());
        (0..self.n * tasks).into_par_iter().for_each(|t| {
            let (b, r0) = (t / tasks, t % tasks * ROWS_PER_TASK);
            let x_b = &padded[b * self.ci * plane..][..self.ci * plane];
            for oh in r0..(r0 + ROWS_PER_TASK).min(self.ho) {
                // SAFETY: row `oh` of sample `b`'s output planes, which only this task writes.
                unsafe { self.row(x_b, &filters, b, oh, y, vectorised) };
            }
        });
    }

    /// Floats per padded input row: the output's width rounded up to whole vectors, plus the
    /// kernel's two extra columns.
    fn row_len(&self) -> usize {
        self.wo.div_ceil(LANES) * LANES + 2
    }

    /// The filters as `[co / BLOCK, ci, 9, BLOCK]`, the last block's missing channels zero.
    fn blocked_filters(&self, weight: &[f32]) -> Vec<f32> {
        let blocks = self.co.div_ceil(BLOCK);
        let mut out = vec![0.0f32; blocks * self.ci * 9 * BLOCK];
        for (o, filter) in weight.chunks_exact(self.ci * 9).enumerate() {
            let (block, lane) = (o / BLOCK, o % BLOCK);
            for (k, &v) in filter.iter().enumerate() {
                // k = c * 9 + tap.
                out[(block * self.ci * 9 + k) * BLOCK + lane] = v;
            }
        }
        out
    }

    /// The input as `[n, ci, ho + 2, row_len]`: padded row `r`, column `c` holds input row
    /// `r - pad[0]`, column `c - pad[1]`, or zero outside the input.
    fn padded(&self, x: &[f32]) -> Vec<f32> {
        let (rows, cols) = (self.ho + 2, self.row_len());
        let mut out = vec![0.0f32; self.n * self.ci * rows * cols];
        let [pt, pl] = self.pad;
        out.par_chunks_mut(rows * cols)
            .zip(x.par_chunks(self.h * self.w))
            .for_each(|(dst, src)| {
                for (r, dst_row) in dst.chunks_exact_mut(cols).enumerate() {
                    let Some(i) = r.checked_sub(pt).filter(|&i| i < self.h) else {
                        continue;
                    };
                    let src_row = &src[i * self.w..][..self.w];
                    // Columns pl.. of the padded row are input columns 0.., as far as both go.
                    let n = self.w.min(cols.saturating_sub(pl));
                    dst_row[pl..pl + n].copy_from_slice(&src_row[..n]);
                }
            });
        out
    }

    /// Output row `oh` of sample `b`, every channel; through the AVX-512 blocks if `vectorised`
    /// (which only [`Direct3x3::vectorised`] may make true).
    ///
    /// # Safety
    /// `y` must point at the `[n, co, ho, wo]` output, and no other thread may write this row.
    unsafe fn row(
        &self,
        x_b: &[f32],
        filters: &[f32],
        b: usize,
        oh: usize,
        y: &OutPtr,
        vectorised: bool,
    ) {
        let cols = self.row_len();
        let plane = (self.ho + 2) * cols;
        let l = self.ho * self.wo;
        for (block, f) in filters.chunks_exact(self.ci * 9 * BLOCK).enumerate() {
            let channels = BLOCK.min(self.co - block * BLOCK);
            for ow in (0..self.wo).step_by(LANES) {
                let at = (b * self.co + block * BLOCK) * l + oh * self.wo + ow;
                let blk = Block {
                    x: &x_b[oh * cols + ow..],
                    plane,
                    cols,
                    f,
                    ci: self.ci,
                    // SAFETY: inside the output: channel block * BLOCK < co, column ow < wo.
                    y: unsafe { y.0.add(at) },
                    l,
                    channels,
                    n: LANES.min(self.wo - ow),
                };
                // SAFETY: rows oh..oh + 3 of each padded plane hold `ow + LANES + 2` floats
                // (`row_len`), `f` is a whole block; the outputs written are inside row `oh` of
                // sample `b` (channel < co, column < wo), which the caller lets this thread write.
                unsafe {
                    #[cfg(target_arch = "x86_64")]
                    if vectorised {
                        avx512::block(&blk);
                        continue;
                    }
                    portable_block(&blk);
                }
            }
        }
    }
}

/// One block of [`BLOCK`] channels x [`LANES`] positions of output.
struct Block<'a> {
    /// The input at the block's first position in the first padded plane.
    x: &'a [f32],
    /// Floats between padded planes.
    plane: usize,
    /// Floats between padded rows.
    cols: usize,
    /// The block's filters `[ci, 9, BLOCK]`.
    f: &'a [f32],
    /// Input channels.
    ci: usize,
    /// The block's first output.
    y: *mut f32,
    /// Floats between output channels.
    l: usize,
    /// Channels written (the last block's may be fewer than BLOCK).
    channels: usize,
    /// Positions written (the row's last vector may hold fewer than LANES).
    n: usize,
}

/// `b`'s outputs, portably.
///
/// # Safety
/// `b.y` must be valid for writes of `b.n` floats at each of `b.channels` channels `b.l` apart,
/// which no other thread touches; `b.x` must hold the block's three rows of each plane.
unsafe fn portable_block(b: &Block) {
    for o in 0..b.channels {
        let mut acc = [0.0f32; LANES];
        for c in 0..b.ci {
            for t in 0..9 {
                let src = &b.x[c * b.plane + t / 3 * b.cols + t % 3..][..LANES];
                let w = b.f[(c * 9 + t) * BLOCK + o];
                for (a, &v) in acc.iter_mut().zip(src) {
                    *a = v.mul_add(w, *a);
                }
            }
        }
        for (p, &v) in acc[..b.n].iter().enumerate() {
            // SAFETY: as the caller guarantees.
            unsafe { b.y.add(o * b.l + p).write(v) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{BLOCK, Block, LANES};

    /// [`super::portable_block`] with one AVX-512 register per channel: the same fused
    /// multiply-adds in the same order for every output, so the same bits.
    ///
    /// # Safety
    /// As for [`super::portable_block`], on a CPU with AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn block(b: &Block) {
        assert!(
            b.ci > 0
                && b.f.len() >= b.ci * 9 * BLOCK
                && b.x.len() >= (b.ci - 1) * b.plane + 2 * b.cols + 2 + LANES,
            "direct: a block outside its input or filters"
        );
        let mut acc = [_mm512_setzero_ps(); BLOCK];
        let (x, f) = (b.x.as_ptr(), b.f.as_ptr());
        for c in 0..b.ci {
            for t in 0..9 {
                // SAFETY: inside `x` and `f` (asserted above): tap t's row t / 3 and column
                // t % 3 of plane c, LANES floats; its BLOCK filters.
                unsafe {
                    let v = _mm512_loadu_ps(x.add(c * b.plane + t / 3 * b.cols + t % 3));
                    let w = f.add((c * 9 + t) * BLOCK);
                    for (o, a) in acc.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(v, _mm512_set1_ps(*w.add(o)), *a);
                    }
                }
            }
        }
        let mask: __mmask16 = if b.n == LANES { !0 } else { (1 << b.n) - 1 };
        for (o, a) in acc.iter().enumerate().take(b.channels) {
            // SAFETY: the caller's outputs, the first n positions of channel o.
            unsafe { _mm512_mask_storeu_ps(b.y.add(o * b.l), mask, *a) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct sum `sum_{c, i, j} x w` in f64, for comparison.
    fn reference(g: &Direct3x3, x: &[f32], w: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0f32; g.n * g.co * g.ho * g.wo];
        for b in 0..g.n {
            for o in 0..g.co {
                for oh in 0..g.ho {
                    for ow in 0..g.wo {
                        let mut s = 0.0f64;
                        for c in 0..g.ci {
                            for i in 0..3 {
                                for j in 0..3 {
                                    let (r, q) = (oh + i, ow + j);
                                    let (Some(r), Some(q)) =
                                        (r.checked_sub(g.pad[0]), q.checked_sub(g.pad[1]))
                                    else {
                                        continue;
                                    };
                                    if r < g.h && q < g.w {
                                        s += x[((b * g.ci + c) * g.h + r) * g.w + q] as f64
                                            * w[((o * g.ci + c) * 3 + i) * 3 + j] as f64;
                                    }
                                }
                            }
                        }
                        y[((b * g.co + o) * g.ho + oh) * g.wo + ow] = s as f32;
                    }
                }
            }
        }
        y
    }

    /// The portable blocks against the sum in f64, within 1e-5 of the largest output (f32 sums
    /// of up to 144 terms), and the AVX-512 blocks bit for bit against the portable ones where
    /// the CPU has them: widths below, at and above one vector, channel counts that leave a
    /// partial block, padding on both sides, one side and none.
    #[test]
    fn matches_a_direct_sum() {
        let mut seed = 7u32;
        let mut rand = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        // n, ci, h, w, co, pad (before; after = the same unless noted by ho, wo)
        for (n, ci, h, w, co, pad, after) in [
            (2, 16, 9, 64, 16, [1, 1], [1, 1]),
            (1, 1, 7, 5, 15, [1, 1], [1, 1]),
            (2, 3, 6, 17, 20, [0, 0], [0, 0]),
            (1, 4, 5, 33, 8, [1, 0], [0, 2]),
            (1, 2, 3, 1, 3, [1, 1], [1, 1]),
        ] {
            let (ho, wo) = (h + pad[0] + after[0] - 2, w + pad[1] + after[1] - 2);
            let g = Direct3x3(Conv3x3 {
                n,
                ci,
                h,
                w,
                co,
                ho,
                wo,
                pad,
            });
            let x: Vec<f32> = (0..n * ci * h * w).map(|_| rand()).collect();
            let wt: Vec<f32> = (0..co * ci * 9).map(|_| rand()).collect();
            let run = |vectorised| {
                let mut y = vec![MaybeUninit::new(f32::NAN); n * co * ho * wo];
                g.forward_with(&x, &wt, &mut y, vectorised);
                // SAFETY: initialised to NaN above; `forward` overwrites every element.
                let y: Vec<f32> = y.iter().map(|v| unsafe { v.assume_init() }).collect();
                assert!(
                    y.iter().all(|v| v.is_finite()),
                    "{g:?}: an output not written"
                );
                y
            };
            let y = run(false);
            if Direct3x3::vectorised() {
                assert_eq!(run(true), y, "{g:?}: AVX-512 and portable blocks differ");
            }
            let want = reference(&g, &x, &wt);
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = y
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(d <= 1e-5 * scale, "{g:?}: max |diff| {d}, scale {scale}");
        }
    }
}
