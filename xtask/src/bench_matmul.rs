//! `cargo xtask bench matmul`: tympan's matrix product (`tympan_kernels::matmul`: the `gemm`
//! crate with depth cut into fixed blocks, which tympan's convolution kernels call too) and
//! flex's own (`gemm` called directly) on the products of the dense-convolution families at
//! batch 4, against `torch.matmul` on the same shapes with the same threads, in the same run;
//! median and range in GFLOP/s over `runs` calls after one warm-up. Both take gemm's AVX-512
//! kernels on CPUs that have them.
//!
//! Each row also prints hashes of both products' bits for fixed inputs (FNV-1a, as `cargo xtask
//! numerics` writes it), so that two builds or two CPUs can be compared for the same numbers, not
//! only for speed: tympan's hash is the same on AVX2 and AVX-512, flex's is not.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use crate::bench_reduce::summary;
use crate::numerics::fnv;
use crate::python_ref::check_python;

/// `[m, k, n]`: a convolution's `W [Co, Ci*kh*kw] x cols [Ci*kh*kw, L]` in tympan's dense kernels
/// (Hershey et al.'s VGG and ResNet-50 layers at batch 4, per sample), and a classifier's
/// `[batch, 4096] x [4096, 4096]` (VGG's fully connected layers); one clip through PSLA B2's
/// 527-class output (`[1, 1408] x [1408, 527]`, a row-vector product).
const SHAPES: [[usize; 3]; 7] = [
    [512, 4608, 384],
    [256, 2304, 1536],
    [128, 576, 6144],
    [64, 576, 24576],
    [32, 288, 16384],
    [4, 4096, 4096],
    [1, 1408, 527],
];

const PY: &str = r#"
import json, sys, time, torch
runs = int(sys.argv[1]); shapes = json.loads(sys.argv[2])
out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "gflops": []}
for m, k, n in shapes:
    a = torch.randn(m, k); b = torch.randn(k, n)
    a @ b
    g = []
    for _ in range(runs):
        t = time.perf_counter(); a @ b; g.append(2 * m * k * n / 1e9 / (time.perf_counter() - t))
    out["gflops"].append(g)
print(json.dumps(out))
"#;

pub fn run(runs: usize, python: &str) -> Result<()> {
    let device = Device::flex();
    let threads = rayon::current_num_threads();
    let torch = if python == "none" {
        None
    } else {
        check_python(python, &["torch"], true)?;
        let shapes = serde_json::to_string(&SHAPES)?;
        let o = Command::new(python)
            .args(["-c", PY, &runs.to_string(), &shapes])
            .env("OMP_NUM_THREADS", threads.to_string())
            .output()
            .with_context(|| format!("cannot run {python}"))?;
        if !o.status.success() {
            bail!(
                "torch.matmul reference failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let r: serde_json::Value =
            serde_json::from_slice(&o.stdout).context("reading the torch reference's output")?;
        Some(r)
    };
    println!(
        "tympan and flex matmul ({threads} threads){}, GFLOP/s median [range] of {runs} calls",
        torch.as_ref().map_or(String::new(), |r| format!(
            " against torch {} ({} threads)",
            r["torch"].as_str().unwrap_or("?"),
            r["threads"]
        ))
    );
    println!(
        "{:<18} {:>16} {:>16} {:>16} {:>13}  product bits: tympan, flex",
        "[m, k, n]", "tympan", "flex", "torch", "tympan/torch"
    );
    for (i, [m, k, n]) in SHAPES.into_iter().enumerate() {
        let a: Tensor<2> = Tensor::from_data(
            TensorData::new(
                (0..m * k).map(|j| (j as f32 * 0.37).sin()).collect(),
                [m, k],
            ),
            &device,
        );
        let b: Tensor<2> = Tensor::from_data(
            TensorData::new(
                (0..k * n).map(|j| (j as f32 * 0.11).cos()).collect(),
                [k, n],
            ),
            &device,
        );
        let flops = 2.0 * (m * k * n) as f64 / 1e9;
        let flex = |a: Tensor<2>, b: Tensor<2>| a.matmul(b);
        let ours = |a: Tensor<2>, b: Tensor<2>| tympan_kernels::matmul(a, b);
        let mut rows = Vec::new();
        for product in [&ours as &dyn Fn(_, _) -> Tensor<2>, &flex] {
            let bits = product(a.clone(), b.clone()).into_data();
            let hash = fnv(bits
                .as_slice::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?);
            let speed: Vec<f64> = (0..runs)
                .map(|_| {
                    let t = Instant::now();
                    drop(product(a.clone(), b.clone()).into_data());
                    flops / t.elapsed().as_secs_f64()
                })
                .collect();
            rows.push((summary(speed), hash));
        }
        let ((o, ol, oh), hash) = rows[0];
        let ((f, fl, fh), flex_hash) = rows[1];
        let reference = torch.as_ref().and_then(|r| {
            let g: Vec<f64> = r["gflops"][i]
                .as_array()?
                .iter()
                .filter_map(|v| v.as_f64())
                .collect();
            (!g.is_empty()).then(|| summary(g))
        });
        let (t, ratio) = match reference {
            Some((t, tl, th)) => (
                format!("{t:.0} [{tl:.0}-{th:.0}]"),
                format!("{:.2}x", o / t),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<18} {:>16} {:>16} {t:>16} {ratio:>13}  {hash:016x}, {flex_hash:016x}",
            format!("[{m}, {k}, {n}]"),
            format!("{o:.0} [{ol:.0}-{oh:.0}]"),
            format!("{f:.0} [{fl:.0}-{fh:.0}]"),
        );
    }
    Ok(())
}
