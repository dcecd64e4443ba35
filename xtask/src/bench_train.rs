//! `cargo xtask bench train`: a training step (forward, loss, backward, Adam) in tympan on each
//! CPU backend asked for, beside PyTorch doing the same step in the same run, as clips/s and a
//! ratio. Inputs are random; only time is measured.
//!
//! - `--arch psla` (the default): PSLA's EfficientNet-B<b> + 4-head attention on a
//!   `[B, 1056, 128]` fbank batch, clamped BCE, Adam with PSLA's settings; PyTorch runs PSLA's
//!   own model and step (`scripts/bench_train_step.py`, PSLA's src/traintest.py).
//! - `--arch NAME` for the other families' models in [`FAMILIES`]: the registry model on its
//!   model card's input shape, BCE (sigmoid outputs; Chen et al.: the mean of the per-level
//!   losses) or cross-entropy (softmax outputs); PyTorch runs a transcription of the same network
//!   (`scripts/bench_families.py`, whose parameter count is printed beside ours).

use std::path::Path;
use std::process::Command;
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use tympan_models::Backend as Tb;
use tympan_models::OutputKind;
use tympan_train::loss::{bce_per_sample, outputs_loss_per_sample};
use tympan_train::recipe::Loss;

/// Models of the other families transcribed to PyTorch in `scripts/bench_families.py`, with
/// their class counts: AudioSet's 527 for Hershey et al.'s VGG and ResNet-50, UrbanSound8K's 10
/// for M34-res and the slim 2D net, FSDKaggle2018's 41 for Jeong & Lim's DenseNet, AudioSet's
/// 527 for Chen et al.'s network at the registry's reduced width.
pub const FAMILIES: [(&str, usize); 6] = [
    ("hershey-vgg", 527),
    ("hershey-resnet50", 527),
    ("m34-res-rb1", 10),
    ("slim2d-rb1", 10),
    ("densenet-logmel", 41),
    ("chen-resnet-small", 527),
];

/// Options of `cargo xtask bench train`.
pub struct Options<'a> {
    /// `psla`, a name of [`FAMILIES`], or `families` for all of them.
    pub arch: &'a [String],
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
    /// Forward passes in eval mode without gradients instead of training steps (families only).
    pub inference: bool,
}

/// Adam as PSLA's `traintest.py` sets it (betas 0.95 and 0.999, weight decay 5e-7), through the
/// training loop's optimizer.
const PSLA_ADAM: tympan_train::optim::FusedAdam = tympan_train::optim::FusedAdam {
    betas: (0.95, 0.999),
    epsilon: 1e-8,
    weight_decay: Some(5e-7),
};

const CLASSES: usize = 527;
const FRAMES: usize = 1056;

/// What one `--arch` benchmarks.
enum Arch {
    /// PSLA's EfficientNet-B<b> + attention against PSLA's own PyTorch code.
    Psla,
    /// A registry model against its transcription in `scripts/bench_families.py`.
    Family { name: &'static str, classes: usize },
}

impl Arch {
    fn parse(s: &str) -> Result<Vec<Self>> {
        if s == "psla" {
            return Ok(vec![Self::Psla]);
        }
        if s == "families" {
            return Ok(FAMILIES
                .iter()
                .map(|&(name, classes)| Self::Family { name, classes })
                .collect());
        }
        match FAMILIES.iter().find(|(n, _)| *n == s) {
            Some(&(name, classes)) => Ok(vec![Self::Family { name, classes }]),
            None => bail!(
                "--arch {s}: not benchmarked against PyTorch; choose psla, families or one of {}",
                FAMILIES.map(|f| f.0).join(", ")
            ),
        }
    }

