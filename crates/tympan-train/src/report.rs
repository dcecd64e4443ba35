//! What a run reports: the scores of a set of predictions, one row per epoch (`metrics.csv`),
//! the final summary (`summary.json`, PSLA's log), and the files written beside them.
//! [`crate::plots`] draws from these rows; the engine fills them.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tympan_metrics::{Matrix, evaluate};

use crate::data::Presence;
use crate::error::TrainError;

/// JSON has no infinities or NaN (d-prime is infinite when AUC is 1): such values are written as
/// the strings `"inf"`, `"-inf"` and `"nan"`.
mod json_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("nan")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Str(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(v),
            Repr::Str(s) => match s.as_str() {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "nan" => Ok(f64::NAN),
                o => Err(serde::de::Error::custom(format!("not a number: {o}"))),
            },
        }
    }
}

/// The columns of `metrics.csv`.
const METRICS_HEADER: [&str; 15] = [
    "epoch",
    "loss",
    "lr",
    "val_mAP",
    "val_AUC",
    "val_d_prime",
    "val_accuracy",
    "val_MAP@3",
    "test_mAP",
    "test_AUC",
    "test_d_prime",
    "test_accuracy",
    "test_MAP@3",
    "test_ensemble_mAP",
    "seconds",
];

/// The columns of `validation.csv`.
const VALIDATION_HEADER: [&str; 5] = ["step", "epoch", "mAP", "accuracy", "MAP@3"];

/// The five scores of a `metrics.csv` record.
fn score_fields(s: &Scores) -> [String; 5] {
    [s.map, s.auc, s.d_prime, s.accuracy, s.map_at_3].map(|v| format!("{v:.6}"))
}

/// The `metrics.csv` record of an epoch.
fn metrics_record(row: &EpochRow) -> Vec<String> {
    let mut r = vec![
        row.epoch.to_string(),
        format!("{:.6}", row.loss),
        format!("{:.3e}", row.lr),
    ];
    r.extend(score_fields(&row.valid));
    r.extend(score_fields(&row.scores));
    r.push(format!("{:.6}", row.ensemble_map));
    r.push(format!("{:.1}", row.seconds));
    r
}

/// One line of `metrics.csv` (and of `state.json`'s history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Mean training loss.
    #[serde(with = "json_f64")]
    pub loss: f64,
    /// Learning rate at the end of the epoch.
    #[serde(with = "json_f64")]
    pub lr: f64,
    /// Scores of the epoch's model on the validation split (what selection and the plateau
    /// schedule read).
    pub valid: Scores,
    /// Scores of the epoch's model on the test split (reported only).
    #[serde(flatten)]
    pub scores: Scores,
    /// Test mAP of the checkpoint ensemble up to this epoch.
    #[serde(with = "json_f64")]
    pub ensemble_map: f64,
    /// Seconds spent on the epoch.
    #[serde(with = "json_f64")]
    pub seconds: f64,
}

/// Evaluation summary of one set of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// mAP.
    #[serde(with = "json_f64")]
    pub map: f64,
    /// Mean AUC.
    #[serde(with = "json_f64")]
    pub auc: f64,
    /// d-prime.
    #[serde(with = "json_f64")]
    pub d_prime: f64,
    /// Accuracy.
    #[serde(with = "json_f64")]
    pub accuracy: f64,
    /// MAP@3 (DCASE 2018 task 2), against the argmax of the target.
    #[serde(with = "json_f64", default)]
    pub map_at_3: f64,
}

impl Scores {
    /// The scores of a split that was not scored (no validation split): every value NaN.
    pub fn missing() -> Self {
        Self {
            map: f64::NAN,
            auc: f64::NAN,
            d_prime: f64::NAN,
            accuracy: f64::NAN,
            map_at_3: f64::NAN,
        }
    }
}

