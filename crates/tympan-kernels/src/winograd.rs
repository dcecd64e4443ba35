//! 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast
//! Algorithms for Convolutional Neural Networks", CVPR 2016, section 4): each 2x2 block of
//! outputs from a 4x4 block of inputs with 16 multiplications per input channel instead of 36.
//!
//! `Y = A^T [ (G g G^T) (.) (B^T d B) ] A` per tile, where the element-wise products summed over
//! input channels are 16 matrix products `M_xi = U_xi V_xi` (`U_xi` `[co, ci]` from the filters,
//! `V_xi` `[ci, tiles]` from the inputs). The transforms' coefficients are 0, +-1 and +-1/2, so
//! they add rounding of a few additions, not of large constants (F(4x4, 3x3)'s would).
//!
//! Two schedules. Blocked: the tiles are cut into blocks of whole rows of tiles, one per task: a
//! block's input transform, its 16 products (on one thread, through [`gemm_serial`]) and its
//! output transform run while its matrices are in cache. Whole-batch, for layers whose blocks
//! would be narrow (the last stages' few tiles per sample): every tile's input transform, then
//! the 16 products over all tiles (one per task), then the output transform, so that each `U_xi`
//! is packed once per batch. The transforms work on whole rows (the rows transform on 4 input
//! rows at once, then the columns transform tile by tile; the filters' transform on a filter's
//! taps transposed to rows of channels); a first version, tile by tile with a 4x4 block each,
//! spent more in its transforms than the products saved. Neither schedule depends on the number
//! of threads, so neither do the bits.
//!
//! The input gradient of such a convolution is one too ([`Winograd::input_gradient`]): the
//! output's gradient convolved with the filters turned by 180 degrees, their channels swapped.
//!
//! Used by `conv_flex` for 3x3 stride-1 convolutions with enough channels each side and enough
//! tiles per sample (its `WINOGRAD_CHANNELS`, `WINOGRAD_TILES`), forward and input gradient
//! (docs/results.md, 2026-12-06: Hershey et al.'s VGG
//! forward pass 1.26x faster with the blocked schedule, then 42 -> 50 clips/s with the
//! whole-batch one and the row-wise filter transform; its training step 1.15x with the input
//! gradients).

use std::mem::MaybeUninit;
use std::ops::Deref;

use rayon::prelude::*;

use super::conv3x3::Conv3x3;
use super::flex_tensor::OutPtr;
use super::gemm::{View, gemm_serial};

/// Floats of a block's transformed inputs or products (`16 * max(ci, co) * tiles`), about 1 MiB.
const BLOCK_FLOATS: usize = 1 << 18;

/// Blocks of tiles a convolution is cut into at least, when it has rows of tiles enough (two per
/// thread on 2 cores).
const MIN_BLOCKS: usize = 4;

/// Blocks narrower than this many tiles take the whole-batch schedule instead, where its
/// transformed inputs and products fit in [`WHOLE_FLOATS`] per sample: a product of a narrow
/// block packs its filter matrix for few columns.
const WIDE_BLOCK: usize = 64;

/// Floats of the whole-batch schedule's transformed inputs or products (16 MiB): samples beyond
/// it run in groups.
const WHOLE_FLOATS: usize = 1 << 22;

/// A 3x3 stride-1 convolution ([`Conv3x3`]) by Winograd's F(2x2, 3x3).
#[derive(Debug, Clone, Copy)]
pub(super) struct Winograd(pub Conv3x3);

impl Deref for Winograd {
    type Target = Conv3x3;
    fn deref(&self) -> &Conv3x3 {
        &self.0
    }
}

impl Winograd {
    /// The input gradient of this convolution as a convolution of the output's gradient
    /// `[n, co, ho, wo]` by its filters turned by 180 degrees, channels swapped
    /// ([`Winograd::forward_flipped`]), with `2 - pad` zeros before it
    /// (`dX[r] = sum_a dY[r + pad - a] W[a]`). None for padding wider than 2.
    pub fn input_gradient(&self) -> Option<Winograd> {
        (self.pad[0] <= 2 && self.pad[1] <= 2).then_some(Winograd(Conv3x3 {
            n: self.n,
            ci: self.co,
            h: self.ho,
            w: self.wo,
            co: self.ci,
            ho: self.h,
            wo: self.w,
            pad: [2 - self.pad[0], 2 - self.pad[1]],
        }))
    }