    fn label(&self, o: &Options<'_>) -> String {
        match self {
            Self::Psla => format!("psla-effnet-b{}", o.b),
            Self::Family { name, .. } => name.to_string(),
        }
    }
}

/// The input shape of a registry model's card at batch `batch`.
fn input_shape(info: &tympan_models::ModelInfo, batch: usize) -> [usize; 3] {
    if info.input.is_waveform() {
        [batch, 1, info.input.length]
    } else {
        [batch, info.input.length, info.bins()]
    }
}

/// Forward passes of a registry model in inference (no autodiff, so batch norm reads its
/// running statistics) on random inputs of its card's shape, each read back to the host.
fn time_family_inference(
    backend: Tb,
    name: &str,
    classes: usize,
    o: &Options<'_>,
) -> Result<Vec<f64>> {
    let device = backend.device()?;
    let model = tympan_models::create(name, classes, &device)?;
    let shape = input_shape(&tympan_models::info(name)?, o.batch);
    let mut times = Vec::new();
    for i in 0..=o.iters {
        let x = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let t = Instant::now();
        // From xtask's main thread, worker 0 of rayon's pool (`tympan::pool`), as `tympan tag`'s.
        let y = model.forward(x).into_data();
        let elapsed = t.elapsed().as_secs_f64();
        if y.iter::<f32>().any(|v| !v.is_finite()) {
            bail!("non-finite output of {name} on {}", backend.name());
        }
        if i > 0 {
            times.push(elapsed);
        }
    }
    Ok(times)
}

/// One training step of a registry model on random inputs of its card's shape.
fn time_family(backend: Tb, name: &str, classes: usize, o: &Options<'_>) -> Result<Vec<f64>> {
    if o.inference {
        return time_family_inference(backend, name, classes, o);
    }
    let device = backend.device()?.autodiff();
    let info = tympan_models::info(name)?;
    let mut model = tympan_models::create(name, classes, &device)?;
    let shape = input_shape(&info, o.batch);
    let loss_kind = match info.output {
        OutputKind::Probabilities => Loss::Bce,
        OutputKind::Distribution => Loss::Ce,
    };
    let mut optim = PSLA_ADAM.init();
    let mut times = Vec::new();
    for i in 0..=o.iters {
        let x = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let y = match loss_kind {
            Loss::Bce => {
                Tensor::<2>::random([o.batch, classes], Distribution::Uniform(0.0, 1.0), &device)
                    .lower_elem(0.02)
                    .float()
            }
            Loss::Ce => {
                let mut onehot = vec![0f32; o.batch * classes];
                for (b, row) in onehot.chunks_mut(classes).enumerate() {
                    row[(b * 7 + i * 3) % classes] = 1.0;
                }
                Tensor::<2>::from_data(TensorData::new(onehot, [o.batch, classes]), &device)
            }
        };
        let t = Instant::now();
        let loss = outputs_loss_per_sample(model.forward_train(x), y, loss_kind).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-4, model, grads);
        let value: f32 = loss.into_scalar::<f32>();
        if !value.is_finite() {
            bail!("loss {value} of {name} on {}", backend.name());
        }
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        } else {
            first_step(backend, t.elapsed().as_secs_f64(), value);
        }
    }
    Ok(times)
}

fn time_tympan(backend: Tb, o: &Options<'_>) -> Result<Vec<f64>> {
    let device = backend.device()?.autodiff();
    let mut model = tympan_models::create(&format!("psla-effnet-b{}", o.b), CLASSES, &device)?;
    let mut optim = PSLA_ADAM.init();
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
        } else {
            first_step(backend, t.elapsed().as_secs_f64(), value);
        }
    }
    Ok(times)
}

/// A pause after each Python process, before tympan is timed again: the seconds right after a
/// process that imported torch exits run slower on the development machine (Hershey et al.'s VGG
/// forward pass right after `python -c "import torch, numpy"`: 40.7 and 40.8 clips/s in two of
/// three runs, 51.9-53.0 after a pause of 1-3 s or with no Python before it; 2-core AMD EPYC,
/// 2026-12-06). Without it the first model of a run paid for the availability check, and each
/// later one for the previous model's reference.
pub(crate) const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

