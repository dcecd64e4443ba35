//! Pre-flight check of the CUDA backend: what cubecl-cuda needs at run time, checked before
//! Burn touches the device.
//!
//! Without it a machine that lacks a driver meets a panic inside cudarc ("Unable to dynamically
//! load the \"cuda\" shared library") followed by an unwrap on a closed channel in cubecl's
//! server thread. Each check here names what is missing and how to provide it:
//!
//! 1. the driver library (`libcuda.so.1`), loaded the way cudarc loads it;
//! 2. `cuInit` and the device count, so that a driver without a GPU, or `--devices 0,1` on a
//!    one-GPU machine, is one line;
//! 3. the driver's CUDA version against the bindings this binary was built with
//!    (`CUDARC_CUDA_VERSION` at build time, `.cargo/config.toml`);
//! 4. the kernel compiler's files: `libdevice.10.bc` for the default LLVM path (looked up as
//!    cubecl-llvm 0.11.3 does, `src/nvptx/libdevice.rs`: `$CUDA_PATH`, then `/usr/local/cuda`,
//!    `/opt/cuda`, `/usr/lib/cuda`, `/usr`), or NVRTC and the CUDA headers with `cuda-nvrtc`
//!    (cubecl-cuda 0.11.3, `src/lib.rs`, `install::cuda_path`).

use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libloading::Library;

/// The CUDA version whose driver API this binary binds (cudarc's build-time pin), as the driver
/// reports versions (13000 for 13.0). `None` when the build did not pin it.
const BOUND_CUDA_VERSION: Option<&str> = option_env!("CUDARC_CUDA_VERSION");

/// Folders cubecl-llvm searches for `nvvm/libdevice` when `CUDA_PATH` is unset.
#[cfg(not(feature = "cuda-nvrtc"))]
const CUDA_ROOTS: [&str; 4] = ["/usr/local/cuda", "/opt/cuda", "/usr/lib/cuda", "/usr"];

/// The driver's library names, in cudarc's order of preference for Linux.
const DRIVER_NAMES: [&str; 2] = ["libcuda.so", "libcuda.so.1"];

#[cfg(not(feature = "cuda-nvrtc"))]
const PIP_HINT: &str = "e.g. `pip install nvidia-nvvm` and \
    `export CUDA_PATH=$(python3 -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], \"cu13\"))')`";

/// Checks that CUDA device `index` can be used, once per process and device count.
pub(crate) fn check(index: usize) -> Result<(), String> {
    static DEVICES: OnceLock<Result<usize, String>> = OnceLock::new();
    let count = DEVICES.get_or_init(probe).clone()?;
    if index >= count {
        return Err(format!(
            "CUDA device {index} does not exist: the driver reports {count} device(s), numbered from 0"
        ));
    }
    Ok(())
}

fn probe() -> Result<usize, String> {
    let count = driver_devices()?;
    compiler_files()?;
    Ok(count)
}

type CuInit = unsafe extern "C" fn(flags: u32) -> c_int;
type CuCount = unsafe extern "C" fn(count: *mut c_int) -> c_int;
type CuVersion = unsafe extern "C" fn(version: *mut c_int) -> c_int;

/// The CUDA versions cudarc 0.19 has bindings for (`CUDARC_CUDA_VERSION` accepts only these).
const CUDARC_VERSIONS: [c_int; 19] = [
    11040, 11050, 11060, 11070, 11080, 12000, 12010, 12020, 12030, 12040, 12050, 12060, 12080,
    12090, 13000, 13010, 13020, 13030, 13040,
];

/// Loads the driver, initialises it and returns its device count. The library stays loaded for
/// the life of the process: `cuInit` starts driver threads, which must not outlive its code.
fn driver_devices() -> Result<usize, String> {
    // SAFETY: loading the NVIDIA driver library runs only its initialisers, as cudarc's own
    // loader does with the same names.
    let lib = DRIVER_NAMES
        .iter()
        .find_map(|name| unsafe { Library::new(*name) }.ok())
        .ok_or_else(|| {
            format!(
                "no CUDA driver: none of {} could be loaded. Install the NVIDIA driver, or add the \
                 folder holding libcuda.so.1 to LD_LIBRARY_PATH",
                DRIVER_NAMES.join(", ")
            )
        })?;
    // SAFETY: these are the driver API's documented signatures (cuda.h).
    unsafe {
        let symbol = |name: &str| format!("the CUDA driver library has no {name}");
        let init = lib.get::<CuInit>("cuInit").map_err(|_| symbol("cuInit"))?;
        let count = lib
            .get::<CuCount>("cuDeviceGetCount")
            .map_err(|_| symbol("cuDeviceGetCount"))?;
        let version = lib
            .get::<CuVersion>("cuDriverGetVersion")
            .map_err(|_| symbol("cuDriverGetVersion"))?;
        let mut driver = 0;
        if version(&mut driver) == 0 {
            check_version(driver)?;
        }
        match init(0) {
            0 => {}
            100 => return Err("the CUDA driver is installed but sees no GPU (cuInit: CUDA_ERROR_NO_DEVICE); check CUDA_VISIBLE_DEVICES".into()),
            code => return Err(format!("the CUDA driver failed to initialise (cuInit returned {code}); nvidia-smi should say why")),
        }
        let mut n: c_int = 0;
        let result = match count(&mut n) {
            0 => Ok(n.max(0) as usize),
            code => Err(format!("cuDeviceGetCount returned {code}")),
        };
        std::mem::forget(lib);
        result
    }
}

