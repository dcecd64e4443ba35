//! Which clips train, validate and test: a dataset's folds or a seeded carve, AudioSet
//! datafiles, and how many listed clips were on disk.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tympan_data::{ClassList, Datafile, Dataset};

use crate::error::TrainError;
use crate::recipe::{DataSection, Validation};

use super::Item;

/// How many clips of a split were listed and how many were on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitPresence {
    /// Clips the datafile lists.
    pub listed: usize,
    /// Clips found on disk (the ones used).
    pub present: usize,
}

/// [`SplitPresence`] of the training and the evaluation split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The training datafile (a validation share carved from it included).
    pub train: SplitPresence,
    /// The validation datafile, when validation has its own (`valid = { datafile = .. }`).
    #[serde(default)]
    pub valid: Option<SplitPresence>,
    /// The evaluation (test) datafile.
    pub eval: SplitPresence,
}

/// Classes, train, validation, test, missing files, the split's description.
pub(super) type Split = (Vec<String>, Vec<Item>, Vec<Item>, Vec<Item>, usize, String);

pub(super) fn empty_split(path: &Path, what: &str, split: &str) -> TrainError {
    TrainError::Recipe {
        path: path.to_path_buf(),
        reason: format!("the {what} split is empty ({split})"),
    }
}

pub(super) fn split_dataset(ds: &Dataset, d: &DataSection) -> Result<Split, TrainError> {
    let item = |i: usize| Item {
        path: ds.clips[i].path.clone(),
        target: ds.target(i),
        samples: None,
        sample_rate: 0,
        verified: ds.clips[i].verified,
    };
    let kept: Vec<usize> = (0..ds.clips.len())
        .filter(|&i| !d.exclude_folds.contains(&ds.clips[i].fold))
        .collect();
    let by_fold =
        |f: u32| -> (Vec<usize>, Vec<usize>) { kept.iter().partition(|&&i| ds.clips[i].fold == f) };
    // Your own clips (a folder per class, a manifest without folds) have no split of their own:
    // a seeded, stratified fifth is the test split unless the recipe says otherwise.
    let own = matches!(ds.name.as_str(), "folders" | "manifest");
    // A folder laid out as train/ (val/) test/ is split by its sub-folders.
    let layout = ds.name == tympan_data::datasets::FOLDER_SPLITS;
    let has_val =
        layout && (kept.iter()).any(|&i| ds.clips[i].fold == tympan_data::datasets::SPLIT_VAL);
    let ((test, pool), split) = match (d.test_fold, d.test_fraction) {
        (fold, fraction) if layout => (
            by_fold(tympan_data::datasets::SPLIT_TEST),
            format!(
                "the test/ sub-folder tests{}",
                if fold.is_some() || fraction.is_some() {
                    " (data.test_fold / data.test_fraction not used: the folder has its own split)"
                } else {
                    ""
                }
            ),
        ),
        (Some(_), Some(_)) => {
            return Err(TrainError::Recipe {
                path: d.data_dir.clone(),
                reason: "data.test_fold and data.test_fraction are exclusive".into(),
            });
        }
        (None, None) if ds.name == "fsdd" => (
            by_fold(0),
            "official FSDD split: takes 0-4 test, 5-49 train".to_string(),
        ),
        (Some(f), None) => (by_fold(f), format!("fold {f} test, the other folds train")),
        (None, Some(x)) => (carve_test(ds, &kept, x, d.split_seed)?, carved(x)),
        (None, None) if own => (carve_test(ds, &kept, 0.2, d.split_seed)?, carved(0.2)),
        (None, None) => {
            return Err(TrainError::Recipe {
                path: d.data_dir.clone(),
                reason: format!(
                    "{} needs data.test_fold (a fold of its own) or data.test_fraction",
                    ds.name
                ),
            });
        }
    };
    let validation = if has_val {
        Validation::Official
    } else {
        d.validation()
    };
    let held: Vec<usize> = match &validation {
        Validation::Fraction(f) => tympan_data::split::holdout(ds, &pool, *f, d.split_seed)?,
        Validation::Fold(k) => pool
            .iter()
            .copied()
            .filter(|&i| ds.clips[i].fold == *k)
            .collect(),
        Validation::Official => pool
            .iter()
            .copied()
            .filter(|&i| ds.clips[i].fold == tympan_data::datasets::SPLIT_VAL)
            .collect(),
        Validation::Cv { folds, index } => {
            tympan_data::split::kfold(ds, &pool, *folds, d.split_seed)?.swap_remove(*index)
        }
        Validation::None => Vec::new(),
        Validation::Datafile(_) => {
            return Err(TrainError::Recipe {
                path: d.data_dir.clone(),
                reason: "data.valid.datafile is for dataset = \"audioset\"".into(),
            });
        }
    };
    let split = match (has_val, &d.valid) {
        (true, Some(v)) if *v != Validation::Official => {
            format!(
                "{split}; validation: the val/ sub-folder (not data.valid's {v}: the folder has its own)"
            )
        }
        (true, _) => format!("{split}; validation: the val/ sub-folder"),
        (false, _) => format!("{split}; validation: {validation}"),
    };
    let is_held: std::collections::HashSet<usize> = held.iter().copied().collect();
    let train: Vec<Item> = pool
        .iter()
        .filter(|i| !is_held.contains(i))
        .map(|&i| item(i))
        .collect();
    let valid: Vec<Item> = held.into_iter().map(item).collect();
    let test: Vec<Item> = test.into_iter().map(item).collect();
    Ok((
        ds.classes.clone(),
        train,
        valid,
        test,
        ds.missing.len(),
        split,
    ))
}

