//! The AudioSet path of docs/training.md, end to end, as a user runs it: metadata, audio from a
//! mirror, PSLA's datafiles, then `cargo xtask train psla-full` and its evaluation.
//!
//! Real clips from `../shared/data` are served over 127.0.0.1 under real segment ids of the real
//! `balanced_train_segments.csv` and `eval_segments.csv`, so every label comes from the real
//! lists; some ids are deliberately not served. The converter is the real ffmpeg. The recipe is
//! `psla-full` itself (EfficientNet-B2, four heads, balanced sampling, mixup, masking, 1056
//! frames); `--set` shrinks only the budget (batch, draws, one epoch) and, since the ImageNet B2
//! weights cannot be fetched offline, starts from random weights.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Rows of a Google segment list (comment lines dropped).
fn rows(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(String::from)
        .collect()
}

fn ytid(row: &str) -> String {
    row.split(',').next().unwrap().trim().to_string()
}

fn start(row: &str) -> String {
    let s: f64 = row.split(',').nth(1).unwrap().trim().parse().unwrap();
    format!("{s}")
}

fn write_list(path: &Path, rows: &[String]) {
    let mut text = String::from("# YTID, start_seconds, end_seconds, positive_labels\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// A file server on 127.0.0.1: `GET /<name>` answers the file mapped to `<name>`, else 404.
fn serve(files: std::collections::HashMap<String, PathBuf>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let files = files.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                        break;
                    }
                }
                let name = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_string();
                match files.get(&name) {
                    Some(p) => {
                        let body = std::fs::read(p).unwrap();
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(&body);
                    }
                    None => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                    }
                }
            });
        }
    });
    base
}

fn xtask(args: &[&str]) -> String {
    tympan_tests::run_ok(env!("CARGO_BIN_EXE_xtask"), args)
}

