//! The bundle's size budget, `MANIFEST.txt` and size table: pure functions of what was measured,
//! so that they can be tested without building a bundle.

use std::fmt::Write as _;

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// What the device tool lets travel in one call: the working tree (tracked and untracked files
/// that git does not ignore) and the carried paths together (`/work/.library/device/README.md`,
/// "Limits").
pub const TRAVEL_LIMIT: u64 = 64 * MIB;

/// Room kept free under [`TRAVEL_LIMIT`]: files the lead adds to the tree between building the
/// bundle and the call, and the Vulkan loader packages (`.gl`, about 1 MiB) when they are carried
/// beside the bundle rather than inside it.
pub const MARGIN: u64 = MIB;

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path inside the bundle, with `/` separators.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// How many bytes of bundle one device call may carry, and how that was decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Bytes per call.
    pub bytes: u64,
    /// One line saying where the number comes from.
    pub how: String,
    /// Set when `--max-mib` plus the working tree is over the device tool's limit.
    pub warning: Option<String>,
}

/// The bundle's budget per call: `--max-mib` when given, else the device tool's limit less the
/// working tree that travels with every call and [`MARGIN`].
pub fn budget(max_mib: Option<f64>, tree_bytes: u64) -> Result<Budget, String> {
    if let Some(m) = max_mib {
        if !(m.is_finite() && m > 0.0) {
            return Err(format!("--max-mib {m}: must be a positive number"));
        }
        let bytes = (m * MIB as f64) as u64;
        let warning = (bytes + tree_bytes > TRAVEL_LIMIT).then(|| {
            format!(
                "--max-mib {m} plus the {} MiB of working tree that travels with every call is over the device tool's {} MiB: a call carrying that much will be refused",
                mib(tree_bytes),
                TRAVEL_LIMIT / MIB
            )
        });
        return Ok(Budget {
            bytes,
            how: format!("--max-mib {m}"),
            warning,
        });
    }
    match TRAVEL_LIMIT.checked_sub(tree_bytes + MARGIN) {
        Some(bytes) if bytes >= MIB => Ok(Budget {
            bytes,
            how: format!(
                "{} MiB per device call, less {} MiB of working tree (tracked and untracked-not-ignored files travel with every call), less {} MiB margin",
                TRAVEL_LIMIT / MIB,
                mib(tree_bytes),
                mib(MARGIN)
            ),
            warning: None,
        }),
        _ => Err(format!(
            "the working tree alone ({} MiB of tracked and untracked-not-ignored files) leaves under 1 MiB of the device tool's {} MiB per call for the bundle",
            mib(tree_bytes),
            TRAVEL_LIMIT / MIB
        )),
    }
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / MIB as f64)
}

/// What `MANIFEST.txt` records beside the files.
pub struct ManifestInfo<'a> {
    /// When the bundle was made (UTC, ISO 8601).
    pub created: &'a str,
    /// `git rev-parse HEAD`, or why it is unknown.
    pub commit: &'a str,
    /// Whether `git status --porcelain` listed anything; `None` when git could not say.
    pub dirty: Option<bool>,
    /// The command the binaries are expected to have been built with.
    pub build: &'a str,
    /// The GPU backends found in the binaries' code (see `gpu_bundle::backends_in`).
    pub backends: &'a str,
    /// What `--leave-out` dropped.
    pub left_out: &'a [String],
    /// Free-form lines about the contents (what an archive holds, versions).
    pub notes: &'a [String],
}