    /// `y = conv2d(x, weight)` with `weight` `[co, ci, 3, 3]`; `y` holds `[n, co, ho, wo]`, every
    /// element of which is written (so it need not be initialised).
    pub fn forward(&self, x: &[f32], weight: &[f32], y: &mut [MaybeUninit<f32>]) {
        self.forward_capped(x, weight, Taps::AsGiven, y, WHOLE_FLOATS);
    }

    /// [`Winograd::forward`] by the filters of `weight` `[ci, co, 3, 3]` (the convolution whose
    /// [`Winograd::input_gradient`] this is) turned by 180 degrees, their channels swapped, as
    /// the filter transform reads them.
    pub fn forward_flipped(&self, x: &[f32], weight: &[f32], y: &mut [MaybeUninit<f32>]) {
        self.forward_capped(x, weight, Taps::Flipped, y, WHOLE_FLOATS);
    }

    /// [`Winograd::forward`] with `whole_floats` in place of [`WHOLE_FLOATS`] (tests cut the
    /// batch into groups with it).
    fn forward_capped(
        &self,
        x: &[f32],
        weight: &[f32],
        taps: Taps,
        y: &mut [MaybeUninit<f32>],
        whole_floats: usize,
    ) {
        // The unsafe writes below trust these sizes.
        assert_eq!(
            x.len(),
            self.n * self.ci * self.h * self.w,
            "winograd: x size"
        );
        assert_eq!(weight.len(), self.co * self.ci * 9, "winograd: weight size");
        assert_eq!(
            y.len(),
            self.n * self.co * self.ho * self.wo,
            "winograd: y size"
        );
        let [th, tw] = self.tiles();
        if self.n * th * tw == 0 || self.co == 0 {
            return;
        }
        // The calling thread's filter buffer, kept between calls (every value is written).
        let mut filters = FILTERS.take();
        let u = prefix(&mut filters, 16 * self.co * self.ci);
        self.filters(weight, taps, u);
        let u = &*u;
        let rows = self.block_rows();
        let per_sample = 16 * self.ci.max(self.co) * th * tw;
        if rows * tw < WIDE_BLOCK && per_sample <= whole_floats {
            // Samples in groups of at most `whole_floats` transformed inputs or products.
            let group = (whole_floats / per_sample).min(self.n);
            let (xs, ys) = (self.ci * self.h * self.w, self.co * self.ho * self.wo);
            for (x, y) in x.chunks(group * xs).zip(y.chunks_mut(group * ys)) {
                let wg = Winograd(Conv3x3 {
                    n: x.len() / xs,
                    ..self.0
                });
                wg.forward_whole(x, u, y);
            }
        } else {
            self.forward_blocks(x, u, y, rows);
        }
        FILTERS.set(filters);
    }

    /// Rows of tiles per block of [`Winograd::forward_blocks`]: at most BLOCK_FLOATS of
    /// transformed inputs or products (at least one row), and at least MIN_BLOCKS blocks when
    /// there are rows enough. Not from the thread count: a block's width is its products' width,
    /// and `gemm` takes other kernels for the narrowest.
    fn block_rows(&self) -> usize {
        let [th, tw] = self.tiles();
        (BLOCK_FLOATS / (16 * self.ci.max(self.co) * tw))
            .min((self.n * th).div_ceil(MIN_BLOCKS))
            .max(1)
    }

