//! tympan's flex kernels (`tympan-kernels`) inside whole networks of the zoo: one training step
//! with the kernels on against Burn's own ops.
#![cfg(feature = "flex")]
use burn::prelude::*;
use burn::tensor::TensorData;
use tympan_kernels::set_kernels_enabled;
use tympan_models::{layers, parameter_gradients};

/// A fixed input of `shape`: a deterministic mixture of sines, the same in every run (a
/// random one made the test's margin depend on the draw).
fn fixed_input(shape: [usize; 3], device: &Device) -> Tensor<3> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32;
            (t * 0.731).sin() + 0.5 * (t * 0.0173).cos() + 0.25 * (t * 2.39).sin()
        })
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// One training step of whole networks, kernels on against kernels off, from the same
/// weights on the same batch: the loss within 1e-4 relative and every parameter gradient
/// within 1e-3 of its largest magnitude (float32 sums reordered through dozens of layers).
/// PSLA EfficientNet-B0 (stem, depthwise, pointwise, BN, swish, squeeze-excitation, attention
/// heads) on fbank-shaped input, and an M-net on a waveform.
///
/// Lite0 is not here: its ReLU6 network amplifies rounding. Burn's own path run twice, on an
/// input scaled by 1 + 1e-6, gives parameter gradients that differ by 1.7e-2 (median,
/// relative) at random initialisation, 0.8e-2 from ImageNet weights, and the kernels against
/// Burn differ by the same amount. With the BN kernel off, the conv kernels match Burn's
/// Lite0 gradients to 3e-7. `tests/golden_models.rs`
/// (`kernels_train_pretrained_lite0_within_rounding_noise`) holds the kernels to that noise
/// on the ImageNet Lite0 at its real input size.
#[test]
fn whole_networks_train_the_same_with_and_without_kernels() {
    // On one thread. Beside the other tests of this binary, the same fixed input failed the
    // 1e-3 bound in 1 of 3 runs (m11's first-layer weight gradient, 3e-3 relative; earlier
    // a random input, 2.4e-2) and passed 10 of 10 runs alone: the order of parallel float
    // sums followed the thread scheduling. On a one-thread pool it passed 10 of 10 beside
    // them.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(whole_networks_train_the_same);
}

fn whole_networks_train_the_same() {
    let device = Device::flex().autodiff();
    for (name, shape) in [("psla-effnet-b0", [2, 96, 64]), ("m11", [2, 1, 8000])] {
        // Weights from a fixed splitmix64 stream, not Burn's process-wide RNG (which other
        // tests draw from concurrently). With random weights this test failed about 1 run
        // in 8: over weight seeds 1-20, m11's first-layer weight gradient broke the bound
        // for seeds 7 and 11 (3.6e-3 and 6.5e-3 relative) whichever gemm the dense kernels
        // call, and for seed 3 with `gemm` (3.6e-2; 1.2e-5 with `matrixmultiply`), while
        // both gemms match an f64 product of that layer's shape to 6e-9 of the summed
        // magnitudes. Such jumps are discontinuities (a max-pool or ReLU decision flipped by
        // reordered sums; the likely cause, not traced), not rounding noise. With these
        // Glorot weights, 1 seed of 0-15 breaks it (14: 2e-2). So the 1e-3 bound holds for
        // this seed (0), not for any weights: a change to the models, their layer order or
        // the Glorot stream can break it without a kernel defect, and a failure here calls
        // for the seed sweep (and Burn's path against itself) before blaming a kernel.
        let model = tympan_models::create(name, 10, &device).unwrap();
        let model = layers::glorot_uniform(model, 0);
        let x = fixed_input(shape, &device);
        let step = |on: bool| {
            set_kernels_enabled(on);
            // The same stochastic-depth draws in both steps (no other test of this crate
            // draws them on an autodiff device).
            layers::seed_drop_path(7);
            let y = model.forward(x.clone());
            let loss = y.clone().powi_scalar(2).mean();
            let value = loss.clone().into_scalar::<f32>();
            let grads = loss.backward();
            (value, parameter_gradients(&model, &grads))
        };
        let (loss_on, on) = step(true);
        let (loss_off, off) = step(false);
        set_kernels_enabled(true);
        assert!(
            ((loss_on - loss_off) / loss_off).abs() < 1e-4,
            "{name}: loss {loss_on} against {loss_off}"
        );
        assert_eq!(on.len(), off.len(), "{name}: parameters with gradients");
        assert!(on.len() > 10, "{name}: only {} gradients", on.len());
        // Gradients that are zero in exact arithmetic (a conv bias before BatchNorm, a BN
        // shift before another BN) are rounding noise on both sides: they are compared
        // against 1e-3 of the network's largest gradient instead of their own.
        let largest = off.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in on.iter().zip(&off).enumerate() {
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let worst = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(
                worst <= 1e-3 * scale.max(1e-3 * largest),
                "{name}: parameter {i} gradient differs by {worst} (largest {scale})"
            );
        }
    }
}
