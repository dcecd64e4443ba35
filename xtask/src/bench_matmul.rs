//! `cargo xtask bench matmul`: flex's matrix product (the `gemm` crate, which tympan's dense
//! convolution kernels call too) on the products of the dense-convolution families at batch 4,
//! against `torch.matmul` on the same shapes with the same threads, in the same run; median and
//! range in GFLOP/s over `runs` calls after one warm-up. Built with `--features avx512`
//! (`cargo xtask-avx512 bench matmul`) it times gemm's AVX-512 kernels instead of its AVX2 ones.
//!
//! Each row also prints a hash of the product's bits for fixed inputs (FNV-1a, as `cargo xtask
//! numerics` writes it), so that two builds or two CPUs can be compared for the same numbers, not
//! only for speed.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use crate::bench_reduce::summary;
use crate::numerics::fnv;
use crate::python_ref::check_python;

/// `[m, k, n]`: a convolution's `W [Co, Ci*kh*kw] x cols [Ci*kh*kw, L]` in tympan's dense kernels
/// (Hershey et al.'s VGG and ResNet-50 layers at batch 4, per sample), and a classifier's
/// `[batch, 4096] x [4096, 4096]` (VGG's fully connected layers).
const SHAPES: [[usize; 3]; 6] = [
    [512, 4608, 384],
    [256, 2304, 1536],
    [128, 576, 6144],
    [64, 576, 24576],
    [32, 288, 16384],
    [4, 4096, 4096],
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
        "flex matmul (gemm{}, {threads} threads){}, GFLOP/s median [range] of {runs} calls",
        if cfg!(feature = "avx512") {
            " with its AVX-512 kernels"
        } else {
            ", AVX2 kernels"
        },
        torch.as_ref().map_or(String::new(), |r| format!(
            " against torch {} ({} threads)",
            r["torch"].as_str().unwrap_or("?"),
            r["threads"]
        ))
    );
    println!(
        "{:<18} {:>22} {:>22} {:>7}  product bits",
        "[m, k, n]", "flex", "torch", "ratio"
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
        let product = a.clone().matmul(b.clone()).into_data();
        let hash = fnv(product
            .as_slice::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?);
        let flops = 2.0 * (m * k * n) as f64 / 1e9;
        let ours: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                let c = a.clone().matmul(b.clone());
                drop(c.into_data());
                flops / t.elapsed().as_secs_f64()
            })
            .collect();
        let (o, ol, oh) = summary(ours);
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
            "{:<18} {:>22} {t:>22} {ratio:>7}  {hash:016x}",
            format!("[{m}, {k}, {n}]"),
            format!("{o:.0} [{ol:.0}-{oh:.0}]")
        );
    }
    Ok(())
}
