//! Writes a fuzz input to a file (the readers take paths, as users give them) and checks that a
//! failure names that file.

use std::path::PathBuf;

/// The input as a file called `name` in a per-process folder (on tmpfs when there is one).
pub fn as_file(name: &str, data: &[u8]) -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("tympan-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("fuzz scratch folder");
    let path = dir.join(name);
    std::fs::write(&path, data).expect("write fuzz input");
    path
}

/// An error message must say which file it is about.
pub fn names_file(message: String, path: &std::path::Path) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    assert!(message.contains(name), "error does not name the file: {message}");
}
