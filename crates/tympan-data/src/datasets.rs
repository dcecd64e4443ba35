//! Dataset adapters: read the official on-disk layout, give targets, report listed-but-missing
//! files instead of failing on them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::ClassList;
use crate::error::{DataError, Result, read_text};
use crate::ontology::Ontology;

/// One clip of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Audio file.
    pub path: PathBuf,
    /// Class indices (one for single-label datasets).
    pub labels: Vec<usize>,
    /// Fold (UrbanSound8K, ESC-50) or split: FSDD 0 = test (takes 0-4), 1 = train; FSD50K and
    /// FSDKaggle2018 use [`SPLIT_TRAIN`], [`SPLIT_VAL`], [`SPLIT_TEST`].
    pub fold: u32,
    /// Whether the label was manually verified (FSDKaggle2018's `manually_verified`; `true`
    /// elsewhere). Jeong & Lim's batch-wise loss masking needs it.
    pub verified: bool,
}

/// Split code for training clips (FSD50K dev/train, FSDKaggle2018 train).
pub const SPLIT_TRAIN: u32 = 0;
/// Split code for validation clips (FSD50K's official validation split).
pub const SPLIT_VAL: u32 = 1;
/// Split code for test/evaluation clips.
pub const SPLIT_TEST: u32 = 2;

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
    /// The source recording clip `i` was cut from, where the layout names it: UrbanSound8K's
    /// `fsID` (`{fsID}-{classID}-{occurrence}-{slice}.wav`) and ESC-50's source clip
    /// (`{fold}-{clip}-{take}.wav`). Clips of one source are near-duplicates, which a carved
    /// validation split keeps on one side ([`crate::split::holdout`]).
    pub fn source(&self, i: usize) -> Option<String> {
        let stem = self.clips.get(i)?.path.file_stem()?.to_str()?;
        let mut parts = stem.split('-');
        match self.name.as_str() {
            "urbansound8k" => parts.next().map(str::to_string),
            "esc50" | "esc10" => parts.nth(1).map(str::to_string),
            _ => None,
        }
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
            verified: true,
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
    let (h, rows) = read_rows(&meta)?;
    let (fi, fo, ci, cn) = (
        column(&h, "slice_file_name", &meta)?,
        column(&h, "fold", &meta)?,
        column(&h, "classID", &meta)?,
        column(&h, "class", &meta)?,
    );
    let mut b = Builder::new(vec![String::new(); 10]);
    for (line, f) in &rows {
        let bad = |reason: String| DataError::Line {
            path: meta.clone(),
            line: *line,
            reason,
        };
        let fold: u32 = f[fo]
            .parse()
            .ok()
            .filter(|f| (1..=10).contains(f))
            .ok_or_else(|| bad(format!("bad fold {:?}", f[fo])))?;
        let class: usize = f[ci]
            .parse()
            .ok()
            .filter(|&c| c < 10)
            .ok_or_else(|| bad(format!("bad classID {:?}", f[ci])))?;
        if b.classes[class].is_empty() {
            b.classes[class] = f[cn].clone();
        } else if b.classes[class] != f[cn] {
            return Err(bad(format!(
                "classID {class} is {:?} here but {:?} earlier",
                f[cn], b.classes[class]
            )));
        }
        b.push(
            root.join("audio").join(format!("fold{fold}")).join(&f[fi]),
            vec![class],
            fold,
            true,
        );
    }
    Ok(b.finish("urbansound8k"))
}

/// The class -> AudioSet ontology id tables shipped inside this crate (`mappings/`, compiled in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// UrbanSound8K's ten classes.
    UrbanSound8k,
    /// ESC-50's fifty classes.
    Esc50,
}

impl Mapping {
    /// The table: class name -> AudioSet ontology id.
    pub fn table(self) -> Result<HashMap<String, String>> {
        let (name, text) = match self {
            Self::UrbanSound8k => (
                "mappings/urbansound8k_audioset.csv",
                include_str!("../mappings/urbansound8k_audioset.csv"),
            ),
            Self::Esc50 => (
                "mappings/esc50_audioset.csv",
                include_str!("../mappings/esc50_audioset.csv"),
            ),
        };
        parse_mapping(text, Path::new(name))
    }
}

/// A table mapping a single-label dataset's class names to AudioSet ontology ids
/// (`class,audioset_mid,audioset_name` CSV with `#` comments; the shipped ones are [`Mapping`]).
pub fn read_mapping(path: &Path) -> Result<HashMap<String, String>> {
    parse_mapping(&read_text(path)?, path)
}

