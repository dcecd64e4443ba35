//! Pause points for the kill tests (`xtask/tests/kill_resume.rs`), which stop a real training
//! process with SIGKILL at a chosen moment and check that `--resume` gives the uninterrupted
//! run's files bit for bit.
//!
//! With `TYMPAN_PAUSE_AT=<point>` and `TYMPAN_PAUSE_FILE=<path>` in the environment, the engine,
//! on reaching `<point>`, creates `<path>` and then waits forever for the kill. Points:
//! `batch@<epoch>:<batch>` (after that batch's optimizer step), `evaluate@<epoch>` (before the
//! epoch's evaluation) and `checkpoint@<epoch>` (inside the commit: the epoch's model file is
//! written, the optimizer and `state.json` are not). Unset, a point costs one comparison.

use std::path::PathBuf;
use std::sync::OnceLock;

fn armed() -> Option<&'static (String, PathBuf)> {
    static SPEC: OnceLock<Option<(String, PathBuf)>> = OnceLock::new();
    SPEC.get_or_init(|| {
        let at = std::env::var("TYMPAN_PAUSE_AT").ok()?;
        let file = std::env::var_os("TYMPAN_PAUSE_FILE")?;
        Some((at, PathBuf::from(file)))
    })
    .as_ref()
}

/// Waits here forever when `point()` is the armed point.
pub(crate) fn at(point: impl FnOnce() -> String) {
    let Some((at, file)) = armed() else {
        return;
    };
    if *at != point() {
        return;
    }
    tracing::warn!("{at}: paused for a kill test ({})", file.display());
    if std::fs::write(file, at.as_bytes()).is_ok() {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
