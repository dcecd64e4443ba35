//! AudioSet metadata: the class list, Google's segment lists and PSLA's JSON datafiles.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::csv::split;
use crate::error::{DataError, Result, json_error, read_text};

/// One class of `class_labels_indices.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// Column index in the model output.
    pub index: usize,
    /// Ontology id.
    pub mid: String,
    /// Display name.
    pub name: String,
}

/// The class list: index <-> mid <-> display name.
#[derive(Debug, Clone)]
pub struct ClassList {
    classes: Vec<Class>,
    by_mid: HashMap<String, usize>,
}

impl ClassList {
    /// Reads `class_labels_indices.csv` (`index,mid,display_name` with a header line). Indices
    /// must run 0, 1, 2, ... in order and mids must be unique.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        let mut classes = Vec::new();
        let mut by_mid = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let bad = |reason: String| DataError::Line {
                path: path.to_path_buf(),
                line: n + 1,
                reason,
            };
            if line.trim().is_empty() || (n == 0 && line.starts_with("index")) {
                continue;
            }
            let f = split(line).map_err(bad)?;
            if f.len() != 3 {
                return Err(bad(format!(
                    "expected 3 fields (index,mid,display_name), found {}",
                    f.len()
                )));
            }
            let index: usize = f[0]
                .parse()
                .map_err(|_| bad(format!("index {:?} is not a number", f[0])))?;
            if index != classes.len() {
                return Err(bad(format!(
                    "index {index} out of order (expected {})",
                    classes.len()
                )));
            }
            if by_mid.insert(f[1].clone(), index).is_some() {
                return Err(bad(format!("duplicate mid {}", f[1])));
            }
            classes.push(Class {
                index,
                mid: f[1].clone(),
                name: f[2].clone(),
            });
        }
        Ok(Self { classes, by_mid })
    }
    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }
    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
    /// All classes in index order.
    pub fn classes(&self) -> &[Class] {
        &self.classes
    }
    /// Index of `mid`.
    pub fn index_of(&self, mid: &str) -> Option<usize> {
        self.by_mid.get(mid).copied()
    }
    /// Multi-hot target of a label list; unknown mids are returned as errors.
    pub fn multi_hot<'a>(&self, mids: impl IntoIterator<Item = &'a str>) -> Result<Vec<f32>> {
        let mut t = vec![0.0; self.len()];
        for m in mids {
            let i = self
                .index_of(m)
                .ok_or_else(|| format!("label {m} is not in the class list"))?;
            t[i] = 1.0;
        }
        Ok(t)
    }
}

/// One row of a Google segment list.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// YouTube id.
    pub ytid: String,
    /// Start in seconds.
    pub start: f64,
    /// End in seconds.
    pub end: f64,
    /// Positive label mids.
    pub labels: Vec<String>,
}

/// Reads `balanced_train_segments.csv`, `eval_segments.csv` or `unbalanced_train_segments.csv`:
/// `#` comment lines, then `YTID, start_seconds, end_seconds, "mid,mid,..."`.
pub fn read_segments(path: &Path) -> Result<Vec<Segment>> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| DataError::Line {
            path: path.to_path_buf(),
            line: n + 1,
            reason,
        };
        let f = split(line).map_err(bad)?;
        if f.len() != 4 {
            return Err(bad(format!(
                "expected 4 fields (YTID, start, end, labels), found {}",
                f.len()
            )));
        }
        let num = |s: &str, what: &str| {
            s.parse::<f64>()
                .map_err(|_| bad(format!("{what} {s:?} is not a number")))
        };
        let (start, end) = (num(&f[1], "start")?, num(&f[2], "end")?);
        if end <= start {
            return Err(bad(format!("end {end} is not after start {start}")));
        }
        let labels: Vec<String> = f[3]
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if labels.is_empty() {
            return Err(bad("no labels".into()));
        }
        out.push(Segment {
            ytid: f[0].clone(),
            start,
            end,
            labels,
        });
    }
    Ok(out)
}

/// One entry of a PSLA datafile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatafileEntry {
    /// Path of the audio file.
    pub wav: String,
    /// Comma-separated label mids, as PSLA writes them.
    pub labels: String,
}

