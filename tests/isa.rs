//! A training step's bits do not depend on the CPU's instruction set.
//!
//! Two Adam steps of PSLA EfficientNet-Lite0, M11, Hershey's FC net and Jeong & Lim's DenseNet
//! (`tympan_tests::numerics::two_adam_steps`: fixed weights, inputs and stochastic-depth draws)
//! run on this CPU, then again in this test
//! binary under QEMU's user-mode emulation of `-cpu Haswell`: AVX2 and FMA without AVX-512
//! (x86-64-v3; this machine's CPU has AVX-512, x86-64-v4). QEMU computes floating point in
//! IEEE-exact software, so a difference can only come from the code path a library chose for the
//! CPU's features (gemm's micro-kernels, flex's SIMD lanes, rustfft's algorithms, tympan's
//! kernels). The losses and every parameter must be bit-identical.
//!
//! Not checked here, and documented in docs/results.md ("The same numbers on any CPU"): CPUs
//! without FMA (x86-64-v2, `-cpu Nehalem`), where the `gemm` crate multiplies and adds in two
//! roundings instead of one, and CPUs whose L1 cache geometry gives `gemm` another depth
//! blocking (QEMU's user mode shows the host's caches).
//!
//! Needs `qemu-x86_64` (Debian's `qemu-user`, which `.ci/run` installs): without it the test fails
//! under `CI=true` and says so elsewhere. x86-64 only.
#![cfg(target_arch = "x86_64")]

use std::path::Path;
use std::process::Command;

use tympan_tests::numerics::two_adam_steps;

/// Set in the emulated child: the folder it writes its results to.
const CHILD_OUT: &str = "TYMPAN_ISA_CHILD_OUT";
const TEST: &str = "training_steps_are_bit_identical_on_every_instruction_set";

/// The models and the input shapes of the check (small, for the emulator's sake): depthwise,
/// pointwise and dense 2D convolutions (Lite0), 1D convolutions (M11), fully connected layers
/// deeper than one of gemm's depth blocks (Hershey's FC net: 6,144 inputs), and the in-model
/// log-mel's filter-bank convolution and mel product beside Linear layers and softmax heads
/// (Jeong & Lim's DenseNet at 16 kHz).
const CASES: [(&str, [usize; 3]); 4] = [
    ("psla-effnet-lite0", [2, 64, 128]),
    ("m11", [2, 1, 8_000]),
    ("hershey-fc", [2, 96, 64]),
    ("densenet-logmel-small-16k", [2, 1, 16_000]),
];

fn results() -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    for (name, shape) in CASES {
        let (losses, params) = two_adam_steps(name, shape, 10).expect("a registered model");
        out.push((format!("{name} losses"), losses));
        out.push((format!("{name} parameters"), params));
    }
    out
}

fn bits(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn file(dir: &Path, i: usize) -> std::path::PathBuf {
    dir.join(format!("{i}.f32"))
}

#[test]
fn training_steps_are_bit_identical_on_every_instruction_set() {
    if let Some(dir) = std::env::var_os(CHILD_OUT) {
        for (i, (_, v)) in results().iter().enumerate() {
            std::fs::write(file(Path::new(&dir), i), bits(v)).unwrap();
        }
        return;
    }
    let Some(qemu) = find_qemu() else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "qemu-x86_64 not found (apt-get install qemu-user); CI=true forbids skipping"
        );
        eprintln!("{TEST}: SKIPPED, qemu-x86_64 not found (apt-get install qemu-user)");
        return;
    };
    // What the comparison spans: on a host without AVX-512 both sides take the AVX2 paths, and
    // the test checks only that emulation changes nothing. Said on stderr either way.
    let host = if std::arch::is_x86_feature_detected!("avx512f") {
        "AVX-512"
    } else if std::arch::is_x86_feature_detected!("avx2") {
        "AVX2 (no AVX-512: this run compares AVX2 with AVX2)"
    } else {
        "neither AVX2 nor AVX-512"
    };
    eprintln!("{TEST}: host {host} against qemu -cpu Haswell (AVX2+FMA)");
    let native = results();
    let exe = std::env::current_exe().unwrap();
    for cpu in ["Haswell"] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(&qemu)
            .args(["-cpu", cpu])
            .arg(&exe)
            .args(["--exact", TEST, "--test-threads", "1"])
            .env(CHILD_OUT, dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "under qemu -cpu {cpu}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (i, (name, v)) in native.iter().enumerate() {
            let got = std::fs::read(file(dir.path(), i)).unwrap();
            let differ = got
                .chunks(4)
                .zip(v)
                .filter(|(g, x)| *g != x.to_le_bytes())
                .count();
            assert_eq!(
                (got.len(), differ),
                (v.len() * 4, 0),
                "{name}: {differ} of {} values differ under -cpu {cpu}",
                v.len()
            );
        }
    }
}

fn find_qemu() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("qemu-x86_64"))
        .find(|p| p.is_file())
}