    /// The blocked schedule: blocks of `rows` whole rows of tiles of one sample, one task each,
    /// whose input transform, 16 products (on one thread) and output transform run while its
    /// matrices are in cache.
    fn forward_blocks(&self, x: &[f32], u: &[f32], y: &mut [MaybeUninit<f32>], rows: usize) {
        let [th, tw] = self.tiles();
        let (ci, co) = (self.ci, self.co);
        let per_sample = th.div_ceil(rows);
        let out = OutPtr(y.as_mut_ptr().cast::<f32>());
        (0..self.n * per_sample).into_par_iter().for_each(|unit| {
            let (b, ty0) = (unit / per_sample, unit % per_sample * rows);
            let ty1 = (ty0 + rows).min(th);
            let nb = (ty1 - ty0) * tw;
            let tile_rows = || (ty0..ty1).map(move |ty| (b, ty));
            BUFFERS.with_borrow_mut(|(v, m)| {
                // Every value of both is written before it is read: no need to clear them.
                let (v, m) = (prefix(v, 16 * ci * nb), prefix(m, 16 * co * nb));
                let mut scratch = Scratch::new(tw);
                for (c, v_c) in v.chunks_exact_mut(16 * nb).enumerate() {
                    self.input_channel(x, c, tile_rows(), v_c, &mut scratch);
                }
                for (xi, m_xi) in m.chunks_exact_mut(co * nb).enumerate() {
                    self.product(u, v, xi, m_xi);
                }
                for o in 0..co {
                    // SAFETY: `y` holds [n, co, ho, wo]; this unit is the only one with sample
                    // b's tile rows ty0..ty1, whose outputs no other tile covers.
                    unsafe { self.output_channel(m, o, tile_rows(), &out, &mut scratch) };
                }
            });
        });
    }

    /// The whole-batch schedule, for convolutions whose blocks would be narrow (few tiles per
    /// sample, as in the last stages of a net): the input transform of every tile (in parallel
    /// over channels), then the 16 products over all of them (in parallel, one each), then the
    /// output transform (in parallel over output channels). Each filter matrix `U_xi` is packed
    /// once for the batch instead of once per sample.
    fn forward_whole(&self, x: &[f32], u: &[f32], y: &mut [MaybeUninit<f32>]) {
        let [th, tw] = self.tiles();
        let (ci, co, t) = (self.ci, self.co, self.n * th * tw);
        let tile_rows = || (0..self.n * th).map(move |g| (g / th, g % th));
        // The calling thread's buffers, taken out for the call (a task of this call that runs
        // a blocked convolution on this thread meanwhile gets its own).
        let (mut v, mut m) = BUFFERS.take();
        {
            let (v, m) = (prefix(&mut v, 16 * ci * t), prefix(&mut m, 16 * co * t));
            v.par_chunks_mut(16 * t).enumerate().for_each_init(
                || Scratch::new(tw),
                |scratch, (c, v_c)| self.input_channel(x, c, tile_rows(), v_c, scratch),
            );
            m.par_chunks_mut(co * t)
                .enumerate()
                .for_each(|(xi, m_xi)| self.product(u, v, xi, m_xi));
            let out = OutPtr(y.as_mut_ptr().cast::<f32>());
            let m = &*m;
            (0..co).into_par_iter().for_each_init(
                || Scratch::new(tw),
                |scratch, o| {
                    // SAFETY: `y` holds [n, co, ho, wo]; output channel o is written by this
                    // task only.
                    unsafe { self.output_channel(m, o, tile_rows(), &out, scratch) };
                },
            );
        }
        BUFFERS.set((v, m));
    }

    /// `M_xi = U_xi V_xi` (`[co, cols]`) on this thread, from the filters `u` `[co, 16, ci]` and
    /// the transformed inputs `v` `[ci, 16, cols]`.
    fn product(&self, u: &[f32], v: &[f32], xi: usize, m_xi: &mut [f32]) {
        let (ci, co) = (self.ci, self.co);
        let cols = m_xi.len() / co;
        gemm_serial(
            co,
            ci,
            cols,
            View {
                data: &u[xi * ci..],
                rs: 16 * ci,
                cs: 1,
            },
            View {
                data: &v[xi * cols..],
                rs: 16 * cols,
                cs: 1,
            },
            0.0,
            m_xi,
        );
    }

