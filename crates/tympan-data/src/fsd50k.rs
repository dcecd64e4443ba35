//! PSLA's FSD50K datafiles from FSD50K's official layout, as `egs/fsd50k/prep_fsd.py` in
//! PSLA writes them: the official `dev.csv` split into training (`split = train`) and
//! validation (`split = val`) lists, `eval.csv` as the evaluation list, each entry a clip's
//! path and its label mids, and the class list `index,mid,display_name` from
//! `vocabulary.csv` (PSLA's `egs/fsd50k/class_labels_indices.csv`).
//!
//! Unlike PSLA's script, clips are not resampled to 16 kHz first: tympan resamples on load, so
//! the entries point at the official `FSD50K.dev_audio/` and `FSD50K.eval_audio/` folders.

use std::collections::HashSet;
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

/// Reads `root/FSD50K.ground_truth/{vocabulary,dev,eval}.csv` into PSLA's datafiles. Every
/// label mid must be in the vocabulary (an error names the file and line otherwise), and a
/// `dev.csv` split must be `train` or `val`.
pub fn fsd50k_datafiles(root: &Path) -> Result<Fsd50kDatafiles> {
    let gt = root.join("FSD50K.ground_truth");
    let vocab = gt.join("vocabulary.csv");
    let mut classes_csv = String::from("index,mid,display_name\n");
    let mut mids = HashSet::new();
    for (line, f) in read_headerless(&vocab)? {
        if f.len() != 3 || f[0].parse::<usize>() != Ok(mids.len()) {
            return Err(DataError::Line {
                path: vocab.clone(),
                line,
                reason: format!("expected `{},label,mid`", mids.len()),
            });
        }
        classes_csv.push_str(&format!("{},{},{}\n", f[0], f[2], f[1]));
        mids.insert(f[2].clone());
    }
    let mut out = Fsd50kDatafiles {
        train: Datafile::default(),
        val: Datafile::default(),
        eval: Datafile::default(),
        classes_csv,
        missing: Vec::new(),
    };
    for (file, audio, is_dev) in [
        ("dev.csv", "FSD50K.dev_audio", true),
        ("eval.csv", "FSD50K.eval_audio", false),
    ] {
        let csv = gt.join(file);
        let (h, rows) = read_rows(&csv)?;
        let (fi, mi) = (column(&h, "fname", &csv)?, column(&h, "mids", &csv)?);
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
            let labels: Vec<&str> = f[mi].split(',').map(str::trim).collect();
            if let Some(m) = labels.iter().find(|m| !mids.contains(**m)) {
                return Err(bad(format!("mid {m:?} is not in vocabulary.csv")));
            }
            let wav = root.join(audio).join(format!("{}.wav", f[fi]));
            if !wav.is_file() {
                out.missing.push(wav.clone());
            }
            let entry = DatafileEntry {
                wav: wav.to_string_lossy().into_owned(),
                labels: labels.join(","),
            };
            match sp.map(|i| f[i].as_str()) {
                None => out.eval.data.push(entry),
                Some("train") => out.train.data.push(entry),
                Some("val") => out.val.data.push(entry),
                Some(other) => return Err(bad(format!("split {other:?} is not train or val"))),
            }
        }
    }
    Ok(out)
}
