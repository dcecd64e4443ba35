//! Raw f32 access to flex tensors, shared by the flex kernels.

use std::mem::MaybeUninit;

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

/// A vector of `len` floats that `write` writes, without filling it with zeros first: for
/// outputs that products with beta = 0 (or copies) write in full. In tests it is filled with
/// NaN first, so that an element left unwritten shows instead of whatever the memory held.
///
/// # Safety
/// `write` must write every one of the `len` elements.
pub(super) unsafe fn unfilled(len: usize, write: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(len);
    let spare = &mut v.spare_capacity_mut()[..len];
    #[cfg(test)]
    spare.fill(MaybeUninit::new(f32::NAN));
    write(spare);
    // SAFETY: `write` has written all `len` elements, as the caller guarantees.
    unsafe { v.set_len(len) };
    v
}
