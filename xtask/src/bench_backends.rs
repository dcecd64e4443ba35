//! Flex vs ndarray on a conv workload: forward + backward of a 3-layer 3x3 conv stack on an
//! fbank-shaped input [B, 1, 1056, 128], the shape PSLA feeds its CNN.

use std::time::Instant;

use anyhow::Result;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::relu;
use tympan_models::Backend as Tb;

#[derive(Module, Debug)]
struct Stack {
    c1: Conv2d,
    c2: Conv2d,
    pool: MaxPool2d,
    c3: Conv2d,
}

impl Stack {
    fn new(d: &Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(d)
        };
        Self {
            c1: conv(1, 16),
            c2: conv(16, 16),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            c3: conv(16, 32),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(self.c2.forward(relu(self.c1.forward(x))));
        relu(self.c3.forward(self.pool.forward(x)))
    }
}

fn time(backend: Tb, iters: usize, batch: usize) -> Result<Vec<f64>> {
    let device = backend.device()?.autodiff();
    let model = Stack::new(&device);
    let mut times = Vec::new();
    for i in 0..=iters {
        let x = Tensor::<4>::random(
            [batch, 1, 1056, 128],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let t = Instant::now();
        let loss = model.forward(x).mean();
        let grads = loss.backward();
        let _ = model
            .c1
            .weight
            .grad(&grads)
            .map(|g| g.sum().into_scalar::<f32>());
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

pub fn run(iters: usize, batch: usize) -> Result<()> {
    println!("conv stack forward+backward, input [{batch}, 1, 1056, 128], {iters} timed runs each");
    let mut medians = Vec::new();
    for b in [Tb::Flex, Tb::NdArray] {
        let t = time(b, iters, batch)?;
        let median = t[t.len() / 2];
        println!(
            "{b:>8}: median {median:.3} s  (runs: {})",
            t.iter()
                .map(|v| format!("{v:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        medians.push((b, median));
    }
    let (f, n) = (medians[0].1, medians[1].1);
    println!("flex is {:.1}x faster than ndarray", n / f);
    Ok(())
}
