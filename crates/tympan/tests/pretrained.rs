//! `tympan tag --pretrained NAME` against a local 127.0.0.1 server standing in for the
//! publishers (PSLA's Dropbox and GitHub are not reachable here). The server holds the real
//! AudioSet class list of `../shared/data` (whose pinned SHA-256 is checked) and, under the
//! released checkpoint's file name, a PSLA EfficientNet-B2 state dict of the same layout (the
//! golden-test fixture; the released weights could not be fetched).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

/// Serves `files` by name; returns the base URL and the count of requests per file.
fn serve(files: HashMap<String, Vec<u8>>) -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    serve_cut(files, HashMap::new())
}

/// [`serve`], honouring `Range: bytes=N-` (206), and cutting the first transfer of each file in
/// `cut` after that many bytes (the full length announced, the connection closed).
fn serve_cut(
    files: HashMap<String, Vec<u8>>,
    cut: HashMap<String, usize>,
) -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(Mutex::new(HashMap::new()));
    let counter = hits.clone();
    let mut cut = cut;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut from = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(r) = lower.strip_prefix("range: bytes=") {
                    from = r.trim().trim_end_matches('-').parse().unwrap_or(0);
                }
            }
            let name = first
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            *counter.lock().unwrap().entry(name.clone()).or_insert(0) += 1;
            if from > 0 {
                *counter
                    .lock()
                    .unwrap()
                    .entry(format!("{name} (range)"))
                    .or_insert(0) += 1;
            }
            let reply = match files.get(&name) {
                Some(body) if from > 0 && from < body.len() => {
                    let mut r = format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nConnection: close\r\n\r\n",
                        body.len() - from,
                        body.len() - 1,
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body[from..]);
                    r
                }
                Some(body) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    match cut.remove(&name) {
                        Some(n) => r.extend_from_slice(&body[..n]),
                        None => r.extend_from_slice(body),
                    }
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&reply);
        }
    });
    (base, hits)
}

fn tag(cache: &Path, mirror: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tympan"))
        .arg("tag")
        .args(args)
        .env("TYMPAN_CACHE", cache)
        .env("TYMPAN_HUB_MIRROR", mirror)
        .output()
        .expect("run tympan")
}

fn top(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v[0]["top"].clone()
}

#[test]
fn pretrained_by_name_downloads_once_checks_sums_and_tags() {
    let Some(data) = tympan_tests::require_data("pretrained_by_name") else {
        return;
    };
    let labels = data.join("audioset/class_labels_indices.csv");
    let weights: PathBuf = tympan_tests::fixtures().join("models/psla_effnet_b2_h4_527.pth");
    let clip = data.join("audioset/R9_ZSCveAHg_7s.wav");
    let clip = clip.to_str().unwrap();
    let files = HashMap::from([
        (
            "as_mdl_0_wa.pth".to_string(),
            std::fs::read(&weights).unwrap(),
        ),
        (
            "class_labels_indices.csv".to_string(),
            std::fs::read(&labels).unwrap(),
        ),
    ]);
    let (base, hits) = serve(files);
    let cache = tempfile::tempdir().unwrap();
    let args = ["--pretrained", "psla-audioset", "--format", "json", clip];

    // First use: both files fetched, the labels' pinned sum checked, AudioSet names printed.
    let got = top(&tag(cache.path(), &base, &args));
    assert_eq!(got.as_array().unwrap().len(), 10);
    let dir = cache.path().join("psla-audioset");
    assert!(
        dir.join("as_mdl_0_wa.pth").is_file() && dir.join("class_labels_indices.csv").is_file()
    );
    // PSLA publishes no sum for its checkpoints: the first download's is recorded.
    let recorded = std::fs::read_to_string(dir.join("as_mdl_0_wa.pth.sha256")).unwrap();
    assert_eq!(recorded.trim().len(), 64);
    // The same scores as naming the files by hand.
    let by_hand = Command::new(env!("CARGO_BIN_EXE_tympan"))
        .args(["tag", "--arch", "psla-effnet-b2", "--weights"])
        .arg(&weights)
        .arg("--labels")
        .arg(&labels)
        .args(["--mean", "-4.6476", "--std", "4.5699"])
        .args(["--format", "json", clip])
        .output()
        .unwrap();
    assert_eq!(got, top(&by_hand));
    let names: Vec<&str> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["class"].as_str().unwrap())
        .collect();
    let csv = std::fs::read_to_string(&labels).unwrap();
    assert!(names.iter().all(|n| csv.contains(n)), "{names:?}");

    // Second use: from the cache, no request (the mirror now points at a closed port).
    let before: usize = hits.lock().unwrap().values().sum();
    assert_eq!(before, 2);
    assert_eq!(top(&tag(cache.path(), "http://127.0.0.1:9", &args)), got);

    // A corrupt cached file is fetched again; one that cannot be fetched is an error naming it.
    let cached_labels = dir.join("class_labels_indices.csv");
    std::fs::write(
        &cached_labels,
        "index,mid,display_name\n0,/m/x,Not AudioSet\n",
    )
    .unwrap();
    assert_eq!(top(&tag(cache.path(), &base, &args)), got);
    assert_eq!(hits.lock().unwrap()["class_labels_indices.csv"], 2);
    std::fs::write(&cached_labels, "tampered").unwrap();
    let o = tag(cache.path(), "http://127.0.0.1:9", &args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("class_labels_indices.csv"), "{err}");

    // A server that hands out other bytes than the pinned class list: refused, nothing kept.
    let (bad, _) = serve(HashMap::from([(
        "class_labels_indices.csv".to_string(),
        b"index,mid,display_name\n0,/m/x,Impostor\n".to_vec(),
    )]));
    std::fs::remove_file(&cached_labels).unwrap();
    let o = tag(cache.path(), &bad, &args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(!cached_labels.exists());

    // An unknown name lists the known ones.
    let o = tag(cache.path(), &base, &["--pretrained", "nope", clip]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("psla-audioset"));
}

