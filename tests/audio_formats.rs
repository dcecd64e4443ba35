//! Decoding of every supported container/sample format against soundfile's float decode, which
//! uses torchaudio's scaling (integer PCM divided by 2^(bits-1)). Lossless formats must match to
//! 1e-7; lossy ones (Vorbis, MP3) must have the right rate, about the right length and the same
//! waveform (correlation > 0.99 after aligning the decoder delay).

use std::path::PathBuf;

use tympan_audio::{
    ChannelPolicy, LoadOptions,
    load::{decode_all_channels, load},
    npy, stream,
};
use tympan_tests::{fixture_json, fixtures, max_abs_diff, require_data, wav_bytes};

fn best_correlation(a: &[f32], b: &[f32], max_lag: usize) -> f64 {
    let mut best = f64::MIN;
    for lag in 0..=max_lag {
        for (x, y) in [(a, b), (b, a)] {
            if lag >= x.len() {
                continue;
            }
            let x = &x[lag..];
            let n = x.len().min(y.len());
            let (x, y) = (&x[..n], &y[..n]);
            let dot: f64 = x.iter().zip(y).map(|(p, q)| *p as f64 * *q as f64).sum();
            let nx: f64 = x.iter().map(|p| (*p as f64).powi(2)).sum::<f64>().sqrt();
            let ny: f64 = y.iter().map(|p| (*p as f64).powi(2)).sum::<f64>().sqrt();
            best = best.max(dot / (nx * ny));
        }
    }
    best
}

#[test]
fn every_format_decodes_like_torchaudio() {
    let m = fixture_json("audio/manifest.json");
    for e in m["entries"].as_array().unwrap() {
        let file = fixtures().join(e["file"].as_str().unwrap());
        let want = npy::read(&fixtures().join(e["expected"].as_str().unwrap())).unwrap();
        let (chans, rate) = decode_all_channels(&file).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            rate as u64,
            e["sample_rate"].as_u64().unwrap(),
            "{}",
            file.display()
        );
        assert_eq!(
            chans.len() as u64,
            e["channels"].as_u64().unwrap(),
            "{}",
            file.display()
        );
        let frames = want.shape[1];
        if e["lossless"].as_bool().unwrap() {
            for (c, ch) in chans.iter().enumerate() {
                let d = max_abs_diff(ch, &want.data[c * frames..(c + 1) * frames]);
                assert!(d <= 1e-7, "{}: channel {c} differs by {d}", file.display());
            }
        } else {
            let got = &chans[0];
            assert!(
                got.len().abs_diff(frames) <= 2400,
                "{}: {} vs {frames} frames",
                file.display(),
                got.len()
            );
            let r = best_correlation(got, &want.data[..frames], 1200);
            assert!(r > 0.99, "{}: correlation {r}", file.display());
        }
    }
}

#[test]
fn channel_policies() {
    let file = fixtures().join("audio/stereo_16.wav");
    let (chans, _) = decode_all_channels(&file).unwrap();
    let first = load(
        &file,
        &LoadOptions {
            channels: ChannelPolicy::First,
            sample_rate: None,
        },
    )
    .unwrap();
    assert_eq!(first.samples, chans[0]);
    let mean = load(
        &file,
        &LoadOptions {
            channels: ChannelPolicy::Mean,
            sample_rate: None,
        },
    )
    .unwrap();
    assert_eq!(mean.samples.len(), chans[0].len());
    for ((m, a), b) in mean.samples.iter().zip(&chans[0]).zip(&chans[1]) {
        assert!((m - 0.5 * (a + b)).abs() < 1e-7);
    }
}

#[test]
fn resampling_keeps_length_and_tone() {
    // 1 s of a 440 Hz tone at 8 kHz, resampled to 16 kHz: the length doubles and the tone is kept.
    let x: Vec<f32> = (0..8000)
        .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin())
        .collect();
    let y = tympan_audio::resample::resample(&x, 8000, 16000).unwrap();
    assert_eq!(y.len(), 16000);
    let mid = &y[4000..12000];
    let want: Vec<f32> = (4000..12000)
        .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16000.0).sin())
        .collect();
    assert!(
        max_abs_diff(mid, &want) < 1e-2,
        "{}",
        max_abs_diff(mid, &want)
    );
}