/// The driver must support at least the CUDA version the bindings were built for.
fn check_version(driver: c_int) -> Result<(), String> {
    let Some(bound) = BOUND_CUDA_VERSION.and_then(|v| v.parse::<c_int>().ok()) else {
        return Ok(());
    };
    if driver < bound {
        let rebuild = match CUDARC_VERSIONS.iter().rev().find(|v| **v <= driver) {
            Some(v) => format!("rebuild with CUDARC_CUDA_VERSION={v} (.cargo/config.toml sets it)"),
            None => "no CUDA version cudarc binds is that old".to_string(),
        };
        return Err(format!(
            "the CUDA driver supports CUDA {}, older than the {} this binary was built for; \
             {rebuild}, or update the driver",
            dotted(driver),
            dotted(bound),
        ));
    }
    Ok(())
}

fn dotted(v: c_int) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

/// `$CUDA_PATH`, or the first of cubecl's fallback folders holding `nvvm/libdevice`.
#[cfg(not(feature = "cuda-nvrtc"))]
fn cuda_root() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CUDA_PATH") {
        return Some(PathBuf::from(path));
    }
    CUDA_ROOTS
        .iter()
        .map(Path::new)
        .find(|root| root.join("nvvm/libdevice").is_dir())
        .map(Path::to_path_buf)
}

#[cfg(not(feature = "cuda-nvrtc"))]
fn compiler_files() -> Result<(), String> {
    let root = cuda_root();
    let found = root
        .as_ref()
        .map(|r| r.join("nvvm/libdevice/libdevice.10.bc"))
        .filter(|p| p.is_file());
    if found.is_none() {
        let looked = match &root {
            Some(r) => format!("{}/nvvm/libdevice/", r.display()),
            None => format!("$CUDA_PATH (unset) and {}", CUDA_ROOTS.join(", ")),
        };
        return Err(format!(
            "libdevice.10.bc not found in {looked}: the CUDA backend's LLVM compiler links it for \
             math functions. Point CUDA_PATH at a CUDA toolkit, {PIP_HINT}; or build with \
             `--features cuda-nvrtc` to compile through NVRTC instead"
        ));
    }
    Ok(())
}

#[cfg(feature = "cuda-nvrtc")]
fn compiler_files() -> Result<(), String> {
    // SAFETY: loading NVRTC runs only its initialisers, as cudarc's own loader does.
    let nvrtc = ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"]
        .iter()
        .any(|name| unsafe { Library::new(*name) }.is_ok());
    if !nvrtc {
        return Err(
            "NVRTC (libnvrtc.so) could not be loaded, and this build (cuda-nvrtc) compiles \
             kernels with it: `pip install nvidia-cuda-nvrtc` and add its lib folder to \
             LD_LIBRARY_PATH, or use a build without cuda-nvrtc (LLVM and libdevice)"
                .into(),
        );
    }
    // cubecl-cuda's `install::cuda_path`: CUDA_PATH, /usr/local/cuda, /opt/cuda, or /usr when
    // /usr/bin/nvcc exists; NVRTC compiles against its include folder.
    let root = std::env::var_os("CUDA_PATH")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/local/cuda", "/opt/cuda"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
        })
        .or_else(|| {
            Path::new("/usr/bin/nvcc")
                .exists()
                .then(|| PathBuf::from("/usr"))
        });
    match root {
        Some(r) if r.join("include/cuda_runtime.h").is_file() => Ok(()),
        Some(r) => Err(format!(
            "{}/include/cuda_runtime.h not found: NVRTC compiles kernels against the CUDA headers. \
             Point CUDA_PATH at a toolkit, e.g. `pip install nvidia-cuda-runtime` and set \
             CUDA_PATH to its nvidia/cu13 folder",
            r.display()
        )),
        None => Err(
            "no CUDA toolkit found for NVRTC's headers: set CUDA_PATH (e.g. `pip install \
             nvidia-cuda-runtime` and point CUDA_PATH at its nvidia/cu13 folder)"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_drivers_are_named_with_the_rebuild_setting() {
        if let Some(bound) = BOUND_CUDA_VERSION.and_then(|v| v.parse::<c_int>().ok()) {
            assert!(check_version(bound).is_ok());
            assert!(check_version(bound + 10).is_ok());
            if bound > 12080 {
                let e = check_version(12080).unwrap_err();
                assert!(
                    e.contains("CUDA 12.8") && e.contains("CUDARC_CUDA_VERSION=12080"),
                    "{e}"
                );
                // 12.7 has no bindings of its own: the nearest older version cudarc has.
                let e = check_version(12070).unwrap_err();
                assert!(
                    e.contains("CUDA 12.7") && e.contains("CUDARC_CUDA_VERSION=12060"),
                    "{e}"
                );
            }
        }
        assert_eq!(dotted(13000), "13.0");
        assert_eq!(dotted(12090), "12.9");
    }

    /// On a machine without the NVIDIA driver (CI), the check is an error naming the library,
    /// never a panic.
    #[test]
    fn a_machine_without_a_driver_gets_an_error() {
        let has_driver = DRIVER_NAMES
            .iter()
            .any(|n| unsafe { Library::new(*n) }.is_ok());
        match check(0) {
            Ok(()) => assert!(has_driver),
            Err(e) => assert!(
                has_driver || e.contains("libcuda.so.1") && e.contains("LD_LIBRARY_PATH"),
                "{e}"
            ),
        }
    }
}
