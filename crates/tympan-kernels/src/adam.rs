//! Adam's step through [`AdamKernels`] on flex; Burn's primitives, in Burn's order, elsewhere.

use burn::backend::Dispatch;
use burn::prelude::*;

use super::adam_ops::{AdamKernels, AdamScalars, composite_adam_step};
use super::uses_kernels;

/// One Adam step of a parameter (the optimizer's tensors, outside the autodiff graph): the
/// parameter, the first and the second moment after it. `moments` are those of the steps before,
/// `None` at the first. The same values, bit for bit, as Burn's `Adam` with the same
/// `AdamScalars`.
pub fn adam_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moments: Option<(Tensor<D>, Tensor<D>)>,
    s: AdamScalars,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    // The optimizer's tensors are the inner backend's; an autodiff tensor takes Burn's ops.
    let device = param.device();
    let plain = !matches!(
        device.as_dispatch(),
        burn::backend::DispatchDevice::Autodiff(_)
    );
    debug_assert_eq!(
        moments.is_none(),
        s.first,
        "moments at every step but the first"
    );
    // At the first step the moment arguments are not read: the gradient stands in for them.
    let (m, v) = match moments {
        Some((m, v)) => (m.into_dispatch(), v.into_dispatch()),
        None => (grad.clone().into_dispatch(), grad.clone().into_dispatch()),
    };
    let (p, g) = (param.into_dispatch(), grad.into_dispatch());
    let (p, m, v) = if plain && uses_kernels(&device) {
        <Dispatch as AdamKernels>::tympan_adam_step(p, g, m, v, s)
    } else {
        composite_adam_step::<Dispatch>(p, g, m, v, s)
    };
    (
        Tensor::from_dispatch(p),
        Tensor::from_dispatch(m),
        Tensor::from_dispatch(v),
    )
}