/// The final summary (PSLA's log: single model, weight averaging, checkpoint ensemble). Every
/// score is on the test split, apart from `validation`; the test split steered nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Recipe name.
    pub recipe: String,
    /// How the clips were split into train, validation and test.
    #[serde(default)]
    pub split: String,
    /// Clips in the training, validation and test split.
    #[serde(default)]
    pub sizes: [usize; 3],
    /// The model chosen on the validation split (`model-best.bpk`, the epoch in `best_epoch`).
    pub selected: Option<Scores>,
    /// The last epoch's model on the validation split.
    pub validation: Scores,
    /// Last epoch.
    pub last_epoch: Scores,
    /// Mean over the last (up to) 5 epochs, as PSLA reports.
    pub mean_last_5: Scores,
    /// Weight-averaged model (PSLA: state dicts averaged, BN statistics included).
    pub weight_averaged: Option<Scores>,
    /// Weight-averaged parameters with the last epoch's BN statistics.
    pub weight_averaged_params_only: Option<Scores>,
    /// Checkpoint ensemble over all epochs.
    pub checkpoint_ensemble: Scores,
    /// Per-class AP of the last epoch (`None` when the class has no positive).
    pub per_class_ap: Vec<(String, Option<f64>)>,
    /// The epoch of `model-best.bpk` and its validation score (accuracy for single-label data,
    /// else mAP).
    #[serde(default)]
    pub best_epoch: Option<(usize, f64)>,
    /// Clips listed and present in each split, where the data lists them per split (AudioSet
    /// datafiles: clips that could not be downloaded are listed but absent, and skipped).
    #[serde(default)]
    pub clips: Option<Presence>,
}

/// Score predictions `[N, K]` against targets: the [`Scores`] and the per-class AP.
pub fn score(
    pred: &[f32],
    targets: &[f32],
    classes: usize,
) -> Result<(Scores, Vec<Option<f64>>), TrainError> {
    let n = pred.len() / classes.max(1);
    let p = Matrix::new(pred, n, classes)?;
    let t = Matrix::new(targets, n, classes)?;
    let report = evaluate(p, t)?;
    let argmax = |row: &[f32]| {
        row.iter()
            .enumerate()
            .fold(
                (0, f32::NEG_INFINITY),
                |b, (i, &v)| if v > b.1 { (i, v) } else { b },
            )
            .0
    };
    let labels: Vec<usize> = (0..n).map(|i| argmax(t.row(i))).collect();
    let correct = (0..n).filter(|&i| argmax(p.row(i)) == labels[i]).count();
    let map3 = tympan_metrics::map_at_k(p, &labels, 3)?;
    Ok((
        Scores {
            map: report.map.unwrap_or(f64::NAN),
            auc: report.mean_auc.unwrap_or(f64::NAN),
            d_prime: report.d_prime.unwrap_or(f64::NAN),
            accuracy: correct as f64 / n.max(1) as f64,
            map_at_3: map3,
        },
        report.classes.iter().map(|c| c.ap).collect(),
    ))
}

/// Writes `bytes` to `path` through a `.partial` file and a rename, so `path` is whole or absent.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

