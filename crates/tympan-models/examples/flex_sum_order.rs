//! Is burn-flex's whole-tensor `sum()` reproducible? A minimal check for docs/results.md.
//!
//! burn-flex 0.22.1 (`src/ops/reduce.rs`, `sum_f32_contiguous`) sums a contiguous f32 tensor of
//! 4M elements or more with rayon: `par_chunks(65536).map(simd_sum).sum()`. rayon combines the
//! chunk sums in a tree whose shape follows its work splitting, which adapts to stealing, so the
//! order of the float additions (and the last bits of the result) can change from call to call
//! and with the thread count. Below that size, and for `sum_dim`/`mean_dim` at any size, the
//! order is fixed.
//!
//! Run: `cargo test --workspace --no-run` builds it (`target/debug/examples/flex_sum_order-*`,
//! Burn optimised as in the tests); arguments `[elements] [repeats]`
//! (with another load on the machine to see stealing at work).

use std::collections::BTreeMap;

use burn::prelude::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8 << 20);
    let repeats: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let device = Device::flex();
    // Values of mixed magnitude, so that the association order shows in the result.
    let data: Vec<f32> = (0..n)
        .map(|i| {
            let x = ((i as u64).wrapping_mul(2_654_435_761) % 1_000_003) as f32 / 1_000_003.0;
            (x - 0.5) * if i % 97 == 0 { 1e4 } else { 1.0 }
        })
        .collect();
    let t = Tensor::<1>::from_floats(data.as_slice(), &device);
    let sequential: f32 = data.chunks(65_536).map(|c| c.iter().sum::<f32>()).sum();
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    for _ in 0..repeats {
        let s: f32 = t.clone().sum().into_scalar();
        *seen.entry(s.to_bits()).or_default() += 1;
    }
    let row = t.clone().reshape([1, n]).sum_dim(1).into_scalar::<f32>();
    println!(
        "{n} elements, {repeats} calls of sum(): {} distinct result(s) (rayon threads: {})",
        seen.len(),
        rayon::current_num_threads()
    );
    for (bits, count) in &seen {
        println!("  {:>14.6} ({bits:#010x}) x{count}", f32::from_bits(*bits));
    }
    println!("sum_dim(1) on the same data: {row:.6}; chunked sequential sum: {sequential:.6}");
}