#[test]
fn audioset_psla_full_end_to_end() {
    let Some(data) = tympan_tests::require_data("audioset_psla_full_end_to_end") else {
        return;
    };
    assert!(
        Command::new("ffmpeg").arg("-version").output().is_ok(),
        "ffmpeg is a real dependency of `download-audioset --mirror` (.ci/run installs it)"
    );
    let meta = data.join("audioset");
    let tmp = tempfile::tempdir().unwrap();
    // The metadata mirror: the real ontology, class list and segment lists, whose full SHA-256
    // sums `download` checks (the unbalanced list, not in ../shared/data, has no pin).
    let mirror = tmp.path().join("meta-mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    for f in [
        "ontology.json",
        "class_labels_indices.csv",
        "balanced_train_segments.csv",
        "eval_segments.csv",
    ] {
        std::fs::copy(meta.join(f), mirror.join(f)).unwrap();
    }
    // The clips to fetch: short segment lists cut from the real ones (spread over the lists, so
    // over many classes), as a user with a budget would cut them.
    let lists = tmp.path().join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    let balanced_all = rows(&meta.join("balanced_train_segments.csv"));
    let eval_all = rows(&meta.join("eval_segments.csv"));
    let balanced: Vec<String> = (0..24).map(|i| balanced_all[i * 900].clone()).collect();
    let eval: Vec<String> = (0..12).map(|i| eval_all[i * 1600].clone()).collect();
    // The unbalanced list is not in ../shared/data: stand in with 8 other real rows of the
    // balanced list, plus 3 rows repeated from the mini balanced list (present clips), which the
    // full list must hold once.
    let mut unbalanced: Vec<String> = (0..8)
        .map(|i| balanced_all[i * 900 + 450].clone())
        .collect();
    unbalanced.extend([0, 1, 2].map(|i| balanced[i].clone()));
    write_list(&lists.join("balanced_train_segments.csv"), &balanced);
    write_list(&lists.join("eval_segments.csv"), &eval);
    write_list(&mirror.join("unbalanced_train_segments.csv"), &unbalanced);
    write_list(&lists.join("unbalanced_train_segments.csv"), &unbalanced);
    // The audio mirror: a real UrbanSound8K clip per segment, under `<YTID>_<start>.wav`; the
    // ids of four segments are not served.
    let missing: BTreeSet<String> = [&balanced[5], &balanced[11], &eval[4], &unbalanced[6]]
        .iter()
        .map(|r| ytid(r))
        .collect();
    let clips = tympan_tests::us8k_fold1_clips(&data);
    let mut files = std::collections::HashMap::new();
    for (i, r) in balanced.iter().chain(&eval).chain(&unbalanced).enumerate() {
        if !missing.contains(&ytid(r)) {
            files.insert(format!("{}_{}.wav", ytid(r), start(r)), clips[i].clone());
        }
    }
    let base = serve(files);
    let dest = tmp.path().join("audioset");
    let d = dest.to_str().unwrap();

    // 1. Metadata (from the local mirror instead of the network), each pinned file verified.
    let out = xtask(&[
        "download",
        "audioset-meta",
        "--dest",
        d,
        "--from",
        mirror.to_str().unwrap(),
    ]);
    for f in ["balanced_train_segments.csv", "eval_segments.csv"] {
        assert!(
            out.lines()
                .any(|l| l.contains(f) && l.contains("(verified)")),
            "{f} not verified:\n{out}"
        );
    }
    // 2. The audio of each list (the short lists).
    let listed = |list: &str| lists.join(list).to_str().unwrap().to_string();
    let pattern = format!("{base}/{{ytid}}_{{start}}.wav");
    for list in [
        "balanced_train_segments.csv",
        "unbalanced_train_segments.csv",
        "eval_segments.csv",
    ] {
        let out = xtask(&[
            "download-audioset",
            "--segments",
            &listed(list),
            "--dest",
            d,
            "--mirror",
            &pattern,
            "--jobs",
            "2",
        ]);
        assert!(out.contains("failed (skipped"), "{out}");
    }
    // The datafiles, where the recipes read them.
    let df = |name: &str| tympan_data::Datafile::load(&dest.join("datafiles").join(name)).unwrap();
    assert_eq!(df("balanced_train_data.json").data.len(), 22);
    assert_eq!(df("unbalanced_train_data.json").data.len(), 10);
    assert_eq!(df("eval_data.json").data.len(), 11);
    let full = df("full_train_data.json");
    assert_eq!(full.data.len(), 22 + 10 - 3, "duplicates removed");
    let unique: BTreeSet<&str> = full.data.iter().map(|e| e.wav.as_str()).collect();
    assert_eq!(unique.len(), full.data.len());
    // Labels are the real lists' labels.
    let first = &balanced[0];
    let labels = first.split_once('"').unwrap().1.trim_end_matches('"');
    let entry = full
        .data
        .iter()
        .find(|e| e.wav.contains(&ytid(first)))
        .unwrap();
    assert_eq!(entry.labels, labels);
    for e in &full.data {
        assert!(Path::new(&e.wav).is_file(), "{}", e.wav);
    }
    // The failed list names every id that was not served, each with its list, and only those.
    let failed = std::fs::read_to_string(dest.join("failed.tsv")).unwrap();
    let failed_rows: Vec<&str> = failed.lines().skip(1).collect();
    assert_eq!(failed_rows.len(), 4, "{failed}");
    let failed_ids: BTreeSet<String> = failed_rows
        .iter()
        .map(|l| l.split('\t').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(failed_ids, missing);
    assert!(failed.contains("eval_segments.csv\t"), "{failed}");
    // The converted clips are 16 kHz mono FLAC.
    let clip = Path::new(&entry.wav);
    assert_eq!(clip.extension().unwrap(), "flac");
    let wave = tympan_audio::load::load(clip, &Default::default()).unwrap();
    assert_eq!(wave.sample_rate, 16000);
    assert!(
        wave.samples.len() >= 16000 * 3,
        "{} samples",
        wave.samples.len()
    );

    // 3. Train psla-full for a few steps, then its evaluation on the eval split.
    let out_dir = tmp.path().join("run");
    let train = [
        "train",
        "psla-full",
        "--data-dir",
        d,
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = xtask(&[&train[..], &tympan_tests::PSLA_TEST_BUDGET[..]].concat());
    assert!(
        out.contains("clips present: train 29 of 29 listed, eval 11 of 11 listed"),
        "{out}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    let last = &summary["last_epoch"];
    for key in ["map", "auc", "d_prime"] {
        let v = last[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}: {last}"));
        assert!(v.is_finite(), "{key} = {v}");
    }
    let map = last["map"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&map), "mAP {map}");
    assert_eq!(summary["clips"]["train"]["present"], 29);
    // psla-full has no validation split, as PSLA: every training clip trains, the eval list is
    // the test split, and no model is chosen.
    assert_eq!(
        summary["sizes"],
        serde_json::json!([29, 0, 11]),
        "{summary}"
    );
    assert!(summary["selected"].is_null(), "{summary}");
    assert!(!out_dir.join("model-best.bpk").exists());
    assert_eq!(summary["clips"]["eval"]["present"], 11);
    // One prediction row per eval clip, over the 527 classes.
    let preds = std::fs::read(out_dir.join("predictions.npy")).unwrap();
    assert!(preds.len() >= 11 * 527 * 4);
    let metrics = std::fs::read_to_string(out_dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "{metrics}");
}
