//! Peak resident memory for the benchmarks (Linux; `None` elsewhere): this process's own peak
//! since the last [`reset_own_peak`] (`VmHWM` in `/proc/self/status`, reset through
//! `/proc/self/clear_refs`, Linux 4.0+), and a child's whole-life peak from `wait4`'s rusage.

use std::process::{Child, ExitStatus};

use anyhow::{Context, Result};

/// Start this process's peak-memory count over from its current resident size, after handing
/// the allocator's free memory back to the system: the binaries keep freed memory
/// (`tympan::allocator::keep_freed_memory`), so without it a model's peak would start from the
/// previous model's. Buffers still held are still counted: the Winograd kernels' per-thread
/// buffers (up to about 50 MiB on the calling thread after 512-channel layers).
pub fn reset_own_peak() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: glibc's malloc_trim only releases free heap memory; no pointer is passed.
    unsafe {
        libc::malloc_trim(0);
    }
    // "5" resets the peak RSS (proc(5), /proc/pid/clear_refs); without it, peaks accumulate.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak resident memory since the last [`reset_own_peak`], in MiB.
pub fn own_peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Wait for `child` and return its exit status with its peak resident memory in MiB.
#[cfg(target_os = "linux")]
pub fn wait_with_peak(child: Child) -> Result<(ExitStatus, Option<f64>)> {
    use std::os::unix::process::ExitStatusExt;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data that `wait4` fills; both pointers are to locals that
    // outlive the call. The child is reaped here, so `child` must not be waited on again (it is
    // consumed).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        return Err(std::io::Error::last_os_error()).context("waiting for the benchmarked command");
    }
    drop(child);
    // ru_maxrss is in KiB on Linux.
    Ok((
        ExitStatus::from_raw(status),
        Some(usage.ru_maxrss as f64 / 1024.0),
    ))
}

/// Wait for `child`; its peak memory is not measured on this platform.
#[cfg(not(target_os = "linux"))]
pub fn wait_with_peak(mut child: Child) -> Result<(ExitStatus, Option<f64>)> {
    Ok((
        child
            .wait()
            .context("waiting for the benchmarked command")?,
        None,
    ))
}

/// `"123 MiB"`, or `"n/a"` where it was not measured.
pub fn show(mib: Option<f64>) -> String {
    mib.map_or_else(|| "n/a".into(), |m| format!("{m:.0} MiB"))
}
