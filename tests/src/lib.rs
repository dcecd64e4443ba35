//! Helpers shared by tympan's cross-crate tests: where the fixtures and the real data live.
//!
//! Real-data tests read `../shared/data` (relative to the workspace root) or `$TYMPAN_DATA`. When
//! the data is absent they fail under `CI=true` and skip (with a message) elsewhere.

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_path_buf()
}

/// `tests/fixtures/`.
pub fn fixtures() -> PathBuf {
    workspace_root().join("tests").join("fixtures")
}

/// Reads and parses a JSON fixture.
pub fn fixture_json(rel: &str) -> serde_json::Value {
    let path = fixtures().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/generate_reference.py)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shared real-data directory: `$TYMPAN_DATA`, else `<workspace>/../shared/data`.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("TYMPAN_DATA") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("..").join("shared").join("data"),
    }
}

/// The data directory if present. Absent data panics when `CI=true` (a CI run must not silently
/// skip real-data tests) and returns `None` with a note otherwise.
pub fn require_data(test: &str) -> Option<PathBuf> {
    let dir = data_dir();
    if dir.is_dir() {
        return Some(dir);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "{test}: real data not found at {} (set TYMPAN_DATA); CI=true forbids skipping",
        dir.display()
    );
    eprintln!("{test}: SKIPPED, real data not found at {} (set TYMPAN_DATA)", dir.display());
    None
}

/// Maximum absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