    /// `U_xi = (G g G^T)_xi` of every filter into `u`, laid out `[co, 16, ci]`. A filter's taps
    /// are first transposed to 9 rows of `ci`, so that both steps run over whole rows.
    fn filters(&self, weight: &[f32], taps: Taps, u: &mut [f32]) {
        let (ci, co) = (self.ci, self.co);
        let half_sums = |a: &[f32], b: &[f32], e: &[f32], sum: &mut [f32], diff: &mut [f32]| {
            for k in 0..a.len() {
                sum[k] = (a[k] + b[k] + e[k]) * 0.5;
                diff[k] = (a[k] - b[k] + e[k]) * 0.5;
            }
        };
        u.par_chunks_mut(16 * ci).enumerate().for_each_init(
            || vec![0.0f32; 15 * ci],
            |scratch, (o, u_o)| {
                let (rows, gg) = scratch.split_at_mut(9 * ci);
                for c in 0..ci {
                    // Filter (o, c): `weight[o, c]`, or `weight[c, o]` turned by 180 degrees.
                    for t in 0..9 {
                        rows[t * ci + c] = match taps {
                            Taps::AsGiven => weight[(o * ci + c) * 9 + t],
                            Taps::Flipped => weight[(c * co + o) * 9 + 8 - t],
                        };
                    }
                }
                let tap = |t: usize| &rows[t * ci..][..ci];
                // G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2 of three
                // columns; the middle two kept in `gg` as [2, 3, ci].
                for j in 0..3 {
                    let (sum, diff) = gg.split_at_mut(3 * ci);
                    let (sum, diff) = (&mut sum[j * ci..][..ci], &mut diff[j * ci..][..ci]);
                    half_sums(tap(j), tap(3 + j), tap(6 + j), sum, diff);
                }
                let gg_row = |i: usize, j: usize| match i {
                    0 => tap(j),
                    3 => tap(6 + j),
                    _ => &gg[((i - 1) * 3 + j) * ci..][..ci],
                };
                // (G g) G^T, row by row.
                for i in 0..4 {
                    let (a, b, e) = (gg_row(i, 0), gg_row(i, 1), gg_row(i, 2));
                    let (u_i, rest) = u_o[i * 4 * ci..].split_at_mut(ci);
                    let (sum, rest) = rest.split_at_mut(ci);
                    let (diff, rest) = rest.split_at_mut(ci);
                    u_i.copy_from_slice(a);
                    half_sums(a, b, e, sum, diff);
                    rest[..ci].copy_from_slice(e);
                }
            },
        );
    }

    /// `V_xi = (B^T d B)_xi` of input channel `c`'s tiles in the tile rows `rows` (sample, tile
    /// row) of `x` `[n, ci, h, w]`: the k-th row's tiles in columns `k tw ..` of `v_c`, 16 rows
    /// of `v_c.len() / 16` columns; `d` is a tile's 4x4 input block, zeros outside the input.
    /// Row by row of tiles: the rows transform (`B^T d`) on the 4 whole input rows, then the
    /// columns transform tile by tile.
    fn input_channel(
        &self,
        x: &[f32],
        c: usize,
        rows: impl Iterator<Item = (usize, usize)>,
        v_c: &mut [f32],
        scratch: &mut Scratch,
    ) {
        let [_, tw] = self.tiles();
        let cols = v_c.len() / 16;
        let plane_len = self.h * self.w;
        let width = 2 * tw + 2;
        let (d, r) = (&mut scratch.d, &mut scratch.r);
        for (k, (b, ty)) in rows.enumerate() {
            let plane = &x[(b * self.ci + c) * plane_len..][..plane_len];
            let y0 = (2 * ty) as isize - self.pad[0] as isize;
            for (i, d_i) in d.chunks_exact_mut(width).enumerate() {
                self.padded_row(plane, y0 + i as isize, d_i);
            }
            let (d0, rest) = d.split_at(width);
            let (d1, rest) = rest.split_at(width);
            let (d2, d3) = rest.split_at(width);
            let (r0, rest) = r.split_at_mut(width);
            let (r1, rest) = rest.split_at_mut(width);
            let (r2, r3) = rest.split_at_mut(width);
            for k in 0..width {
                r0[k] = d0[k] - d2[k];
                r1[k] = d1[k] + d2[k];
                r2[k] = d2[k] - d1[k];
                r3[k] = d1[k] - d3[k];
            }
            let p0 = k * tw;
            for (i, r_i) in r.chunks_exact(width).enumerate() {
                let at = |j: usize| (i * 4 + j) * cols + p0;
                let (o0, o1, o2, o3) = four_rows(v_c, [at(0), at(1), at(2), at(3)], tw);
                for tx in 0..tw {
                    let [a, b, e, f] = [
                        r_i[2 * tx],
                        r_i[2 * tx + 1],
                        r_i[2 * tx + 2],
                        r_i[2 * tx + 3],
                    ];
                    o0[tx] = a - e;
                    o1[tx] = b + e;
                    o2[tx] = e - b;
                    o3[tx] = b - f;
                }
            }
        }
    }