fn time_pytorch(o: &Options<'_>, psla_src: &Path) -> Result<(Vec<f64>, String, Option<f64>)> {
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
    let v = last_json(&out.stdout)?;
    let times = v["times"]
        .as_array()
        .context("no times")?
        .iter()
        .filter_map(|t| t.as_f64())
        .collect();
    let about = format!("torch {}, {} threads", v["torch"], v["threads"]);
    Ok((times, about, v["peak_rss_mib"].as_f64()))
}

/// The PyTorch transcription's step times, parameter count and peak memory (MiB).
fn time_pytorch_family(
    o: &Options<'_>,
    name: &str,
    classes: usize,
) -> Result<(Vec<f64>, String, u64, Option<f64>)> {
    let script = crate::workspace_root().join("scripts/bench_families.py");
    let out = Command::new(o.python)
        .arg(&script)
        .args(["--arch", name])
        .args(["--classes", &classes.to_string()])
        .args(["--batch", &o.batch.to_string()])
        .args(["--iters", &o.iters.to_string()])
        .args(o.inference.then_some("--inference"))
        .output()
        .with_context(|| format!("running {} {}", o.python, script.display()))?;
    if !out.status.success() {
        bail!(
            "{} --arch {name} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v = last_json(&out.stdout)?;
    let times = v["times"]
        .as_array()
        .context("no times")?
        .iter()
        .filter_map(|t| t.as_f64())
        .collect();
    let about = format!("torch {}, {} threads", v["torch"], v["threads"]);
    Ok((
        times,
        about,
        v["params"].as_u64().unwrap_or(0),
        v["peak_rss_mib"].as_f64(),
    ))
}

/// The last line of a script's output that is a JSON object.
pub(crate) fn last_json(stdout: &[u8]) -> Result<serde_json::Value> {
    let stdout = String::from_utf8_lossy(stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("no JSON line from the PyTorch script")?;
    Ok(serde_json::from_str(line)?)
}

/// When `run` started: the GPU backends' first step compiles their kernels, so the time from the
/// start to the end of the first step is what a user waits before training really starts.
static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn first_step(backend: Tb, seconds: f64, loss: f32) {
    let since = STARTED.get().map_or(0.0, |s| s.elapsed().as_secs_f64());
    println!(
        "{}: first step {seconds:.2} s (the warm-up, not timed below), ended {since:.1} s after \
         the benchmark started; loss {loss:.6}",
        backend.name()
    );
}

fn median(t: Vec<f64>) -> f64 {
    crate::bench_reduce::summary(t).0
}

/// The backends of `--backends`: `flex-burn` is flex with tympan's kernels off (Burn's own
/// convolution backward, batch norm and silu), the baseline the kernels are measured against.
fn backends(o: &Options<'_>) -> Result<Vec<(Tb, bool, String)>> {
    o.backends
        .iter()
        .map(|name| {
            let (b, kernels) = match name.strip_suffix("-burn") {
                Some(base) => (Tb::from_str(base)?, false),
                None => (Tb::from_str(name)?, true),
            };
            let label = if kernels {
                b.name().to_string()
            } else {
                format!("{}-burn", b.name())
            };
            Ok((b, kernels, label))
        })
        .collect()
}

/// Time every `--arch` on every backend, then PyTorch, and print clips/s and ratios, ending with
/// a table of all of them.
pub fn run(o: &Options<'_>) -> Result<()> {
    STARTED.get_or_init(Instant::now);
    if o.iters == 0 || o.batch == 0 {
        bail!("--iters and --batch must be at least 1");
    }
    let mut archs = Vec::new();
    for a in o.arch {
        archs.extend(Arch::parse(a)?);
    }
    let backends = backends(o)?;
    if o.inference && archs.iter().any(|a| matches!(a, Arch::Psla)) {
        bail!(
            "--inference times the families (--arch families or their names); PSLA's inference is `cargo xtask bench tag`"
        );
    }
    if o.inference {
        println!(
            "inference: forward passes in eval mode without gradients on both sides; s/step is s per batch"
        );
    }
    if o.python != "none" && archs.iter().any(|a| matches!(a, Arch::Psla)) && o.psla_src.is_none() {
        bail!(
            "--psla-src is needed for the PyTorch reference (git clone https://github.com/YuanGongND/psla), or pass --python none"
        );
    }
    if o.python != "none" {
        let mut modules = vec!["torch", "numpy"];
        if let Some(dir) = o.psla_src {
            crate::python_ref::check_psla(dir)?;
            modules.push("efficientnet_pytorch"); // PSLA's Models.py imports it
        }
        crate::python_ref::check_python(o.python, &modules, true)?;
        std::thread::sleep(SETTLE);
    }
    println!(
        "training step, batch {}, median of {} steps after a warm-up",
        o.batch, o.iters
    );
    let mut table = Vec::new();
    for arch in &archs {
        let label = arch.label(o);
        let mut rows = Vec::new();
        for (b, kernels, name) in &backends {
            tympan_kernels::set_kernels_enabled(*kernels);
            crate::peak_memory::reset_own_peak();
            let t = median(match arch {
                Arch::Psla => time_tympan(*b, o)?,
                Arch::Family { name, classes } => time_family(*b, name, *classes, o)?,
            });
            let mem = crate::peak_memory::own_peak_mib();
            println!(
                "{label}: tympan {name:>10}: {t:.2} s/step, {:.2} clips/s, peak memory {}",
                o.batch as f64 / t,
                crate::peak_memory::show(mem)
            );
            rows.push((name.clone(), t, mem));
        }
        tympan_kernels::set_kernels_enabled(true);
        if o.python == "none" {
            table.extend(
                rows.into_iter()
                    .map(|(n, t, m)| (label.clone(), n, t, m, None)),
            );
            continue;
        }
        let (times, about, pt_mem) = match arch {
            Arch::Psla => time_pytorch(o, o.psla_src.context("--psla-src")?)?,
            Arch::Family { name, classes } => {
                let (t, a, p, m) = time_pytorch_family(o, name, *classes)?;
                let ours = tympan_models::num_params(&tympan_models::create(
                    name,
                    *classes,
                    &Tb::Flex.device()?,
                )?);
                println!(
                    "{label}: trainable parameters tympan {ours}, PyTorch transcription {p}{}",
                    if ours as u64 == p { "" } else { " (DIFFERENT)" }
                );
                (t, a, m)
            }
        };
        std::thread::sleep(SETTLE);
        let pt = median(times);
        println!(
            "{label}: PyTorch ({about}): {pt:.2} s/step, {:.2} clips/s, peak memory {}",
            o.batch as f64 / pt,
            crate::peak_memory::show(pt_mem)
        );
        for (name, t, mem) in rows {
            println!("{label}: tympan {name} / PyTorch clips/s: {:.2}x", pt / t);
            table.push((label.clone(), name, t, mem, Some((pt, pt_mem))));
        }
    }
    // Peak memory: the whole process's resident peak (tympan: this process from the model's
    // creation on; PyTorch: its script's process, interpreter and torch included).
    println!(
        "\n| model | backend | s/step | clips/s | PyTorch s/step | vs PyTorch | peak memory | PyTorch peak memory |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, name, t, mem, pt) in table {
        let (pt_s, ratio, pt_mem) = match pt {
            Some((p, m)) => (
                format!("{p:.2}"),
                format!("{:.2}x", p / t),
                crate::peak_memory::show(m),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "| {label} | {name} | {t:.2} | {:.2} | {pt_s} | {ratio} | {} | {pt_mem} |",
            o.batch as f64 / t,
            crate::peak_memory::show(mem)
        );
    }
    Ok(())
}
