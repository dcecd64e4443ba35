//! Pretrained models by name: `tympan tag --pretrained psla-audioset clip.wav`, as timm's
//! `create_model(name, pretrained=True)` or panns_inference's `AudioTagging()`.
//!
//! A name gives the architecture, the released weights and the class list. Both files are
//! downloaded once into the user's cache folder ([`cache_dir`]) and reused afterwards. A file
//! whose publisher gives a full SHA-256 (here: the class lists, pinned from the PSLA repository)
//! is checked against it on download and on every reuse. PSLA publishes no checksum for its
//! checkpoints, and they could not be downloaded from where this was written, so their sum is
//! recorded on the first download (`<file>.sha256` beside it) and every later use is checked
//! against that record; a corrupt or truncated cached file is fetched again.
//!
//! Offline, a file put into `<cache>/<name>/` by hand is used when its sum matches a pinned one,
//! or the one the caller gives ([`FetchOptions::weights_sha256`], `tympan tag --pretrained NAME
//! --weights-sha256 SUM`); the sum is then recorded like a downloaded file's. A cut download
//! resumes from its `.part` file where the server honours a range request.
//!
//! ```no_run
//! let cache = tympan::hub::cache_dir().expect("a cache folder");
//! let model = tympan::hub::fetch("psla-audioset", &cache, None)?;
//! println!("{} from {}", model.arch, model.weights.display());
//! # Ok::<(), tympan::hub::HubError>(())
//! ```

use std::path::{Path, PathBuf};

use crate::download::{self, DownloadError, sha256_file};
use tympan_audio::InputContract;
use tympan_audio::presets::{PSLA_FSD50K_TARGET_LENGTH, PSLA_TARGET_LENGTH};

/// One remote file.
#[derive(Debug, Clone, Copy)]
pub struct Remote {
    /// Where it is published.
    pub url: &'static str,
    /// Its name in the cache (and under a mirror).
    pub file: &'static str,
    /// The publisher's full SHA-256, where one is known.
    pub sha256: Option<&'static str>,
}

/// A pretrained model known by name.
#[derive(Debug, Clone, Copy)]
pub struct Pretrained {
    /// The name users type.
    pub name: &'static str,
    /// What it is, with the paper's figure.
    pub description: &'static str,
    /// Registry architecture (`tympan models list`).
    pub arch: &'static str,
    /// Input length in 10 ms fbank frames the model was trained on (PSLA: 1056 for AudioSet's
    /// 10 s clips, 3000 for FSD50K, `egs/fsd50k/run.sh`'s `target_length`).
    pub frames: usize,
    /// The released weights (a PyTorch state dict).
    pub weights: Remote,
    /// The class list (`index,mid,display_name`).
    pub labels: Remote,
}

/// PSLA's class lists, pinned from `egs/{audioset,fsd50k}/class_labels_indices.csv` of
/// github.com/YuanGongND/psla (the same bytes as `../shared/data/audioset`).
const AUDIOSET_LABELS: Remote = Remote {
    url: "https://raw.githubusercontent.com/YuanGongND/psla/main/egs/audioset/class_labels_indices.csv",
    file: "class_labels_indices.csv",
    sha256: Some("cdd1049833c4b86127c2773ac0d14a2754b6a6d0d1798002ed5c66e699708429"),
};
const FSD50K_LABELS: Remote = Remote {
    url: "https://raw.githubusercontent.com/YuanGongND/psla/main/egs/fsd50k/class_labels_indices.csv",
    file: "fsd50k_class_labels_indices.csv",
    sha256: Some("bb39cb6cc98d3877853607548d7e1950a83c4952a3d82cc7e2674a620552c3f5"),
};

/// The models known by name (PSLA README, "Pretrained Models" table).
pub const PRETRAINED: &[Pretrained] = &[
    Pretrained {
        name: "psla-audioset",
        description: "PSLA EfficientNet-B2, 4-head attention, AudioSet 527 classes, weight-averaged \
                      (0.444 mAP on the AudioSet eval set, PSLA README / Gong et al. Table IX)",
        arch: "psla-effnet-b2",
        frames: PSLA_TARGET_LENGTH,
        weights: Remote {
            url: "https://www.dropbox.com/s/ieggie0ara4x26d/as_mdl_0_wa.pth?dl=1",
            file: "as_mdl_0_wa.pth",
            sha256: None,
        },
        labels: AUDIOSET_LABELS,
    },
    Pretrained {
        name: "psla-audioset-single",
        description: "PSLA EfficientNet-B2, 4-head attention, AudioSet 527 classes, single model \
                      (0.440 mAP)",
        arch: "psla-effnet-b2",
        frames: PSLA_TARGET_LENGTH,
        weights: Remote {
            url: "https://www.dropbox.com/s/d1z27wj30ew5qrs/as_mdl_0.pth?dl=1",
            file: "as_mdl_0.pth",
            sha256: None,
        },
        labels: AUDIOSET_LABELS,
    },
    Pretrained {
        name: "psla-fsd50k",
        description: "PSLA EfficientNet-B2, 4-head attention, FSD50K 200 classes, weight-averaged \
                      (0.562 mAP on the FSD50K eval set)",
        arch: "psla-effnet-b2",
        frames: PSLA_FSD50K_TARGET_LENGTH,
        weights: Remote {
            url: "https://www.dropbox.com/s/5fvybrbulvhsish/fsd_mdl_wa.pth?dl=1",
            file: "fsd_mdl_wa.pth",
            sha256: None,
        },
        labels: FSD50K_LABELS,
    },
];

