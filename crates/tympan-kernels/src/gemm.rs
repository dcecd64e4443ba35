//! The matrix products of the flex convolution kernels, through the `gemm` crate (0.19, the one
//! flex's own `matmul` calls), with strided views so that im2col columns and transposed weights
//! need no copy.
//!
//! Which gemm: measured on the development machine (2 cores, AMD EPYC, 2026-12-04) with
//! `cargo bench -p tympan-kernels --bench gemm` (criterion, dependencies without debug
//! assertions, as in the dev profile since), on the products of Hershey et al.'s VGG and
//! ResNet-50 layers at batch 4: `gemm` 131 / 168 / 140 / 74 GFLOP/s against `matrixmultiply`
//! 0.3.11's 133 / 125 / 114 / 65 on 512x4608x384, 256x2304x1536, 128x576x6144 and
//! 64x576x24576. This module first called `matrixmultiply`, chosen while the dev profile still
//! built dependencies with debug assertions (then `gemm` ran 37-52 GFLOP/s, `matrixmultiply`
//! 53-117). `gemm` is already in the build through burn-flex, with the same features.
//!
//! Products above [`PARALLEL_OPS`] multiply-adds split over rayon's pool (flex's threshold,
//! `burn-flex` 0.22.1 `src/ops/matmul.rs`): those with few rows as column panels, one thread
//! each ([`PANEL_ROWS_BELOW`]), the others by `gemm` itself; the callers run them from their own
//! thread.

/// Products with at least this many multiply-adds run on rayon's pool (flex's `PARALLEL_THRESHOLD`).
pub(super) const PARALLEL_OPS: usize = 192 * 192 * 192;

/// A read-only matrix view: `data[i * rs + j * cs]` is element `(i, j)`.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `[rows, cols]` matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major `[rows, cols]` matrix, as a `[cols, rows]` view.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            rs: 1,
            cs: cols,
        }
    }
}

/// Whether every element of an `[r, c]` matrix with strides `rs`, `cs` lies inside `len`.
fn fits(r: usize, c: usize, rs: usize, cs: usize, len: usize) -> bool {
    r == 0 || c == 0 || (r - 1) * rs + (c - 1) * cs < len
}

/// Depth of the blocks a product is cut into: every call into `gemm` multiplies at most this
/// many terms. `gemm` cuts depth itself into blocks sized from its micro-kernel and the L1 cache
/// (never below 512), so without this its AVX2 and AVX-512 paths round long products
/// differently; with it both paths sum each block in depth order, then add the blocks in order.
pub(super) const DEPTH_BLOCK: usize = 512;

/// `C = A B + beta C` for `A [m, k]`, `B [k, n]` and a row-major `C [m, n]`, with the same bits
/// on every instruction set `gemm` dispatches to (AVX2+FMA, AVX-512): depth in blocks of
/// [`DEPTH_BLOCK`], and no call that takes `gemm`'s dot-product kernels (small outputs, or one
/// row or column, with A's rows and B's columns contiguous), whose SIMD lanes sum across depth.
/// Those are avoided by copying B row-major (A column-major when `n` is 1); a single dot product
/// is summed here in depth order with one rounding per term (`mul_add`).
///
/// # Panics
/// When a view does not hold its matrix (a bug in the caller, checked before any unsafe code).
pub(super) fn gemm(m: usize, k: usize, n: usize, a: View, b: View, beta: f32, c: &mut [f32]) {
    assert!(m * n <= c.len(), "gemm: C is not [{m}, {n}]");
    // SAFETY: C is `c`'s first `m n` elements, row-major; `c` is borrowed mutably, so it
    // aliases neither input and no other thread touches it.
    unsafe { gemm_strided(m, k, n, a, b, beta, Out::rows(c, n), true) };
}

/// [`gemm`] on the calling thread alone, for callers that run products in parallel themselves.
/// The same bits as [`gemm`]: neither way of splitting a product changes its sums.
pub(super) fn gemm_serial(
    m: usize,
    k: usize,
    n: usize,
    a: View,
    b: View,
    beta: f32,
    c: &mut [f32],
) {
    assert!(m * n <= c.len(), "gemm: C is not [{m}, {n}]");
    // SAFETY: as in [`gemm`].
    unsafe { gemm_strided(m, k, n, a, b, beta, Out::rows(c, n), false) };
}

/// Where a product writes: element `(i, j)` at `ptr + i rs + j cs`.
#[derive(Clone, Copy)]
pub(super) struct Out {
    pub ptr: *mut f32,
    pub rs: usize,
    pub cs: usize,
}

impl Out {
    /// A row-major matrix with `cols` columns in `c`.
    fn rows(c: &mut [f32], cols: usize) -> Self {
        Self {
            ptr: c.as_mut_ptr(),
            rs: cols,
            cs: 1,
        }
    }