/// The text of `MANIFEST.txt`: a header of `key: value` lines, then one `bytes  sha256  path`
/// line per file (the layout `sha256sum -c` reads once the size column is cut).
pub fn format_manifest(info: &ManifestInfo<'_>, files: &[FileEntry]) -> String {
    let mut s = String::new();
    let dirty = match info.dirty {
        Some(true) => "dirty (uncommitted changes)",
        Some(false) => "clean",
        None => "unknown",
    };
    let left_out = if info.left_out.is_empty() {
        "nothing".to_string()
    } else {
        info.left_out.join(", ")
    };
    // `let _ =`: writing to a String cannot fail.
    let _ = writeln!(s, "# tympan GPU bundle (cargo xtask gpu-bundle)");
    let _ = writeln!(s, "created: {}", info.created);
    let _ = writeln!(s, "commit: {} ({dirty})", info.commit);
    let _ = writeln!(s, "build: {}", info.build);
    let _ = writeln!(s, "backends found in the binaries: {}", info.backends);
    let _ = writeln!(s, "left out: {left_out}");
    for n in info.notes {
        let _ = writeln!(s, "note: {n}");
    }
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    let _ = writeln!(
        s,
        "files: {} ({} bytes, {} MiB; bytes, sha256, path)",
        files.len(),
        total,
        mib(total)
    );
    for f in files {
        let _ = writeln!(s, "{:>10}  {}  {}", f.bytes, f.sha256, f.path);
    }
    s
}

/// A table of the files' sizes in MiB, largest first, with the total.
pub fn size_table(files: &[FileEntry]) -> String {
    let mut rows: Vec<&FileEntry> = files.iter().collect();
    rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    let width = rows
        .iter()
        .map(|f| f.path.len())
        .max()
        .unwrap_or(0)
        .max("total".len());
    let mut s = String::new();
    for f in rows {
        let _ = writeln!(s, "  {:<width$}  {:>7} MiB", f.path, mib(f.bytes));
    }
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    let _ = writeln!(s, "  {:<width$}  {:>7} MiB", "total", mib(total));
    s
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC), without a date crate: the
/// proleptic Gregorian calendar of H. Hinnant's `civil_from_days`.
pub fn utc_timestamp(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, bytes: u64) -> FileEntry {
        FileEntry {
            path: path.into(),
            bytes,
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        // A leap day, and the day after it.
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(utc_timestamp(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(utc_timestamp(1_796_461_384), "2026-12-05T09:03:04Z");
    }

    #[test]
    fn budget_is_what_the_tree_leaves() {
        let b = budget(None, 34 * MIB).unwrap();
        assert_eq!(b.bytes, 64 * MIB - 34 * MIB - MARGIN);
        assert!(b.warning.is_none());
        assert!(b.how.contains("34.0 MiB of working tree"), "{}", b.how);
        // A tree that fills the limit leaves nothing.
        assert!(budget(None, 63 * MIB).is_err());
        assert!(budget(None, 70 * MIB).is_err());
    }

    #[test]
    fn explicit_budget_warns_past_the_travel_limit() {
        let b = budget(Some(60.0), 34 * MIB).unwrap();
        assert_eq!(b.bytes, 60 * MIB);
        assert!(b.warning.is_some());
        let b = budget(Some(20.0), 34 * MIB).unwrap();
        assert!(b.warning.is_none());
        assert!(budget(Some(0.0), 0).is_err());
        assert!(budget(Some(f64::NAN), 0).is_err());
    }

    #[test]
    fn manifest_lists_every_file_with_size_and_sum() {
        let files = [
            entry("bin/binaries.tar.xz", 3 * MIB),
            entry("MANIFEST.txt", 10),
        ];
        let left = ["weights".to_string()];
        let text = format_manifest(
            &ManifestInfo {
                created: "2026-12-05T09:43:04Z",
                commit: "0123abcd",
                dirty: Some(true),
                build: "cargo build",
                backends: "cuda, wgpu",
                left_out: &left,
                notes: &[],
            },
            &files,
        );
        assert!(text.contains("commit: 0123abcd (dirty (uncommitted changes))"));
        assert!(text.contains("left out: weights"));
        assert!(text.contains(&format!(
            "   3145728  {}  bin/binaries.tar.xz",
            "ab".repeat(32)
        )));
        assert!(text.contains("files: 2 (3145738 bytes, 3.0 MiB"));
    }

    #[test]
    fn size_table_is_largest_first_with_a_total() {
        let t = size_table(&[entry("a", MIB), entry("bb", 5 * MIB / 2)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].trim_start().starts_with("bb") && lines[0].ends_with("2.5 MiB"));
        assert!(lines[2].trim_start().starts_with("total") && lines[2].ends_with("3.5 MiB"));
    }
}