fn parse_mapping(text: &str, path: &Path) -> Result<HashMap<String, String>> {
    let mut map = HashMap::new();
    for (line, f) in headerless_rows(text, path)? {
        if f[0] == "class" || f[0] == "category" {
            continue;
        }
        if f.len() < 2 {
            return Err(DataError::Line {
                path: path.to_path_buf(),
                line,
                reason: "expected class,audioset_mid[,audioset_name]".into(),
            });
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
) -> Result<Dataset> {
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
                verified: c.verified,
            })
            .collect(),
        missing: ds.missing.clone(),
    })
}

/// CSV rows as (1-based line number, fields).
pub(crate) type Rows = Vec<(usize, Vec<String>)>;

/// A `csv` crate error as a [`DataError::Line`] naming the file and the line.
fn csv_error(path: &Path, e: csv::Error) -> DataError {
    DataError::Line {
        path: path.to_path_buf(),
        line: e.position().map_or(0, |p| p.line() as usize),
        reason: match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("{len} fields, the header has {expected_len}"),
            _ => e.to_string(),
        },
    }
}

/// Every record of a CSV reader as (1-based line, trimmed fields).
fn records(path: &Path, reader: &mut csv::Reader<&[u8]>) -> Result<Rows> {
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        rows.push((line, record.iter().map(String::from).collect()));
    }
    Ok(rows)
}

/// Reads a CSV with a header line into rows of fields (header names returned separately), with
/// the `csv` crate; fields are trimmed and blank lines skipped. A row whose field count differs
/// from the header's is an error naming the file and the line.
pub(crate) fn read_rows(path: &Path) -> Result<(Vec<String>, Rows)> {
    let text = read_text(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(path, e))?
        .iter()
        .map(String::from)
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            reason: "empty file".into(),
        });
    }
    Ok((header, records(path, &mut reader)?))
}

/// Reads a CSV without a header, `#` lines being comments, rows of any length.
pub(crate) fn read_headerless(path: &Path) -> Result<Rows> {
    headerless_rows(&read_text(path)?, path)
}

fn headerless_rows(text: &str, path: &Path) -> Result<Rows> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    records(path, &mut reader)
}

pub(crate) fn column(header: &[String], name: &str, path: &Path) -> Result<usize> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| DataError::Invalid {
            path: path.to_path_buf(),
            reason: format!("no {name:?} column (header: {})", header.join(",")),
        })
}

/// Collects clips, sending listed-but-absent files to `missing`.
struct Builder {
    classes: Vec<String>,
    index: HashMap<String, usize>,
    clips: Vec<Clip>,
    missing: Vec<PathBuf>,
}

impl Builder {
    fn new(classes: Vec<String>) -> Self {
        let index = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        Self {
            classes,
            index,
            clips: Vec::new(),
            missing: Vec::new(),
        }
    }
    fn class(&mut self, name: &str, grow: bool) -> Option<usize> {
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        grow.then(|| {
            self.classes.push(name.to_string());
            self.index.insert(name.to_string(), self.classes.len() - 1);
            self.classes.len() - 1
        })
    }
    fn push(&mut self, path: PathBuf, labels: Vec<usize>, fold: u32, verified: bool) {
        if path.is_file() {
            self.clips.push(Clip {
                path,
                labels,
                fold,
                verified,
            });
        } else {
            self.missing.push(path);
        }
    }
    fn finish(self, name: &str) -> Dataset {
        Dataset {
            name: name.into(),
            classes: self.classes,
            clips: self.clips,
            missing: self.missing,
        }
    }
}

