//! A streaming batch loader: decode + features + augmentation run on a worker pool, batches
//! arrive in order through a bounded queue, and the dataset is never held in memory.
//!
//! Determinism: every item gets its own RNG seeded from `(seed, epoch, position)`, so the batches
//! are the same for a given seed whatever the number of workers.
//!
//! [`prefetch`] is the same ordered, bounded producer for batches built from borrowed data (the
//! training engine's), and [`NormAccumulator`] the normalisation statistics both `tympan stats`
//! and training read.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rand::{SeedableRng, rngs::StdRng};
use rayon::prelude::*;

use crate::error::DataError;

/// Loader settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Items per batch (the last batch may be smaller).
    pub batch_size: usize,
    /// Worker threads.
    pub workers: usize,
    /// Finished batches buffered ahead of the consumer.
    pub prefetch: usize,
    /// Seed of the per-item RNGs.
    pub seed: u64,
    /// Epoch (mixed into the per-item seeds).
    pub epoch: u64,
}

/// One batch: the items' positions in the order, and their results.
#[derive(Debug)]
pub struct Batch<T> {
    /// Index of each item in the dataset.
    pub indices: Vec<usize>,
    /// The work function's output per item, in order.
    pub items: Vec<T>,
}

/// An iterator over batches; dropping it stops the workers.
pub struct Loader<T, E> {
    rx: Option<Receiver<Result<Batch<T>, E>>>,
    handle: Option<JoinHandle<()>>,
}

fn item_seed(seed: u64, epoch: u64, position: usize) -> u64 {
    crate::seed::mix(seed, &[epoch, position as u64])
}

/// Sends `build(0)`, `build(1)`, ... for `count` batches through `tx`, in order. Stops after
/// delivering the first error, or once the receiver is gone.
fn produce<T, E>(
    count: usize,
    tx: &SyncSender<Result<T, E>>,
    build: impl Fn(usize) -> Result<T, E>,
) {
    for b in 0..count {
        let r = build(b);
        let failed = r.is_err();
        if tx.send(r).is_err() || failed {
            return;
        }
    }
}

/// Builds batches `0..count` with `build` on a helper thread of `scope`, at most `depth` ahead
/// of the consumer, and delivers them in order: batch `b + 1` is built while the caller works on
/// batch `b`. The stream ends after the first error, and the helper stops once the receiver is
/// dropped. For data borrowed from the caller's frame (the training engine's epoch loop);
/// [`Loader`] is the owned, per-item form.
pub fn prefetch<'scope, T, E, F>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    count: usize,
    depth: usize,
    build: F,
) -> Result<Receiver<Result<T, E>>, DataError>
where
    T: Send + 'scope,
    E: Send + 'scope,
    F: Fn(usize) -> Result<T, E> + Send + 'scope,
{
    let (tx, rx) = sync_channel(depth.max(1));
    std::thread::Builder::new()
        .name("tympan-prefetch".into())
        .spawn_scoped(scope, move || produce(count, &tx, build))
        .map_err(|source| DataError::Thread {
            what: "prefetch",
            source,
        })?;
    Ok(rx)
}

impl<T: Send + 'static, E: Send + 'static> Loader<T, E> {
    /// Starts loading `order` (dataset indices, e.g. from [`crate::sampling`]) with `work(index,
    /// rng)`. An item error ends the stream after being yielded.
    pub fn new<W>(order: Vec<usize>, cfg: LoaderConfig, work: W) -> Result<Self, DataError>
    where
        W: Fn(usize, &mut StdRng) -> Result<T, E> + Send + Sync + 'static,
    {
        if cfg.batch_size == 0 {
            return Err(DataError::Mismatch("batch_size must be positive".into()));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.workers.max(1))
            .thread_name(|i| format!("tympan-loader-{i}"))
            .build()
            .map_err(|e| DataError::Thread {
                what: "loader workers",
                source: std::io::Error::other(e),
            })?;
        let (tx, rx) = sync_channel(cfg.prefetch.max(1));
        let handle = std::thread::Builder::new()
            .name("tympan-loader".into())
            .spawn(move || {
                let batches = order.len().div_ceil(cfg.batch_size);
                produce(batches, &tx, |b| {
                    let chunk =
                        &order[b * cfg.batch_size..((b + 1) * cfg.batch_size).min(order.len())];
                    let first = b * cfg.batch_size;
                    let items: Result<Vec<T>, E> = pool.install(|| {
                        chunk
                            .par_iter()
                            .enumerate()
                            .map(|(k, &i)| {
                                let seed = item_seed(cfg.seed, cfg.epoch, first + k);
                                work(i, &mut StdRng::seed_from_u64(seed))
                            })
                            .collect()
                    });
                    items.map(|items| Batch {
                        indices: chunk.to_vec(),
                        items,
                    })
                })
            })
            .map_err(|source| DataError::Thread {
                what: "loader",
                source,
            })?;
        Ok(Self {
            rx: Some(rx),
            handle: Some(handle),
        })
    }
}

impl<T, E> Iterator for Loader<T, E> {
    type Item = Result<Batch<T>, E>;
    fn next(&mut self) -> Option<Self::Item> {
        self.rx.as_ref()?.recv().ok()
    }
}

