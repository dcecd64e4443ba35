//! The bundle's building blocks that touch the disk or shell out: strip, xz, tar, pip, and a
//! cache of finished archives under `target/gpu-bundle-cache/` so that a second bundle of the
//! same inputs (say, after `--leave-out` or a new `--caches`) does not compress them again.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// Runs `cmd` to completion; an error names the program, its arguments and the end of its
/// standard error.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start {shown}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    Ok(())
}

/// Fails unless `program --version` runs, saying what to install.
pub fn require(program: &str, install: &str) -> Result<()> {
    match Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        _ => bail!("`{program}` is needed to make the GPU bundle and was not found: {install}"),
    }
}

/// Whether `program --version` runs.
pub fn has(program: &str) -> bool {
    require(program, "").is_ok()
}

/// Copies `src` to `dst` without its symbols and debug information (`strip`, else `objcopy`,
/// both from binutils): they are most of a dev build's size and nothing at run time reads them.
pub fn strip(src: &Path, dst: &Path) -> Result<()> {
    if has("strip") {
        run(Command::new("strip")
            .arg("--strip-all")
            .arg("-o")
            .arg(dst)
            .arg(src))
    } else if has("objcopy") {
        run(Command::new("objcopy").arg("--strip-all").arg(src).arg(dst))
    } else {
        bail!(
            "neither `strip` nor `objcopy` found to strip {}: install binutils",
            src.display()
        )
    }
}

/// `xz -9` of `src` into `dst`. With `dict`, LZMA2's dictionary is that many bytes (at least the
/// preset's 64 MiB) on one thread, so that a file matches text anywhere earlier in the stream
/// (the second binary against the first); else `-T0`, all cores.
pub fn xz(src: &Path, dst: &Path, dict: Option<u64>) -> Result<()> {
    let out = File::create(dst).with_context(|| dst.display().to_string())?;
    let mut cmd = Command::new("xz");
    match dict {
        Some(bytes) => {
            // xz takes at most 1.5 GiB; it rounds up to 2^n or 2^n + 2^(n-1).
            let mib = bytes.div_ceil(1 << 20).clamp(64, 1536);
            cmd.arg("-T1")
                .arg(format!("--lzma2=preset=9,dict={mib}MiB"));
        }
        None => {
            cmd.args(["-9", "-T0"]);
        }
    }
    run(cmd.arg("-c").arg(src).stdout(out))
        .with_context(|| format!("compressing {} with xz", src.display()))
}

/// Writes an uncompressed tar of `members` (`(source, name in the tar)`) to `dst`, with
/// deterministic headers (no owner, no time), so the same inputs give the same bytes.
pub fn write_tar(dst: &Path, members: &[(PathBuf, String)]) -> Result<()> {
    let f = File::create(dst).with_context(|| dst.display().to_string())?;
    let mut tar = tar::Builder::new(BufWriter::new(f));
    tar.mode(tar::HeaderMode::Deterministic);
    for (src, name) in members {
        tar.append_path_with_name(src, name)
            .with_context(|| format!("adding {} to {}", src.display(), dst.display()))?;
    }
    let mut w = tar
        .into_inner()
        .with_context(|| dst.display().to_string())?;
    std::io::Write::flush(&mut w).with_context(|| dst.display().to_string())?;
    Ok(())
}

