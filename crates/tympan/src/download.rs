//! One downloader, for the released weights of [`crate::hub`] and the datasets of
//! `cargo xtask download`: HTTPS against the system's trust store, a cut transfer resumed from its
//! `<file>.part` with a range request, and the SHA-256 checked before the file takes its name (a
//! file that fails the check is not kept).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What went wrong fetching a file.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The transfer failed.
    #[error("GET {url}: {reason}")]
    Http {
        /// The address.
        url: String,
        /// Why, and what was kept.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not the published one.
    #[error("{path}: checksum mismatch: expected sha256 {expected}, got {got} (nothing was kept)")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The expected sum (or its leading digits).
        expected: String,
        /// What the file has.
        got: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The SHA-256 of a file, in lower-case hexadecimal.
pub fn sha256_file(path: &Path) -> Result<String, DownloadError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            return Ok(format!("{:x}", h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

/// `path`'s sum, checked against `want`: a full SHA-256, or its leading digits (as torch.hub
/// file names pin them); `None` checks nothing.
pub fn check(path: &Path, want: Option<&str>) -> Result<String, DownloadError> {
    let got = sha256_file(path)?;
    match want {
        Some(w) if !got.starts_with(&w.to_ascii_lowercase()) => Err(DownloadError::Checksum {
            path: path.to_path_buf(),
            expected: w.to_string(),
            got,
        }),
        _ => Ok(got),
    }
}

/// Where a transfer to `dest` is kept until it is complete and checked.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

/// Fetches `url` to `dest` unless `dest` is there and matches `want` ([`check`]): into
/// `<dest>.part` (continued where an earlier transfer was cut, if the server honours the range),
/// then checked and renamed. `on_progress(done, total)` follows the transfer. Returns the
/// file's SHA-256.
pub fn fetch(
    url: &str,
    dest: &Path,
    want: Option<&str>,
    on_progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<String, DownloadError> {
    if dest.is_file()
        && let Ok(sum) = check(dest, want)
    {
        return Ok(sum);
    }
    replace(url, dest, want, on_progress)
}

/// [`fetch`] without looking at `dest` first: the download replaces whatever `dest` holds once
/// it is complete and matches `want`; until then `dest` is left as it is.
pub fn replace(
    url: &str,
    dest: &Path,
    want: Option<&str>,
    on_progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<String, DownloadError> {
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let part = part_path(dest);
    get(url, &part, on_progress)?;
    settle(&part, dest, want)
}

/// Copies `dir/<dest's file name>` (a local mirror) to `dest` unless `dest` is there and matches
/// `want`, checked as [`fetch`] checks a download.
pub fn copy_from(dir: &Path, dest: &Path, want: Option<&str>) -> Result<String, DownloadError> {
    if dest.is_file()
        && let Ok(sum) = check(dest, want)
    {
        return Ok(sum);
    }
    let src = dir.join(dest.file_name().unwrap_or_default());
    let part = part_path(dest);
    std::fs::copy(&src, &part).map_err(|e| DownloadError::Io {
        path: src.clone(),
        source: std::io::Error::new(e.kind(), format!("not in the mirror: {e}")),
    })?;
    settle(&part, dest, want)
}

/// A complete `part` checked and renamed to `dest`, or removed.
fn settle(part: &Path, dest: &Path, want: Option<&str>) -> Result<String, DownloadError> {
    match check(part, want) {
        Ok(sum) => {
            std::fs::rename(part, dest).map_err(io(dest))?;
            Ok(sum)
        }
        Err(DownloadError::Checksum { expected, got, .. }) => {
            let _ = std::fs::remove_file(part);
            Err(DownloadError::Checksum {
                path: dest.to_path_buf(),
                expected,
                got,
            })
        }
        Err(e) => Err(e),
    }
}

/// `url` into `part`, continuing what `part` holds where the server honours the range (206),
/// else from the start.
fn get(
    url: &str,
    part: &Path,
    on_progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(), DownloadError> {
    let http = |reason: String| DownloadError::Http {
        url: url.to_string(),
        reason,
    };
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = http_agent().get(url);
    if have > 0 {
        req = req.header("Range", &format!("bytes={have}-"));
    }
    let mut resp = req.call().map_err(|e| http(e.to_string()))?;
    let resumed = have > 0 && resp.status().as_u16() == 206;
    let mut got = if resumed { have } else { 0 };
    let len = resp.body().content_length().map(|l| l + got);
    let mut reader = resp.body_mut().as_reader();
    let mut out = if resumed {
        tracing::info!(file = %part.display(), bytes = have, "resuming a cut download");
        std::fs::OpenOptions::new()
            .append(true)
            .open(part)
            .map_err(io(part))?
    } else {
        std::fs::File::create(part).map_err(io(part))?
    };
    on_progress(got, len);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            http(format!(
                "cut after {got} bytes: {e} (kept in {}; run again to resume)",
                part.display()
            ))
        })?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(io(part))?;
        got += n as u64;
        on_progress(got, len);
    }
    out.sync_all().map_err(io(part))?;
    if let Some(l) = len
        && got < l
    {
        return Err(http(format!(
            "connection closed after {got} of {l} bytes (kept in {}; run again to resume)",
            part.display()
        )));
    }
    Ok(())
}

/// An HTTP agent that verifies servers against the system's trust store.
fn http_agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .into()
}
