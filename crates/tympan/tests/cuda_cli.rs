//! `tympan tag --backend cuda` on a real clip. On a machine with an NVIDIA driver and a GPU it
//! must tag the clip as flex does (1e-4 on each of the 527 scores, as the wgpu test); on a
//! machine without one (CI) it must stop with one line that names what is missing, exit code 1
//! and no panic: before the pre-flight check (tympan-models `cuda_check.rs`), cudarc panicked
//! inside cubecl's server thread.
//!
//! Needs the CLI built with cuda: `cargo test -p tympan --features cuda --test cuda_cli` (its
//! build links LLVM 23: `scripts/install-cuda-llvm.sh`, docs/backends.md).

#![cfg(feature = "cuda")]

use std::process::Command;

fn has_driver() -> bool {
    // The loader's own search, as cudarc and the pre-flight check do it.
    Command::new("sh")
        .args(["-c", "ldconfig -p | grep -q 'libcuda.so'"])
        .status()
        .is_ok_and(|s| s.success())
        || std::env::var_os("LD_LIBRARY_PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("libcuda.so.1").exists()))
}

#[test]
fn tag_on_cuda_runs_or_names_what_is_missing() {
    let Some(data) = tympan_tests::require_data("tag_on_cuda_runs_or_names_what_is_missing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let weights = tympan_tests::fixtures().join("models/psla_effnet_b2_h4_527.pth");
    let labels = data.join("audioset/class_labels_indices.csv");
    let clip = data.join("audioset/R9_ZSCveAHg_7s.wav");
    let run = |backend: &str| {
        let out = dir.path().join(format!("{backend}.npy"));
        let o = Command::new(env!("CARGO_BIN_EXE_tympan"))
            .args([
                "tag",
                "--backend",
                backend,
                "--arch",
                "psla-effnet-b2",
                "--weights",
            ])
            .arg(&weights)
            .arg("--labels")
            .arg(&labels)
            .args(["--frames", "256", "--hop", "256", "--scores-out"])
            .arg(&out)
            .arg(&clip)
            .output()
            .expect("run tympan");
        (o, out)
    };
    let (cuda, cuda_out) = run("cuda");
    let stderr = String::from_utf8_lossy(&cuda.stderr);
    if !has_driver() {
        assert_eq!(cuda.status.code(), Some(1), "{stderr}");
        assert!(
            !stderr.contains("panicked"),
            "a panic instead of an error:\n{stderr}"
        );
        assert!(
            stderr.contains("backend cuda cannot start")
                && stderr.contains("libcuda.so.1")
                && stderr.contains("LD_LIBRARY_PATH"),
            "{stderr}"
        );
        return;
    }
    assert!(cuda.status.success(), "tympan tag --backend cuda: {stderr}");
    let (flex, flex_out) = run("flex");
    assert!(
        flex.status.success(),
        "{}",
        String::from_utf8_lossy(&flex.stderr)
    );
    let a = tympan_audio::npy::read(&flex_out).unwrap();
    let b = tympan_audio::npy::read(&cuda_out).unwrap();
    assert_eq!((a.shape.clone(), b.shape), (vec![1, 527], vec![1, 527]));
    let worst = tympan_tests::max_abs_diff(&a.data, &b.data);
    eprintln!("tag: cuda vs flex, worst |diff| {worst:.3e}");
    assert!(worst <= 1e-4, "cuda scores differ from flex by {worst}");
}
