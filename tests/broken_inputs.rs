//! Broken inputs give an error that names the file and the reason; nothing panics.

use std::path::{Path, PathBuf};

use tympan_audio::{AudioError, LoadOptions, load::load};

/// A canonical 44-byte RIFF/WAVE header followed by `data`; `data_len` is what the header claims.
fn wav_bytes(format: u16, bits: u16, data_len: u32, data: &[u8]) -> Vec<u8> {
    let (channels, rate) = (1u16, 8000u32);
    let block = channels * bits / 8;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&format.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * block as u32).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// Writes every broken case into `dir`, returning (path, expected error kind).
pub fn broken_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let pcm: Vec<u8> = (0..8000i16).flat_map(|i| (i.wrapping_mul(7)).to_le_bytes()).collect();
    let mut nan = Vec::new();
    for i in 0..800 {
        let v = if i == 123 { f32::NAN } else { 0.1 };
        nan.extend_from_slice(&v.to_le_bytes());
    }
    let mut random = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..4096 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        random.push(state as u8);
    }
    let cases: Vec<(&str, Vec<u8>, &'static str)> = vec![
        ("empty.wav", vec![], "empty"),
        ("header_only.wav", wav_bytes(1, 16, 0, &[]), "empty"),
        ("truncated.wav", wav_bytes(1, 16, pcm.len() as u32, &pcm[..pcm.len() / 3]), "corrupt"),
        ("notes.wav", b"these are my meeting notes, not audio\n".repeat(20), "unsupported"),
        ("noise.flac", random, "unsupported"),
        ("nan.wav", wav_bytes(3, 32, nan.len() as u32, &nan), "non-finite"),
    ];
    cases
        .into_iter()
        .map(|(name, bytes, kind)| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            (p, kind)
        })
        .collect()
}

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
            "non-finite" => matches!(err, AudioError::NonFinite { count: 1, first_frame: 123, .. }),
            _ => unreachable!(),
        };
        assert!(ok, "{}: expected {kind}, got {msg}", path.display());
    }
    let missing = dir.path().join("missing.wav");
    assert!(matches!(load(&missing, &LoadOptions::default()), Err(AudioError::Io { .. })));
}
