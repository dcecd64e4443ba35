//! What the PyTorch references of `cargo xtask bench` need, checked before any timing: the Python
//! interpreter with its packages, and a PSLA checkout. A missing piece is one line naming what
//! to install, instead of a Python traceback after the Rust side has run.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

/// `python` imports `modules` (Python module names, e.g. `torch`). `skippable`: the command takes
/// `--python none` to time tympan alone.
pub fn check_python(python: &str, modules: &[&str], skippable: bool) -> Result<()> {
    let code = format!("import {}", modules.join(", "));
    let out = Command::new(python).args(["-c", &code]).output();
    let reason = match out {
        Ok(o) if o.status.success() => return Ok(()),
        Ok(o) => String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or("failed")
            .to_string(),
        Err(e) => e.to_string(),
    };
    let skip = if skippable {
        ", or --python none to time tympan alone"
    } else {
        ""
    };
    bail!(
        "the PyTorch reference needs `{python}` with {} ({reason}); install them (pip install {}) \
         and pass --python PATH{skip}",
        modules.join(", "),
        modules.join(" ")
    )
}

/// `dir` is a checkout of PSLA (github.com/YuanGongND/psla): it holds `src/models/Models.py`.
pub fn check_psla(dir: &Path) -> Result<()> {
    if !dir.join("src/models/Models.py").is_file() {
        bail!(
            "--psla-src {}: not a PSLA checkout (no src/models/Models.py); \
             git clone https://github.com/YuanGongND/psla",
            dir.display()
        );
    }
    Ok(())
}
