//! The wgpu backend executed, not only compiled: every model family's forward and three
//! training steps of two models, each against flex with the same weights and the same real
//! input. Without a GPU wgpu runs on Mesa's lavapipe (Vulkan compute on the CPU, Debian's
//! `mesa-vulkan-drivers`); on a machine with a GPU it runs there. `.ci/run` does not run them: their
//! build and their cold run do not fit its budget (docs/backends.md).
//!
//! Tolerances (all f32 on both sides; only the order of reductions differs):
//! - eval-mode forward: 1e-4 on every output probability;
//! - training, first step (identical weights, identical batch): loss within 1e-4 relative;
//! - training, later steps: loss within 2e-2 relative, and falling on both backends. Adam's first
//!   updates move every parameter by about `lr * sign(gradient)`, so parameters whose gradients
//!   are at rounding level (1e-9 against 1e-3 for the others) move by the full rate in
//!   directions that differ between backends; the losses then part at the 1e-3 level
//!   (docs/backends.md has the measured values).
//!
//! Not part of `cargo test --workspace`: a GPU feature is its own build of Burn. Run with
//! `cargo test -p tympan-tests --features wgpu --test wgpu_backend -- --nocapture`. On lavapipe use
//! `wgpu` (WGSL): with `vulkan` (SPIR-V) lavapipe crashes on cubecl's matmul kernel
//! (docs/upstream.md). wgpu compiles each kernel on first use, so the first forward of a model is
//! slow on lavapipe; a second run reuses the autotune picks, not the WGSL kernels.

#![cfg(feature = "wgpu")]

use std::path::Path;

use burn::prelude::*;
use tympan_audio::{LoadOptions, Preset};
use tympan_models::{Backend, Tagger, create, info, save_burnpack};
use tympan_train::{Event, Recipe, RunOptions, run};

fn wgpu() -> Device {
    Backend::Wgpu
        .device()
        .expect("wgpu is compiled into the workspace tests (tests/Cargo.toml)")
}

/// A real input of `name`'s contract: the real FSDD clip `3_jackson_5.wav`, as waveform or as
/// the model's features, shortened to keep lavapipe's run short.
fn real_input(data: &Path, name: &str, device: &Device) -> Tensor<3> {
    let spec = info(name).unwrap().input;
    let clip = data.join("fsdd/recordings/3_jackson_5.wav");
    let rate = spec.sample_rate.expect("every card states its rate");
    let wave = tympan_audio::load::load(
        &clip,
        &LoadOptions {
            sample_rate: Some(rate),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    if spec.is_waveform() {
        let n = (rate as usize).min(spec.length);
        let mut s = wave.samples.clone();
        s.resize(n, 0.0);
        return Tensor::<1>::from_floats(s.as_slice(), device).reshape([1, 1, n]);
    }
    let preset = match spec.input {
        tympan_audio::InputKind::Fbank => Preset::from_name("psla"),
        kind => Preset::from_name(kind.name()),
    }
    .unwrap();
    let f = preset
        .extractor(rate)
        .unwrap()
        .compute(&wave.samples)
        .unwrap();
    let frames = spec.length.min(128).max(96);
    let mut x = f.data.clone();
    x.resize(frames * f.bins, 0.0);
    Tensor::<1>::from_floats(x.as_slice(), device).reshape([1, frames, f.bins])
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

#[test]
fn every_family_forward_matches_flex() {
    let Some(data) = tympan_tests::require_data("every_family_forward_matches_flex") else {
        return;
    };
    let (flex, gpu) = (Device::flex(), wgpu());
    for name in [
        "psla-effnet-lite0",
        "m34-res-rb1",
        "slim2d-rb1",
        "chen-resnet",
        "densenet-logmel-small",
        "hershey-vgg",
    ] {
        let model: Tagger = create(name, 10, &flex).unwrap();
        let on_gpu = model.clone().to_device(&gpu);
        let a = values(model.forward(real_input(&data, name, &flex)));
        let b = values(on_gpu.forward(real_input(&data, name, &gpu)));
        assert_eq!(a.len(), b.len(), "{name}");
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        eprintln!("{name}: wgpu vs flex forward, worst |diff| {worst:.3e}");
        assert!(a.iter().all(|v| v.is_finite()), "{name}: {a:?}");
        assert!(worst <= 1e-4, "{name}: wgpu differs from flex by {worst}");
    }
}

/// Three training steps of the real engine (`tympan_train::run`) on each backend, from the same
/// saved weights, on the same real FSDD clips and host-side batches: the per-step losses agree.
fn steps_agree(data: &Path, arch: &str, features: &str, classes_loss: &str) {
    let dir = tempfile::tempdir().unwrap();
    let manifest =
        tympan_tests::fsdd_manifest(data, dir.path(), 0..3, &["jackson"], &[0, 5, 6, 7], |t| {
            t >= 5
        });
    let init = dir.path().join("init.bpk");
    save_burnpack(&create(arch, 3, &Device::flex()).unwrap(), &init).unwrap();
    let text = format!(
        r#"
name = "wgpu-{arch}"
[data]
dataset = "csv"
data_dir = {manifest:?}
test_fold = 0
sample_rate = 8000
[features]
{features}
[model]
arch = "{arch}"
init_from = {init:?}
[optim]
lr = 1e-3
betas = [0.9, 0.999]
weight_decay = 0.0
warmup_iters = 0
schedule = {{ kind = "constant" }}
[train]
batch_size = 3
epochs = 1
draws_per_epoch = 9
sampler = "balanced"
loss = "{classes_loss}"
eval_batch_size = 3
seed = 0
"#,
        manifest = manifest.display().to_string(),
        init = init.display().to_string(),
    );
    let recipe = Recipe::from_toml(&text, Path::new("wgpu.toml"), &[]).unwrap();
    let losses = |device: Device, out: &Path| {
        let mut l = Vec::new();
        let mut sink = |e: Event| {
            if let Event::Batch { loss, .. } = e {
                l.push(loss);
            }
        };
        run(
            &recipe,
            RunOptions {
                device,
                data_parallel: Vec::new(),
                out_dir: out.to_path_buf(),
                resume: false,
                stop_after: None,
                on_event: &mut sink,
            },
        )
        .unwrap();
        l
    };
    let a = losses(Device::flex(), &dir.path().join("flex"));
    let b = losses(wgpu(), &dir.path().join("wgpu"));
    eprintln!("{arch}: per-step loss flex {a:?}, wgpu {b:?}");
    assert_eq!(a.len(), 3, "{a:?}");
    assert_eq!(a.len(), b.len());
    for (step, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(x.is_finite() && y.is_finite());
        let tol = if step == 0 { 1e-4 } else { 2e-2 };
        assert!(
            (x - y).abs() <= tol * x.abs().max(1e-3),
            "{arch}: step {}: losses flex {a:?} vs wgpu {b:?}",
            step + 1
        );
    }
    assert!(
        a[2] < a[0] && b[2] < b[0],
        "{arch}: loss does not fall: {a:?} {b:?}"
    );
}

#[test]
fn psla_lite0_training_steps_match_flex() {
    let Some(data) = tympan_tests::require_data("psla_lite0_training_steps_match_flex") else {
        return;
    };
    steps_agree(&data, "psla-effnet-lite0", "target_length = 100", "bce");
}

#[test]
fn mnet_training_steps_match_flex() {
    let Some(data) = tympan_tests::require_data("mnet_training_steps_match_flex") else {
        return;
    };
    steps_agree(
        &data,
        "m3",
        "input = \"waveform\"\ntarget_length = 8000",
        "ce",
    );
}
