//! Validation splits carved out of training clips (a held-out share, or one fold of a
//! cross-validation partition): seeded, stratified by class, and with every
//! clip of one source recording on the same side (UrbanSound8K's slices of one freesound file,
//! ESC-50's takes of one source clip), so validation scores are not inflated by near-duplicates
//! of training clips.
//!
//! The share of each class is allotted by the largest-remainder method, so the held-out clips
//! follow the class frequencies and their total is `round(fraction * n)` (at least one) up to
//! whole recordings (a class's first recording is taken even when it alone passes the quota);
//! a multi-label clip counts for its first label.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

use crate::datasets::Dataset;
use crate::error::{DataError, Result};

/// Indices (into `ds.clips`, ascending) of the clips of `members` held out for validation:
/// about `fraction` of them, stratified by class, recordings kept whole, the same for the same
/// `seed` whatever the thread count or the order of `members`.
pub fn holdout(ds: &Dataset, members: &[usize], fraction: f64, seed: u64) -> Result<Vec<usize>> {
    let class_of = |i: usize| ds.clips[i].labels.first().copied().unwrap_or(0);
    holdout_by(
        ds.classes.len(),
        members,
        class_of,
        |i| ds.source(i),
        fraction,
        seed,
    )
}

/// [`holdout`] over any list: `class_of(i)` is the class member `i` is stratified by (its first
/// label) and `source_of(i)` its recording, where known.
pub fn holdout_by(
    classes: usize,
    members: &[usize],
    class_of: impl Fn(usize) -> usize,
    source_of: impl Fn(usize) -> Option<String>,
    fraction: f64,
    seed: u64,
) -> Result<Vec<usize>> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(DataError::Mismatch(format!(
            "a validation fraction lies in (0, 1), got {fraction}"
        )));
    }
    let (groups, by_class, clips_in) = recordings_by_class(classes, members, class_of, source_of);
    let quotas = largest_remainder(&clips_in, fraction);
    let mut out = Vec::new();
    for (c, mut gs) in by_class.into_iter().enumerate() {
        if quotas[c] == 0 {
            continue;
        }
        gs.shuffle(&mut class_rng(seed, c));
        let mut taken = 0;
        // Whole recordings, greedily, without passing the class's quota (but at least one).
        for g in gs {
            if taken >= quotas[c] {
                break;
            }
            if taken > 0 && taken + groups[g].len() > quotas[c] {
                continue;
            }
            taken += groups[g].len();
            out.extend_from_slice(&groups[g]);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The recordings of `members` (in order of first appearance, each with its clips, ascending),
/// the recordings of each class (by their first clip's class), and each class's clip count.
type Recordings = (Vec<Vec<usize>>, Vec<Vec<usize>>, Vec<usize>);

fn recordings_by_class(
    classes: usize,
    members: &[usize],
    class_of: impl Fn(usize) -> usize,
    source_of: impl Fn(usize) -> Option<String>,
) -> Recordings {
    let mut members = members.to_vec();
    members.sort_unstable();
    members.dedup();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in &members {
        let key = source_of(i).unwrap_or_else(|| format!("#{i}"));
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    let classes = classes.max(1);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    let mut clips_in: Vec<usize> = vec![0; classes];
    for (g, clips) in groups.iter().enumerate() {
        let c = class_of(clips[0]).min(classes - 1);
        by_class[c].push(g);
        clips_in[c] += clips.len();
    }
    (groups, by_class, clips_in)
}

fn class_rng(seed: u64, c: usize) -> StdRng {
    StdRng::seed_from_u64(crate::seed::stream(seed, c as u64))
}

/// A seeded, stratified partition of `ds`'s clips `members` into `folds` folds for
/// cross-validation (Jeong & Lim's 5-fold ensembles): each fold's clips, ascending. Within each
/// class the recordings are shuffled and each goes, whole, to the fold holding the fewest clips
/// of that class so far, so every class is spread evenly and no recording spans two folds.
pub fn kfold(ds: &Dataset, members: &[usize], folds: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    let class_of = |i: usize| ds.clips[i].labels.first().copied().unwrap_or(0);
    kfold_by(
        ds.classes.len(),
        members,
        class_of,
        |i| ds.source(i),
        folds,
        seed,
    )
}

/// [`kfold`] over any list, as [`holdout_by`].
pub fn kfold_by(
    classes: usize,
    members: &[usize],
    class_of: impl Fn(usize) -> usize,
    source_of: impl Fn(usize) -> Option<String>,
    folds: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    if folds < 2 {
        return Err(DataError::Mismatch(format!(
            "cross-validation needs at least 2 folds, got {folds}"
        )));
    }
    let (groups, by_class, _) = recordings_by_class(classes, members, class_of, source_of);
    if groups.len() < folds {
        return Err(DataError::Mismatch(format!(
            "{} recordings cannot fill {folds} folds",
            groups.len()
        )));
    }
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); folds];
    let mut sizes = vec![0usize; folds];
    for (c, mut gs) in by_class.into_iter().enumerate() {
        gs.shuffle(&mut class_rng(seed, c));
        let mut of_class = vec![0usize; folds];
        for g in gs {
            // Fewest clips of this class, then fewest clips overall, then the lowest index.
            let f = (0..folds)
                .min_by_key(|&f| (of_class[f], sizes[f], f))
                .unwrap_or(0);
            of_class[f] += groups[g].len();
            sizes[f] += groups[g].len();
            out[f].extend_from_slice(&groups[g]);
        }
    }
    out.iter_mut().for_each(|f| f.sort_unstable());
    Ok(out)
}

/// Whole-number shares of `fraction * sum(counts)` (at least 1 when any count is positive),
/// proportional to `counts`, by the largest-remainder method (ties to the lower index).
fn largest_remainder(counts: &[usize], fraction: f64) -> Vec<usize> {
    let n: usize = counts.iter().sum();
    if n == 0 {
        return vec![0; counts.len()];
    }
    let total = ((fraction * n as f64).round() as usize).clamp(1, n);
    let exact: Vec<f64> = counts
        .iter()
        .map(|&c| c as f64 * total as f64 / n as f64)
        .collect();
    let mut q: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let mut left = total - q.iter().sum::<usize>();
    for k in order {
        if left == 0 {
            break;
        }
        if q[k] < counts[k] {
            q[k] += 1;
            left -= 1;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::datasets::Clip;

    fn dataset(name: &str, files: &[(&str, usize)]) -> Dataset {
        Dataset {
            name: name.into(),
            classes: (0..3).map(|c| c.to_string()).collect(),
            clips: files
                .iter()
                .map(|&(f, c)| Clip {
                    path: PathBuf::from(f),
                    labels: vec![c],
                    fold: 1,
                    verified: true,
                })
                .collect(),
            missing: Vec::new(),
        }
    }

    #[test]
    fn quotas_follow_the_class_frequencies() {
        assert_eq!(largest_remainder(&[50, 30, 20], 0.1), vec![5, 3, 2]);
        assert_eq!(largest_remainder(&[5, 3, 2], 0.1), vec![1, 0, 0]);
        assert_eq!(largest_remainder(&[15, 15], 0.1), vec![2, 1]);
        assert_eq!(largest_remainder(&[0, 0], 0.5), vec![0, 0]);
    }

    #[test]
    fn stratified_seeded_and_independent_of_member_order() {
        let files: Vec<(String, usize)> = (0..300).map(|i| (format!("{i}.wav"), i % 3)).collect();
        let refs: Vec<(&str, usize)> = files.iter().map(|(f, c)| (f.as_str(), *c)).collect();
        let ds = dataset("manifest", &refs);
        let all: Vec<usize> = (0..300).collect();
        let v = holdout(&ds, &all, 0.1, 7).unwrap();
        assert_eq!(v.len(), 30);
        for c in 0..3 {
            assert_eq!(v.iter().filter(|&&i| i % 3 == c).count(), 10);
        }
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(holdout(&ds, &reversed, 0.1, 7).unwrap(), v);
        assert_ne!(holdout(&ds, &all, 0.1, 8).unwrap(), v);
        assert!(holdout(&ds, &all, 1.0, 7).is_err());
        assert!(holdout(&ds, &all, 0.0, 7).is_err());
    }

    #[test]
    fn kfold_partitions_stratified_with_recordings_whole() {
        // 3 classes x 10 recordings x 2 slices, UrbanSound8K names.
        let files: Vec<(String, usize)> = (0..60)
            .map(|i| {
                (
                    format!("fold1/{}-{}-0-{}.wav", 100 + i / 2, (i / 2) % 3, i % 2),
                    (i / 2) % 3,
                )
            })
            .collect();
        let refs: Vec<(&str, usize)> = files.iter().map(|(f, c)| (f.as_str(), *c)).collect();
        let ds = dataset("urbansound8k", &refs);
        let all: Vec<usize> = (0..60).collect();
        let folds = kfold(&ds, &all, 5, 3).unwrap();
        let mut seen: Vec<usize> = folds.concat();
        seen.sort_unstable();
        assert_eq!(seen, all, "a partition: every clip in exactly one fold");
        for f in &folds {
            assert_eq!(f.len(), 12);
            for c in 0..3 {
                assert_eq!(f.iter().filter(|&&i| (i / 2) % 3 == c).count(), 4);
            }
            for &i in f {
                assert!(
                    f.contains(&(i ^ 1)),
                    "recording of clip {i} split across folds"
                );
            }
        }
        assert_eq!(kfold(&ds, &all, 5, 3).unwrap(), folds);
        assert_ne!(kfold(&ds, &all, 5, 4).unwrap(), folds);
        assert!(kfold(&ds, &all, 1, 3).is_err());
        assert!(kfold(&ds, &all[..4], 5, 3).is_err());
    }

    #[test]
    fn slices_of_one_recording_stay_together() {
        // UrbanSound8K names: {fsID}-{classID}-{occurrence}-{slice}.wav; ten recordings of four
        // slices each.
        let files: Vec<(String, usize)> = (0..40)
            .map(|i| (format!("fold1/{}-0-0-{}.wav", 100 + i / 4, i % 4), 0))
            .collect();
        let refs: Vec<(&str, usize)> = files.iter().map(|(f, c)| (f.as_str(), *c)).collect();
        let ds = dataset("urbansound8k", &refs);
        let v = holdout(&ds, &(0..40).collect::<Vec<_>>(), 0.2, 0).unwrap();
        assert_eq!(v.len(), 8);
        let recs: std::collections::BTreeSet<usize> = v.iter().map(|i| i / 4).collect();
        assert_eq!(recs.len(), 2, "{v:?}");
    }
}
