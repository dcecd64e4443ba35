//! Process-level allocator settings for programs that decode and featurise many files.
//!
//! glibc's `malloc` hands blocks above 128 KiB back to the kernel when they are freed (`munmap`,
//! or trimming the heap's top), and the next allocation of the same size faults fresh, zeroed
//! pages back in. A clip's buffers (its samples, its 1056 x 128 fbank, the `.npy` bytes) are
//! each 0.5-1 MB, allocated and freed once per file. `perf record` on `cargo xtask bench
//! frontend` (2026-12-04) put 23.5 % of the time in page faults and 6.5 % in `brk`; keeping
//! freed memory in the heap took the frontend from 153-209 to 256-276 clips/s on one core.
//!
//! The models run on rayon's worker threads (`tympan_kernels::on_pool`), and glibc gives each
//! thread that allocates its own arena: with the activations allocated there, the settings above
//! no longer kept them (`perf` on Hershey et al.'s VGG forward pass, 2026-12-06: page faults and
//! page clearing 6 % of the samples, 20 % fewer clips/s than from the main thread). One arena for
//! every thread (`M_ARENA_MAX`) keeps them again (and took VGG's forward pass past the main
//! thread's speed); the threads then share that arena's lock.
//!
//! The library crates never change process state: the `tympan` and `cargo xtask` binaries call
//! [`keep_freed_memory`] at start-up, and a program built on the crates may do the same.

/// Keep freed blocks of up to 256 MiB in the heap for reuse instead of returning them to the
/// kernel (glibc's `M_MMAP_THRESHOLD` and `M_TRIM_THRESHOLD`). The resident size then stays at
/// its peak until the process exits. Every thread allocates from one arena (`M_ARENA_MAX`), so
/// that this holds for rayon's workers too. Does nothing on other C libraries (musl, macOS,
/// Windows), whose allocators keep freed memory by themselves.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const KEEP: libc::c_int = 256 << 20;
        // SAFETY: `mallopt` only changes glibc's allocator parameters; it is called before the
        // program allocates in earnest and takes plain integers.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP);
            libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP);
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}
