//! Broken inputs give an error that names the file and the reason; nothing panics.

use tympan_audio::{AudioError, LoadOptions, load::load, stream};
use tympan_tests::broken_files;

#[test]
fn broken_files_are_reported_with_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    // The whole-file loader and the streaming reader give the same errors.
    let streamed = |path: &std::path::Path, opts: &LoadOptions| stream::read_all(path, opts);
    for ((path, kind), read) in broken_files(dir.path())
        .into_iter()
        .flat_map(|case| [(case.clone(), false), (case, true)])
    {
        let opts = LoadOptions::default();
        let err = if read {
            streamed(&path, &opts)
        } else {
            load(&path, &opts)
        }
        .expect_err(&path.display().to_string());
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
