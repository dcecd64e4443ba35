//! The workspace around the bundle: what travels with every device call, the bundle folder's
//! safety check, the commit, and the path the device tool's `carry` names.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::MARKER;
use super::pack::{self, file_len};

/// Bytes of the working tree that the device tool sends with every call: tracked files and
/// untracked files git does not ignore (`git ls-files -co --exclude-standard`), and `shared/`
/// where the checkout has one; the bundle folder itself is left out.
pub(super) fn travelling_tree(root: &Path, out: &Path) -> Result<u64> {
    let o = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .with_context(|| {
            format!(
                "git ls-files in {} (the budget counts the working tree)",
                root.display()
            )
        })?;
    if !o.status.success() {
        bail!(
            "git ls-files in {} failed: {} (pass --max-mib to set the budget yourself)",
            root.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let out_rel = out.strip_prefix(root).ok().map(Path::to_path_buf);
    if let Some(rel) = &out_rel {
        let ignored = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["check-ignore", "-q"])
            .arg(rel)
            .status()
            .is_ok_and(|s| s.success());
        if !ignored {
            eprintln!(
                "warning: {} is not ignored by git: it would travel with every device call on top of what is carried",
                out.display()
            );
        }
    }
    let listing = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut bytes = 0;
    // Paths listed twice (a tracked file with a conflict) are counted once.
    let mut seen = std::collections::HashSet::new();
    for rel in listing.split('\0').filter(|s| !s.is_empty()) {
        let inside_out = out_rel
            .as_ref()
            .is_some_and(|dir| Path::new(rel).starts_with(dir));
        if !seen.insert(rel) || inside_out {
            continue;
        }
        // A deleted tracked file does not travel; a link travels as a link.
        if let Ok(m) = std::fs::symlink_metadata(root.join(rel)) {
            bytes += m.len();
        }
    }
    let shared = root.join("shared");
    if shared.is_dir() {
        for rel in pack::walk(&shared, &|_| false)? {
            bytes += file_len(&shared.join(rel)).unwrap_or(0);
        }
    }
    Ok(bytes)
}

/// Empties `out` (made if missing), refusing a folder that holds anything but an earlier bundle.
pub(super) fn empty_bundle_folder(out: &Path, root: &Path) -> Result<()> {
    if root.starts_with(out) {
        bail!(
            "--out {}: the workspace is inside it; choose a folder of its own",
            out.display()
        );
    }
    if out.exists() {
        let non_empty = std::fs::read_dir(out)
            .with_context(|| out.display().to_string())?
            .next()
            .is_some();
        if non_empty && !out.join(MARKER).is_file() {
            bail!(
                "--out {}: not empty and not a bundle made by `cargo xtask gpu-bundle` (no {MARKER}); refusing to empty it",
                out.display()
            );
        }
        std::fs::remove_dir_all(out).with_context(|| format!("emptying {}", out.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    let marker = out.join(MARKER);
    std::fs::write(
        &marker,
        "made by cargo xtask gpu-bundle; emptied by its next run\n",
    )
    .with_context(|| marker.display().to_string())
}

/// `git rev-parse HEAD` and whether `git status --porcelain` lists changes.
pub(super) fn git_state(root: &Path) -> (String, Option<bool>) {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown (git failed)".into());
    let dirty = git(&["status", "--porcelain"]).map(|s| !s.is_empty());
    (commit, dirty)
}

/// `out` as the device tool's `carry` names it: relative to the workspace root.
pub(super) fn carry_path(root: &Path, out: &Path) -> String {
    match out.strip_prefix(root) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => {
            eprintln!(
                "warning: {} is outside the workspace {}: the device tool carries only paths inside it",
                out.display(),
                root.display()
            );
            out.display().to_string()
        }
    }
}
