//! Fixed inputs and fixed training steps, for checks whose bits must not depend on the machine
//! (`tests/isa.rs`, `cargo xtask numerics`): no random state anywhere.

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use tympan_train::loss::outputs_loss_per_sample;
use tympan_train::recipe::Loss;

/// `n` fixed values in about [-1.75, 1.75]: a mixture of sines, the same on every machine.
pub fn fixed(n: usize, phase: f32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = i as f32 + phase;
            (t * 0.731).sin() + 0.5 * (t * 0.0173).cos() + 0.25 * (t * 2.39).sin()
        })
        .collect()
}

/// A tensor of [`fixed`] values times `scale`.
pub fn fixed_tensor<const D: usize>(
    shape: [usize; D],
    phase: f32,
    scale: f32,
    device: &Device,
) -> Tensor<D> {
    let n = shape.iter().product();
    let v: Vec<f32> = fixed(n, phase).into_iter().map(|x| x * scale).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// Every parameter of a module, in visiting order, as one vector.
pub fn parameters<M: Module>(m: &M) -> Vec<f32> {
    struct All(Vec<f32>);
    impl burn::module::ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.extend(p.val().into_data().iter::<f32>());
        }
    }
    let mut v = All(Vec::new());
    m.visit(&mut v);
    v.0
}

/// Two Adam steps (lr 1e-3) of registry model `name` from Glorot weights (`layers::glorot_uniform`,
/// seed 0), on fixed inputs of `shape` and one-hot targets over `classes`, with the card's loss
/// and fixed stochastic-depth draws, on flex with autodiff: the loss of each step and every
/// parameter after the second.
pub fn two_adam_steps(
    name: &str,
    shape: [usize; 3],
    classes: usize,
) -> Result<(Vec<f32>, Vec<f32>), tympan_models::ModelError> {
    let dev = Device::flex().autodiff();
    let info = tympan_models::info(name)?;
    let model = tympan_models::create(name, classes, &dev)?;
    let mut model = tympan_models::layers::glorot_uniform(model, 0);
    let loss_kind = match info.output {
        tympan_models::OutputKind::Probabilities => Loss::Bce,
        tympan_models::OutputKind::Distribution => Loss::Ce,
    };
    let mut optim = tympan_train::optim::FusedAdam::default().init();
    let mut losses = Vec::new();
    for step in 0..2u64 {
        tympan_models::layers::seed_drop_path(7 + step);
        let x = fixed_tensor(shape, 20.0 + step as f32, 1.0, &dev);
        let mut y = vec![0f32; shape[0] * classes];
        for (b, row) in y.chunks_mut(classes).enumerate() {
            row[(b * 3 + step as usize) % classes] = 1.0;
        }
        let y = Tensor::<2>::from_data(TensorData::new(y, [shape[0], classes]), &dev);
        let loss = tympan_kernels::mean(outputs_loss_per_sample(
            model.forward_train(x),
            y,
            loss_kind,
        ));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        losses.push(loss.into_scalar::<f32>());
        model = optim.step(1e-3, model, grads);
    }
    Ok((losses, parameters(&model)))
}
