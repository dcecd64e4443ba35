//! PSLA's FSD50K datafiles from FSD50K's official layout, as `egs/fsd50k/prep_fsd.py` in
//! PSLA writes them: the official `dev.csv` split into training (`split = train`) and
//! validation (`split = val`) lists, `eval.csv` as the evaluation list, each entry a clip's
//! path and its label mids, and the class list `index,mid,display_name` from
//! `vocabulary.csv` (PSLA's `egs/fsd50k/class_labels_indices.csv`).
//!
//! Unlike PSLA's script, clips are not resampled to 16 kHz first: tympan resamples on load, so
//! the entries point at the official `FSD50K.dev_audio/` and `FSD50K.eval_audio/` folders.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::datasets::{column, read_headerless, read_rows};
use crate::error::{DataError, Result};
use crate::{Datafile, DatafileEntry};

/// The datafiles of [`fsd50k_datafiles`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fsd50kDatafiles {
    /// `dev.csv`'s `train` clips (PSLA's `fsd50k_tr_full.json`).
    pub train: Datafile,
    /// `dev.csv`'s `val` clips (`fsd50k_val_full.json`).
    pub val: Datafile,
    /// `eval.csv`'s clips (`fsd50k_eval_full.json`).
    pub eval: Datafile,
    /// The class list, `index,mid,display_name` with a header line
    /// (`fsd50k_class_labels_indices.csv`).
    pub classes_csv: String,
    /// Listed clips that are not on disk (still listed, as PSLA's script does; a run that reads
    /// the datafile reports them again).
    pub missing: Vec<PathBuf>,
}

impl Fsd50kDatafiles {
    /// Writes the three datafiles into `dir/datafiles/` under PSLA's names and the class list as
    /// `dir/fsd50k_class_labels_indices.csv`, the paths the `psla-fsd50k` recipe reads. Returns
    /// the paths written.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let datafiles = dir.join("datafiles");
        std::fs::create_dir_all(&datafiles).map_err(|source| DataError::Io {
            path: datafiles.clone(),
            source,
        })?;
        let mut written = Vec::new();
        for (name, d) in [
            ("fsd50k_tr_full.json", &self.train),
            ("fsd50k_val_full.json", &self.val),
            ("fsd50k_eval_full.json", &self.eval),
        ] {
            let path = datafiles.join(name);
            d.save(&path)?;
            written.push(path);
        }
        let classes = dir.join("fsd50k_class_labels_indices.csv");
        std::fs::write(&classes, &self.classes_csv).map_err(|source| DataError::Io {
            path: classes.clone(),
            source,
        })?;
        written.push(classes);
        Ok(written)
    }
}

/// Which list of FSD50K a clip is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum List {
    /// `dev.csv`, `split = train`.
    Train,
    /// `dev.csv`, `split = val`.
    Val,
    /// `eval.csv`.
    Eval,
}

/// What [`read`] gives.
pub(crate) struct GroundTruth {
    /// The vocabulary: `(label, mid)` by index.
    pub classes: Vec<(String, String)>,
    /// Every clip of `dev.csv`, then of `eval.csv`.
    pub rows: Vec<Row>,
}

/// One clip of FSD50K's ground truth, its label names and mids checked against the vocabulary.
pub(crate) struct Row {
    /// `FSD50K.dev_audio/<fname>.wav` or `FSD50K.eval_audio/<fname>.wav` under the root.
    pub wav: PathBuf,
    /// Vocabulary indices of the `labels` column, in its order.
    pub classes: Vec<usize>,
    /// The `mids` column, trimmed.
    pub mids: Vec<String>,
    pub list: List,
}

/// FSD50K's official ground truth under `root`: the vocabulary (`vocabulary.csv`, `index,label,mid`,
/// no header), and every clip of `dev.csv` (`fname,labels,mids,split`)
/// and `eval.csv` (`fname,labels,mids`). A label or mid outside the vocabulary, or a split other
/// than `train`/`val`, is an error naming the file and the line.
pub(crate) fn read(root: &Path) -> Result<GroundTruth> {
    let gt = root.join("FSD50K.ground_truth");
    let vocab = gt.join("vocabulary.csv");
    let mut classes = Vec::new();
    for (line, f) in read_headerless(&vocab)? {
        if f.len() != 3 || f[0].parse::<usize>() != Ok(classes.len()) {
            return Err(DataError::Line {
                path: vocab.clone(),
                line,
                reason: format!("expected `{},label,mid`", classes.len()),
            });
        }
        classes.push((f[1].clone(), f[2].clone()));
    }
    let by_name: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.as_str(), i))
        .collect();
    let mids: HashSet<&str> = classes.iter().map(|(_, mid)| mid.as_str()).collect();
    let mut out = Vec::new();
    for (file, audio, is_dev) in [
        ("dev.csv", "FSD50K.dev_audio", true),
        ("eval.csv", "FSD50K.eval_audio", false),
    ] {
        let csv = gt.join(file);
        let (h, rows) = read_rows(&csv)?;
        let fi = column(&h, "fname", &csv)?;
        let (la, mi) = (column(&h, "labels", &csv)?, column(&h, "mids", &csv)?);
        let sp = if is_dev {
            Some(column(&h, "split", &csv)?)
        } else {
            None
        };
        for (line, f) in rows {
            let bad = |reason: String| DataError::Line {
                path: csv.clone(),
                line,
                reason,
            };
            let labels = f[la]
                .split(',')
                .map(|l| {
                    by_name
                        .get(l.trim())
                        .copied()
                        .ok_or_else(|| bad(format!("label {l:?} not in vocabulary.csv")))
                })
                .collect::<Result<Vec<_>>>()?;
            let row_mids: Vec<String> = f[mi].split(',').map(|m| m.trim().to_string()).collect();
            if let Some(m) = row_mids.iter().find(|m| !mids.contains(m.as_str())) {
                return Err(bad(format!("mid {m:?} is not in vocabulary.csv")));
            }
            let list = match sp.map(|i| f[i].as_str()) {
                None => List::Eval,
                Some("train") => List::Train,
                Some("val") => List::Val,
                Some(other) => return Err(bad(format!("split {other:?} is not train or val"))),
            };
            out.push(Row {
                wav: root.join(audio).join(format!("{}.wav", f[fi])),
                classes: labels,
                mids: row_mids,
                list,
            });
        }
    }
    Ok(GroundTruth { classes, rows: out })
}

/// Reads `root/FSD50K.ground_truth/{vocabulary,dev,eval}.csv` into PSLA's datafiles. A label or
/// mid outside the vocabulary, or a split other than `train`/`val`, is an error naming the file
/// and the line.
pub fn fsd50k_datafiles(root: &Path) -> Result<Fsd50kDatafiles> {
    let GroundTruth { classes, rows } = read(root)?;
    let mut classes_csv = String::from("index,mid,display_name\n");
    for (i, (name, mid)) in classes.iter().enumerate() {
        classes_csv.push_str(&format!("{i},{mid},{name}\n"));
    }
    let mut out = Fsd50kDatafiles {
        train: Datafile::default(),
        val: Datafile::default(),
        eval: Datafile::default(),
        classes_csv,
        missing: Vec::new(),
    };
    for row in rows {
        if !row.wav.is_file() {
            out.missing.push(row.wav.clone());
        }
        let entry = DatafileEntry {
            wav: row.wav.to_string_lossy().into_owned(),
            labels: row.mids.join(","),
        };
        match row.list {
            List::Train => out.train.data.push(entry),
            List::Val => out.val.data.push(entry),
            List::Eval => out.eval.data.push(entry),
        }
    }
    Ok(out)
}
