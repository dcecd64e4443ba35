//! `cargo bench -p tympan-kernels --bench gemm`: the matrix products of dense convolutions
//! (`[Co, Ci*kh*kw] x [Ci*kh*kw, L]`, shapes of Hershey et al.'s VGG and ResNet-50 layers at
//! batch 4), through flex's `matmul` (the `gemm` crate, as Burn 0.22.1 ships it, which tympan's
//! conv kernels call directly since this bench measured it ahead: `src/gemm.rs`) and
//! through `matrixmultiply::sgemm`, the kernels' first choice. Criterion prints both times per
//! shape.

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// `(m, k, n)`: output channels, taps per output, output positions.
const SHAPES: [(usize, usize, usize); 4] = [
    (512, 4608, 384),
    (256, 2304, 1536),
    (128, 576, 6144),
    (64, 576, 24576),
];

fn products(c: &mut Criterion) {
    let device = Device::flex();
    for (m, k, n) in SHAPES {
        let mut group = c.benchmark_group(format!("gemm {m}x{k}x{n}"));
        group.sample_size(10);
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let a = Tensor::<2>::random([m, k], Distribution::Normal(0.0, 1.0), &device);
        let b = Tensor::<2>::random([k, n], Distribution::Normal(0.0, 1.0), &device);
        group.bench_function("flex matmul", |bench| {
            bench.iter(|| a.clone().matmul(b.clone()).into_data())
        });
        let av = a.into_data().try_into_vec::<f32>().expect("f32");
        let bv = b.into_data().try_into_vec::<f32>().expect("f32");
        let mut out = vec![0.0f32; m * n];
        group.bench_function("matrixmultiply sgemm", |bench| {
            bench.iter(|| {
                // SAFETY: `av` is [m, k], `bv` [k, n] and `out` [m, n], all row-major.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        av.as_ptr(),
                        k as isize,
                        1,
                        bv.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        out.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, products);
criterion_main!(benches);
