//! The program's main thread as one of rayon's workers, for the binaries.
//!
//! An operation started from a thread outside rayon's pool waits on a lock for its parallel
//! section (`tympan_kernels::on_pool` says why that costs). [`main_thread_in_pool`] makes the
//! main thread worker 0, so that the forward passes and training steps it runs start their
//! operations as a worker does (docs/results.md, 2026-12-06: `tympan tag` with PSLA's
//! EfficientNet-B2 10 % faster on 2 cores, training steps 5-30 % by family).
//!
//! Why the main thread itself rather than handing each step to the pool (as `on_pool` does for
//! forward passes): Burn's `RunningState`, which holds batch norm's running statistics, keeps
//! one value per thread and averages them when a thread that has one reads it (burn-core 0.22.1
//! `src/module/param/running.rs`). Training steps run on whichever worker picked them up
//! averaged statistics across steps, and a run's results depended on timing (the resume tests
//! failed, 2026-12-06). The main thread is the same thread for every step.
//!
//! The library crates never change process state: `tympan` and `cargo xtask` call this at
//! start-up, and a program built on the crates may do the same.

/// Build rayon's global pool with the calling thread as its worker 0 (rayon's
/// `use_current_thread`); the thread count is rayon's default (`RAYON_NUM_THREADS`, else one per
/// core), this thread included. Fails if the global pool already exists.
///
/// With one thread the pool is built without this thread: worker 0 only runs work that it
/// starts itself, and a job another thread hands the pool (the data loader's) would wait for it
/// while it waits for the loader (a `RAYON_NUM_THREADS=1` run hung so).
pub fn main_thread_in_pool() -> Result<(), rayon::ThreadPoolBuildError> {
    // rayon's own default, which its builder does not expose.
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let builder = rayon::ThreadPoolBuilder::new().num_threads(threads);
    if threads == 1 {
        return builder.build_global();
    }
    builder.use_current_thread().build_global()
}
