//! flex kernel for the matrix product: [`gemm`] on the operands' own strides (a transposed view
//! is read in place), so its bits are the same on AVX2 and AVX-512.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::tensor::DType;

use super::flex_tensor::{contiguous, tensor};
use super::gemm::{View, gemm};
use super::matmul_ops::MatmulKernels;

impl MatmulKernels for Flex {
    fn tympan_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        let two_d = |t: &FlexTensor| t.layout().num_dims() == 2 && t.dtype() == DType::F32;
        if !two_d(&lhs) || !two_d(&rhs) {
            return Self::float_matmul(lhs, rhs);
        }
        let (lhs, rhs) = (strided(lhs), strided(rhs));
        let (m, k, ars, acs) = dims(&lhs);
        let (k2, n, brs, bcs) = dims(&rhs);
        assert_eq!(k, k2, "tympan_matmul: [{m}, {k}] x [{k2}, {n}]");
        let a = View {
            data: &lhs.storage::<f32>()[lhs.layout().start_offset()..],
            rs: ars,
            cs: acs,
        };
        let b = View {
            data: &rhs.storage::<f32>()[rhs.layout().start_offset()..],
            rs: brs,
            cs: bcs,
        };
        let mut out = vec![0.0f32; m * n];
        gemm(m, k, n, a, b, 0.0, &mut out);
        tensor(out, [m, n])
    }
}

/// `t` itself when its strides are non-negative (any transpose or narrowing), else a contiguous
/// copy.
fn strided(t: FlexTensor) -> FlexTensor {
    if t.layout().has_positive_strides() {
        t
    } else {
        contiguous(t)
    }
}

/// `(rows, cols, row stride, column stride)` of a 2D tensor with non-negative strides.
fn dims(t: &FlexTensor) -> (usize, usize, usize, usize) {
    let (r, c, rs, cs) = t
        .layout()
        .as_2d_strides()
        .expect("a 2D tensor (checked by the caller)");
    (r, c, rs as usize, cs as usize)
}