/// Offline, a checkpoint put into the cache by hand is used when the caller gives its SHA-256
/// (PSLA publishes none to pin), and refused with another sum; a download cut half-way is kept
/// and the next fetch resumes it with a range request instead of starting again.
#[test]
fn hand_placed_files_and_cut_downloads() {
    use sha2::{Digest, Sha256};
    let Some(data) = tympan_tests::require_data("hand_placed_files_and_cut_downloads") else {
        return;
    };
    let weights = tympan_tests::fixtures().join("models/psla_effnet_b2_h4_527.pth");
    let labels = data.join("audioset/class_labels_indices.csv");
    let clip = data.join("audioset/R9_ZSCveAHg_7s.wav");
    let clip = clip.to_str().unwrap();
    let bytes = std::fs::read(&weights).unwrap();
    let sum = format!("{:x}", Sha256::digest(&bytes));
    let offline = "http://127.0.0.1:9";

    // By hand: both files in the cache folder, no network.
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("psla-audioset");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&weights, dir.join("as_mdl_0_wa.pth")).unwrap();
    std::fs::copy(&labels, dir.join("class_labels_indices.csv")).unwrap();
    let args = ["--pretrained", "psla-audioset", "--format", "json", clip];
    let o = tag(cache.path(), offline, &args);
    assert!(!o.status.success(), "no sum: the file cannot be trusted");
    std::fs::copy(&weights, dir.join("as_mdl_0_wa.pth")).unwrap();
    let mut with_sum = vec!["--weights-sha256", sum.as_str()];
    with_sum.extend(args);
    let got = top(&tag(cache.path(), offline, &with_sum));
    assert_eq!(got.as_array().unwrap().len(), 10);
    // The sum is recorded: later uses need not give it.
    assert_eq!(top(&tag(cache.path(), offline, &args)), got);
    let wrong = "0".repeat(64);
    let mut bad = vec!["--weights-sha256", wrong.as_str()];
    bad.extend(args);
    let o = tag(cache.path(), offline, &bad);
    assert!(!o.status.success());
    let o = tag(
        cache.path(),
        offline,
        &[
            "--pretrained",
            "psla-audioset",
            "--weights-sha256",
            "abc",
            clip,
        ],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a SHA-256"));

    // Cut half-way: an error that keeps the part; the next fetch asks for the rest.
    let (base, hits) = serve_cut(
        HashMap::from([
            ("as_mdl_0_wa.pth".to_string(), bytes.clone()),
            (
                "class_labels_indices.csv".to_string(),
                std::fs::read(&labels).unwrap(),
            ),
        ]),
        HashMap::from([("as_mdl_0_wa.pth".to_string(), bytes.len() / 2)]),
    );
    let cache = tempfile::tempdir().unwrap();
    let o = tag(cache.path(), &base, &args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("run again to resume"), "{err}");
    let part = cache.path().join("psla-audioset/as_mdl_0_wa.pth.part");
    assert_eq!(
        std::fs::metadata(&part).unwrap().len() as usize,
        bytes.len() / 2
    );
    assert_eq!(top(&tag(cache.path(), &base, &args)), got);
    assert_eq!(hits.lock().unwrap()["as_mdl_0_wa.pth (range)"], 1);
    let fetched = std::fs::read(cache.path().join("psla-audioset/as_mdl_0_wa.pth")).unwrap();
    assert_eq!(fetched, bytes);
}
