//! `cargo xtask bench reduce`: tympan's fixed-order reductions (`tympan_kernels::{sum_dim,
//! log_softmax}`) against flex's own on the shapes the models reduce in a training step, forward
//! only, alternating the two in the same process; median and range over `runs` runs of `iters`
//! calls each.

use std::time::Instant;

use anyhow::Result;
use burn::prelude::*;
use burn::tensor::activation;
use tympan_tests::numerics::fixed_tensor;

fn time(iters: usize, f: &dyn Fn()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() / iters as f64
}

/// Median, minimum and maximum of timings (the benches' "median [range]").
pub(crate) fn summary(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

pub fn run(runs: usize, iters: usize) -> Result<()> {
    let device = Device::flex();
    let cases: [(&str, [usize; 3], usize); 4] = [
        (
            "PSLA B2 frequency pooling [4, 1408*4, 33] over dim 2",
            [4, 1408 * 4, 33],
            2,
        ),
        (
            "attention over time [4, 527, 33] over dim 2",
            [4, 527, 33],
            2,
        ),
        (
            "M34-res global pooling [16, 384, 125] over dim 2",
            [16, 384, 125],
            2,
        ),
        (
            "frequency rows [4, 1408, 132] over dim 1",
            [4, 1408, 132],
            1,
        ),
    ];
    println!(
        "{:<54} {:>22} {:>22} {:>7}",
        "reduction (forward)", "flex us: median [range]", "tympan us", "ratio"
    );
    let report = |name: &str, flex: Vec<f64>, ours: Vec<f64>| {
        let ratio = summary(ours.iter().zip(&flex).map(|(o, f)| o / f).collect()).0;
        let (f, fl, fh) = summary(flex);
        let (o, ol, oh) = summary(ours);
        println!(
            "{name:<54} {:>8.1} [{:.1}-{:.1}] {:>8.1} [{:.1}-{:.1}] {ratio:>6.2}x",
            f * 1e6,
            fl * 1e6,
            fh * 1e6,
            o * 1e6,
            ol * 1e6,
            oh * 1e6
        );
    };
    for (name, shape, dim) in cases {
        let x = fixed_tensor(shape, 0.0, 1.0, &device);
        let (mut flex, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            flex.push(time(iters, &|| {
                x.clone().sum_dim(dim).into_data();
            }));
            ours.push(time(iters, &|| {
                tympan_kernels::sum_dim(x.clone(), dim).into_data();
            }));
        }
        report(name, flex, ours);
    }
    let x = fixed_tensor([64, 527], 1.0, 3.0, &device);
    let (mut flex, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        flex.push(time(iters, &|| {
            activation::log_softmax(x.clone(), 1).into_data();
        }));
        ours.push(time(iters, &|| {
            tympan_kernels::log_softmax(x.clone(), 1).into_data();
        }));
    }
    report(
        "log_softmax [64, 527] (the loss of a batch of 64)",
        flex,
        ours,
    );
    Ok(())
}
