//! Windowing and batching of the inference layer, on a randomly initialised model (these check
//! how clips are cut and batched, not what a trained model says):
//!
//! - a slim 2D window is the paper's 4 s clip (199 frames of 20 ms, 40 ms long): a 4 s clip is
//!   one window. Before the input contract owned the frame geometry, windows were 3.98 s, one
//!   frame short, and a 4 s clip was scored as two windows, the second a 20 ms stub;
//! - several clips in one call give their own windows' scores, whatever else shares the batch;
//! - samples in memory and the same samples read from a file give the same scores;
//! - a tail shorter than one frame makes no window, instead of failing the clip.
//!
//! Tolerance: 1e-6 absolute on softmax scores where batch composition differs (flex's products
//! do not depend on the batch here, the bound leaves room for a backend whose do), exact where
//! the batches are the same; exact for files scored together and for clips in parts scored at
//! the same time, which `tympan tag` and `tympan evaluate` promise on flex.

use std::ops::ControlFlow;

use burn::prelude::*;
use tympan_infer::{Clip, InputContract, InputKind, Scorer};

fn wave(n: usize, f: f32, rate: u32) -> Vec<f32> {
    (0..n)
        .map(|i| 0.3 * (std::f32::consts::TAU * f * i as f32 / rate as f32).sin())
        .collect()
}

#[test]
fn a_slim2d_window_is_the_papers_four_second_clip() {
    let device = Device::flex();
    let model = tympan_models::create("slim2d-rb1", 3, &device).unwrap();
    let info = tympan_models::info("slim2d-rb1").unwrap();
    let contract = InputContract::new(
        InputKind::Slim2d,
        info.input.length,
        (0.0, 1.0),
        info.input.sample_rate,
    );
    let scorer = Scorer::new(contract, 4);
    let four_s = wave(32_000, 440.0, 8_000);
    let w = scorer
        .score_samples(&model, &four_s, 8_000, None, &device)
        .unwrap();
    assert_eq!(w.scores.len(), 1, "a 4 s clip is one window");
    assert!((w.window_s - 4.0).abs() < 1e-12, "{}", w.window_s);
    // 8 s with a 2 s hop: windows at 0, 2 and 4 s; the one at 4 s reaches the end.
    let eight_s = wave(64_000, 440.0, 8_000);
    let w = scorer
        .score_samples(&model, &eight_s, 8_000, Some(2.0), &device)
        .unwrap();
    assert_eq!(w.scores.len(), 3);
}

#[test]
fn clips_scored_together_keep_their_own_scores_and_files_match_memory() {
    let device = Device::flex();
    let model = tympan_models::create("psla-effnet-b0", 4, &device).unwrap();
    // 50-frame windows (0.515 s) at 16 kHz, PSLA-like normalisation.
    let contract = InputContract::new(InputKind::Fbank, 50, (-4.27, 4.57), Some(16_000));
    let scorer = Scorer::new(contract, 3);
    let clips: Vec<Vec<f32>> = [(20_000, 300.0), (5_000, 900.0), (33_000, 2_000.0)]
        .iter()
        .map(|&(n, f)| wave(n, f, 16_000))
        .collect();
    let together = scorer
        .score_clips(
            &model,
            &clips
                .iter()
                .map(|c| Clip {
                    samples: c,
                    rate: 16_000,
                })
                .collect::<Vec<_>>(),
            None,
            &device,
        )
        .unwrap();
    assert_eq!(together.len(), 3);
    // 20,000 samples: windows at 0, 8,240 and 16,480 (8,240 samples each).
    assert_eq!(together[0].scores.len(), 3);
    assert_eq!(together[1].scores.len(), 1);
    // 33,000 samples: windows at 0, 8,240, 16,480 and 24,720; the 40 samples from 32,960 on
    // are shorter than one 25 ms frame and make no window (the whole clip failed before).
    assert_eq!(together[2].scores.len(), 4);
    for (c, clip) in clips.iter().enumerate() {
        let alone = scorer
            .score_samples(&model, clip, 16_000, None, &device)
            .unwrap();
        // Eight windows at three per pass: four passes of two, two at a time. A window's scores
        // do not depend on the windows beside it in its pass, bit for bit.
        assert_eq!(alone.scores, together[c].scores, "clip {c}");
    }
    // The third clip from a 16 kHz float WAV file, read piece by piece: the same windows in the
    // same batches, so the same bits.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.wav");
    std::fs::write(&path, tympan_tests::float_wav(&clips[2], 16_000)).unwrap();
    let from_file = scorer.score_file(&model, &path, None, &device).unwrap();
    let in_memory = scorer
        .score_samples(&model, &clips[2], 16_000, None, &device)
        .unwrap();
    assert_eq!(from_file, in_memory);
    // A hop that is not positive is refused, naming it.
    let e = scorer
        .score_samples(&model, &clips[0], 16_000, Some(0.0), &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("hop must be positive"), "{e}");
}

