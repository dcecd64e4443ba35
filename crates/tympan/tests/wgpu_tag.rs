//! `tympan tag --backend wgpu` on a real clip, against the same command on flex. In CI the wgpu
//! backend runs on Mesa's lavapipe (Vulkan on the CPU), so this executes the GPU code path for
//! real without a GPU. Not part of `.ci/run` (docs/backends.md).
//!
//! Tolerance: 1e-4 on each of the 527 clip scores (probabilities). Both backends compute in f32;
//! only reduction order differs (measured: see docs/backends.md).
//!
//! Needs the CLI built with wgpu: `cargo test -p tympan --features wgpu --test wgpu_tag` (WGSL; on
//! lavapipe `vulkan`'s SPIR-V crashes, docs/upstream.md).

#![cfg(feature = "wgpu")]

use std::path::Path;
use std::process::Command;

fn tag(backend: &str, weights: &Path, labels: &Path, clip: &Path, out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_tympan"))
        .args([
            "tag",
            "--backend",
            backend,
            "--arch",
            "psla-effnet-b2",
            "--weights",
        ])
        .arg(weights)
        .arg("--labels")
        .arg(labels)
        .args(["--frames", "256", "--hop", "256", "--scores-out"])
        .arg(out)
        .arg(clip)
        .output()
        .expect("run tympan");
    assert!(
        o.status.success(),
        "tympan tag --backend {backend}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn tag_on_wgpu_matches_flex() {
    let Some(data) = tympan_tests::require_data("tag_on_wgpu_matches_flex") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let weights = tympan_tests::fixtures().join("models/psla_effnet_b2_h4_527.pth");
    let labels = data.join("audioset/class_labels_indices.csv");
    let clip = data.join("audioset/R9_ZSCveAHg_7s.wav");
    let (flex, wgpu) = (dir.path().join("flex.npy"), dir.path().join("wgpu.npy"));
    tag("flex", &weights, &labels, &clip, &flex);
    tag("wgpu", &weights, &labels, &clip, &wgpu);
    let a = tympan_audio::npy::read(&flex).unwrap();
    let b = tympan_audio::npy::read(&wgpu).unwrap();
    assert_eq!(a.shape, vec![1, 527]);
    assert_eq!(a.shape, b.shape);
    let worst = tympan_tests::max_abs_diff(&a.data, &b.data);
    eprintln!("tag: wgpu vs flex, worst |diff| {worst:.3e}");
    assert!(worst <= 1e-4, "wgpu scores differ from flex by {worst}");
}
