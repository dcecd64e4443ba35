//! Runtime backend selection.
//!
//! | feature   | backend | notes |
//! |-----------|---------|-------|
//! | `flex`    | Burn's pure-Rust CPU backend | default; ~20x faster than ndarray here (docs/backends.md) |
//! | `ndarray` | burn-ndarray | deprecated upstream, kept for comparison |
//! | `wgpu`    | WebGPU (Vulkan, Metal, DX12), WGSL kernels | any GPU; also Mesa's software adapter |
//! | `vulkan`  | the same `wgpu` backend, SPIR-V kernels kept between runs | Vulkan GPUs and lavapipe |
//! | `cuda`    | CUDA, kernels through LLVM's NVPTX | NVIDIA; builds against LLVM 23 (`scripts/install-cuda-llvm.sh`) |
//! | `cuda-nvrtc` | the same `cuda` backend, kernels through NVRTC | needs libnvrtc and the CUDA headers |

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;

/// A Burn backend tympan can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Burn's pure-Rust CPU backend (`flex` feature).
    Flex,
    /// burn-ndarray (`ndarray` feature).
    NdArray,
    /// WebGPU through wgpu (`wgpu` feature).
    Wgpu,
    /// CUDA device 0 (`cuda` feature).
    Cuda,
}

/// A backend was asked for that does not exist or is not compiled into this binary.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackendError {
    /// Unknown backend name.
    #[error("unknown backend {0:?} (expected flex, ndarray, wgpu or cuda)")]
    Unknown(String),
    /// A device index the backend does not have.
    #[error("backend {name} has no device {index} (the CPU backends have one device, 0)")]
    NoSuchDevice {
        /// The backend's name.
        name: &'static str,
        /// The index asked for.
        index: usize,
    },
    /// Compiled in, but the machine lacks what it needs at run time (a driver, a GPU, a file).
    #[error("backend {name} cannot start: {reason}")]
    Unavailable {
        /// The backend's name.
        name: &'static str,
        /// What is missing, and how to provide it.
        reason: String,
    },
    /// Known backend, but its cargo feature was not enabled at build time.
    #[error("backend {name} is not compiled into this build (compiled in: {available}); {hint}")]
    NotCompiled {
        /// The backend's name (also its cargo feature).
        name: &'static str,
        /// The backends this build has.
        available: String,
        /// The commands that build it in.
        hint: String,
    },
}

impl Backend {
    /// Every backend, in order of preference for [`Backend::default_available`].
    pub const ALL: [Backend; 4] = [
        Backend::Cuda,
        Backend::Wgpu,
        Backend::Flex,
        Backend::NdArray,
    ];

    /// The name, which is also the cargo feature that compiles it in.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::NdArray => "ndarray",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// The commands that compile this backend in: the task runner's alias (GPU backends) and the
    /// CLI's feature.
    pub fn build_hint(self) -> String {
        let n = self.name();
        match self {
            Backend::Wgpu | Backend::Cuda => format!(
                "compile it in with `cargo xtask-{n} ...` (task runner, see .cargo/config.toml) or \
                 `cargo install tympan --features {n}` / `cargo run -p tympan --features {n} -- ...` (CLI)"
            ),
            Backend::Flex | Backend::NdArray => format!(
                "compile it in with `cargo install tympan --features {n}` / `cargo run -p tympan --features {n} -- ...`"
            ),
        }
    }

    /// Whether this build has the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::NdArray => cfg!(feature = "ndarray"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backends compiled into this build.
    pub fn available() -> Vec<Backend> {
        Self::ALL.into_iter().filter(|b| b.is_compiled()).collect()
    }

    /// The default backend of this build: `flex` when compiled in (the measured-fastest CPU
    /// backend), else the first of cuda, wgpu, ndarray that is. `None` if no backend feature is on.
    pub fn default_available() -> Option<Backend> {
        if Backend::Flex.is_compiled() {
            return Some(Backend::Flex);
        }
        Self::available().into_iter().next()
    }

    /// Device `index` of this backend, for data-parallel training (`--devices 0,1`): the
    /// index-th CUDA device, or the index-th discrete GPU for wgpu (0: wgpu's default adapter).
    /// The CPU backends have one device, index 0.
    pub fn device_at(self, index: usize) -> Result<Device, BackendError> {
        self.preflight(index)?;
        if index == 0 {
            return self.device();
        }
        match self {
            Backend::Flex | Backend::NdArray => Err(BackendError::NoSuchDevice {
                name: self.name(),
                index,
            }),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(index))),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(index)),
            #[allow(unreachable_patterns)]
            _ => self.device(),
        }
    }

    /// The device of this backend (device 0 for GPUs).
    pub fn device(self) -> Result<Device, BackendError> {
        self.preflight(0)?;
        self.compiled_device()
            .ok_or_else(|| BackendError::NotCompiled {
                name: self.name(),
                available: Self::available()
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                hint: self.build_hint(),
            })
    }

    /// Prepares the backend before Burn touches the device: the GPU backends' kernel cache
    /// (`kernel_cache.rs`), and for cuda a check of the driver and compiler files, so that a
    /// missing driver is an error rather than a panic in a runtime thread (wgpu reports a missing
    /// adapter itself).
    fn preflight(self, index: usize) -> Result<(), BackendError> {
        match self {
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => {
                crate::kernel_cache::configure();
                Ok(())
            }
            #[cfg(feature = "cuda")]
            Backend::Cuda => {
                crate::cuda_check::check(index).map_err(|reason| BackendError::Unavailable {
                    name: self.name(),
                    reason,
                })?;
                crate::kernel_cache::configure();
                Ok(())
            }
            _ => {
                let _ = index;
                Ok(())
            }
        }
    }

    fn compiled_device(self) -> Option<Device> {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Some(Device::flex()),
            #[cfg(feature = "ndarray")]
            // deprecated upstream in favour of flex; kept, by the issue, for comparison
            #[allow(deprecated)]
            Backend::NdArray => Some(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Some(Device::wgpu(Default::default())),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Some(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "flex" => Ok(Backend::Flex),
            "ndarray" => Ok(Backend::NdArray),
            "wgpu" => Ok(Backend::Wgpu),
            "cuda" => Ok(Backend::Cuda),
            _ => Err(BackendError::Unknown(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_missing_backends_are_errors() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>().unwrap(), b);
        }
        assert!(matches!(
            "tpu".parse::<Backend>(),
            Err(BackendError::Unknown(_))
        ));
        for b in Backend::ALL {
            match b.device() {
                Ok(_) => assert!(b.is_compiled(), "{b}"),
                // A compiled-in GPU backend on a machine without its driver (CI): an error.
                Err(BackendError::Unavailable { name, .. }) => {
                    assert!(b.is_compiled() && name == "cuda", "{b}")
                }
                Err(e) => assert!(!b.is_compiled(), "{b}: {e}"),
            }
        }
        #[cfg(feature = "flex")]
        {
            use burn::prelude::Tensor;
            let d = Backend::Flex.device().unwrap();
            let t = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &d);
            assert_eq!(t.sum().into_scalar::<f32>(), 6.0);
            assert!(Backend::Flex.device_at(0).is_ok());
            if !Backend::Wgpu.is_compiled() {
                let e = Backend::Wgpu.device().unwrap_err().to_string();
                assert!(
                    e.contains("cargo xtask-wgpu") && e.contains("--features wgpu"),
                    "{e}"
                );
            }
            assert_eq!(
                Backend::Flex.device_at(1).unwrap_err(),
                BackendError::NoSuchDevice {
                    name: "flex",
                    index: 1
                }
            );
        }
    }
}