    /// Input row `y` of `plane`, columns `-pad ..` into `dst`, zeros outside the input.
    fn padded_row(&self, plane: &[f32], y: isize, dst: &mut [f32]) {
        dst.fill(0.0);
        if !(0..self.h as isize).contains(&y) {
            return;
        }
        let src = &plane[y as usize * self.w..][..self.w];
        let pad = self.pad[1];
        let n = self.w.min(dst.len().saturating_sub(pad));
        if n > 0 {
            dst[pad..pad + n].copy_from_slice(&src[..n]);
        }
    }

    /// `Y = A^T M A` of output channel `o` in the tile rows `rows` (sample, tile row), the k-th
    /// row's products in columns `k tw ..` of the 16 products `m` `[16, co, cols]`, written into
    /// the output (the parts of edge tiles inside it). Row by row of tiles: the rows transform
    /// (`A^T M`) on whole rows of products, then the columns transform.
    ///
    /// # Safety
    /// `out` points at `[n, co, ho, wo]` values, and no other thread writes these outputs.
    unsafe fn output_channel(
        &self,
        m: &[f32],
        o: usize,
        rows: impl Iterator<Item = (usize, usize)>,
        out: &OutPtr,
        scratch: &mut Scratch,
    ) {
        let [_, tw] = self.tiles();
        let (co, cols) = (self.co, m.len() / (16 * self.co));
        let (s, line) = (&mut scratch.s, &mut scratch.line);
        for (k, (b, ty)) in rows.enumerate() {
            let p0 = k * tw;
            let at = |xi: usize| &m[(xi * co + o) * cols + p0..][..tw];
            // A^T M: rows m0 + m1 + m2 and m1 - m2 - m3, for each of the 4 columns j.
            for (j, s_j) in s.chunks_exact_mut(2 * tw).enumerate() {
                let (m0, m1, m2, m3) = (at(j), at(4 + j), at(8 + j), at(12 + j));
                let (first, second) = s_j.split_at_mut(tw);
                for tx in 0..tw {
                    first[tx] = m0[tx] + m1[tx] + m2[tx];
                    second[tx] = m1[tx] - m2[tx] - m3[tx];
                }
            }
            let y0 = 2 * ty;
            for i in 0..2 {
                if y0 + i >= self.ho {
                    continue;
                }
                let col = |j: usize| &s[j * 2 * tw + i * tw..][..tw];
                let (s0, s1, s2, s3) = (col(0), col(1), col(2), col(3));
                for tx in 0..tw {
                    line[2 * tx] = s0[tx] + s1[tx] + s2[tx];
                    line[2 * tx + 1] = s1[tx] - s2[tx] - s3[tx];
                }
                let at = ((b * co + o) * self.ho + y0 + i) * self.wo;
                // SAFETY: row y0 + i of channel o of sample b, inside [n, co, ho, wo] and
                // written by this task only (the caller's guarantee).
                unsafe { std::ptr::copy_nonoverlapping(line.as_ptr(), out.0.add(at), self.wo) };
            }
        }
    }
}

/// How the filter transform reads a convolution's weights.
#[derive(Debug, Clone, Copy)]
enum Taps {
    /// `[co, ci, 3, 3]`, as given.
    AsGiven,
    /// `[ci, co, 3, 3]`, each filter turned by 180 degrees (an input gradient's filters).
    Flipped,
}