pub(crate) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `data` (`shape`) as `.npy` through a `.partial` file and a rename ([`write_atomic`]).
pub(crate) fn write_npy_atomic(
    path: &Path,
    data: &[f32],
    shape: &[usize],
) -> Result<(), TrainError> {
    let tmp = path.with_extension("npy.partial");
    tympan_audio::npy::write(&tmp, data, shape).map_err(npy_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

fn npy_err(path: &Path) -> impl Fn(tympan_audio::npy::NpyError) -> TrainError + '_ {
    move |e| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn csv_err(path: &Path) -> impl Fn(csv::Error) -> TrainError + '_ {
    move |e| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes `header` and `records` as one CSV file, atomically ([`write_atomic`]).
pub(crate) fn write_csv_atomic<R>(
    path: &Path,
    header: &[&str],
    records: impl IntoIterator<Item = R>,
) -> Result<(), TrainError>
where
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(csv_err(path))?;
    for r in records {
        w.write_record(r).map_err(csv_err(path))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv_err(path)(e.into_error().into()))?;
    write_atomic(path, &bytes)
}

/// Writes the files of a finished run beside its checkpoints: `summary.json`,
/// `per_class_ap.csv`, the last epoch's `predictions.npy`,
/// the test predictions of the model chosen on validation (`predictions-best.npy`, when one was
/// chosen), and the evaluation `targets.npy` in the same row order (for `tympan metrics`,
/// `tympan ensemble` and `cargo xtask cv`).
pub(crate) fn write_outputs(
    out_dir: &Path,
    summary: &Summary,
    predictions: &[f32],
    best_predictions: Option<&[f32]>,
    targets: &[f32],
    classes: usize,
) -> Result<(), TrainError> {
    let json = serde_json::to_vec_pretty(summary).map_err(|e| TrainError::Checkpoint {
        path: out_dir.join("summary.json"),
        reason: e.to_string(),
    })?;
    write_atomic(&out_dir.join("summary.json"), &json)?;
    let per_class = summary.per_class_ap.iter().map(|(c, ap)| {
        let ap = ap.map(|v| format!("{v:.6}")).unwrap_or_default();
        [c.clone(), ap]
    });
    write_csv_atomic(
        &out_dir.join("per_class_ap.csv"),
        &["class", "AP"],
        per_class,
    )?;
    let n = predictions.len() / classes.max(1);
    let p = out_dir.join("predictions.npy");
    tympan_audio::npy::write(&p, predictions, &[n, classes]).map_err(npy_err(&p))?;
    if let Some(best) = best_predictions {
        let p = out_dir.join("predictions-best.npy");
        tympan_audio::npy::write(&p, best, &[n, classes]).map_err(npy_err(&p))?;
    }
    let t = out_dir.join("targets.npy");
    tympan_audio::npy::write(&t, targets, &[n, classes]).map_err(npy_err(&t))?;
    Ok(())
}

/// An append-only CSV log: rewritten atomically from the committed records when opened, then
/// one record per append, flushed at once (a killed run loses no committed row).
struct CsvLog {
    path: std::path::PathBuf,
    writer: csv::Writer<std::fs::File>,
}

impl CsvLog {
    fn open(
        path: std::path::PathBuf,
        header: &[&str],
        records: &[Vec<String>],
    ) -> Result<Self, TrainError> {
        write_csv_atomic(&path, header, records)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        Ok(Self { path, writer })
    }

    fn append(&mut self, record: &[String]) -> Result<(), TrainError> {
        self.writer
            .write_record(record)
            .map_err(csv_err(&self.path))?;
        self.writer.flush().map_err(io_err(&self.path))
    }
}

/// The records of an existing `validation.csv` from epochs up to `done` (none when the file is
/// absent or unreadable: the log then starts afresh).
fn validation_records_up_to(path: &Path, done: usize) -> Vec<Vec<String>> {
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return Vec::new();
    };
    reader
        .records()
        .map_while(Result::ok)
        .filter(|r| {
            r.get(1)
                .and_then(|e| e.parse::<usize>().ok())
                .is_some_and(|e| e <= done)
        })
        .map(|r| r.iter().map(str::to_string).collect())
        .collect()
}

/// `metrics.csv` (one row per committed epoch) and, with `train.validate_every`,
/// `validation.csv` (one row per evaluation inside an epoch), appended as the run goes.
///
/// Both are rewritten from the committed state when a run starts, so a run killed at any point,
/// then resumed, has exactly the rows an uninterrupted run has: the rows of an epoch that was
/// killed before its commit are dropped and written again when it is rerun.
pub(crate) struct RunLog {
    metrics: CsvLog,
    validation: Option<CsvLog>,
}

impl RunLog {
    /// Opens the logs of `out_dir` for a run that has committed `history`.
    pub fn open(out_dir: &Path, history: &[EpochRow], validate: bool) -> Result<Self, TrainError> {
        let rows: Vec<Vec<String>> = history.iter().map(metrics_record).collect();
        let metrics = CsvLog::open(out_dir.join("metrics.csv"), &METRICS_HEADER, &rows)?;
        let validation = if validate {
            let path = out_dir.join("validation.csv");
            let done = history.last().map_or(0, |r| r.epoch);
            let kept = validation_records_up_to(&path, done);
            Some(CsvLog::open(path, &VALIDATION_HEADER, &kept)?)
        } else {
            None
        };
        Ok(Self {
            metrics,
            validation,
        })
    }

    /// Whether in-epoch evaluations are logged (`train.validate_every` is set).
    pub fn validates(&self) -> bool {
        self.validation.is_some()
    }

    /// Appends a committed epoch's row to `metrics.csv`.
    pub fn epoch(&mut self, row: &EpochRow) -> Result<(), TrainError> {
        self.metrics.append(&metrics_record(row))
    }

    /// Appends an in-epoch evaluation to `validation.csv`.
    pub fn validation(&mut self, step: u64, epoch: usize, s: &Scores) -> Result<(), TrainError> {
        match &mut self.validation {
            Some(log) => log.append(&[
                step.to_string(),
                epoch.to_string(),
                format!("{:.6}", s.map),
                format!("{:.6}", s.accuracy),
                format!("{:.6}", s.map_at_3),
            ]),
            None => Ok(()),
        }
    }
}
