//! flex kernel for the sum over one axis, in an order fixed by the code rather than by the CPU's
//! vector width: along a contiguous axis, 16 running sums (element `i` into sum `i % 16`) combined
//! by a fixed pairwise tree; along any other axis, each output accumulates its inputs one after
//! another, the vectors running across outputs. The same bits on SSE, AVX2 and AVX-512, and on
//! any number of threads (each output is summed by one task).

use burn::backend::Flex;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::tensor::DType;
use rayon::prelude::*;

use super::flex_tensor::{contiguous, tensor, values};
use super::reduce_ops::ReduceKernels;

/// Running sums along a contiguous axis.
const LANES: usize = 16;
/// Outputs per parallel task along a contiguous axis.
const ROWS_PER_TASK: usize = 64;

impl ReduceKernels for Flex {
    fn tympan_sum_dim(x: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 || dim >= x.layout().shape().num_dims() {
            return Self::float_sum_dim(x, dim);
        }
        let x = contiguous(x);
        let shape = x.layout().shape();
        let mut dims: Vec<usize> = (0..shape.num_dims()).map(|i| shape[i]).collect();
        let reduced = dims[dim];
        let outer: usize = dims[..dim].iter().product();
        let inner: usize = dims[dim + 1..].iter().product();
        dims[dim] = 1;
        let xs = values(&x);
        let mut out = vec![0f32; outer * inner];
        if reduced == 0 {
            return tensor(out, dims);
        }
        if inner == 1 {
            out.par_chunks_mut(ROWS_PER_TASK)
                .enumerate()
                .for_each(|(t, o)| {
                    for (j, v) in o.iter_mut().enumerate() {
                        let row = (t * ROWS_PER_TASK + j) * reduced;
                        *v = row_sum(&xs[row..row + reduced]);
                    }
                });
        } else {
            out.par_chunks_mut(inner).enumerate().for_each(|(o, acc)| {
                for k in 0..reduced {
                    let at = (o * reduced + k) * inner;
                    for (a, v) in acc.iter_mut().zip(&xs[at..at + inner]) {
                        *a += *v;
                    }
                }
            });
        }
        tensor(out, dims)
    }
}

/// The sum of a contiguous run, in the fixed order of the module documentation.
fn row_sum(row: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += *v;
        }
    }
    for (a, v) in acc.iter_mut().zip(chunks.remainder()) {
        *a += *v;
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::row_sum;

    /// `row_sum` is exactly "element i into running sum i % 16, then the pairwise tree", on
    /// values where the order shows (a 1e8 among ones: each 1 added to it alone is lost).
    #[test]
    fn row_sums_follow_the_lanes() {
        let mut v = vec![1f32; 40];
        assert_eq!(row_sum(&v), 40.0);
        v[3] = 1e8;
        let lanes_then_tree = {
            let mut acc = [0f32; 16];
            for (i, x) in v.iter().enumerate() {
                acc[i % 16] += x;
            }
            let mut w = 16;
            while w > 1 {
                w /= 2;
                for i in 0..w {
                    acc[i] += acc[i + w];
                }
            }
            acc[0]
        };
        assert_eq!(row_sum(&v), lanes_then_tree);
        assert_ne!(
            row_sum(&v),
            v.iter().sum::<f32>(),
            "the order is not the sequential one"
        );
        assert_eq!(row_sum(&[]), 0.0);
    }
}
