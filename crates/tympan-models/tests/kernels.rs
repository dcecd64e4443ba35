//! tympan's flex kernels (`tympan-kernels`) inside whole networks of the zoo: one training step
//! with the kernels on against Burn's own ops.
#![cfg(feature = "flex")]
use burn::prelude::*;
use burn::tensor::TensorData;
use tympan_kernels::set_kernels_enabled;
use tympan_models::{Tagger, layers, parameter_gradients};

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

/// Weight seeds the whole-network comparison runs over.
const SEEDS: u64 = 16;

/// A training step's loss (the mean square of the outputs) and parameter gradients.
struct Step {
    loss: f32,
    grads: Vec<Vec<f32>>,
}

/// One training step of `model` on `x`, tympan's kernels on or off.
fn step(model: &Tagger, x: &Tensor<3>, on: bool) -> Step {
    set_kernels_enabled(on);
    // The same stochastic-depth draws in every step (no other test of this crate draws them on
    // an autodiff device).
    layers::seed_drop_path(7);
    let loss = model.forward(x.clone()).powi_scalar(2).mean();
    let value = loss.clone().into_scalar::<f32>();
    let grads = loss.backward();
    set_kernels_enabled(true);
    Step {
        loss: value,
        grads: parameter_gradients(model, &grads),
    }
}

/// How far `a` is from `b`: the loss's relative difference, and the worst parameter gradient's
/// largest difference over its own largest magnitude (or 1e-3 of the network's largest
/// gradient, where larger: gradients that are zero in exact arithmetic, such as a conv bias
/// before BatchNorm, are rounding noise on both sides).
fn distance(name: &str, a: &Step, b: &Step) -> (f32, f32) {
    assert_eq!(
        a.grads.len(),
        b.grads.len(),
        "{name}: parameters with gradients"
    );
    assert!(
        b.grads.len() > 10,
        "{name}: only {} gradients",
        b.grads.len()
    );
    let largest = b.grads.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.grads.iter().zip(&b.grads).fold(0f32, |w, (p, q)| {
        let scale = q
            .iter()
            .fold(0f32, |m, v| m.max(v.abs()))
            .max(1e-3 * largest);
        let d = p.iter().zip(q).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        w.max(d / scale.max(1e-30))
    });
    (((a.loss - b.loss) / b.loss).abs(), worst)
}

fn column(v: &[(f32, f32)], f: impl Fn(&(f32, f32)) -> f32) -> Vec<f32> {
    v.iter().map(f).collect()
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// One training step of whole networks, kernels on against kernels off, from the same weights
/// on the same batch, over [`SEEDS`] Glorot weight draws: PSLA EfficientNet-B0 (stem,
/// depthwise, pointwise, BN, swish, squeeze-excitation, attention heads) on fbank-shaped input,
/// and an M-net on a waveform.
///
/// The bounds are on the distribution over seeds, beside Burn's own path against itself on an
/// input nudged by 1 + 1e-6 (the same weights): how far float32 rounding alone moves these
/// networks' gradients. Measured on 16 seeds (AMD EPYC, 2026-12-07), the kernels' worst
/// gradient difference per seed: B0 1.8e-5 to 5.1e-5 (median 2.5e-5; Burn nudged 2.7e-5),
/// m11 2.7e-4 to 7.1e-4 and one seed at 4.2e-2 (median 4.1e-4; Burn nudged 3.7e-4, with one
/// seed at 1.7e-2); losses within 1.2e-6. The outlying seeds are discontinuities (a ReLU or
/// max-pool decision flipped by reordered sums) that Burn's path shows against itself too: a
/// bound on every seed held for one seed draw, not for the weights. Asserted: the median seed
/// within 3x Burn's own median and 1e-3, its loss within 1e-5 relative, and at most a quarter
/// of the seeds beyond 10x Burn's own median (or 1e-4 for the loss). A kernel defect moves
/// every seed.
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
    // On one thread: beside the other tests of this binary the order of parallel float sums
    // followed the thread scheduling, and a seed's result changed from run to run.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(whole_networks_train_the_same);
}

fn whole_networks_train_the_same() {
    let device = Device::flex().autodiff();
    for (name, shape) in [("psla-effnet-b0", [2, 96, 64]), ("m11", [2, 1, 8000])] {
        let x = fixed_input(shape, &device);
        let nudged = x.clone().mul_scalar(1.0 + 1e-6);
        let (mut kernels, mut itself) = (Vec::new(), Vec::new());
        for seed in 0..SEEDS {
            // Weights from a fixed splitmix64 stream, not Burn's process-wide RNG (which other
            // tests draw from concurrently).
            let model =
                layers::glorot_uniform(tympan_models::create(name, 10, &device).unwrap(), seed);
            let burn = step(&model, &x, false);
            kernels.push(distance(name, &step(&model, &x, true), &burn));
            itself.push(distance(name, &step(&model, &nudged, false), &burn));
        }
        let (loss, grads) = (column(&kernels, |k| k.0), column(&kernels, |k| k.1));
        let floor = median(column(&itself, |k| k.1));
        let report = format!(
            "{name}: kernels against Burn by seed (loss, gradients) {kernels:?}; Burn on a \
             nudged input against Burn {itself:?}"
        );
        let middle = median(grads.clone());
        assert!(median(loss.clone()) <= 1e-5, "median loss: {report}");
        assert!(
            middle <= 3.0 * floor && middle <= 1e-3,
            "median gradients against 3x Burn's own {floor:e}: {report}"
        );
        let beyond = |v: &[f32], bound: f32| v.iter().filter(|&&d| d > bound).count();
        assert!(
            beyond(&loss, 1e-4) <= kernels.len() / 4
                && beyond(&grads, 10.0 * floor) <= kernels.len() / 4,
            "more than a quarter of the seeds far off: {report}"
        );
    }
}
