//! 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast
//! Algorithms for Convolutional Neural Networks", CVPR 2016, section 4): each 2x2 block of
//! outputs from a 4x4 block of inputs with 16 multiplications per input channel instead of 36.
//!
//! `Y = A^T [ (G g G^T) (.) (B^T d B) ] A` per tile, where the element-wise products summed over
//! input channels are 16 matrix products `M_xi = U_xi V_xi` (`U_xi` `[co, ci]` from the filters,
//! `V_xi` `[ci, tiles]` from the inputs). The transforms' coefficients are 0, +-1 and +-1/2, so
//! they add rounding of a few additions, not of large constants (F(4x4, 3x3)'s would).
//!
//! The tiles are cut into blocks of whole rows of tiles, one per task: a block's input transform,
//! its 16 products (on one thread, through [`gemm_serial`]) and its output transform run while
//! its matrices are in cache. The transforms work on whole rows (the rows transform on 4 input
//! rows at once, then the columns transform tile by tile); a first version, tile by tile with a
//! 4x4 block each, spent more in its transforms than the products saved. The blocks do not
//! depend on the number of threads, so neither do the bits.
//!
//! Used by `conv_flex` for 3x3 stride-1 convolutions with 64+ channels each side and 16+ tiles
//! per sample (docs/results.md, 2026-12-06: Hershey et al.'s VGG forward pass 1.26x faster).

use rayon::prelude::*;

use super::flex_tensor::OutPtr;
use super::gemm::{View, gemm_serial};

/// Floats of a block's transformed inputs or products (`16 * max(ci, co) * tiles`), about 1 MiB.
const BLOCK_FLOATS: usize = 1 << 18;

/// Blocks of tiles a convolution is cut into at least, when it has rows of tiles enough (two per
/// thread on 2 cores).
const MIN_BLOCKS: usize = 4;

/// A 3x3, stride-1, undilated, ungrouped convolution: input `[n, ci, h, w]`, output `[n, co,
/// ho, wo]`, `pad` rows and columns of zeros before the input (those after show in `ho`, `wo`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Winograd {
    pub n: usize,
    pub ci: usize,
    pub h: usize,
    pub w: usize,
    pub co: usize,
    pub ho: usize,
    pub wo: usize,
    pub pad: [usize; 2],
}

impl Winograd {
    /// 2x2 output tiles per row and per column of a sample.
    pub fn tiles(&self) -> [usize; 2] {
        [self.ho.div_ceil(2), self.wo.div_ceil(2)]
    }

    /// `y = conv2d(x, weight)` with `weight` `[co, ci, 3, 3]`; `y` holds `[n, co, ho, wo]`.
    pub fn forward(&self, x: &[f32], weight: &[f32], y: &mut [f32]) {
        let [th, tw] = self.tiles();
        if self.n * th * tw == 0 || self.co == 0 {
            return;
        }
        let u = self.filters(weight);
        let (ci, co) = (self.ci, self.co);
        // Blocks of whole rows of tiles of one sample: at most BLOCK_FLOATS of transformed
        // inputs or products (at least one row), and at least MIN_BLOCKS when there are rows
        // enough (the last stages of a net have few). Not from the thread count: a block's
        // width is its products' width, and `gemm` takes other kernels for the narrowest.
        let rows = (BLOCK_FLOATS / (16 * ci.max(co) * tw))
            .min((self.n * th).div_ceil(MIN_BLOCKS))
            .max(1);
        let per_sample = th.div_ceil(rows);
        let out = OutPtr(y.as_mut_ptr());
        (0..self.n * per_sample).into_par_iter().for_each(|unit| {
            let (b, ty0) = (unit / per_sample, unit % per_sample * rows);
            let ty1 = (ty0 + rows).min(th);
            let nb = (ty1 - ty0) * tw;
            BUFFERS.with_borrow_mut(|(v, m)| {
                // Every value of both is written before it is read: no need to clear them.
                for (buf, len) in [(&mut *v, 16 * ci * nb), (&mut *m, 16 * co * nb)] {
                    if buf.len() < len {
                        buf.resize(len, 0.0);
                    }
                }
                let (v, m) = (&mut v[..16 * ci * nb], &mut m[..16 * co * nb]);
                self.inputs(
                    &x[b * ci * self.h * self.w..][..ci * self.h * self.w],
                    ty0,
                    v,
                );
                for xi in 0..16 {
                    // U_xi: rows `16 ci` apart in the filters' [co, 16, ci] layout.
                    let u_xi = View {
                        data: &u[xi * ci..],
                        rs: 16 * ci,
                        cs: 1,
                    };
                    gemm_serial(
                        co,
                        ci,
                        nb,
                        u_xi,
                        View::rows(&v[xi * ci * nb..][..ci * nb], nb),
                        0.0,
                        &mut m[xi * co * nb..][..co * nb],
                    );
                }
                // SAFETY: `y` holds [n, co, ho, wo]; this unit is the only one with sample b's
                // tile rows ty0..ty1, whose outputs no other tile covers.
                unsafe { self.outputs(m, b, ty0, &out) };
            });
        });
    }

