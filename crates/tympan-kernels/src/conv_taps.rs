//! Dense convolutions of height 1 (the 1D convolutions of Dai et al.'s M-nets and of Chen et
//! al.'s raw-waveform front end) as one product per kernel tap, on views of the input shifted
//! by the tap: `Y_b[:, j] = sum_t W_t X_b[:, j s + t d - p]`, `W_t = W[:, :, t]` `[co, ci]`.
//!
//! im2col copies each input row once per tap (three times for these 3-tap layers) and `gemm`
//! then packs the copy again; here `gemm` reads the input in place, each tap's product covering
//! the output positions whose tap falls inside the input (the others read padding, zero), and
//! writes straight into the `[n, co, lo]` output, so there are no columns, no layout changes and
//! no zero fill where one tap covers every position. The input gradient is the same with `W_t^T`
//! and the output's gradient, written back at the tap's input positions; the weight gradient
//! `dW_t = sum_b dY_b X_b,t^T` reads both in place too.
//!
//! Measured with the products alone (a throwaway harness over `gemm`, batch 32, M34-res's
//! 3-tap layers 48-384 channels on 2,000-31 positions, 2026-12-06, 2-core AMD EPYC): 180-209
//! GFLOP/s per sample and tap, against 129-211 for one product over the batch's im2col columns
//! before the copies are counted.
//!
//! The sums are those of im2col's product in another order (tap by tap, each over the input
//! channels in depth blocks), fixed by the sizes alone: the same bits on every thread count and
//! instruction set, as [`gemm`](super::gemm) keeps them.

use rayon::prelude::*;

use super::flex_tensor::unfilled;
use super::gemm::{Out, View, gemm_strided};
use super::taps::Axis;

/// Positions of one sample that make one unit of the weight gradient (eight of `gemm`'s depth
/// blocks), as conv_flex's split weight gradients.
const UNIT_DEPTH: usize = 8 * super::gemm::DEPTH_BLOCK;

/// Partial sums of a weight gradient, each over consecutive units: a fixed number, so that the
/// bits do not depend on how many threads run them.
const UNIT_GROUPS: usize = 16;

/// Floats of all partial sums of one weight gradient together (16 MiB); larger gradients use
/// fewer partial sums.
const PARTIAL_FLOATS: usize = 1 << 22;

/// A dense 1D convolution: input `[n, ci, l]`, weight `[co, ci, k]`, output `[n, co, lo]`,
/// taps placed along the input as `axis` says (`axis.size == l`, `axis.out == lo`).
#[derive(Debug, Clone, Copy)]
pub(super) struct TapWise {
    pub n: usize,
    pub ci: usize,
    pub co: usize,
    pub k: usize,
    pub axis: Axis,
}

impl TapWise {
    fn l(&self) -> usize {
        self.axis.size
    }

    fn lo(&self) -> usize {
        self.axis.out
    }