impl DatafileEntry {
    /// The label mids.
    pub fn label_list(&self) -> impl Iterator<Item = &str> {
        self.labels
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// A PSLA JSON datafile: `{"data": [{"wav": ..., "labels": "/m/a,/m/b"}, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Datafile {
    /// The entries.
    pub data: Vec<DatafileEntry>,
}

impl Datafile {
    /// Reads a datafile.
    pub fn load(path: &Path) -> Result<Self> {
        serde_json::from_str(&read_text(path)?).map_err(|e| json_error(path, e))
    }
    /// Writes the datafile (atomically: temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| DataError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Concatenates datafiles, keeping the first entry of each clip (by `wav` path) and dropping
    /// later duplicates: PSLA's full training list is the balanced and the unbalanced lists
    /// together (`egs/audioset`, `full_train_data.json`). Returns the merged datafile and the
    /// number of duplicates dropped.
    pub fn merge(parts: &[&Datafile]) -> (Datafile, usize) {
        let mut seen = std::collections::HashSet::new();
        let mut out = Datafile::default();
        let mut dropped = 0;
        for e in parts.iter().flat_map(|d| &d.data) {
            if seen.insert(e.wav.as_str()) {
                out.data.push(e.clone());
            } else {
                dropped += 1;
            }
        }
        (out, dropped)
    }
}

/// The PSLA datafile name of a Google segment list: `balanced_train_segments.csv` ->
/// `balanced_train_data.json`, `eval_segments.csv` -> `eval_data.json` (PSLA's
/// `egs/audioset/datafiles/` names); any other list `<stem>.csv` -> `<stem>_data.json`.
pub fn datafile_name(segments: &Path) -> String {
    let stem = segments
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("segments");
    let base = stem.strip_suffix("_segments").unwrap_or(stem);
    format!("{base}_data.json")
}

/// PSLA's balanced-sampling weights (Algorithm 1, `egs/audioset/gen_weight_file.py`): with
/// `c_k` the number of clips labelled `k`, clip `i` weighs `sum_{k in labels(i)} 1000 / (c_k + 0.01)`.
/// Labels missing from the class list are errors.
pub fn psla_sample_weights(data: &Datafile, classes: &ClassList) -> Result<Vec<f64>> {
    let labels: Vec<Vec<usize>> = data
        .data
        .iter()
        .enumerate()
        .map(|(i, e)| {
            e.label_list()
                .map(|m| {
                    classes.index_of(m).ok_or_else(|| {
                        format!("entry {i} ({}): label {m} is not in the class list", e.wav)
                    })
                })
                .collect::<Result<_, _>>()
        })
        .collect::<Result<_, _>>()?;
    Ok(crate::sampling::psla_weights(&labels, classes.len()))
}

/// A datafile built from a segment list, with the segments whose clip was not found.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltDatafile {
    /// Entries for the clips found, in segment-list order.
    pub datafile: Datafile,
    /// Segments without a clip on disk (AudioSet loses about 5 % to takedowns).
    pub missing: Vec<Segment>,
}

/// Builds a PSLA datafile from a segment list and a folder of downloaded clips (searched
/// recursively). A clip belongs to segment `YTID` when its file stem is `YTID`, `Y` + `YTID`
/// (the common download naming), or starts with `YTID_` (e.g. `YTID_30000`). Missing clips are
/// reported, never an error.
pub fn build_datafile(segments: &[Segment], audio_dir: &Path) -> Result<BuiltDatafile> {
    let mut by_stem: HashMap<String, std::path::PathBuf> = HashMap::new();
    let mut stack = vec![audio_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let io = |source| DataError::Io {
            path: dir.clone(),
            source,
        };
        for e in std::fs::read_dir(&dir).map_err(io)? {
            let p = e.map_err(io)?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                ["wav", "flac", "mp3", "ogg", "m4a", "opus"]
                    .contains(&x.to_ascii_lowercase().as_str())
            }) && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
            {
                by_stem.entry(stem.to_string()).or_insert_with(|| p.clone());
            }
        }
    }
    // Stems like `YTID_30000` are indexed under their YTID prefix too (YTIDs are 11 characters).
    let prefixed: Vec<(String, std::path::PathBuf)> = by_stem
        .iter()
        .filter_map(|(s, p)| {
            s.get(..11)
                .filter(|_| s.as_bytes().get(11) == Some(&b'_'))
                .map(|y| (y.to_string(), p.clone()))
        })
        .collect();
    for (y, p) in prefixed {
        by_stem.entry(y).or_insert(p);
    }
    let mut out = BuiltDatafile {
        datafile: Datafile::default(),
        missing: Vec::new(),
    };
    for s in segments {
        let found = by_stem
            .get(&s.ytid)
            .or_else(|| by_stem.get(&format!("Y{}", s.ytid)));
        match found {
            Some(p) => out.datafile.data.push(DatafileEntry {
                wav: p.to_string_lossy().into_owned(),
                labels: s.labels.join(","),
            }),
            None => out.missing.push(s.clone()),
        }
    }
    Ok(out)
}