    /// `U_xi = (G g G^T)_xi` of every filter, laid out `[co, 16, ci]`.
    fn filters(&self, weight: &[f32]) -> Vec<f32> {
        let ci = self.ci;
        let mut u = vec![0.0f32; 16 * self.co * ci];
        u.par_chunks_mut(16 * ci)
            .zip(weight.par_chunks(9 * ci))
            .for_each(|(u_o, w_o)| {
                for (c, g) in w_o.chunks_exact(9).enumerate() {
                    // G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2 of three columns.
                    let mut gg = [[0.0f32; 3]; 4];
                    for j in 0..3 {
                        let (a, b, e) = (g[j], g[3 + j], g[6 + j]);
                        gg[0][j] = a;
                        gg[1][j] = (a + b + e) * 0.5;
                        gg[2][j] = (a - b + e) * 0.5;
                        gg[3][j] = e;
                    }
                    // (G g) G^T, row by row.
                    for (i, [a, b, e]) in gg.into_iter().enumerate() {
                        let row = [a, (a + b + e) * 0.5, (a - b + e) * 0.5, e];
                        for (j, value) in row.into_iter().enumerate() {
                            u_o[(i * 4 + j) * ci + c] = value;
                        }
                    }
                }
            });
        u
    }

    /// `V_xi = (B^T d B)_xi` of one sample `x_b` `[ci, h, w]`'s tiles in rows `ty0..`
    /// (`v.len() / (16 ci tw)` rows), as 16 matrices `[ci, tiles]`; `d` is a tile's 4x4 input
    /// block, zeros outside the input. Row by row of tiles: the rows transform (`B^T d`) on the
    /// 4 whole input rows, then the columns transform tile by tile.
    fn inputs(&self, x_b: &[f32], ty0: usize, v: &mut [f32]) {
        let [_, tw] = self.tiles();
        let nb = v.len() / (16 * self.ci);
        // Input columns -pad .. -pad + 2 tw + 2 of a row, zeros outside the input.
        let width = 2 * tw + 2;
        let mut d = vec![0.0f32; 4 * width];
        let mut r = vec![0.0f32; 4 * width];
        for c in 0..self.ci {
            let plane = &x_b[c * self.h * self.w..][..self.h * self.w];
            for row in 0..nb / tw {
                let y0 = (2 * (ty0 + row)) as isize - self.pad[0] as isize;
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
                let p0 = row * tw;
                for (i, r_i) in r.chunks_exact(width).enumerate() {
                    let at = |j: usize| ((i * 4 + j) * self.ci + c) * nb + p0;
                    let (o0, o1, o2, o3) = four_rows(v, [at(0), at(1), at(2), at(3)], tw);
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

    /// `Y = A^T M A` of sample `b`'s tile rows `ty0..` from the 16 products `m` `[co, tiles]`,
    /// written into the output (the parts of edge tiles inside it). Row by row of tiles: the
    /// rows transform (`A^T M`) on whole rows of products, then the columns transform.
    ///
    /// # Safety
    /// `out` points at `[n, co, ho, wo]` values, and no other thread writes these tiles.
    unsafe fn outputs(&self, m: &[f32], b: usize, ty0: usize, out: &OutPtr) {
        let [_, tw] = self.tiles();
        let (co, nb) = (self.co, m.len() / (16 * self.co));
        let mut s = vec![0.0f32; 8 * tw];
        let mut line = vec![0.0f32; 2 * tw];
        for o in 0..co {
            for row in 0..nb / tw {
                let p0 = row * tw;
                let at = |xi: usize| &m[(xi * co + o) * nb + p0..][..tw];
                // A^T M: rows m0 + m1 + m2 and m1 - m2 - m3, for each of the 4 columns j.
                for (j, s_j) in s.chunks_exact_mut(2 * tw).enumerate() {
                    let (m0, m1, m2, m3) = (at(j), at(4 + j), at(8 + j), at(12 + j));
                    let (first, second) = s_j.split_at_mut(tw);
                    for tx in 0..tw {
                        first[tx] = m0[tx] + m1[tx] + m2[tx];
                        second[tx] = m1[tx] - m2[tx] - m3[tx];
                    }
                }
                let y0 = 2 * (ty0 + row);
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
    /// A thread's transformed inputs and products, kept between blocks and calls.
    static BUFFERS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}
