//! Where the GPU backends keep compiled kernels and autotune results between runs.
//!
//! cubecl compiles every fused graph and every autotune candidate the first time a process meets
//! it; on an H200 a PSLA step spent its first minutes doing only that (docs/backends.md). Two
//! stores make a second process start warm (cubecl 0.11.3, read in its sources):
//!
//! - **autotune picks**, always persisted (`cubecl-runtime` `tune/tune_cache.rs`), keyed by
//!   device and shape, not by binary;
//! - **compiled kernels**, persisted only when `[compilation] cache = true`
//!   (`cubecl-server` `compiler.rs`): SPIR-V on wgpu with the `vulkan` feature, PTX on cuda; none
//!   for WGSL. The key includes the binary's build id, so a rebuilt binary starts cold.
//!
//! Both live in cubecl's environment database, `<root>/default.db`. The root is chosen, in order:
//!
//! 1. `TYMPAN_KERNEL_CACHE=DIR`: `DIR`, with the kernel store on, over any `cubecl.toml`;
//! 2. a `cubecl.toml` in the working folder or a parent, as cubecl reads it (this repository
//!    commits one: kernels on, root `<workspace>/target/environment`);
//! 3. otherwise `$XDG_CACHE_HOME/tympan/kernels` (default `~/.cache/tympan/kernels`), kernel
//!    store on: an installed `tympan` run from anywhere still starts warm the second time.
//!
//! `TYMPAN_KERNEL_LOG=FILE` writes one `[Compiling kernel] <name>` line per kernel compiled in
//! this process (cubecl's compilation logger at level `basic`, file truncated first), which is how
//! docs/results.md counts the kernels a cold and a warm process compile.

use std::path::{Path, PathBuf};
use std::sync::Once;

use cubecl_runtime::config::compilation::CompilationLogLevel;
use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig, cache::CacheConfig};

/// Configures cubecl once per process, before the first GPU device is used. A configuration
/// cubecl has already read (another library set it first) is left alone.
pub(crate) fn configure() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let (env_dir, log) = (var("TYMPAN_KERNEL_CACHE"), var("TYMPAN_KERNEL_LOG"));
        let file = config_file();
        if env_dir.is_none() && log.is_none() && file.is_some() {
            tracing::debug!(file = ?file, "cubecl configured by its own file");
            return;
        }
        // What cubecl itself would read (its file, else the defaults), with its own environment
        // variables (CUBECL_AUTOTUNE_LEVEL, CUBECL_DEBUG_LOG, ...) applied, as `get` applies them.
        let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
        match (env_dir, &file) {
            (Some(dir), _) => {
                config.compilation.cache = true;
                config.environment.path = CacheConfig::Directory(dir);
            }
            (None, None) => {
                config.compilation.cache = true;
                config.environment.path = CacheConfig::Directory(default_dir());
            }
            (None, Some(_)) => {}
        }
        if let Some(log) = log {
            config.compilation.logger.file = Some(log);
            config.compilation.logger.append = false;
            config.compilation.logger.level = CompilationLogLevel::Basic;
        }
        let root = config.environment.path.root();
        if CubeClRuntimeConfig::try_set(config) {
            tracing::info!(root = %root.display(), "GPU kernel and autotune cache");
        } else {
            tracing::warn!("cubecl's configuration was read before tympan could set its cache");
        }
    });
}

/// The `cubecl.toml` cubecl itself would read: the first in the working folder or its parents
/// (cubecl also reads a `[cubecl]` section of `burn.toml`, which this does not look for: such a
/// file keeps its settings, but the kernel store and the root are tympan's).
fn config_file() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .flat_map(|d| ["cubecl.toml", "CubeCL.toml"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// `$XDG_CACHE_HOME/tympan/kernels`, else `~/.cache/tympan/kernels`, else a folder in the
/// system's temporary directory.
fn default_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("tympan").join("kernels")
}