#[test]
fn pcm16_fast_path_equals_symphonia() {
    // `.wav` takes tympan's direct 16-bit PCM reader; the same bytes under another extension go
    // through symphonia's probe and decoder. Both must agree exactly.
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures().join("audio/stereo_16.wav");
    let other = dir.path().join("same_bytes.bin");
    std::fs::copy(&src, &other).unwrap();
    let fast = decode_all_channels(&src).unwrap();
    let slow = decode_all_channels(&other).unwrap();
    assert_eq!(fast, slow);
}

#[test]
fn streamed_decoding_equals_whole_file_decoding() {
    // `stream::Stream` must give `load`'s samples bit for bit (tolerance 0), for every format,
    // channel policy and resampling ratio, on files longer than one read and one resampler
    // chunk and on a file shorter than one chunk.
    let dir = tempfile::tempdir().unwrap();
    let m = fixture_json("audio/manifest.json");
    let mut files: Vec<PathBuf> = m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| fixtures().join(e["file"].as_str().unwrap()))
        .collect();
    // A long real file: twelve UrbanSound8K clips (8 kHz, 16-bit mono) end to end, 384,000
    // frames, several 64 Ki-frame reads; the same bytes as `.bin` go through symphonia's packets.
    if let Some(data) = require_data("streamed_decoding_equals_whole_file_decoding") {
        let fold = data.join("urbansound8k/UrbanSound8K/audio/fold1");
        let mut clips: Vec<PathBuf> = std::fs::read_dir(&fold)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wav"))
            .collect();
        clips.sort();
        let mut pcm = Vec::new();
        for clip in clips.iter().take(12) {
            let (chans, rate) = decode_all_channels(clip).unwrap();
            assert_eq!((chans.len(), rate), (1, 8000), "{}", clip.display());
            pcm.extend(
                chans[0]
                    .iter()
                    .flat_map(|&x| ((x * 32768.0) as i16).to_le_bytes()),
            );
        }
        assert!(pcm.len() / 2 > 3 * 65536, "{} frames", pcm.len() / 2);
        let bytes = wav_bytes(1, 16, pcm.len() as u32, &pcm);
        for name in ["long.wav", "long.bin"] {
            std::fs::write(dir.path().join(name), &bytes).unwrap();
            files.push(dir.path().join(name));
        }
    }
    let short: Vec<u8> = (0..700i16).flat_map(|i| (i * 40).to_le_bytes()).collect();
    std::fs::write(dir.path().join("short.wav"), wav_bytes(1, 16, 1400, &short)).unwrap();
    files.push(dir.path().join("short.wav"));
    for file in &files {
        for channels in [ChannelPolicy::First, ChannelPolicy::Mean] {
            for sample_rate in [None, Some(8000), Some(16000), Some(22050), Some(44100)] {
                let opts = LoadOptions {
                    channels,
                    sample_rate,
                };
                let whole = load(file, &opts).unwrap();
                let mut s = stream::Stream::open(file, &opts).unwrap();
                assert_eq!(s.sample_rate(), whole.sample_rate);
                let (mut samples, mut largest) = (Vec::new(), 0);
                loop {
                    let before = samples.len();
                    let more = s.read(&mut samples).unwrap();
                    largest = largest.max(samples.len() - before);
                    if !more {
                        break;
                    }
                }
                let what = format!("{} {channels:?} {sample_rate:?}", file.display());
                assert_eq!(samples.len(), whole.samples.len(), "{what}");
                assert!(samples == whole.samples, "{what}: samples differ");
                // Bounded pieces: one read (64 Ki frames, or a packet), resampled.
                let ratio = whole.sample_rate as f64 / decode_all_channels(file).unwrap().1 as f64;
                assert!(
                    largest as f64 <= 65536.0 * ratio + 4096.0,
                    "{what}: a piece of {largest}"
                );
                assert!(!s.read(&mut samples).unwrap(), "{what}: read after the end");
            }
        }
    }
}