/// The first `len` values of `buf`, grown (zero-filled) when shorter; what it held before is
/// left in place, for callers that write every value before reading it.
fn prefix(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// Per-task scratch rows of the transforms, for rows of `tw` tiles.
struct Scratch {
    /// The 4 padded input rows of a row of tiles.
    d: Vec<f32>,
    /// Their rows transform.
    r: Vec<f32>,
    /// The output rows transform.
    s: Vec<f32>,
    /// One output row.
    line: Vec<f32>,
}

impl Scratch {
    fn new(tw: usize) -> Self {
        Self {
            d: vec![0.0; 4 * (2 * tw + 2)],
            r: vec![0.0; 4 * (2 * tw + 2)],
            s: vec![0.0; 8 * tw],
            line: vec![0.0; 2 * tw],
        }
    }
}

/// Four disjoint runs of `len` values of `v` starting at `at` (in increasing order).
fn four_rows(
    v: &mut [f32],
    at: [usize; 4],
    len: usize,
) -> (&mut [f32], &mut [f32], &mut [f32], &mut [f32]) {
    let (a, rest) = v[at[0]..].split_at_mut(at[1] - at[0]);
    let (b, rest) = rest.split_at_mut(at[2] - at[1]);
    let (c, d) = rest.split_at_mut(at[3] - at[2]);
    (&mut a[..len], &mut b[..len], &mut c[..len], &mut d[..len])
}

thread_local! {
    /// A thread's transformed filters, kept between calls.
    static FILTERS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };

    /// A thread's transformed inputs and products, kept between blocks and calls.
    static BUFFERS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of a buffer every element of which was initialised (filled with NaN before the
    /// call under test, which must overwrite them all).
    fn initialised(v: Vec<MaybeUninit<f32>>) -> Vec<f32> {
        // SAFETY: every element was initialised when the vector was made.
        v.into_iter().map(|x| unsafe { x.assume_init() }).collect()
    }

    /// Deterministic values in [-0.5, 0.5) of both signs, different for every element.
    fn value(i: usize, k: u64) -> f32 {
        let z = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15 ^ k);
        ((z >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    /// `conv2d(x, w)` summed in f64, straight from the definition.
    fn direct(g: &Winograd, x: &[f32], w: &[f32]) -> Vec<f64> {
        let mut y = vec![0.0f64; g.n * g.co * g.ho * g.wo];
        for b in 0..g.n {
            for o in 0..g.co {
                for i in 0..g.ho {
                    for j in 0..g.wo {
                        let mut sum = 0.0f64;
                        for c in 0..g.ci {
                            for (a, e) in (0..3).flat_map(|a| (0..3).map(move |e| (a, e))) {
                                let (r, q) = (i + a, j + e);
                                if r < g.pad[0] || q < g.pad[1] {
                                    continue;
                                }
                                let (r, q) = (r - g.pad[0], q - g.pad[1]);
                                if r < g.h && q < g.w {
                                    let xv = x[((b * g.ci + c) * g.h + r) * g.w + q];
                                    sum += xv as f64 * w[((o * g.ci + c) * 3 + a) * 3 + e] as f64;
                                }
                            }
                        }
                        y[((b * g.co + o) * g.ho + i) * g.wo + j] = sum;
                    }
                }
            }
        }
        y
    }

    /// Both schedules against a direct convolution summed in f64: the blocked one (wide rows of
    /// tiles), the whole-batch one (narrow rows) with and without groups of samples, on edge
    /// tiles cut by odd output sizes, padding on one side only, and a depth beyond gemm's
    /// `DEPTH_BLOCK`. Tolerance: 1e-5 of the largest output magnitude (the transforms'
    /// coefficients are +-1 and +-1/2; float32 sums in another order).
    #[test]
    fn schedules_match_a_direct_convolution() {
        // n, ci, h, w, co, pad before, pad after, sample groups' floats (0: the default)
        let cases = [
            // Blocks of 11 and 10 rows of tiles, odd output sizes.
            (2, 64, 41, 39, 72, [1, 1], [1, 1], 0),
            (3, 80, 9, 13, 64, [1, 1], [1, 1], 0),
            (2, 64, 10, 7, 64, [0, 1], [1, 0], 0),
            (1, 600, 6, 6, 64, [1, 1], [1, 1], 0),
            (5, 64, 8, 8, 64, [1, 1], [1, 1], 2 * 16 * 64 * 16),
        ];
        for (n, ci, h, w, co, pad, after, cap) in cases {
            let g = Winograd(Conv3x3 {
                n,
                ci,
                h,
                w,
                co,
                ho: h + pad[0] + after[0] - 2,
                wo: w + pad[1] + after[1] - 2,
                pad,
            });
            let [th, tw] = g.tiles();
            let narrow = g.block_rows() * tw < WIDE_BLOCK;
            assert_eq!(
                narrow,
                (h, w) != (41, 39),
                "case {ci}x{h}x{w}: not the schedule meant"
            );
            let x: Vec<f32> = (0..n * ci * h * w).map(|i| value(i, 1)).collect();
            let wt: Vec<f32> = (0..co * ci * 9).map(|i| value(i, 2)).collect();
            let mut y = vec![MaybeUninit::new(f32::NAN); n * co * g.ho * g.wo];
            let cap = if cap == 0 { WHOLE_FLOATS } else { cap };
            assert!(cap < n * 16 * ci.max(co) * th * tw || cap == WHOLE_FLOATS);
            g.forward_capped(&x, &wt, Taps::AsGiven, &mut y, cap);
            let y = initialised(y);
            // Every output written (`max` below would pass over a NaN left from the fill).
            assert!(
                y.iter().all(|v| v.is_finite()),
                "case {n}x{ci}x{h}x{w}: outputs unwritten"
            );
            let want = direct(&g, &x, &wt);
            let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
            let worst = y
                .iter()
                .zip(&want)
                .fold(0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
            assert!(
                worst <= 1e-5 * scale,
                "case {n}x{ci}x{h}x{w} -> {co}: off by {worst} (largest {scale})"
            );
        }
    }

    /// The input gradient through [`Winograd::input_gradient`] and [`Winograd::forward_flipped`] against
    /// its definition summed in f64, `dX[r, q] = sum dY[r + pad - a, q + pad - e] W[a, e]` over
    /// output channels and taps inside `dY`, for the forward pass's padding 0, 1 and 2; padding
    /// 3 has no such form. Tolerance: 1e-5 of the largest magnitude.
    #[test]
    fn input_gradient_matches_its_definition() {
        let (n, ci, h, w, co) = (2, 64, 9, 11, 72);
        for pad in [0usize, 1, 2, 3] {
            let g = Winograd(Conv3x3 {
                n,
                ci,
                h,
                w,
                co,
                ho: h + 2 * pad - 2,
                wo: w + 2 * pad - 2,
                pad: [pad, pad],
            });
            let Some(dg) = g.input_gradient() else {
                assert_eq!(pad, 3, "padding {pad}: no input gradient");
                continue;
            };
            assert!(pad <= 2, "padding {pad} has no Winograd form");
            let dy: Vec<f32> = (0..n * co * g.ho * g.wo).map(|i| value(i, 3)).collect();
            let wt: Vec<f32> = (0..co * ci * 9).map(|i| value(i, 4)).collect();
            let mut dx = vec![MaybeUninit::new(f32::NAN); n * ci * h * w];
            dg.forward_flipped(&dy, &wt, &mut dx);
            let dx = initialised(dx);
            assert!(
                dx.iter().all(|v| v.is_finite()),
                "padding {pad}: inputs unwritten"
            );
            let mut worst = 0f64;
            let mut scale = 0f64;
            for (i, &got) in dx.iter().enumerate() {
                let (b, c, r, q) = (i / (ci * h * w), i / (h * w) % ci, i / w % h, i % w);
                let mut want = 0.0f64;
                for o in 0..co {
                    for (a, e) in (0..3).flat_map(|a| (0..3).map(move |e| (a, e))) {
                        let (rr, qq) = (r + pad, q + pad);
                        if rr < a || qq < e || rr - a >= g.ho || qq - e >= g.wo {
                            continue;
                        }
                        let d = dy[((b * co + o) * g.ho + rr - a) * g.wo + qq - e];
                        want += d as f64 * wt[((o * ci + c) * 3 + a) * 3 + e] as f64;
                    }
                }
                worst = worst.max((got as f64 - want).abs());
                scale = scale.max(want.abs());
            }
            assert!(
                worst <= 1e-5 * scale,
                "padding {pad}: off by {worst} (largest {scale})"
            );
        }
    }
}