impl<T, E> Drop for Loader<T, E> {
    fn drop(&mut self) {
        self.rx.take(); // unblocks the producer's send
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Normalisation statistics of features over a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct NormStats {
    /// PSLA's `get_norm_stats`: mean over batches of the batch mean.
    pub psla_mean: f64,
    /// PSLA's `get_norm_stats`: mean over batches of the batch standard deviation (unbiased, as
    /// `torch.std`).
    pub psla_std: f64,
    /// Exact mean over every value.
    pub mean: f64,
    /// Exact (population) standard deviation over every value.
    pub std: f64,
    /// Number of values.
    pub count: u64,
}

/// Accumulates [`NormStats`] batch by batch.
#[derive(Debug, Default, Clone)]
pub struct NormAccumulator {
    batch_means: Vec<f64>,
    batch_stds: Vec<f64>,
    n: u64,
    sum: f64,
    sum_sq: f64,
}

impl NormAccumulator {
    /// Adds one batch (all its values flattened).
    pub fn add_batch(&mut self, values: &[f32]) {
        if values.is_empty() {
            return;
        }
        let n = values.len() as f64;
        let (s, s2) = values.iter().fold((0.0f64, 0.0f64), |(a, b), &v| {
            (a + v as f64, b + (v as f64) * (v as f64))
        });
        let mean = s / n;
        let var = if values.len() > 1 {
            ((s2 - s * mean) / (n - 1.0)).max(0.0)
        } else {
            0.0
        };
        self.batch_means.push(mean);
        self.batch_stds.push(var.sqrt());
        self.n += values.len() as u64;
        self.sum += s;
        self.sum_sq += s2;
    }
    /// Adds what `other` accumulated, as if its batches had been added here after this one's:
    /// statistics computed in parallel and merged in order equal the sequential ones, bit for
    /// bit.
    pub fn merge(&mut self, other: NormAccumulator) {
        self.batch_means.extend(other.batch_means);
        self.batch_stds.extend(other.batch_stds);
        self.n += other.n;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
    }

    /// The statistics so far.
    pub fn stats(&self) -> NormStats {
        let avg = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        let n = self.n.max(1) as f64;
        let mean = self.sum / n;
        NormStats {
            psla_mean: avg(&self.batch_means),
            psla_std: avg(&self.batch_stds),
            mean,
            std: (self.sum_sq / n - mean * mean).max(0.0).sqrt(),
            count: self.n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn run(workers: usize) -> Vec<(Vec<usize>, Vec<u32>)> {
        let cfg = LoaderConfig {
            batch_size: 4,
            workers,
            prefetch: 2,
            seed: 9,
            epoch: 1,
        };
        let order: Vec<usize> = (0..10).rev().collect();
        Loader::new(order, cfg, |i, rng| {
            Ok::<_, String>(i as u32 * 1000 + rng.random_range(0..1000))
        })
        .unwrap()
        .map(|b| {
            let b = b.unwrap();
            (b.indices, b.items)
        })
        .collect()
    }

    #[test]
    fn order_and_randomness_do_not_depend_on_workers() {
        let a = run(1);
        assert_eq!(
            a.iter().map(|b| b.0.len()).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
        assert_eq!(a[0].0, vec![9, 8, 7, 6]);
        assert_eq!(a, run(3));
    }

    #[test]
    fn errors_end_the_stream_and_drop_stops_workers() {
        let cfg = LoaderConfig {
            batch_size: 2,
            workers: 2,
            prefetch: 1,
            seed: 0,
            epoch: 0,
        };
        let out: Vec<_> = Loader::new((0..10).collect(), cfg, |i, _| {
            if i == 3 {
                Err(format!("bad {i}"))
            } else {
                Ok(i)
            }
        })
        .unwrap()
        .collect();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].as_ref().unwrap_err(), "bad 3");
        // Dropping after one batch of a long stream returns promptly.
        let mut l = Loader::new((0..100_000).collect(), cfg, |i, _| Ok::<_, String>(i)).unwrap();
        assert!(l.next().is_some());
        drop(l);
    }

    #[test]
    fn norm_stats() {
        let mut acc = NormAccumulator::default();
        acc.add_batch(&[1.0, 3.0]);
        acc.add_batch(&[5.0, 7.0, 9.0, 11.0]);
        let s = acc.stats();
        assert!((s.psla_mean - (2.0 + 8.0) / 2.0).abs() < 1e-12);
        // torch.std([1,3]) = sqrt(2); torch.std([5,7,9,11]) = sqrt(20/3)
        assert!((s.psla_std - (2f64.sqrt() + (20.0f64 / 3.0).sqrt()) / 2.0).abs() < 1e-12);
        assert!((s.mean - 6.0).abs() < 1e-12);
        assert_eq!(s.count, 6);
        // Accumulated apart and merged in order: the same statistics, bit for bit.
        let (mut a, mut b) = (NormAccumulator::default(), NormAccumulator::default());
        a.add_batch(&[1.0, 3.0]);
        b.add_batch(&[5.0, 7.0, 9.0, 11.0]);
        a.merge(b);
        assert_eq!(a.stats(), s);
    }

    #[test]
    fn prefetch_delivers_borrowed_batches_in_order_and_stops_at_an_error() {
        let data: Vec<u32> = (0..10).collect();
        let got: Vec<Result<u32, String>> = std::thread::scope(|scope| {
            let rx = prefetch(scope, 6, 2, |b| match b {
                4 => Err(format!("bad {b}")),
                _ => Ok(data[b] * 10),
            })
            .unwrap();
            rx.iter().collect()
        });
        assert_eq!(
            got,
            vec![Ok(0), Ok(10), Ok(20), Ok(30), Err("bad 4".to_string())]
        );
        // A consumer that stops early releases the helper (the scope would hang otherwise).
        std::thread::scope(|scope| {
            let rx = prefetch(scope, 1_000_000, 1, |b| Ok::<_, String>(data[b % 10])).unwrap();
            assert_eq!(rx.recv().unwrap(), Ok(0));
        });
    }
}