    /// Element `(i, j)`.
    ///
    /// # Safety
    /// It must lie inside the matrix the caller was given.
    unsafe fn at(self, i: usize, j: usize) -> *mut f32 {
        // SAFETY: as the caller guarantees.
        unsafe { self.ptr.add(i * self.rs + j * self.cs) }
    }

    /// The same strides from `offset` elements further on.
    ///
    /// # Safety
    /// The element there must lie inside the allocation `ptr` points into.
    pub unsafe fn offset(self, offset: isize) -> Self {
        Self {
            // SAFETY: as the caller guarantees.
            ptr: unsafe { self.ptr.offset(offset) },
            ..self
        }
    }
}

// SAFETY: an `Out` is only an address and strides; every write through it is an `unsafe` call
// whose caller guarantees that no other thread touches the same elements (the column panels of
// one product, the samples or tiles of a convolution, each writing its own part).
unsafe impl Sync for Out {}
unsafe impl Send for Out {}

/// `C = A B + beta C` for `A [m, k]`, `B [k, n]` and the `[m, n]` matrix `c` with any strides:
/// [`gemm`]'s bits, written into part of a larger matrix (a column range of a convolution's
/// output, every `stride`-th column of an input gradient), on rayon's pool when `pool` and the
/// product is large enough.
///
/// # Panics
/// When a view does not hold its matrix.
///
/// # Safety
/// Every element `c.ptr + i c.rs + j c.cs` (`i < m`, `j < n`) must be valid for reads and writes,
/// no two of them the same element, none inside `a` or `b`, and no other thread may touch them
/// while this runs.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_strided(
    m: usize,
    k: usize,
    n: usize,
    a: View,
    b: View,
    beta: f32,
    c: Out,
    pool: bool,
) {
    assert!(
        fits(m, k, a.rs, a.cs, a.data.len()),
        "gemm: A is not [{m}, {k}]"
    );
    assert!(
        fits(k, n, b.rs, b.cs, b.data.len()),
        "gemm: B is not [{k}, {n}]"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // C = beta C, and with beta = 0 overwritten as the product path does (never read).
        for i in 0..m {
            for j in 0..n {
                // SAFETY: inside C, as the caller guarantees; read only when beta asks for it
                // (C may be uninitialised otherwise).
                unsafe {
                    let v = c.at(i, j);
                    v.write(if beta == 0.0 { 0.0 } else { v.read() * beta });
                }
            }
        }
        return;
    }
    if m == 1 && n == 1 {
        let dot = (0..k).fold(0.0f32, |acc, t| {
            a.data[t * a.cs].mul_add(b.data[t * b.rs], acc)
        });
        // SAFETY: inside C, as the caller guarantees; read only when beta asks for it.
        unsafe {
            let v = c.ptr;
            v.write(if beta == 0.0 {
                dot
            } else {
                beta * v.read() + dot
            });
        }
        return;
    }
    // gemm's dot-product kernels: its "horizontal" micro-kernels (m n <= 256) and its row-major
    // matrix-vector product (m or n of 1), both taken when A's rows and B's columns are
    // contiguous (gemm-common 0.19.0, `src/gemm.rs`, `gemm_basic_generic`).
    let copied: Vec<f32>;
    let (a, b) = if a.cs == 1 && b.rs == 1 && (m * n <= 256 || m == 1 || n == 1) {
        // Element by element in the copy's order, without a division per element (that
        // form of the copy was 7 % of the slim 2D step under perf, on its 1x1-output convs).
        if n > 1 {
            copied = strided_copy(k, n, |t, j| b.data[t * b.rs + j * b.cs]);
            (a, View::rows(&copied, n))
        } else {
            copied = strided_copy(k, m, |t, i| a.data[i * a.rs + t * a.cs]);
            (View::transposed(&copied, m), b)
        }
    } else {
        (a, b)
    };
    let parallel = pool && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_OPS;
    // From 4 rows, a panel of at least MIN_PANEL - 16 columns has more than 256 outputs, so no
    // panel falls to `gemm`'s dot-product kernels that the whole product avoids (see above).
    let panels = if parallel && (4..PANEL_ROWS_BELOW).contains(&m) {
        (n / MIN_PANEL).min(rayon::current_num_threads())
    } else {
        1
    };
    if panels < 2 {
        let parallelism = if parallel {
            ::gemm::Parallelism::Rayon(0)
        } else {
            ::gemm::Parallelism::None
        };
        // SAFETY: the asserts above keep A and B in bounds, the caller C.
        unsafe { depth_blocks(m, k, n, a, b, beta, c, parallelism) };
        return;
    }
    // Column panels, one single-threaded product each: every element of C is still the same
    // chain of multiply-adds (its row of A times its column of B, in depth blocks), so the bits
    // do not depend on the cut. Panel p spans columns `edge(p)..edge(p + 1)`, edges on multiples
    // of 16, so each is within 16 columns of `n / panels`.
    let edge = |p: usize| {
        if p == panels {
            n
        } else {
            p * n / panels / 16 * 16
        }
    };
    rayon::scope(|scope| {
        for p in 0..panels {
            let (j0, w) = (edge(p), edge(p + 1) - edge(p));
            scope.spawn(move |_| {
                let b = View {
                    data: &b.data[j0 * b.cs..],
                    ..b
                };
                // SAFETY: as above for the whole product; this panel reads B's columns and
                // writes C's columns `j0..j0 + w` only, and no two panels share a column, so
                // no element of C is written by two threads.
                unsafe {
                    let c = Out {
                        ptr: c.at(0, j0),
                        ..c
                    };
                    depth_blocks(m, k, w, a, b, beta, c, ::gemm::Parallelism::None)
                };
            });
        }
    });
}