/// ESC-50 in its official layout (`meta/esc50.csv`: `filename,fold,target,category,esc10,...`;
/// `audio/`). With `esc10_only`, the ESC-10 subset with its 10 classes re-indexed in order of
/// first appearance of their ESC-50 target.
pub fn esc50(root: &Path, esc10_only: bool) -> Result<Dataset> {
    let meta = root.join("meta").join("esc50.csv");
    let (header, rows) = read_rows(&meta)?;
    let (fi, fo, ta, ca, e10) = (
        column(&header, "filename", &meta)?,
        column(&header, "fold", &meta)?,
        column(&header, "target", &meta)?,
        column(&header, "category", &meta)?,
        column(&header, "esc10", &meta)?,
    );
    // Class names by ESC-50 target, so indices follow the official targets.
    let mut names = vec![String::new(); 50];
    for (line, f) in &rows {
        let bad = |reason: String| DataError::Line {
            path: meta.clone(),
            line: *line,
            reason,
        };
        let t: usize = f[ta]
            .parse()
            .ok()
            .filter(|&t| t < 50)
            .ok_or_else(|| bad(format!("bad target {:?}", f[ta])))?;
        names[t] = f[ca].clone();
    }
    let keep = |f: &[String]| !esc10_only || f[e10].eq_ignore_ascii_case("true");
    let classes: Vec<String> = if esc10_only {
        let mut targets: Vec<usize> = rows
            .iter()
            .filter(|(_, f)| keep(f))
            .filter_map(|(_, f)| f[ta].parse().ok())
            .collect();
        targets.sort_unstable();
        targets.dedup();
        targets.into_iter().map(|t| names[t].clone()).collect()
    } else {
        names
    };
    let mut b = Builder::new(classes);
    for (line, f) in rows.iter().filter(|(_, f)| keep(f)) {
        let bad = |reason: String| DataError::Line {
            path: meta.clone(),
            line: *line,
            reason,
        };
        let fold: u32 = f[fo]
            .parse()
            .ok()
            .filter(|f| (1..=5).contains(f))
            .ok_or_else(|| bad(format!("bad fold {:?}", f[fo])))?;
        let k = b
            .class(&f[ca], false)
            .ok_or_else(|| bad(format!("unknown category {:?}", f[ca])))?;
        b.push(root.join("audio").join(&f[fi]), vec![k], fold, true);
    }
    Ok(b.finish(if esc10_only { "esc10" } else { "esc50" }))
}

/// FSDKaggle2018 (DCASE 2018 task 2): `FSDKaggle2018.meta/train_post_competition.csv`
/// (`fname,label,manually_verified,...`, audio in `FSDKaggle2018.audio_train/`) and
/// `test_post_competition_scoring_clips.csv` (`fname,label,...`, `FSDKaggle2018.audio_test/`).
/// 41 classes, sorted by name; train clips carry `verified` from `manually_verified`.
pub fn fsdkaggle2018(root: &Path) -> Result<Dataset> {
    let meta = root.join("FSDKaggle2018.meta");
    let train_csv = meta.join("train_post_competition.csv");
    let test_csv = meta.join("test_post_competition_scoring_clips.csv");
    let (th, train) = read_rows(&train_csv)?;
    let (eh, test) = read_rows(&test_csv)?;
    let (tf, tl, tv) = (
        column(&th, "fname", &train_csv)?,
        column(&th, "label", &train_csv)?,
        column(&th, "manually_verified", &train_csv)?,
    );
    let (ef, el) = (
        column(&eh, "fname", &test_csv)?,
        column(&eh, "label", &test_csv)?,
    );
    let mut names: Vec<String> = train.iter().map(|(_, f)| f[tl].clone()).collect();
    names.sort();
    names.dedup();
    let mut b = Builder::new(names);
    for (line, f) in &train {
        let verified = match f[tv].as_str() {
            "1" => true,
            "0" => false,
            v => {
                return Err(DataError::Line {
                    path: train_csv.clone(),
                    line: *line,
                    reason: format!("manually_verified {v:?} is not 0 or 1"),
                });
            }
        };
        let k = b.class(&f[tl], false).unwrap_or_default();
        b.push(
            root.join("FSDKaggle2018.audio_train").join(&f[tf]),
            vec![k],
            SPLIT_TRAIN,
            verified,
        );
    }
    for (line, f) in &test {
        let k = b.class(&f[el], false).ok_or_else(|| DataError::Line {
            path: test_csv.clone(),
            line: *line,
            reason: format!("label {:?} does not occur in the training set", f[el]),
        })?;
        b.push(
            root.join("FSDKaggle2018.audio_test").join(&f[ef]),
            vec![k],
            SPLIT_TEST,
            true,
        );
    }
    Ok(b.finish("fsdkaggle2018"))
}

/// FSD50K: `FSD50K.ground_truth/vocabulary.csv` (`index,label,mid`, no header; 200 classes),
/// `dev.csv` (`fname,labels,mids,split` with split `train`/`val`, audio in `FSD50K.dev_audio/`)
/// and `eval.csv` (`fname,labels,mids`, `FSD50K.eval_audio/`). Multi-label.
pub fn fsd50k(root: &Path) -> Result<Dataset> {
    use crate::fsd50k::{GroundTruth, List, read};
    let GroundTruth { classes, rows } = read(root)?;
    let mut b = Builder::new(classes.into_iter().map(|(name, _)| name).collect());
    for row in rows {
        let fold = match row.list {
            List::Train => SPLIT_TRAIN,
            List::Val => SPLIT_VAL,
            List::Eval => SPLIT_TEST,
        };
        b.push(row.wav, row.classes, fold, true);
    }
    Ok(b.finish("fsd50k"))
}

