//! Dataset adapters: read the official on-disk layout, give targets, report listed-but-missing
//! files instead of failing on them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::ClassList;
use crate::csv::split;
use crate::error::{DataError, Result, read_text};
use crate::ontology::Ontology;

/// One clip of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Audio file.
    pub path: PathBuf,
    /// Class indices (one for single-label datasets).
    pub labels: Vec<usize>,
    /// Fold (UrbanSound8K, ESC-50) or split number; FSDD: 0 = test (takes 0-4), 1 = train.
    pub fold: u32,
}

/// A dataset as found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Dataset name.
    pub name: String,
    /// Class names, by index.
    pub classes: Vec<String>,
    /// Clips present on disk, in metadata order.
    pub clips: Vec<Clip>,
    /// Files the metadata lists that are not on disk.
    pub missing: Vec<PathBuf>,
}

impl Dataset {
    /// Multi-hot target of clip `i`.
    pub fn target(&self, i: usize) -> Vec<f32> {
        let mut t = vec![0.0; self.classes.len()];
        for &k in &self.clips[i].labels {
            t[k] = 1.0;
        }
        t
    }
    /// Clips of `fold` and the others (leave-one-fold-out split).
    pub fn split_fold(&self, fold: u32) -> (Vec<&Clip>, Vec<&Clip>) {
        self.clips.iter().partition(|c| c.fold == fold)
    }
}

/// Free Spoken Digit Dataset: `recordings/{digit}_{speaker}_{take}.wav`; takes 0-4 are the
/// official test split (`fold` 0), the rest train (`fold` 1). `root` holds `recordings/`.
pub fn fsdd(root: &Path) -> Result<Dataset> {
    let dir = root.join("recordings");
    let io = |source| DataError::Io {
        path: dir.clone(),
        source,
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(io)?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io)?
        .into_iter()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    names.sort();
    let mut clips = Vec::with_capacity(names.len());
    for p in names {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let parts: Vec<&str> = stem.split('_').collect();
        let parsed = match parts.as_slice() {
            [d, _speaker, take] => d
                .parse::<usize>()
                .ok()
                .filter(|&d| d < 10)
                .zip(take.parse::<u32>().ok()),
            _ => None,
        };
        let Some((digit, take)) = parsed else {
            return Err(DataError::Invalid {
                path: p.clone(),
                reason: "FSDD file names are {digit}_{speaker}_{take}.wav".into(),
            });
        };
        clips.push(Clip {
            path: p,
            labels: vec![digit],
            fold: u32::from(take >= 5),
        });
    }
    Ok(Dataset {
        name: "fsdd".into(),
        classes: (0..10).map(|d| d.to_string()).collect(),
        clips,
        missing: Vec::new(),
    })
}

/// UrbanSound8K in its official layout: `metadata/UrbanSound8K.csv`
/// (`slice_file_name,fsID,start,end,salience,fold,classID,class`) and `audio/fold{n}/`. Clips
/// listed but absent are reported in [`Dataset::missing`]. `root` is the `UrbanSound8K` folder.
pub fn urbansound8k(root: &Path) -> Result<Dataset> {
    let meta = root.join("metadata").join("UrbanSound8K.csv");
    let text = read_text(&meta)?;
    let mut classes: Vec<String> = vec![String::new(); 10];
    let (mut clips, mut missing) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        if n == 0 || line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| DataError::Line {
            path: meta.clone(),
            line: n + 1,
            reason,
        };
        let f = split(line).map_err(bad)?;
        if f.len() != 8 {
            return Err(bad(format!("expected 8 fields, found {}", f.len())));
        }
        let fold: u32 = f[5]
            .parse()
            .ok()
            .filter(|f| (1..=10).contains(f))
            .ok_or_else(|| bad(format!("bad fold {:?}", f[5])))?;
        let class: usize = f[6]
            .parse()
            .ok()
            .filter(|&c| c < 10)
            .ok_or_else(|| bad(format!("bad classID {:?}", f[6])))?;
        if classes[class].is_empty() {
            classes[class] = f[7].clone();
        } else if classes[class] != f[7] {
            return Err(bad(format!(
                "classID {class} is {:?} here but {:?} earlier",
                f[7], classes[class]
            )));
        }
        let path = root.join("audio").join(format!("fold{fold}")).join(&f[0]);
        if path.is_file() {
            clips.push(Clip {
                path,
                labels: vec![class],
                fold,
            });
        } else {
            missing.push(path);
        }
    }
    Ok(Dataset {
        name: "urbansound8k".into(),
        classes,
        clips,
        missing,
    })
}

/// A table mapping a single-label dataset's class names to AudioSet ontology ids
/// (`class,audioset_mid,audioset_name` CSV with `#` comments, as shipped in `datasets/`).
pub fn read_mapping(path: &Path) -> Result<HashMap<String, String>> {
    let text = read_text(path)?;
    let mut map = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() || line.starts_with("class,") {
            continue;
        }
        let bad = |reason: String| DataError::Line {
            path: path.to_path_buf(),
            line: n + 1,
            reason,
        };
        let f = split(line).map_err(bad)?;
        if f.len() < 2 {
            return Err(bad("expected class,audioset_mid[,audioset_name]".into()));
        }
        map.insert(f[0].clone(), f[1].clone());
    }
    Ok(map)
}

/// Maps a single-label dataset into the AudioSet class list: each clip's label becomes its
/// AudioSet node plus every ancestor that is an AudioSet class (e.g. UrbanSound8K `dog_bark` ->
/// Bark, Dog, Domestic animals, pets, Animal). Every dataset class must be in `mapping` and its
/// node in the ontology.
pub fn map_to_audioset(
    ds: &Dataset,
    mapping: &HashMap<String, String>,
    onto: &Ontology,
    classes: &ClassList,
) -> Result<Dataset, String> {
    let mut per_class = Vec::with_capacity(ds.classes.len());
    for c in &ds.classes {
        let mid = mapping
            .get(c)
            .ok_or_else(|| format!("class {c:?} has no AudioSet mapping"))?;
        onto.node(mid)
            .ok_or_else(|| format!("{mid} (for {c:?}) is not in the ontology"))?;
        let mut idx: Vec<usize> = std::iter::once(mid.as_str())
            .chain(onto.ancestors(mid))
            .filter_map(|m| classes.index_of(m))
            .collect();
        idx.sort_unstable();
        idx.dedup();
        per_class.push(idx);
    }
    Ok(Dataset {
        name: format!("{}->audioset", ds.name),
        classes: classes.classes().iter().map(|c| c.name.clone()).collect(),
        clips: ds
            .clips
            .iter()
            .map(|c| Clip {
                path: c.path.clone(),
                labels: c
                    .labels
                    .iter()
                    .flat_map(|&l| per_class[l].iter().copied())
                    .collect(),
                fold: c.fold,
            })
            .collect(),
        missing: ds.missing.clone(),
    })
}