/// What went wrong fetching a pretrained model.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No model of that name.
    #[error("no pretrained model {name:?}; known: {known}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The known names.
        known: String,
    },
    /// A download failed, or a file is not the published one (nothing was kept).
    #[error("{cause}{}", download_hint(cause))]
    Download {
        /// What went wrong (shown in this error's message, not as a separate cause).
        cause: DownloadError,
    },
    /// A file of the cache could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No cache folder could be found.
    #[error("no cache folder: set TYMPAN_CACHE, XDG_CACHE_HOME or HOME")]
    NoCache,
    /// A checksum given by the user is not a SHA-256.
    #[error("{0:?} is not a SHA-256 (64 hexadecimal digits)")]
    BadSum(String),
}

impl Pretrained {
    /// The input contract of the released weights: their architecture's card (PSLA's fbank at
    /// 16 kHz with PSLA's AudioSet normalisation; `egs/*/run.sh`: the FSD50K recipe uses the same
    /// `dataset_mean`/`dataset_std`) with [`Self::frames`] frames per window.
    pub fn contract(&self) -> InputContract {
        let card = tympan_models::info(self.arch)
            .expect("every released model names a registered architecture (tested)");
        InputContract {
            length: self.frames,
            ..card.input
        }
    }
}

/// A fetched model: everything `tympan tag` needs.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Registry architecture.
    pub arch: &'static str,
    /// What the weights read ([`Pretrained::contract`]).
    pub contract: InputContract,
    /// The weights in the cache.
    pub weights: PathBuf,
    /// The class list in the cache.
    pub labels: PathBuf,
}

/// The cache folder: `$TYMPAN_CACHE`, else `$XDG_CACHE_HOME/tympan`, else `$HOME/.cache/tympan`.
pub fn cache_dir() -> Result<PathBuf, HubError> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("TYMPAN_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|p| p.join("tympan")))
        .or_else(|| var("HOME").map(|p| p.join(".cache/tympan")))
        .ok_or(HubError::NoCache)
}

/// Looks a name up.
pub fn find(name: &str) -> Result<&'static Pretrained, HubError> {
    PRETRAINED
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| HubError::Unknown {
            name: name.to_string(),
            known: PRETRAINED
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Fetches `name`'s weights and class list into `cache/<name>/` unless they are there and
/// intact. `mirror` (a base URL) replaces the publishers' addresses with `<mirror>/<file>`.
pub fn fetch(name: &str, cache: &Path, mirror: Option<&str>) -> Result<Fetched, HubError> {
    fetch_with_progress(name, cache, mirror, &mut |_| {})
}

/// What a fetch may be told besides the name.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchOptions<'a> {
    /// A base URL replacing the publishers' addresses (`<mirror>/<file>`).
    pub mirror: Option<&'a str>,
    /// The SHA-256 the weights must have, where the entry pins none: a file placed in the cache
    /// by hand with this sum is used as it is, and a download must have it.
    pub weights_sha256: Option<&'a str>,
}

/// Transfer progress of one file, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The file being fetched.
    pub file: &'a str,
    /// Bytes so far.
    pub done: u64,
    /// Its length, where the server says it.
    pub total: Option<u64>,
}