/// Files scored together ([`Scorer::score_files`]): windows of consecutive files share forward
/// passes (batch 4: the first file's three windows and the third file's first), yet each file
/// gets its own windows' scores, bit for bit those of scoring it alone (its windows shared passes
/// with other files' windows, and ran beside another pass); results come in file order; a
/// file that cannot be read gets its error, naming it, and the files after it are still scored;
/// a consumer that returns `Break` gets no further file.
#[test]
fn files_scored_together_come_in_order_with_their_own_scores() {
    let device = Device::flex();
    let model = tympan_models::create("psla-effnet-b0", 4, &device).unwrap();
    let contract = InputContract::new(InputKind::Fbank, 50, (-4.27, 4.57), Some(16_000));
    let scorer = Scorer::new(contract, 4);
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, (n, f)) in [(20_000, 300.0), (0, 0.0), (9_000, 900.0), (33_000, 2_000.0)]
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("{i}.wav"));
        if n == 0 {
            std::fs::write(&path, b"not a wav file").unwrap();
        } else {
            std::fs::write(&path, tympan_tests::float_wav(&wave(n, f, 16_000), 16_000)).unwrap();
        }
        paths.push(path);
    }
    let mut got = Vec::new();
    scorer
        .score_files(&model, &paths, None, &device, |i, w| {
            got.push((i, w));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(
        got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2, 3],
        "files in order"
    );
    let e = got[1].1.as_ref().unwrap_err().to_string();
    assert!(e.contains("1.wav"), "{e}");
    for (i, w) in &got {
        if *i == 1 {
            continue;
        }
        let together = w.as_ref().unwrap();
        let alone = scorer
            .score_file(&model, &paths[*i], None, &device)
            .unwrap();
        assert_eq!(together.scores.len(), alone.scores.len(), "file {i}");
        assert_eq!(
            (together.hop_s, together.window_s),
            (alone.hop_s, alone.window_s)
        );
        assert_eq!(alone.scores, together.scores, "file {i}: bits");
    }
    // 20,000 samples: 3 windows; 9,000: 2 (the second 760 samples); 33,000: 4.
    let counts: Vec<usize> = got
        .iter()
        .filter_map(|(_, w)| w.as_ref().ok().map(|w| w.scores.len()))
        .collect();
    assert_eq!(counts, [3, 2, 4]);
    // A consumer that stops after the first file gets no other.
    let mut seen = Vec::new();
    scorer
        .score_files(&model, &paths, None, &device, |i, _| {
            seen.push(i);
            ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(seen, [0]);
}

/// [`Scorer::predict_clips`] on clips for more than one pass (5 clips, 2 per pass: four passes,
/// run two at a time), yet each clip's row is bit for bit its row scored alone; a clip that
/// cannot be scored in the second run of passes (a rate no fbank frame fits) is named by its own
/// index, not its index within that run.
#[test]
fn clips_in_parts_at_once_keep_their_rows_and_indices() {
    let device = Device::flex();
    let model = tympan_models::create("psla-effnet-b0", 4, &device).unwrap();
    let contract = InputContract::new(InputKind::Fbank, 50, (-4.27, 4.57), None);
    let scorer = Scorer::new(contract, 2);
    let waves: Vec<Vec<f32>> = (0..5)
        .map(|i| wave(8_000, 200.0 + 150.0 * i as f32, 16_000))
        .collect();
    let clips: Vec<Clip<'_>> = waves
        .iter()
        .map(|w| Clip {
            samples: w,
            rate: 16_000,
        })
        .collect();
    let all = scorer.predict_clips(&model, &clips, &device).unwrap();
    assert_eq!(all.len(), 5 * 4);
    for (i, c) in clips.iter().enumerate() {
        let alone = scorer
            .predict_clips(&model, std::slice::from_ref(c), &device)
            .unwrap();
        assert_eq!(&all[i * 4..(i + 1) * 4], alone.as_slice(), "clip {i}");
    }
    let mut bad = clips.clone();
    bad[4].rate = 1;
    match scorer.predict_clips(&model, &bad, &device) {
        Err(tympan_infer::InferError::Clip { index, .. }) => assert_eq!(index, 4),
        other => panic!("expected clip 4 to fail: {other:?}"),
    }
}
