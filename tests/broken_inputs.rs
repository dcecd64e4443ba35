//! Broken inputs give an error that names the file and the reason; nothing panics.

use tympan_audio::{AudioError, LoadOptions, load::load};
use tympan_tests::broken_files;

#[test]
fn broken_files_are_reported_with_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (path, kind) in broken_files(dir.path()) {
        let err = load(&path, &LoadOptions::default()).expect_err(&path.display().to_string());
        let msg = err.to_string();
        assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
        let ok = match kind {
            "empty" => matches!(err, AudioError::Empty { .. }),
            "corrupt" => matches!(err, AudioError::Corrupt { .. }),
            "unsupported" => matches!(err, AudioError::Unsupported { .. }),
            "non-finite" => matches!(
                err,
                AudioError::NonFinite {
                    count: 1,
                    first_frame: 123,
                    ..
                }
            ),
            _ => unreachable!(),
        };
        assert!(ok, "{}: expected {kind}, got {msg}", path.display());
    }
    let missing = dir.path().join("missing.wav");
    assert!(matches!(
        load(&missing, &LoadOptions::default()),
        Err(AudioError::Io { .. })
    ));
}
