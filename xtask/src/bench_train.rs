//! `cargo xtask bench train`: PSLA's training step (EfficientNet + attention forward on a
//! `[B, 1056, 128]` fbank batch, clamped BCE, backward, Adam with PSLA's settings) in tympan on
//! each CPU backend asked for, beside PyTorch running PSLA's own model and step
//! (`scripts/bench_train_step.py`, PSLA's src/traintest.py) in the same run, as clips/s and a
//! ratio. Inputs are random; only time is measured.

use std::path::Path;
use std::process::Command;
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use tympan_models::Backend as Tb;
use tympan_train::loss::bce_per_sample;

/// Options of `cargo xtask bench train`.
pub struct Options<'a> {
    /// EfficientNet-B<b>.
    pub b: usize,
    /// Batch size.
    pub batch: usize,
    /// Timed steps after one warm-up step.
    pub iters: usize,
    /// tympan backends to time.
    pub backends: &'a [String],
    /// Python with torch and efficientnet_pytorch ("none" to skip the reference).
    pub python: &'a str,
    /// A clone of YuanGongND/psla.
    pub psla_src: Option<&'a Path>,
}

const CLASSES: usize = 527;
const FRAMES: usize = 1056;

fn time_tympan(backend: Tb, o: &Options<'_>) -> Result<Vec<f64>> {
    let device = backend.device()?.autodiff();
    let mut model = tympan_models::create(&format!("psla-effnet-b{}", o.b), CLASSES, &device)?;
    let mut optim = AdamConfig::new()
        .with_beta_1(0.95)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .with_weight_decay(Some(WeightDecayConfig::new(5e-7)))
        .init();
    let mut times = Vec::new();
    for i in 0..=o.iters {
        let x = Tensor::<3>::random(
            [o.batch, FRAMES, 128],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let y = Tensor::<2>::random([o.batch, CLASSES], Distribution::Uniform(0.0, 1.0), &device)
            .lower_elem(0.02)
            .float();
        let t = Instant::now();
        // bce_per_sample clamps to [1e-7, 1 - 1e-7] as PSLA's train loop does.
        let loss = bce_per_sample(model.forward(x), y).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-4, model, grads);
        let value: f32 = loss.into_scalar::<f32>();
        if !value.is_finite() {
            bail!("loss {value} on {}", backend.name());
        }
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    Ok(times)
}

fn time_pytorch(o: &Options<'_>, psla_src: &Path) -> Result<(Vec<f64>, String)> {
    let script = crate::workspace_root().join("scripts/bench_train_step.py");
    let out = Command::new(o.python)
        .arg(&script)
        .args(["--psla-src", &psla_src.display().to_string()])
        .args(["--b", &o.b.to_string()])
        .args(["--batch", &o.batch.to_string()])
        .args(["--iters", &o.iters.to_string()])
        .output()
        .with_context(|| format!("running {} {}", o.python, script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("no JSON line from the PyTorch script")?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    let times = v["times"]
        .as_array()
        .context("no times")?
        .iter()
        .filter_map(|t| t.as_f64())
        .collect();
    let about = format!("torch {}, {} threads", v["torch"], v["threads"]);
    Ok((times, about))
}

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Time every backend, then PyTorch, and print clips/s and ratios.
pub fn run(o: &Options<'_>) -> Result<()> {
    if o.iters == 0 || o.batch == 0 {
        bail!("--iters and --batch must be at least 1");
    }
    println!(
        "PSLA training step, EfficientNet-B{} + 4-head attention, {CLASSES} classes, batch [{}, {FRAMES}, 128], median of {} steps after a warm-up",
        o.b, o.batch, o.iters
    );
    let mut rows = Vec::new();
    for name in o.backends {
        // `flex-burn`: flex with tympan's kernels off (Burn's own convolution backward, batch
        // norm and silu), the baseline the kernels are measured against.
        let (b, kernels) = match name.strip_suffix("-burn") {
            Some(base) => (Tb::from_str(base)?, false),
            None => (Tb::from_str(name)?, true),
        };
        tympan_models::kernels::set_kernels_enabled(kernels);
        let t = median(time_tympan(b, o)?);
        let label = if kernels {
            b.name().to_string()
        } else {
            format!("{}-burn", b.name())
        };
        println!(
            "tympan {label:>10}: {t:.2} s/step, {:.2} clips/s",
            o.batch as f64 / t
        );
        rows.push((label, t));
    }
    tympan_models::kernels::set_kernels_enabled(true);
    if o.python == "none" {
        return Ok(());
    }
    let Some(src) = o.psla_src else {
        bail!(
            "--psla-src is needed for the PyTorch reference (git clone https://github.com/YuanGongND/psla), or pass --python none"
        );
    };
    let (times, about) = time_pytorch(o, src)?;
    let pt = median(times);
    println!(
        "PyTorch (PSLA's model and step; {about}): {pt:.2} s/step, {:.2} clips/s",
        o.batch as f64 / pt
    );
    for (name, t) in rows {
        println!(
            "tympan {name} / PyTorch clips/s: {:.2}x",
            (o.batch as f64 / t) / (o.batch as f64 / pt)
        );
    }
    Ok(())
}
