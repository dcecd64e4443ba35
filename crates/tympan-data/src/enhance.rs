//! PSLA label enhancement (Gong et al., Algorithm 2): add missing labels that the ontology and a
//! teacher model's predictions on the training set both support.
//!
//! - Thresholds: for class `k`, a statistic of the teacher's scores on the clips labelled `k`
//!   (mean, median or a low percentile; percentiles interpolate linearly, as `numpy.percentile`).
//! - Type I: for each original label, add each direct child (in the class list) whose score
//!   passes its threshold.
//! - Type II: for each original label, add each ancestor (in the class list) whose score passes.
//!   Ancestors are walked as PSLA's `fix_type2.py` walks them (`generate_parent_dict`,
//!   `dfs_dict`): a parent link comes only from a node whose restrictions are not exactly
//!   `["abstract"]`, so the walk stops below an abstract grouping node instead of passing through
//!   it to the classes above (checked against PSLA's own script on the real ontology and
//!   balanced list: `tests/label_enhancement.rs`).
//! - Both: the union of the two.

use std::collections::{BTreeSet, HashMap};

use crate::error::{DataError, Result};
use crate::{ClassList, Datafile, DatafileEntry, Ontology};

/// The per-class threshold statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Mean score over the clips labelled with the class.
    Mean,
    /// Median (50th percentile).
    Median,
    /// A percentile in [0, 100] (PSLA uses 25, 10 and 5).
    Percentile(f64),
}

impl std::str::FromStr for Threshold {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Self::Mean),
            "median" => Ok(Self::Median),
            p => p
                .trim_start_matches('p')
                .parse::<f64>()
                .ok()
                .filter(|v| (0.0..=100.0).contains(v))
                .map(Self::Percentile)
                .ok_or_else(|| {
                    DataError::Mismatch(format!(
                        "threshold {s:?}: expected mean, median or a percentile like 25, 10, 5"
                    ))
                }),
        }
    }
}

/// Which enhancement to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnhanceType {
    /// Add children.
    TypeI,
    /// Add ancestors.
    TypeII,
    /// Union of both.
    Both,
}

/// What [`enhance`] added.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct EnhanceReport {
    /// Labels added, per class index.
    pub added_per_class: Vec<usize>,
    /// Labels added in total.
    pub total_added: usize,
    /// Clips that gained at least one label.
    pub clips_changed: usize,
}

fn percentile(sorted: &[f32], p: f64) -> f32 {
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    (sorted[lo] as f64 + (sorted[hi] as f64 - sorted[lo] as f64) * frac) as f32
}

fn labels_of(e: &DatafileEntry, classes: &ClassList, i: usize) -> Result<Vec<usize>> {
    e.label_list()
        .map(|m| {
            classes.index_of(m).ok_or_else(|| {
                DataError::Mismatch(format!(
                    "entry {i} ({}): label {m} not in the class list",
                    e.wav
                ))
            })
        })
        .collect()
}

/// Per-class thresholds from teacher predictions `preds` (`[clips, classes]`, row-major, same
/// order as `data`). Classes with no labelled clip get `None` and are never added.
pub fn thresholds(
    data: &Datafile,
    preds: &[f32],
    classes: &ClassList,
    kind: Threshold,
) -> Result<Vec<Option<f32>>> {
    let c = classes.len();
    if preds.len() != data.data.len() * c {
        return Err(DataError::Mismatch(format!(
            "predictions hold {} values, expected {} clips x {c} classes",
            preds.len(),
            data.data.len()
        )));
    }
    let mut per_class: Vec<Vec<f32>> = vec![Vec::new(); c];
    for (i, e) in data.data.iter().enumerate() {
        for k in labels_of(e, classes, i)? {
            per_class[k].push(preds[i * c + k]);
        }
    }
    Ok(per_class
        .into_iter()
        .map(|mut v| {
            if v.is_empty() {
                return None;
            }
            v.sort_by(f32::total_cmp);
            Some(match kind {
                Threshold::Mean => {
                    (v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64) as f32
                }
                Threshold::Median => percentile(&v, 50.0),
                Threshold::Percentile(p) => percentile(&v, p),
            })
        })
        .collect())
}

/// PSLA's `generate_parent_dict`: each node's parents, counting only links from nodes whose
/// restrictions are not exactly `["abstract"]` (a node restricted both abstract and blacklisted
/// still counts, as in PSLA's list comparison).
fn psla_parents(onto: &Ontology) -> HashMap<&str, Vec<&str>> {
    let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
    for n in onto.nodes() {
        if n.restrictions == ["abstract"] {
            continue;
        }
        for c in &n.child_ids {
            parents.entry(c.as_str()).or_default().push(n.id.as_str());
        }
    }
    parents
}

/// PSLA's `dfs_dict` for one class: every node reachable through [`psla_parents`] links,
/// without the class itself.
fn psla_ancestors<'a>(parents: &HashMap<&'a str, Vec<&'a str>>, id: &str) -> Vec<&'a str> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut stack: Vec<&str> = parents.get(id).cloned().unwrap_or_default();
    while let Some(p) = stack.pop() {
        if p != id && seen.insert(p) {
            stack.extend(parents.get(p).into_iter().flatten().copied());
        }
    }
    seen.into_iter().collect()
}

/// Applies the enhancement; returns the enhanced datafile (original labels first, in order, then
/// the added ones) and a report.
pub fn enhance(
    data: &Datafile,
    preds: &[f32],
    classes: &ClassList,
    onto: &Ontology,
    thresholds: &[Option<f32>],
    kind: EnhanceType,
) -> Result<(Datafile, EnhanceReport)> {
    let c = classes.len();
    if preds.len() != data.data.len() * c || thresholds.len() != c {
        return Err(DataError::Mismatch(
            "predictions or thresholds do not match the datafile and class list".into(),
        ));
    }
    let mut report = EnhanceReport {
        added_per_class: vec![0; c],
        ..Default::default()
    };
    let parents = psla_parents(onto);
    let mut out = Datafile::default();
    for (i, e) in data.data.iter().enumerate() {
        let original = labels_of(e, classes, i)?;
        let have: BTreeSet<usize> = original.iter().copied().collect();
        let mut added = BTreeSet::new();
        let passes = |k: usize| thresholds[k].is_some_and(|t| preds[i * c + k] > t);
        for &l in &original {
            let mid = &classes.classes()[l].mid;
            let mut candidates = Vec::new();
            if matches!(kind, EnhanceType::TypeI | EnhanceType::Both) {
                candidates.extend(onto.children(mid));
            }
            if matches!(kind, EnhanceType::TypeII | EnhanceType::Both) {
                candidates.extend(psla_ancestors(&parents, mid));
            }
            for k in candidates.into_iter().filter_map(|m| classes.index_of(m)) {
                if !have.contains(&k) && passes(k) {
                    added.insert(k);
                }
            }
        }
        for &k in &added {
            report.added_per_class[k] += 1;
        }
        report.total_added += added.len();
        report.clips_changed += usize::from(!added.is_empty());
        let labels: Vec<&str> = original
            .iter()
            .chain(&added)
            .map(|&k| classes.classes()[k].mid.as_str())
            .collect();
        out.data.push(DatafileEntry {
            wav: e.wav.clone(),
            labels: labels.join(","),
        });
    }
    Ok((out, report))
}