/// [`fetch`], reporting each transfer's progress to `on_progress`.
pub fn fetch_with_progress(
    name: &str,
    cache: &Path,
    mirror: Option<&str>,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Fetched, HubError> {
    let opts = FetchOptions {
        mirror,
        weights_sha256: None,
    };
    fetch_with(name, cache, &opts, on_progress)
}

/// [`fetch_with_progress`] with [`FetchOptions`].
pub fn fetch_with(
    name: &str,
    cache: &Path,
    opts: &FetchOptions<'_>,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Fetched, HubError> {
    let mirror = opts.mirror;
    let p = find(name)?;
    let dir = cache.join(p.name);
    std::fs::create_dir_all(&dir).map_err(|source| HubError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut pin = None;
    if let Some(sum) = opts.weights_sha256 {
        let sum = sum.trim().to_ascii_lowercase();
        if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HubError::BadSum(sum));
        }
        if let Some(pinned) = p.weights.sha256
            && pinned != sum
        {
            return Err(DownloadError::Checksum {
                path: dir.join(p.weights.file),
                expected: pinned.to_string(),
                got: sum,
            }
            .into());
        }
        pin = Some(sum);
    }
    let weights = ensure(&p.weights, pin.as_deref(), &dir, mirror, on_progress)?;
    let labels = ensure(&p.labels, None, &dir, mirror, on_progress)?;
    Ok(Fetched {
        arch: p.arch,
        contract: p.contract(),
        weights,
        labels,
    })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The sum a file must have: the pinned one, else the one recorded at its first download.
fn expected_sum(pin: Option<&str>, record: &Path) -> Option<String> {
    pin.map(str::to_string).or_else(|| {
        std::fs::read_to_string(record)
            .ok()
            .map(|s| s.trim().to_string())
    })
}

/// `r` in `dir`, fetched unless present with the right sum; `pin` (the caller's sum) stands in
/// for the entry's where it pins none.
fn ensure(
    r: &Remote,
    pin: Option<&str>,
    dir: &Path,
    mirror: Option<&str>,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<PathBuf, HubError> {
    let pin = r.sha256.or(pin);
    let dest = dir.join(r.file);
    let record = dir.join(format!("{}.sha256", r.file));
    if dest.is_file() {
        match expected_sum(pin, &record) {
            Some(want) if sha256_file(&dest)? == want => {
                if pin.is_some() && !record.is_file() {
                    // Placed by hand, or checked against a sum the caller gave: record it, so
                    // that later uses without the sum check against it.
                    std::fs::write(&record, format!("{want}\n")).map_err(io(&record))?;
                }
                return Ok(dest);
            }
            Some(_) => {
                tracing::warn!(file = %dest.display(), "cached file is corrupt; fetching it again")
            }
            None => {
                tracing::warn!(file = %dest.display(), "cached file has no recorded sum; fetching it again")
            }
        }
    }
    let url = match mirror {
        Some(m) => format!("{}/{}", m.trim_end_matches('/'), r.file),
        None => r.url.to_string(),
    };
    tracing::info!(%url, file = %dest.display(), "downloading");
    let got = download::replace(&url, &dest, pin, &mut |done, total| {
        on_progress(Progress {
            file: r.file,
            done,
            total,
        })
    })?;
    if pin.is_none() {
        tracing::warn!(file = r.file, sha256 = %got, "the publisher gives no checksum; recorded this one for later uses");
        std::fs::write(&record, format!("{got}\n")).map_err(io(&record))?;
    }
    Ok(dest)
}

impl From<DownloadError> for HubError {
    fn from(cause: DownloadError) -> Self {
        Self::Download { cause }
    }
}

/// What a user without access to the publisher can do instead.
fn download_hint(e: &DownloadError) -> &'static str {
    match e {
        DownloadError::Http { .. } => {
            " (without access to it: --mirror URL or TYMPAN_HUB_MIRROR to fetch from a copy, or \
             put the file into the cache folder by hand and give its sum with --weights-sha256: \
             `tympan tag --help`)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_pins_are_full_sums() {
        for (i, p) in PRETRAINED.iter().enumerate() {
            assert!(PRETRAINED[..i].iter().all(|q| q.name != p.name));
            for r in [p.weights, p.labels] {
                assert!(r.sha256.is_none_or(|s| s.len() == 64), "{}", r.file);
            }
            assert!(tympan_models::info(p.arch).is_ok(), "{}", p.arch);
        }
        let e = find("nope").unwrap_err().to_string();
        assert!(e.contains("psla-audioset"), "{e}");
    }

    /// PSLA's FSD50K model was trained on 3000-frame inputs (`egs/fsd50k/run.sh`), its AudioSet
    /// models on 1056: each released model's windows are its own length (tag cut FSD50K clips
    /// into 1056-frame windows before the entries recorded it).
    #[test]
    fn released_models_carry_their_input_length() {
        let fsd = find("psla-fsd50k").unwrap().contract();
        assert_eq!(fsd.length, 3000);
        assert_eq!(fsd.window_samples(16_000), Some(2999 * 160 + 400));
        for name in ["psla-audioset", "psla-audioset-single"] {
            assert_eq!(find(name).unwrap().contract().length, 1056, "{name}");
        }
        // The rest of every entry's contract is its architecture's card: PSLA's fbank at 16 kHz
        // with PSLA's AudioSet statistics.
        use tympan_audio::presets::{PSLA_MEAN, PSLA_STD};
        for p in PRETRAINED {
            let c = p.contract();
            assert_eq!(
                (c.input, c.sample_rate, c.mean, c.std),
                (
                    tympan_audio::InputKind::Fbank,
                    Some(16_000),
                    PSLA_MEAN,
                    PSLA_STD
                ),
                "{}",
                p.name
            );
        }
    }
}