/// A seeded, stratified `fraction` of `kept` as the test split, the rest for training and
/// validation (a seed apart from the validation carve's).
fn carve_test(
    ds: &Dataset,
    kept: &[usize],
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), TrainError> {
    let test = tympan_data::split::holdout(ds, kept, fraction, seed ^ 0x7E57_7E57_7E57_7E57)?;
    let is_test: std::collections::HashSet<usize> = test.iter().copied().collect();
    let pool = kept
        .iter()
        .copied()
        .filter(|i| !is_test.contains(i))
        .collect();
    Ok((test, pool))
}

fn carved(fraction: f64) -> String {
    format!(
        "a seeded, stratified {:.0}% test split (data.test_fraction)",
        fraction * 100.0
    )
}

pub(super) fn audioset(d: &DataSection) -> Result<(Split, Presence), TrainError> {
    let need = |p: &Option<PathBuf>, key: &str| {
        p.as_ref()
            .map(|p| d.data_dir.join(p))
            .ok_or_else(|| TrainError::Recipe {
                path: d.data_dir.clone(),
                reason: format!("data.{key} is required for audioset"),
            })
    };
    let classes = ClassList::load(&need(&d.class_csv, "class_csv")?)?;
    let read = |file: PathBuf| -> Result<(Vec<Item>, usize), TrainError> {
        let df = Datafile::load(&file)?;
        let mut items = Vec::new();
        let mut missing = 0;
        for e in &df.data {
            let path = PathBuf::from(&e.wav);
            if !path.is_file() {
                missing += 1;
                continue;
            }
            let target = classes
                .multi_hot(e.label_list())
                .map_err(|e| TrainError::Recipe {
                    path: file.clone(),
                    reason: e.to_string(),
                })?;
            items.push(Item {
                path,
                target,
                samples: None,
                sample_rate: 0,
                verified: true,
            });
        }
        Ok((items, missing))
    };
    let presence = |items: &[Item], missing: usize| SplitPresence {
        listed: items.len() + missing,
        present: items.len(),
    };
    let (pool, m1) = read(need(&d.train_json, "train_json")?)?;
    let (test, m2) = read(need(&d.eval_json, "eval_json")?)?;
    let mut p = Presence {
        train: presence(&pool, m1),
        valid: None,
        eval: presence(&test, m2),
    };
    let validation = d.validation();
    let (train, valid, m3) = match &validation {
        Validation::Datafile(file) => {
            let (valid, m3) = read(d.data_dir.join(file))?;
            p.valid = Some(presence(&valid, m3));
            (pool, valid, m3)
        }
        Validation::Fraction(f) => {
            let held = tympan_data::split::holdout_by(
                classes.classes().len(),
                &(0..pool.len()).collect::<Vec<_>>(),
                |i| pool[i].class(),
                |_| None,
                *f,
                d.split_seed,
            )?;
            let (train, valid) = split_off(pool, &held);
            (train, valid, 0)
        }
        Validation::Cv { folds, index } => {
            let held = tympan_data::split::kfold_by(
                classes.classes().len(),
                &(0..pool.len()).collect::<Vec<_>>(),
                |i| pool[i].class(),
                |_| None,
                *folds,
                d.split_seed,
            )?
            .swap_remove(*index);
            let (train, valid) = split_off(pool, &held);
            (train, valid, 0)
        }
        Validation::None => (pool, Vec::new(), 0),
        other => {
            return Err(TrainError::Recipe {
                path: d.data_dir.clone(),
                reason: format!(
                    "data.valid = {other:?}: AudioSet datafiles take {{ fraction = .. }}, {{ cv = .. }} or {{ datafile = .. }}"
                ),
            });
        }
    };
    let names = classes.classes().iter().map(|c| c.name.clone()).collect();
    let split = format!("AudioSet datafiles; validation: {validation}");
    Ok(((names, train, valid, test, m1 + m2 + m3, split), p))
}

