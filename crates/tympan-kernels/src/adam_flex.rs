//! flex kernel for Adam's step: one parallel pass over the parameter, its gradient and the two
//! moments, written in place where this step holds the only reference to a tensor (as it does to
//! the moments of the steps before). Each element goes through exactly the f32 operations of
//! [`composite_adam_step`] in the same order, so the bits are Burn's `Adam`'s.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::tensor::DType;
use rayon::prelude::*;

use super::adam_ops::{AdamKernels, AdamScalars, composite_adam_step};
use super::flex_tensor::{contiguous, tensor, values};
use super::simd;

/// Elements per task.
const TASK: usize = 1 << 14;

impl AdamKernels for Flex {
    fn tympan_adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        s: AdamScalars,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let shape = param.layout().shape().clone();
        let n = shape.num_elements();
        let all_f32 = [&param, &grad, &moment_1, &moment_2]
            .into_iter()
            .all(|t| t.dtype() == DType::F32 && t.layout().shape().num_elements() == n);
        if !all_f32 {
            return composite_adam_step::<Self>(param, grad, moment_1, moment_2, s);
        }
        let grad = contiguous(grad);
        let g = values(&grad);
        let first = s.first;
        let mut param = Owned::new(param, n);
        let (mut m, mut v) = if first {
            (Owned::zeros(n), Owned::zeros(n))
        } else {
            (Owned::new(moment_1, n), Owned::new(moment_2, n))
        };
        param
            .values_mut()
            .par_chunks_mut(TASK)
            .zip(m.values_mut().par_chunks_mut(TASK))
            .zip(v.values_mut().par_chunks_mut(TASK))
            .zip(g.par_chunks(TASK))
            .for_each(|(((po, mo), vo), gc)| match (first, s.penalty.is_some()) {
                (true, true) => simd::update3(po, mo, vo, gc, &|p, m, v, g| {
                    element::<true, true>(&s, p, m, v, g)
                }),
                (true, false) => simd::update3(po, mo, vo, gc, &|p, m, v, g| {
                    element::<true, false>(&s, p, m, v, g)
                }),
                (false, true) => simd::update3(po, mo, vo, gc, &|p, m, v, g| {
                    element::<false, true>(&s, p, m, v, g)
                }),
                (false, false) => simd::update3(po, mo, vo, gc, &|p, m, v, g| {
                    element::<false, false>(&s, p, m, v, g)
                }),
            });
        (param.finish(&shape), m.finish(&shape), v.finish(&shape))
    }
}

/// One element's step: exactly the f32 operations of [`composite_adam_step`], in its order.
#[inline(always)]
fn element<const FIRST: bool, const DECAY: bool>(
    s: &AdamScalars,
    p: f32,
    m: f32,
    v: f32,
    g: f32,
) -> (f32, f32, f32) {
    let g = if DECAY {
        p * s.penalty.unwrap_or(0.0) + g
    } else {
        g
    };
    let g1 = g * s.one_minus_beta_1;
    let g2 = (g * g) * s.one_minus_beta_2;
    let (m, v) = if FIRST {
        (g1, g2)
    } else {
        (m * s.beta_1 + g1, v * s.beta_2 + g2)
    };
    let update = (m * s.combined_factor) / (v.sqrt() + s.epsilon);
    (p - update * s.lr, m, v)
}

/// A tensor updated by the pass: its own storage when it holds the only reference to exactly its
/// values, else a copy of its values (or zeros, for the moments of the first step).
enum Owned {
    InPlace(FlexTensor),
    Copy(Vec<f32>),
}

impl Owned {
    fn new(t: FlexTensor, n: usize) -> Self {
        let mut t = contiguous(t);
        if t.storage::<f32>().len() == n && t.try_storage_mut::<f32>().is_some() {
            Self::InPlace(t)
        } else {
            Self::Copy(values(&t).to_vec())
        }
    }

    fn zeros(n: usize) -> Self {
        Self::Copy(vec![0.0; n])
    }

    /// The values, updated in place by the pass.
    fn values_mut(&mut self) -> &mut [f32] {
        match self {
            Self::InPlace(t) => t
                .try_storage_mut::<f32>()
                .expect("checked to be the only reference in `Owned::new`"),
            Self::Copy(v) => v,
        }
    }

    fn finish(self, shape: &burn::tensor::Shape) -> FlexTensor {
        match self {
            Self::InPlace(t) => t,
            Self::Copy(v) => tensor(v, shape.clone()),
        }
    }
}