/// The row-major `[rows, cols]` matrix of `at(r, c)`.
fn strided_copy(rows: usize, cols: usize, at: impl Fn(usize, usize) -> f32) -> Vec<f32> {
    let mut v = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        v.extend((0..cols).map(|c| at(r, c)));
    }
    v
}

/// Products with fewer rows than this (and enough columns) are cut into column panels run on
/// separate threads instead of `gemm`'s own parallel split, which on such shapes ran slower
/// than one thread: measured on the 2-core Intel Xeon (AVX-512, 2026-12-06), 56 against 124
/// GFLOP/s on [64, 576, 24576] (the first 3x3 layers of VGG and the M-nets at batch 4), 77
/// against 203 on [96, 576, 24576], 103 against 199 on the weight gradient [64, 24576, 576];
/// from 256 rows on, `gemm`'s split is as fast or faster ([256, 2304, 1536]: 257 against 225).
const PANEL_ROWS_BELOW: usize = 256;

/// The narrowest column panel worth a thread of its own (give or take the 16-column alignment).
const MIN_PANEL: usize = 128;

/// `C = A B + beta C` in depth blocks of [`DEPTH_BLOCK`], one `gemm` call each.
///
/// # Safety
/// Every element of the `[m, k]` view `a`, the `[k, n]` view `b` and the `[m, n]` matrix `c`
/// must be in bounds; C must not overlap A or B, nor be written by another thread while this
/// runs.
#[allow(clippy::too_many_arguments)]
unsafe fn depth_blocks(
    m: usize,
    k: usize,
    n: usize,
    a: View,
    b: View,
    beta: f32,
    c: Out,
    parallelism: ::gemm::Parallelism,
) {
    let mut depth = 0;
    while depth < k {
        let kb = DEPTH_BLOCK.min(k - depth);
        // The first block scales C by beta (or overwrites it), the others add to it.
        let beta = if depth == 0 { beta } else { 1.0 };
        // SAFETY: the caller keeps A, B and C in bounds; a block starts `depth` steps along A's
        // columns and B's rows and covers `kb <= k - depth` of them. `gemm` computes
        // `dst = alpha dst + beta lhs rhs`, reading `dst` only when asked to.
        unsafe {
            ::gemm::gemm(
                m,
                n,
                kb,
                c.ptr,
                c.cs as isize,
                c.rs as isize,
                beta != 0.0,
                a.data.as_ptr().add(depth * a.cs),
                a.cs as isize,
                a.rs as isize,
                b.data.as_ptr().add(depth * b.rs),
                b.cs as isize,
                b.rs as isize,
                beta,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
        depth += kb;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A product cut into column panels (few rows, many columns, above [`PARALLEL_OPS`]) has
    /// the bits of the same product in one single-threaded call, with beta = 0 over NaN and
    /// beta = 1, and a B whose columns are strided (a transposed view, as im2col's are).
    #[test]
    fn column_panels_keep_the_bits() {
        // [4, 5000, 385] on 3 threads: three panels of 128-129 columns and 4 rows, still above
        // `gemm`'s dot-product kernels' 256 outputs with A's rows and B's columns contiguous.
        for (m, k, n) in [(48, 700, 1000), (4, 5000, 385)] {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let bt: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect(); // [n, k]
            let start: Vec<f32> = (0..m * n).map(|i| (i as f32 * 0.05).sin()).collect();
            for beta in [0.0, 1.0] {
                let init = |c: &mut Vec<f32>| {
                    if beta == 0.0 {
                        c.fill(f32::NAN)
                    } else {
                        c.copy_from_slice(&start)
                    }
                };
                let mut panels = vec![0.0; m * n];
                init(&mut panels);
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(3)
                    .build()
                    .unwrap();
                pool.install(|| {
                    gemm(
                        m,
                        k,
                        n,
                        View::rows(&a, k),
                        View::transposed(&bt, k),
                        beta,
                        &mut panels,
                    )
                });
                let mut whole = vec![0.0; m * n];
                init(&mut whole);
                // SAFETY: the views and `whole` hold their matrices.
                unsafe {
                    depth_blocks(
                        m,
                        k,
                        n,
                        View::rows(&a, k),
                        View::transposed(&bt, k),
                        beta,
                        Out::rows(&mut whole, n),
                        ::gemm::Parallelism::None,
                    )
                };
                let differ = panels
                    .iter()
                    .zip(&whole)
                    .filter(|(x, y)| x.to_bits() != y.to_bits())
                    .count();
                assert_eq!(
                    differ,
                    0,
                    "beta {beta}: {differ} of {} elements differ",
                    m * n
                );
            }
        }
    }

    /// Against naive sums: a small product (gemm's path for tiny outputs) with a transposed
    /// view, beta = 1 and beta = 0 over NaN; a product above [`PARALLEL_OPS`] (rayon, packed
    /// panels) with a transposed view, beta = 0 over NaN and beta = 1 accumulating, as the
    /// weight gradient does; k = 0. Tolerance 1e-5 per unit of magnitude summed (4 for the small
    /// product, k for the large one): float32 sums in another order.
    #[test]
    fn gemm_matches_a_naive_product() {
        let (m, k, n) = (7, 13, 5);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect(); // [n, k]
        let mut c: Vec<f32> = (0..m * n).map(|i| i as f32 * 0.01).collect();
        let want: Vec<f32> = (0..m * n)
            .map(|idx| {
                let (i, j) = (idx / n, idx % n);
                c[idx] + (0..k).map(|t| a[i * k + t] * bt[j * k + t]).sum::<f32>()
            })
            .collect();
        gemm(
            m,
            k,
            n,
            View::rows(&a, k),
            View::transposed(&bt, k),
            1.0,
            &mut c,
        );
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() <= 1e-5 * 4.0, "{x} against {y}");
        }
        // beta = 0: C is overwritten, never read (NaN in C must not leak into the product).
        let mut fresh = vec![f32::NAN; m * n];
        gemm(
            m,
            k,
            n,
            View::rows(&a, k),
            View::transposed(&bt, k),
            0.0,
            &mut fresh,
        );
        for (idx, x) in fresh.iter().enumerate() {
            let y = want[idx] - (idx as f32 * 0.01); // the product alone
            assert!((x - y).abs() <= 1e-5 * 4.0, "{x} against {y}");
        }
        // A product large enough for rayon's pool, B given transposed: beta = 0 over NaN,
        // then beta = 1 adding the same product again.
        let (m, k, n) = (200, 190, 200);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.013).sin()).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.029).cos()).collect(); // [n, k]
        let naive =
            |i: usize, j: usize| -> f32 { (0..k).map(|t| a[i * k + t] * bt[j * k + t]).sum() };
        let mut c = vec![f32::NAN; m * n];
        for (beta, times) in [(0.0, 1.0), (1.0, 2.0)] {
            gemm(
                m,
                k,
                n,
                View::rows(&a, k),
                View::transposed(&bt, k),
                beta,
                &mut c,
            );
            for idx in (0..m * n).step_by(97) {
                let y = times * naive(idx / n, idx % n);
                let tol = 1e-5 * k as f32 * times;
                assert!(
                    (c[idx] - y).abs() <= tol,
                    "beta {beta}: {} against {y}",
                    c[idx]
                );
            }
        }
        // One row times one column, deeper than DEPTH_BLOCK: summed here, beta = 0 then 1.
        let k = 1300;
        let a: Vec<f32> = (0..k).map(|i| (i as f32 * 0.013).sin()).collect();
        let b: Vec<f32> = (0..k).map(|i| (i as f32 * 0.029).cos()).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let mut c = [f32::NAN];
        gemm(1, k, 1, View::rows(&a, k), View::rows(&b, 1), 0.0, &mut c);
        assert!(
            (c[0] - want).abs() <= 1e-5 * k as f32,
            "{} against {want}",
            c[0]
        );
        gemm(1, k, 1, View::rows(&a, k), View::rows(&b, 1), 1.0, &mut c);
        assert!((c[0] - 2.0 * want).abs() <= 2e-5 * k as f32);
        // k = 0 with beta = 0 over NaN: zeros.
        let mut z = vec![f32::NAN; 6];
        gemm(2, 0, 3, View::rows(&[], 0), View::rows(&[], 3), 0.0, &mut z);
        assert_eq!(z, vec![0.0; 6]);
        // k = 0: C = beta C.
        let mut z = vec![2.0f32; 6];
        gemm(2, 0, 3, View::rows(&[], 0), View::rows(&[], 3), 0.5, &mut z);
        assert_eq!(z, vec![1.0; 6]);
    }
}