/// `pool` without and with the entries at the indices `held`, each in `pool`'s order.
fn split_off<T>(pool: Vec<T>, held: &[usize]) -> (Vec<T>, Vec<T>) {
    let mut is_held = vec![false; pool.len()];
    held.iter().for_each(|&i| is_held[i] = true);
    let (mut kept, mut out) = (Vec::new(), Vec::new());
    for (i, it) in pool.into_iter().enumerate() {
        if is_held[i] { &mut out } else { &mut kept }.push(it);
    }
    (kept, out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tympan_data::datasets::{FOLDER_SPLITS, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL};
    use tympan_data::{Clip, Dataset};

    use super::*;
    use crate::recipe::Recipe;

    /// 20 training clips (10 per class), then `val` validation and 4 test clips, the folds
    /// [`tympan_data::datasets::folder_per_class`] gives a `train/ val/ test/` folder.
    fn layout(val: usize) -> Dataset {
        let clip = |i: usize, fold| Clip {
            path: format!("c{i}.wav").into(),
            labels: vec![i % 2],
            fold,
            verified: true,
        };
        let folds = (0..20)
            .map(|_| SPLIT_TRAIN)
            .chain((0..val).map(|_| SPLIT_VAL))
            .chain((0..4).map(|_| SPLIT_TEST));
        Dataset {
            name: FOLDER_SPLITS.into(),
            classes: vec!["cat".into(), "dog".into()],
            clips: folds.enumerate().map(|(i, f)| clip(i, f)).collect(),
            missing: Vec::new(),
        }
    }

    fn section(set: &[&str]) -> DataSection {
        let set: Vec<String> = std::iter::once(r#"data.dataset="folder""#)
            .chain(set.iter().copied())
            .map(str::to_string)
            .collect();
        Recipe::from_toml(crate::recipe::tests::R, Path::new("t.toml"), &set)
            .unwrap()
            .data
    }

    fn names(items: &[Item]) -> Vec<String> {
        items.iter().map(|i| i.path.display().to_string()).collect()
    }

    #[test]
    fn sub_folders_give_the_split_and_override_the_recipe_carve() {
        // train/ val/ test/: each split is its folder, whatever test_fraction and valid say.
        let ds = layout(3);
        let d = section(&["data.test_fraction=0.5", "data.valid={fraction=0.5}"]);
        let (_, train, valid, test, _, split) = split_dataset(&ds, &d).unwrap();
        let range = |r: std::ops::Range<usize>| r.map(|i| format!("c{i}.wav")).collect::<Vec<_>>();
        assert_eq!(names(&train), range(0..20));
        assert_eq!(names(&valid), range(20..23));
        assert_eq!(names(&test), range(23..27));
        assert!(
            split.contains("test/ sub-folder") && split.contains("not used"),
            "{split}"
        );
        assert!(
            split.contains("val/ sub-folder") && split.contains("not data.valid"),
            "{split}"
        );
        // train/ test/ only: validation is carved from train/ as data.valid says (a tenth by default).
        let ds = layout(0);
        let (_, train, valid, test, _, split) = split_dataset(&ds, &section(&[])).unwrap();
        assert_eq!(names(&test), range(20..24));
        assert_eq!(valid.len(), 2, "{split}");
        assert_eq!(train.len() + valid.len(), 20);
        assert!(names(&valid).iter().all(|v| !names(&train).contains(v)));
    }
}
