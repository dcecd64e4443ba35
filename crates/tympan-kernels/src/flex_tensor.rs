//! Raw f32 access to flex tensors, shared by the flex kernels.

use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData};

/// `t` itself when its values are one contiguous f32 run, else a contiguous copy.
pub(super) fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The values of a tensor made contiguous by [`contiguous`], row-major.
pub(super) fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("a contiguous f32 tensor (made so by `contiguous`)")
}

/// A flex tensor owning `data`.
pub(super) fn tensor(data: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape.into()))
}

/// An output buffer's base pointer, shared by parallel tasks that each write a part of it no
/// other task writes (column panels of a product, tiles of a convolution's output).
pub(super) struct OutPtr(pub(super) *mut f32);
// SAFETY: every user hands it to tasks whose writes are disjoint, and says so where it writes.
unsafe impl Sync for OutPtr {}
