//! `cargo xtask numerics`: does a result depend on the CPU's instruction set?
//!
//! `--out DIR` runs the ops of a flex training step one by one (Burn's matmul, reductions and
//! unary ops; tympan's convolution, batch-norm and swish kernels, forward and backward; Burn's
//! own convolution with the kernels off) and two Adam steps of PSLA EfficientNet-Lite0 and of
//! M11, all on fixed inputs and weights (no random state), and writes every result as `.npy` plus
//! `fingerprints.tsv` (one FNV-1a hash of the bits per result). `--compare A B` then names the
//! results that differ between two such folders, and by how much.
//!
//! Run it on two CPUs, or on one under an emulated CPU: `qemu-x86_64 -cpu Haswell` has AVX2 and
//! FMA but no AVX-512, `-cpu Nehalem` only SSE4.2 (QEMU's floating point is IEEE-exact softfloat,
//! so any difference is the code path the CPU's features chose). docs/upstream.md has the
//! findings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Param;
use burn::nn::conv::{Conv1dConfig, Conv2dConfig};
use burn::nn::{BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation;
use tympan_audio::npy;
use tympan_kernels::set_kernels_enabled;
use tympan_tests::numerics::{fixed, fixed_tensor, two_adam_steps};

/// `cargo xtask numerics`.
#[derive(clap::Args)]
pub struct NumericsArgs {
    /// Write every result into this folder (created).
    #[arg(long, conflicts_with = "compare")]
    out: Option<PathBuf>,
    /// Compare two folders written by `--out`.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    compare: Option<Vec<PathBuf>>,
    /// Which groups to run: ops (Burn's matmul, reductions, unary ops, pooling; tympan's
    /// reductions; the fbank frontend), kernels (tympan's and Burn's convolutions, batch norm and
    /// swish, forward and backward), training (two Adam steps of Lite0 and M11).
    #[arg(long, value_delimiter = ',', default_value = "ops,kernels,training")]
    groups: Vec<Group>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Group {
    Ops,
    Kernels,
    Training,
}

pub fn run(a: &NumericsArgs) -> Result<()> {
    match (&a.out, &a.compare) {
        (Some(out), None) => write_all(out, &a.groups),
        (None, Some(dirs)) => compare(&dirs[0], &dirs[1]),
        _ => bail!("give --out DIR or --compare A B"),
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// FNV-1a over the values' little-endian bytes.
pub(crate) fn fnv(v: &[f32]) -> u64 {
    v.iter().fold(0xcbf2_9ce4_8422_2325, |h, x| {
        x.to_bits()
            .to_le_bytes()
            .iter()
            .fold(h, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
    })
}

type Results = Vec<(String, Vec<f32>)>;

fn ops(out: &mut Results) {
    let dev = Device::flex();
    let a = fixed_tensor([64, 576], 0.0, 0.1, &dev);
    let b = fixed_tensor([576, 500], 1.0, 0.1, &dev);
    out.push(("matmul 64x576x500".into(), values(a.matmul(b))));
    // The shapes of a classifier layer (M11's: 512 features, 10 classes, batch 2) forward and
    // backward, and Burn's Linear on them.
    for (m, k, n) in [(2, 512, 10), (512, 2, 10), (2, 10, 512), (1, 4096, 64)] {
        let a = fixed_tensor([m, k], 30.0, 0.1, &dev);
        let b = fixed_tensor([k, n], 31.0, 0.1, &dev);
        out.push((format!("matmul {m}x{k}x{n}"), values(a.matmul(b))));
    }
    let ad = Device::flex().autodiff();
    let mut fc = burn::nn::LinearConfig::new(512, 10).init(&ad);
    fc.weight = Param::from_tensor(fixed_tensor([512, 10], 32.0, 0.05, &ad).require_grad());
    fc.bias = Some(Param::from_tensor(
        fixed_tensor([10], 33.0, 0.05, &ad).require_grad(),
    ));
    let x = fixed_tensor([2, 512], 34.0, 1.0, &ad).require_grad();
    let y = fc.forward(x.clone());
    out.push((
        "Linear 512->10 forward (Burn)".into(),
        values(y.clone().inner()),
    ));
    let g = y.powi_scalar(2).sum().backward();
    out.push((
        "Linear 512->10 input grad (Burn)".into(),
        values(x.grad(&g).unwrap()),
    ));
    out.push((
        "Linear 512->10 weight grad (Burn)".into(),
        values(fc.weight.val().grad(&g).unwrap()),
    ));
    let big = fixed_tensor([1 << 20], 2.0, 1.0, &dev);
    out.push(("sum 2^20".into(), values(big.clone().sum())));
    let rows = fixed_tensor([256, 4096], 3.0, 1.0, &dev);
    out.push((
        "mean_dim [256, 4096] dim 1".into(),
        values(rows.clone().mean_dim(1)),
    ));
    out.push((
        "sum_dim [256, 4096] dim 0".into(),
        values(rows.clone().sum_dim(0)),
    ));
    let x = fixed_tensor([1 << 16], 4.0, 4.0, &dev);
    out.push(("exp".into(), values(x.clone().exp())));
    out.push((
        "log (|x| + 1)".into(),
        values(x.clone().abs().add_scalar(1.0).log()),
    ));
    out.push(("tanh".into(), values(x.clone().tanh())));
    out.push(("sigmoid".into(), values(activation::sigmoid(x.clone()))));
    out.push(("silu (Burn)".into(), values(activation::silu(x.clone()))));
    let logits = fixed_tensor([64, 527], 5.0, 3.0, &dev);
    out.push((
        "softmax [64, 527]".into(),
        values(activation::softmax(logits.clone(), 1)),
    ));
    out.push((
        "log_softmax [64, 527]".into(),
        values(activation::log_softmax(logits.clone(), 1)),
    ));
    let pool = fixed_tensor([2, 16, 40, 32], 15.0, 1.0, &dev);
    let avg = burn::nn::pool::AvgPool2dConfig::new([3, 3])
        .with_strides([1, 1])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init()
        .forward(pool);
    out.push(("avg_pool2d 3x3 (Burn)".into(), values(avg)));
    // tympan's reductions, as the models and losses call them.
    out.push(("sum (tympan) 2^20".into(), values(tympan_kernels::sum(big))));
    out.push((
        "mean_dim (tympan) [256, 4096] dim 1".into(),
        values(tympan_kernels::mean_dim(rows, 1)),
    ));
    out.push((
        "log_softmax (tympan) [64, 527]".into(),
        values(tympan_kernels::log_softmax(logits.clone(), 1)),
    ));
    out.push((
        "softmax (tympan) [64, 527]".into(),
        values(tympan_kernels::softmax(logits, 1)),
    ));
    // Hershey et al.'s VGG at batch 4: a depth past gemm's cache blocking.
    let a = fixed_tensor([512, 4608], 0.5, 0.05, &dev);
    let b = fixed_tensor([4608, 384], 1.5, 0.05, &dev);
    out.push(("matmul 512x4608x384".into(), values(a.matmul(b))));
    // The frontend: PSLA's Kaldi fbank of 2 s at 16 kHz (rustfft chooses its algorithms by the
    // CPU's features).
    let wave: Vec<f32> = fixed(32_000, 16.0).into_iter().map(|x| x * 0.2).collect();
    let fbank = tympan_audio::Preset::Psla {
        target_length: 198,
        mean: 0.0,
        std: 1.0,
    }
    .extractor(16_000)
    .and_then(|e| e.compute(&wave))
    .map(|f| f.data)
    .unwrap_or_default();
    out.push(("fbank (PSLA preset) 2 s".into(), fbank));
}

/// tympan's kernels (on) and Burn's own ops (off), forward and backward.
fn kernels(out: &mut Results, on: bool) {
    set_kernels_enabled(on);
    let tag = if on { "tympan" } else { "Burn" };
    let dev = Device::flex().autodiff();
    let mut conv = Conv2dConfig::new([16, 32], [3, 3])
        .with_bias(false)
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&dev);
    conv.weight = Param::from_tensor(fixed_tensor([32, 16, 3, 3], 6.0, 0.1, &dev).require_grad());
    let x = fixed_tensor([2, 16, 40, 32], 7.0, 1.0, &dev).require_grad();
    let y = tympan_kernels::conv2d(&conv, x.clone());
    out.push((
        format!("conv2d 3x3 forward ({tag})"),
        values(y.clone().inner()),
    ));
    let g = y.powi_scalar(2).mean().backward();
    out.push((
        format!("conv2d 3x3 input grad ({tag})"),
        values(x.grad(&g).unwrap()),
    ));
    let w = conv.weight.val();
    out.push((
        format!("conv2d 3x3 weight grad ({tag})"),
        values(w.grad(&g).unwrap()),
    ));

    let mut dw = Conv2dConfig::new([32, 32], [3, 3])
        .with_groups(32)
        .with_bias(false)
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&dev);
    dw.weight = Param::from_tensor(fixed_tensor([32, 1, 3, 3], 8.0, 0.3, &dev).require_grad());
    let x = fixed_tensor([2, 32, 40, 32], 9.0, 1.0, &dev).require_grad();
    let y = tympan_kernels::conv2d(&dw, x.clone());
    let g = y.powi_scalar(2).mean().backward();
    out.push((
        format!("depthwise conv2d weight grad ({tag})"),
        values(dw.weight.val().grad(&g).unwrap()),
    ));

    let mut c1 = Conv1dConfig::new(1, 48, 80)
        .with_stride(4)
        .with_bias(false)
        .init(&dev);
    c1.weight = Param::from_tensor(fixed_tensor([48, 1, 80], 10.0, 0.1, &dev).require_grad());
    let x = fixed_tensor([2, 1, 8000], 11.0, 1.0, &dev).require_grad();
    let y = tympan_kernels::conv1d(&c1, x.clone());
    out.push((
        format!("conv1d 80/4 forward ({tag})"),
        values(y.clone().inner()),
    ));
    let g = y.powi_scalar(2).mean().backward();
    out.push((
        format!("conv1d 80/4 weight grad ({tag})"),
        values(c1.weight.val().grad(&g).unwrap()),
    ));

    // Planes of 5 values (an M-net's last stages), then of 320.
    let bn = BatchNormConfig::new(32).init(&dev);
    let x = fixed_tensor([4, 32, 5], 17.0, 2.0, &dev).require_grad();
    let y = tympan_kernels::batch_norm(&bn, x.clone());
    let g = (y.clone() * fixed_tensor([4, 32, 5], 18.0, 1.0, &dev))
        .sum()
        .backward();
    out.push((
        format!("batch_norm train [4, 32, 5] forward ({tag})"),
        values(y.inner()),
    ));
    out.push((
        format!("batch_norm train [4, 32, 5] input grad ({tag})"),
        values(x.grad(&g).unwrap()),
    ));
    let bn = BatchNormConfig::new(32).init(&dev);
    let x = fixed_tensor([4, 32, 20, 16], 12.0, 2.0, &dev).require_grad();
    let y = tympan_kernels::batch_norm(&bn, x.clone());
    out.push((
        format!("batch_norm train forward ({tag})"),
        values(y.clone().inner()),
    ));
    let g = (y * fixed_tensor([4, 32, 20, 16], 13.0, 1.0, &dev))
        .sum()
        .backward();
    out.push((
        format!("batch_norm train input grad ({tag})"),
        values(x.grad(&g).unwrap()),
    ));

    let x = fixed_tensor([1 << 16], 14.0, 4.0, &dev).require_grad();
    let y = tympan_kernels::swish(x.clone());
    out.push((format!("swish forward ({tag})"), values(y.clone().inner())));
    let g = y.sum().backward();
    out.push((format!("swish grad ({tag})"), values(x.grad(&g).unwrap())));
    set_kernels_enabled(true);
}

/// [`two_adam_steps`]: the losses and the parameters after them.
fn training(out: &mut Results, name: &str, shape: [usize; 3], classes: usize) -> Result<()> {
    let (losses, params) = two_adam_steps(name, shape, classes)?;
    out.push((format!("{name}: losses of 2 Adam steps"), losses));
    out.push((format!("{name}: parameters after 2 steps"), params));
    Ok(())
}

fn file_name(i: usize) -> String {
    format!("{i:02}.npy")
}

fn write_all(dir: &Path, groups: &[Group]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let mut r = Results::new();
    if groups.contains(&Group::Ops) {
        ops(&mut r);
    }
    if groups.contains(&Group::Kernels) {
        kernels(&mut r, true);
        kernels(&mut r, false);
    }
    if groups.contains(&Group::Training) {
        training(&mut r, "psla-effnet-lite0", [2, 128, 128], 10)?;
        training(&mut r, "m11", [2, 1, 8000], 10)?;
    }
    let mut tsv = String::from("file\tname\tvalues\tfnv1a\n");
    for (i, (name, v)) in r.iter().enumerate() {
        npy::write(&dir.join(file_name(i)), v, &[v.len()])?;
        tsv.push_str(&format!(
            "{}\t{name}\t{}\t{:016x}\n",
            file_name(i),
            v.len(),
            fnv(v)
        ));
    }
    std::fs::write(dir.join("fingerprints.tsv"), &tsv)?;
    println!("{} results -> {}", r.len(), dir.display());
    Ok(())
}

fn read_index(dir: &Path) -> Result<BTreeMap<String, String>> {
    let p = dir.join("fingerprints.tsv");
    let text = std::fs::read_to_string(&p).with_context(|| p.display().to_string())?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 4).then(|| (f[1].to_string(), f[0].to_string()))
        })
        .collect())
}

fn compare(a: &Path, b: &Path) -> Result<()> {
    let (ia, ib) = (read_index(a)?, read_index(b)?);
    println!(
        "{:<48} {:>9} {:>9} {:>11} {:>11}",
        "result", "values", "differ", "max |a-b|", "relative"
    );
    let mut same = 0;
    for (name, fa) in &ia {
        let Some(fb) = ib.get(name) else {
            println!("{name:<48} only in {}", a.display());
            continue;
        };
        let va = npy::read(&a.join(fa))?.data;
        let vb = npy::read(&b.join(fb))?.data;
        if va.len() != vb.len() {
            println!("{name:<48} lengths {} and {}", va.len(), vb.len());
            continue;
        }
        let differ = va
            .iter()
            .zip(&vb)
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        if differ == 0 {
            same += 1;
        }
        let worst = va
            .iter()
            .zip(&vb)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        let scale = va
            .iter()
            .fold(0f32, |m, x| m.max(x.abs()))
            .max(f32::MIN_POSITIVE);
        println!(
            "{name:<48} {:>9} {:>9} {:>11.3e} {:>11.3e}",
            va.len(),
            differ,
            worst,
            worst / scale
        );
    }
    println!("{same} of {} results bit-identical", ia.len());
    Ok(())
}