/// A `.tar.xz` of `members` at `dst` (the tar goes through `<dst>.tar` beside it).
pub fn tar_xz(dst: &Path, members: &[(PathBuf, String)], dict: Option<u64>) -> Result<()> {
    let tmp = with_suffix(dst, ".tar");
    write_tar(&tmp, members)?;
    let r = xz(&tmp, dst, dict);
    let _ = std::fs::remove_file(&tmp);
    r
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A key for files' contents as the file system describes them (path, size, modification
/// time): it changes when any of them is rebuilt or replaced, without reading them.
pub fn listing_key(files: &[PathBuf], recipe: &str) -> Result<String> {
    let mut h = Sha256::new();
    h.update(recipe.as_bytes());
    for f in files {
        let m = std::fs::metadata(f).with_context(|| f.display().to_string())?;
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        h.update(format!("\n{} {} {mtime}", f.display(), m.len()).as_bytes());
    }
    Ok(format!("{:x}", h.finalize()))
}

/// `name` in the `cache` folder, made by `make(path)` unless the copy there was made from the
/// same inputs (`key`). `make` returns lines about what it made, kept beside the file and
/// returned with it either way.
pub fn cached(
    cache: &Path,
    name: &str,
    key: &str,
    make: impl FnOnce(&Path) -> Result<Vec<String>>,
) -> Result<(PathBuf, Vec<String>)> {
    std::fs::create_dir_all(cache).with_context(|| cache.display().to_string())?;
    let file = cache.join(name);
    let key_file = with_suffix(&file, ".key");
    let notes_file = with_suffix(&file, ".notes");
    if file.is_file() && std::fs::read_to_string(&key_file).ok().as_deref() == Some(key) {
        let notes = std::fs::read_to_string(&notes_file).unwrap_or_default();
        println!("  {name}: from the cache ({})", cache.display());
        return Ok((file, notes.lines().map(String::from).collect()));
    }
    // The key goes last: an interrupted run leaves no key, so the next one remakes the file.
    let _ = std::fs::remove_file(&key_file);
    let part = with_suffix(&file, ".part");
    let notes = make(&part)?;
    std::fs::rename(&part, &file).with_context(|| file.display().to_string())?;
    std::fs::write(&notes_file, notes.join("\n"))
        .with_context(|| notes_file.display().to_string())?;
    std::fs::write(&key_file, key).with_context(|| key_file.display().to_string())?;
    Ok((file, notes))
}

/// Every file under `dir`, as paths relative to it with `/` separators, sorted; `skip(rel)`
/// leaves a file or folder (and what is inside it) out. Links are not followed.
pub fn walk(dir: &Path, skip: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
    fn go(
        root: &Path,
        dir: &Path,
        skip: &dyn Fn(&str) -> bool,
        out: &mut Vec<String>,
    ) -> Result<()> {
        for e in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
            let e = e.with_context(|| dir.display().to_string())?;
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .with_context(|| path.display().to_string())?
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if skip(&rel) {
                continue;
            }
            let t = e.file_type().with_context(|| path.display().to_string())?;
            if t.is_dir() {
                go(root, &path, skip, out)?;
            } else if t.is_file() {
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(dir, dir, skip, &mut out)?;
    out.sort();
    Ok(out)
}

/// Copies the files under `src` into `dst`, keeping the folders between.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<usize> {
    let files = walk(src, &|_| false)?;
    for rel in &files {
        let to = dst.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
        }
        std::fs::copy(src.join(rel), &to)
            .with_context(|| format!("copying {} to {}", src.join(rel).display(), to.display()))?;
    }
    Ok(files.len())
}

/// `python3 -m pip download --no-deps <requirement>` into `dest`, unless a file whose name
/// starts with `prefix` is there already. Returns that file.
pub fn pip_download(dest: &Path, requirement: &str, prefix: &str) -> Result<PathBuf> {
    let find = || -> Result<Option<PathBuf>> {
        if !dest.is_dir() {
            return Ok(None);
        }
        let mut hits: Vec<PathBuf> = std::fs::read_dir(dest)
            .with_context(|| dest.display().to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix) && !n.ends_with(".part"))
            })
            .collect();
        hits.sort();
        Ok(hits.pop())
    };
    if let Some(f) = find()? {
        println!("  {requirement}: {} (downloaded earlier)", f.display());
        return Ok(f);
    }
    require(
        "python3",
        "install Python 3 with pip (PyPI must be reachable from here)",
    )?;
    std::fs::create_dir_all(dest).with_context(|| dest.display().to_string())?;
    println!(
        "  {requirement}: python3 -m pip download into {}",
        dest.display()
    );
    run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .arg("--dest")
        .arg(dest)
        .arg(requirement))
    .with_context(|| format!("downloading {requirement} from PyPI"))?;
    find()?.with_context(|| {
        format!(
            "pip downloaded {requirement} but no file starting with {prefix} is in {}",
            dest.display()
        )
    })
}

/// The size of `p` in bytes.
pub fn file_len(p: &Path) -> Result<u64> {
    Ok(std::fs::metadata(p)
        .with_context(|| p.display().to_string())?
        .len())
}

/// Makes the folder `p` goes in.
pub fn create_parent(p: &Path) -> Result<()> {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
    }
    Ok(())
}

/// Copies `src` to `dst`, making `dst`'s folder.
pub fn copy(src: &Path, dst: &Path) -> Result<()> {
    create_parent(dst)?;
    std::fs::copy(src, dst)
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_lists_files_sorted_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b/x.txt", "a.txt", "b/c/y.txt", "parts/part-1/piece-01.tar"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f).unwrap();
        }
        let all = walk(dir.path(), &|r| r == "parts").unwrap();
        assert_eq!(all, ["a.txt", "b/c/y.txt", "b/x.txt"]);
    }

    #[test]
    fn cached_makes_once_per_key() {
        let dir = tempfile::tempdir().unwrap();
        let make = |p: &Path| -> Result<Vec<String>> {
            std::fs::write(p, "made")?;
            Ok(vec!["note".into()])
        };
        let (f, notes) = cached(dir.path(), "x.tar.xz", "k1", make).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "made");
        assert_eq!(notes, ["note"]);
        // Same key: not made again.
        let (_, notes) = cached(dir.path(), "x.tar.xz", "k1", |_| -> Result<Vec<String>> {
            bail!("should come from the cache")
        })
        .unwrap();
        assert_eq!(notes, ["note"]);
        // Another key: made again.
        assert!(
            cached(dir.path(), "x.tar.xz", "k2", |_| -> Result<Vec<String>> {
                bail!("remade")
            })
            .is_err()
        );
    }

    #[test]
    fn listing_key_changes_with_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        std::fs::write(&f, "1").unwrap();
        let k1 = listing_key(std::slice::from_ref(&f), "r").unwrap();
        assert_eq!(k1, listing_key(std::slice::from_ref(&f), "r").unwrap());
        assert_ne!(
            k1,
            listing_key(std::slice::from_ref(&f), "other recipe").unwrap()
        );
        std::fs::write(&f, "22").unwrap();
        assert_ne!(k1, listing_key(std::slice::from_ref(&f), "r").unwrap());
    }
}