/// Your own data, one folder per class: `root/<class>/**/*.{wav,flac,mp3,ogg}`. Classes are the
/// folder names, sorted; every clip is in fold 0 and the caller carves the splits.
///
/// When `root` holds `train/` and `test/` (and optionally `val/`, `valid/` or `validation/`)
/// instead, each is a folder per class and gives the split: the clips are in [`SPLIT_TRAIN`],
/// [`SPLIT_VAL`] and [`SPLIT_TEST`], the classes are those of `train/`, and the dataset's name is
/// [`FOLDER_SPLITS`]. A class folder in `val/` or `test/` that `train/` lacks is an error naming
/// it.
pub fn folder_per_class(root: &Path) -> Result<Dataset> {
    let dirs = sub_dirs(root)?;
    if dirs.is_empty() {
        return Err(DataError::Invalid {
            path: root.to_path_buf(),
            reason: "no class folders".into(),
        });
    }
    let named = |n: &[&str]| dirs.iter().find(|d| n.contains(&dir_name(d).as_str()));
    if let (Some(train), Some(test)) = (named(&["train"]), named(&["test"])) {
        let val = named(&["val", "valid", "validation"]);
        let classes = sub_dirs(train)?;
        if classes.is_empty() {
            return Err(DataError::Invalid {
                path: train.clone(),
                reason: "no class folders".into(),
            });
        }
        let mut b = Builder::new(classes.iter().map(|d| dir_name(d)).collect());
        for (split, fold) in [
            (Some(train), SPLIT_TRAIN),
            (val, SPLIT_VAL),
            (Some(test), SPLIT_TEST),
        ] {
            let Some(split) = split else { continue };
            for d in sub_dirs(split)? {
                let k = b
                    .class(&dir_name(&d), false)
                    .ok_or_else(|| DataError::Invalid {
                        path: d.clone(),
                        reason: format!(
                            "class folder {:?} has no counterpart in {}",
                            dir_name(&d),
                            train.display()
                        ),
                    })?;
                for p in audio_files(&d)? {
                    b.push(p, vec![k], fold, true);
                }
            }
        }
        return Ok(b.finish(FOLDER_SPLITS));
    }
    let mut b = Builder::new(dirs.iter().map(|d| dir_name(d)).collect());
    for (k, d) in dirs.iter().enumerate() {
        for p in audio_files(d)? {
            b.push(p, vec![k], 0, true);
        }
    }
    Ok(b.finish("folders"))
}

/// The name of a [`folder_per_class`] dataset laid out as `train/`, `val/`, `test/`.
pub const FOLDER_SPLITS: &str = "folder-splits";

fn io_error(p: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: p.to_path_buf(),
        source,
    }
}

fn dir_name(d: &Path) -> String {
    d.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// The folders directly inside `root`, sorted.
fn sub_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(io_error(root))?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io_error(root))?
        .into_iter()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The audio files (`wav`, `flac`, `mp3`, `ogg`, any case) under `dir` at any depth, sorted.
fn audio_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(io_error(&dir))? {
            let p = e.map_err(io_error(&dir))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                ["wav", "flac", "mp3", "ogg"].contains(&x.to_ascii_lowercase().as_str())
            }) {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Your own data as a CSV manifest: `path,label[;label...]` with a header line, paths relative to
/// the manifest's folder (or absolute), and an optional integer `fold` column (default 0) for
/// train/test splits. Classes in order of first appearance; multi-label when a row lists several
/// labels.
pub fn csv_manifest(path: &Path) -> Result<Dataset> {
    let (h, rows) = read_rows(path)?;
    let (pi, li) = (column(&h, "path", path)?, column(&h, "label", path)?);
    let fi = h.iter().position(|c| c.trim() == "fold");
    let base = path.parent().unwrap_or(Path::new("."));
    let mut b = Builder::new(Vec::new());
    for (line, f) in &rows {
        let labels: Vec<usize> = f[li]
            .split(';')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .filter_map(|l| b.class(l, true))
            .collect();
        if labels.is_empty() {
            return Err(DataError::Line {
                path: path.to_path_buf(),
                line: *line,
                reason: "no label".into(),
            });
        }
        let fold = match fi {
            Some(i) => f[i].trim().parse().map_err(|_| DataError::Line {
                path: path.to_path_buf(),
                line: *line,
                reason: format!("fold {:?} is not a non-negative integer", f[i]),
            })?,
            None => 0,
        };
        b.push(base.join(&f[pi]), labels, fold, true);
    }
    Ok(b.finish("manifest"))
}
