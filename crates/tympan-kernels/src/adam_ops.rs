//! Adam's update of one parameter as a backend extension: the same arithmetic as Burn's `Adam`
//! (burn-optim 0.22.1, `src/optim/adam.rs`: `AdaptiveMomentum::transform`, `WeightDecay`), which
//! makes about fifteen full passes over the parameter, each into a new tensor; flex makes one.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

/// The host-side scalars of one Adam step, computed as Burn's `Adam` computes them (f32).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamScalars {
    /// `beta_1`.
    pub beta_1: f32,
    /// `beta_2`.
    pub beta_2: f32,
    /// `1 - beta_1`.
    pub one_minus_beta_1: f32,
    /// `1 - beta_2`.
    pub one_minus_beta_2: f32,
    /// L2 penalty added to the gradient (`grad + penalty * param`), if any.
    pub penalty: Option<f32>,
    /// `sqrt(1 - beta_2^t) / (1 - beta_1^t)`.
    pub combined_factor: f32,
    /// `epsilon * sqrt(1 - beta_2^t)`.
    pub epsilon: f32,
    /// The learning rate, as the f32 Burn's `mul_scalar` applies.
    pub lr: f32,
    /// The first step: there are no moments yet, and the moment arguments are ignored.
    pub first: bool,
}

impl AdamScalars {
    /// The scalars of step `time` (1-based) with learning rate `lr`.
    pub fn new(
        betas: (f32, f32),
        epsilon: f32,
        penalty: Option<f32>,
        lr: f64,
        time: usize,
    ) -> Self {
        let (beta_1, beta_2) = betas;
        let t = time as i32;
        let bias_correction2_sqrt = (1.0 - beta_2.powi(t)).sqrt();
        Self {
            beta_1,
            beta_2,
            one_minus_beta_1: 1.0 - beta_1,
            one_minus_beta_2: 1.0 - beta_2,
            penalty,
            combined_factor: bias_correction2_sqrt / (1.0 - beta_1.powi(t)),
            epsilon: epsilon * bias_correction2_sqrt,
            lr: lr as f32,
            first: time == 1,
        }
    }
}

/// One Adam step of a parameter: `(param, moment_1, moment_2)` after the step.
#[backend_extension(Flex: cfg(feature = "flex"))]
pub trait AdamKernels: Backend {
    /// `param`, its gradient, and the moments of the steps before (any tensors at the first
    /// step, `s.first`, where they are not read).
    fn tympan_adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        s: AdamScalars,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        composite_adam_step::<Self>(param, grad, moment_1, moment_2, s)
    }
}

/// Burn's `Adam` step from Burn's primitives, operation for operation.
pub(super) fn composite_adam_step<B: Backend>(
    param: FloatTensor<B>,
    grad: FloatTensor<B>,
    moment_1: FloatTensor<B>,
    moment_2: FloatTensor<B>,
    s: AdamScalars,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let scalar = |v: f32| f64::from(v).into();
    let grad = match s.penalty {
        Some(p) => B::float_add(B::float_mul_scalar(param.clone(), scalar(p)), grad),
        None => grad,
    };
    let square = B::float_mul(grad.clone(), grad.clone());
    let g1 = B::float_mul_scalar(grad, scalar(s.one_minus_beta_1));
    let g2 = B::float_mul_scalar(square, scalar(s.one_minus_beta_2));
    let (m, v) = if s.first {
        (g1, g2)
    } else {
        (
            B::float_add(B::float_mul_scalar(moment_1, scalar(s.beta_1)), g1),
            B::float_add(B::float_mul_scalar(moment_2, scalar(s.beta_2)), g2),
        )
    };
    let denom = B::float_add_scalar(B::float_sqrt(v.clone()), scalar(s.epsilon));
    let update = B::float_div(
        B::float_mul_scalar(m.clone(), scalar(s.combined_factor)),
        denom,
    );
    let param = B::float_sub(param, B::float_mul_scalar(update, scalar(s.lr)));
    (param, m, v)
}