    /// Tap `t` of the weight `[co, ci, k]`: `W_t` `[co, ci]`, or its transpose.
    fn tap<'a>(&self, w: &'a [f32], t: usize, transposed: bool) -> View<'a> {
        let (rs, cs) = if transposed {
            (self.k, self.ci * self.k)
        } else {
            (self.ci * self.k, self.k)
        };
        View {
            data: &w[t..],
            rs,
            cs,
        }
    }

    /// The taps in the order they are summed: one whose window covers every output position
    /// (`full(off, lo, hi)`) first, if there is one, and whether there is.
    fn order(&self, full: impl Fn(isize, usize, usize) -> bool) -> (Vec<usize>, bool) {
        let mut taps: Vec<usize> = (0..self.k).collect();
        let first = taps.iter().position(|&t| {
            let (off, lo, hi) = self.axis.range(t);
            full(off, lo, hi)
        });
        if let Some(f) = first {
            taps[..=f].rotate_right(1);
        }
        (taps, first.is_some())
    }

    /// Whether samples run in parallel (each product on its thread), rather than one after the
    /// other with each product split over the pool.
    fn samples_in_parallel(&self) -> bool {
        self.n >= 2 * rayon::current_num_threads()
            || self.co * self.ci * self.lo() < super::gemm::PARALLEL_OPS
    }

    /// `f(b)` for every sample, in parallel or not as [`TapWise::samples_in_parallel`] says;
    /// `f` is told whether its products may use the pool.
    fn per_sample(&self, f: impl Fn(usize, bool) + Sync + Send) {
        if self.samples_in_parallel() {
            (0..self.n).into_par_iter().for_each(|b| f(b, false));
        } else {
            (0..self.n).for_each(|b| f(b, true));
        }
    }

    /// The output `[n, co, lo]` of input `x` `[n, ci, l]` and weight `w` `[co, ci, k]`.
    pub fn forward(&self, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (ci, co, l, lo, s) = (self.ci, self.co, self.l(), self.lo(), self.axis.stride);
        assert_eq!(x.len(), self.n * ci * l, "conv taps: input size");
        assert_eq!(w.len(), co * ci * self.k, "conv taps: weight size");
        // Tap t writes output positions `a..z`.
        let writes = |_, a, z| (a, z - a, 1);
        self.sum_taps([co, lo], writes, |b, t, (off, a, z), beta, c, pool| {
            let x_b = &x[b * ci * l..][..ci * l];
            let xt = View {
                data: &x_b[((a * s) as isize + off) as usize..],
                rs: l,
                cs: s,
            };
            // SAFETY: `c` is the tap's window of sample b's output, as `sum_taps` hands it.
            unsafe { gemm_strided(co, ci, z - a, self.tap(w, t, false), xt, beta, c, pool) };
        })
    }

    /// The input gradient `[n, ci, l]` of output gradient `dy` `[n, co, lo]`:
    /// `dX_b[:, j s + off_t] += W_t^T dY_b[:, j]` over each tap's window.
    pub fn input_gradient(&self, w: &[f32], dy: &[f32]) -> Vec<f32> {
        let (ci, co, l, lo, s) = (self.ci, self.co, self.l(), self.lo(), self.axis.stride);
        assert_eq!(
            dy.len(),
            self.n * co * lo,
            "conv taps: output gradient size"
        );
        assert_eq!(w.len(), co * ci * self.k, "conv taps: weight size");
        // Tap t writes input positions `a s + off`, `(a + 1) s + off`, ..., `(z - 1) s + off`.
        let writes = |off: isize, a: usize, z: usize| (((a * s) as isize + off) as usize, z - a, s);
        self.sum_taps([ci, l], writes, |b, t, (_, a, z), beta, c, pool| {
            let dyt = View {
                data: &dy[b * co * lo + a..],
                rs: lo,
                cs: 1,
            };
            // SAFETY: `c` is the tap's window of sample b's input gradient.
            unsafe { gemm_strided(ci, co, z - a, self.tap(w, t, true), dyt, beta, c, pool) };
        })
    }

    /// A new `[n, rows, len]` tensor summed tap by tap: `add(b, t, (off, a, z), beta, c, pool)`
    /// computes tap t's product for sample b over its window `a..z` (`Axis::range`) into `c`,
    /// the `[rows, z - a]` part of sample b's block that the tap writes: positions `first + i
    /// step` for `(first, count, step) = writes(off, a, z)`. A tap that writes every position
    /// of a row goes first, with beta = 0; without one, each block is zeroed first.
    fn sum_taps(
        &self,
        [rows, len]: [usize; 2],
        writes: impl Fn(isize, usize, usize) -> (usize, usize, usize) + Sync,
        add: impl Fn(usize, usize, (isize, usize, usize), f32, Out, bool) + Sync + Send,
    ) -> Vec<f32> {
        let size = self.n * rows * len;
        let (taps, covered) = self.order(|off, a, z| {
            let (first, count, step) = writes(off, a, z);
            first == 0 && count == len && (step == 1 || count <= 1)
        });
        // SAFETY: every sample's block is written in full below: overwritten by the covering tap,
        // or zeroed first.
        unsafe {
            unfilled(size, |out| {
                let base = Out {
                    ptr: out.as_mut_ptr().cast(),
                    rs: len,
                    cs: 1,
                };
                self.per_sample(|b, pool| {
                    // Sample b's block `[rows, len]` lies inside `out`, and only this task
                    // writes it.
                    let block = base.offset((b * rows * len) as isize).ptr;
                    if !covered {
                        block.write_bytes(0, rows * len);
                    }
                    for (i, &t) in taps.iter().enumerate() {
                        let window = self.axis.range(t);
                        let (off, a, z) = window;
                        if z <= a {
                            continue;
                        }
                        let (first, count, step) = writes(off, a, z);
                        assert!(
                            count == 0 || first + (count - 1) * step < len,
                            "conv taps: a window outside its row"
                        );
                        // `first < len` (above): inside sample b's block.
                        let c = Out {
                            ptr: block.add(first),
                            rs: len,
                            cs: step,
                        };
                        // The first product overwrites every position (`covered`); the others
                        // add to it, or to the zeros above.
                        let beta = if i == 0 && covered { 0.0 } else { 1.0 };
                        add(b, t, window, beta, c, pool);
                    }
                });
            })
        }
    }

    /// The weight gradient `[co, ci, k]`: `dW_t = sum_b sum_j dY_b[:, j] X_b[:, j s + off_t]^T`,
    /// the depth (samples, positions) cut into units of [`UNIT_DEPTH`] positions of one sample,
    /// consecutive units summed on one thread into one of at most [`UNIT_GROUPS`] partial sums,
    /// which are then added in order. The cut depends on the sizes alone.
    pub fn weight_gradient(&self, x: &[f32], dy: &[f32]) -> Vec<f32> {
        let (ci, co, k, l, lo, s) = (
            self.ci,
            self.co,
            self.k,
            self.l(),
            self.lo(),
            self.axis.stride,
        );
        assert_eq!(x.len(), self.n * ci * l, "conv taps: input size");
        assert_eq!(
            dy.len(),
            self.n * co * lo,
            "conv taps: output gradient size"
        );
        let size = co * ci * k;
        let per_sample = lo.div_ceil(UNIT_DEPTH).max(1);
        let units = self.n * per_sample;
        let groups = units
            .min(UNIT_GROUPS)
            .min((PARTIAL_FLOATS / size.max(1)).max(1));
        let mut partials = vec![0.0f32; groups * size];
        partials
            .par_chunks_mut(size)
            .enumerate()
            .for_each(|(group, p)| {
                for u in group * units / groups..(group + 1) * units / groups {
                    let (b, d0) = (u / per_sample, u % per_sample * UNIT_DEPTH);
                    let d1 = lo.min(d0 + UNIT_DEPTH);
                    let (x_b, dy_b) = (&x[b * ci * l..][..ci * l], &dy[b * co * lo..][..co * lo]);
                    for (t, p_t) in p.chunks_mut(co * ci).enumerate() {
                        let (off, a, z) = self.axis.range(t);
                        let (a, z) = (a.max(d0), z.min(d1));
                        if z <= a {
                            continue;
                        }
                        let dyt = View {
                            data: &dy_b[a..],
                            rs: lo,
                            cs: 1,
                        };
                        let start = (a * s) as isize + off;
                        let xt = View {
                            data: &x_b[start as usize..],
                            rs: s,
                            cs: l,
                        };
                        // SAFETY: `p_t` is this task's own `[co, ci]` partial sum, row-major.
                        unsafe {
                            let c = Out {
                                ptr: p_t.as_mut_ptr(),
                                rs: ci,
                                cs: 1,
                            };
                            gemm_strided(co, z - a, ci, dyt, xt, 1.0, c, false)
                        };
                    }
                }
            });
        // dW[o, c, t] = sum over the partial sums, in order, of their [t][o][c].
        let mut dw = vec![0.0f32; size];
        for p in partials.chunks(size) {
            for (t, p_t) in p.chunks(co * ci).enumerate() {
                for (oc, v) in p_t.iter().enumerate() {
                    dw[oc * k + t] += v;
                }
            }
        }
        dw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(n, ci, co, k, l, stride, dilation, pad before, pad after)`.
    type Case = (
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
    );

    fn conv(case: Case) -> TapWise {
        let (n, ci, co, k, l, s, d, p0, p1) = case;
        let out = (l + p0 + p1 - d * (k - 1) - 1) / s + 1;
        TapWise {
            n,
            ci,
            co,
            k,
            axis: Axis {
                size: l,
                out,
                stride: s,
                dilation: d,
                pad: p0,
            },
        }
    }

    fn values(len: usize, seed: f32) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * seed).sin()).collect()
    }

    /// The three sums by their definitions, in f64: output, input gradient, weight gradient.
    fn direct(c: &TapWise, x: &[f32], w: &[f32], dy: &[f32]) -> [Vec<f64>; 3] {
        let (l, lo) = (c.l(), c.lo());
        let mut y = vec![0.0f64; c.n * c.co * lo];
        let mut dx = vec![0.0f64; c.n * c.ci * l];
        let mut dw = vec![0.0f64; c.co * c.ci * c.k];
        for b in 0..c.n {
            for o in 0..c.co {
                for j in 0..lo {
                    for i in 0..c.ci {
                        for t in 0..c.k {
                            let Some(p) = c.axis.at(j, t) else { continue };
                            let (xv, wv) = (x[(b * c.ci + i) * l + p], w[(o * c.ci + i) * c.k + t]);
                            let g = dy[(b * c.co + o) * lo + j] as f64;
                            y[(b * c.co + o) * lo + j] += xv as f64 * wv as f64;
                            dx[(b * c.ci + i) * l + p] += wv as f64 * g;
                            dw[(o * c.ci + i) * c.k + t] += xv as f64 * g;
                        }
                    }
                }
            }
        }
        [y, dx, dw]
    }

    /// Forward, input and weight gradients against their definitions summed in f64 (tolerance
    /// 1e-5 of the largest magnitude of each: float32 sums of up to a few thousand terms):
    /// 'same' 3-tap layers (one tap covers every output), no padding, padding wider than the
    /// kernel (no tap covers every output: the zero fill), stride 2 (strided reads and, for the
    /// input gradient, strided writes), dilation, a 1x1 stride-2 shortcut, one sample whose
    /// products use the pool, and a weight gradient over several units per sample.
    #[test]
    fn matches_a_direct_convolution() {
        let cases: [Case; 8] = [
            (3, 40, 24, 3, 300, 1, 1, 1, 1),
            (2, 32, 16, 3, 70, 1, 1, 0, 0),
            (2, 33, 8, 3, 41, 1, 1, 3, 3),
            (3, 32, 20, 3, 301, 2, 1, 1, 1),
            (2, 32, 12, 3, 90, 1, 2, 2, 2),
            (3, 36, 16, 1, 50, 2, 1, 0, 0),
            (1, 64, 64, 3, 1800, 1, 1, 1, 1),
            (2, 32, 4, 3, 4500, 1, 1, 1, 1),
        ];
        for case in cases {
            let c = conv(case);
            let x = values(c.n * c.ci * c.l(), 0.37);
            let w = values(c.co * c.ci * c.k, 0.11);
            let dy = values(c.n * c.co * c.lo(), 0.23);
            let ours = [
                c.forward(&x, &w),
                c.input_gradient(&w, &dy),
                c.weight_gradient(&x, &dy),
            ];
            for (what, (got, want)) in ["forward", "input gradient", "weight gradient"]
                .iter()
                .zip(ours.iter().zip(direct(&c, &x, &w, &dy)))
            {
                assert_eq!(got.len(), want.len(), "{case:?} {what}: size");
                let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (i, (g, v)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        ((*g as f64) - v).abs() <= 1e-5 * scale,
                        "{case:?} {what} [{i}]: {g} against {v}"
                    );
                }
            }
        }
    }

    /// The same bits on one thread and on three: samples in parallel on both (the first case),
    /// one sample whose products use the pool (the second: 64 x 64 x 1,800 is above
    /// `PARALLEL_OPS`), and two samples in parallel on one thread but one after the other, each
    /// product on the pool, on three (the third).
    #[test]
    fn bits_do_not_depend_on_threads() {
        // Each case, and whether its samples run in parallel on one thread and on three.
        let cases = [
            ((5, 48, 24, 3, 700, 1, 1, 1, 1), [true, true]),
            ((1, 64, 64, 3, 1800, 1, 1, 1, 1), [false, false]),
            ((2, 64, 64, 3, 1800, 1, 1, 1, 1), [true, false]),
        ];
        for (case, parallel) in cases {
            let c = conv(case);
            let x = values(c.n * c.ci * c.l(), 0.37);
            let w = values(c.co * c.ci * c.k, 0.11);
            let dy = values(c.n * c.co * c.lo(), 0.23);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let expected = parallel[usize::from(threads > 1)];
                    assert_eq!(c.samples_in_parallel(), expected, "{case:?} on {threads}");
                    [
                        c.forward(&x, &w),
                        c.input_gradient(&w, &dy),
                        c.weight_gradient(&x, &dy),
                    ]
                })
            };
            let bits =
                |v: [Vec<f32>; 3]| v.map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            assert_eq!(bits(run(1)), bits(run(3)), "{case:?}");
        }
    }
}
