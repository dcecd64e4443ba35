//! A model card (`card.json`): everything that turns a folder of weights into a tagger, so that
//! a run folder is a released model. `tympan-train` writes one at the end of every run;
//! `tympan tag --run`, `tympan embed --run` and this crate read nothing else.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use tympan_audio::InputContract;
use tympan_models::{OutputKind, Tagger, create, load_burnpack};

use crate::{InferError, Scorer};

/// The card's file name in a run folder.
pub const CARD_FILE: &str = "card.json";

/// A run folder's copy of the AudioSet-style class list (`index,mid,display_name`) its training
/// read, where it read one (PSLA datafiles label clips by mid): what `tympan evaluate --run`
/// reads such a datafile's labels with.
pub const CLASS_LIST_FILE: &str = "class_labels_indices.csv";

/// The card format this crate writes and reads. Format 1 (2026-12-05) spelled a waveform input
/// `{"waveform": "<norm>"}`; it is read and moved to format 2's `"waveform"` plus
/// `"wave_norm": "<norm>"`.
pub const CARD_FORMAT: u32 = 2;

/// Which model of a run folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// `model-best.bpk`: the model chosen on the validation split.
    Best,
    /// `model-last.bpk`: the last epoch's.
    Last,
    /// `model-wa.bpk`: the weight-averaged model (PSLA).
    WeightAveraged,
}

impl Checkpoint {
    /// The file name in a run folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Best => "model-best.bpk",
            Self::Last => "model-last.bpk",
            Self::WeightAveraged => "model-wa.bpk",
        }
    }
}

/// A model card. See the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// [`CARD_FORMAT`].
    pub format: u32,
    /// Registry architecture (`tympan models list`).
    pub arch: String,
    /// What the model reads, with the normalisation its training computed.
    pub input: InputContract,
    /// What it outputs.
    pub output: OutputKind,
    /// Class names, in output order.
    pub classes: Vec<String>,
    /// The model files of the folder (`model-best.bpk`, `model-last.bpk`, `model-wa.bpk`).
    pub checkpoints: Vec<String>,
    /// Windows per forward pass.
    pub eval_batch_size: usize,
    /// Where the model comes from (the recipe's name).
    #[serde(default)]
    pub source: String,
}

impl ModelCard {
    /// The card of a run folder. Errors name the folder and say what is missing.
    pub fn read(dir: &Path) -> Result<Self, InferError> {
        let path = dir.join(CARD_FILE);
        let bad = |reason: String| InferError::Card {
            path: path.clone(),
            reason,
        };
        if !dir.is_dir() {
            return Err(InferError::Card {
                path: dir.to_path_buf(),
                reason: "no such folder".into(),
            });
        }
        if !path.is_file() {
            return Err(bad(format!(
                "no {CARD_FILE}: not a finished run folder (a run writes its card when it ends; \
                 continue an unfinished one with `--resume`, and retrain a run from before \
                 2026-12-05, whose folders have no card)"
            )));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        let mut json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        upgrade_format_1(&mut json);
        let card: Self = serde_json::from_value(json).map_err(|e| bad(e.to_string()))?;
        card.check().map_err(bad)?;
        Ok(card)
    }

    /// What a card must hold to be used.
    fn check(&self) -> Result<(), String> {
        if self.format != CARD_FORMAT {
            return Err(format!(
                "card format {} (this tympan reads {CARD_FORMAT})",
                self.format
            ));
        }
        tympan_models::info(&self.arch).map_err(|e| e.to_string())?;
        if self.classes.is_empty() {
            return Err("no classes".into());
        }
        let c = &self.input;
        if c.length == 0 || !(c.std.is_finite() && c.std > 0.0) || !c.mean.is_finite() {
            return Err(format!(
                "input length {} and normalisation ({}, {}): the length must be positive and \
                 the std a positive number",
                c.length, c.mean, c.std
            ));
        }
        Ok(())
    }

    /// Write the card into `dir` (through a temporary file, so a reader never sees half).
    pub fn write(&self, dir: &Path) -> Result<PathBuf, InferError> {
        let path = dir.join(CARD_FILE);
        let bad = |e: std::io::Error| InferError::Card {
            path: path.clone(),
            reason: e.to_string(),
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| InferError::Card {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let tmp = dir.join(format!("{CARD_FILE}.tmp"));
        std::fs::write(&tmp, text + "\n").map_err(bad)?;
        std::fs::rename(&tmp, &path).map_err(bad)?;
        Ok(path)
    }

    /// The model `which` of the folder `dir` on `device`.
    pub fn load_model(
        &self,
        dir: &Path,
        which: Checkpoint,
        device: &Device,
    ) -> Result<Tagger, InferError> {
        let file = which.file_name();
        if !self.checkpoints.iter().any(|c| c == file) {
            return Err(InferError::Card {
                path: dir.join(CARD_FILE),
                reason: format!(
                    "this run has no {file}; it has {}",
                    self.checkpoints.join(", ")
                ),
            });
        }
        let template = create(&self.arch, self.classes.len(), device)?;
        Ok(load_burnpack(template, &dir.join(file))?)
    }

    /// The card's [`Scorer`]: its input contract, [`Self::eval_batch_size`] windows per pass.
    pub fn scorer(&self) -> Scorer {
        Scorer::new(self.input, self.eval_batch_size)
    }
}

/// A format-1 card in format 2: the waveform normalisation moves out of the input kind.
fn upgrade_format_1(card: &mut serde_json::Value) {
    if card.get("format").and_then(|f| f.as_u64()) != Some(1) {
        return;
    }
    if let Some(input) = card.get_mut("input")
        && let Some(norm) = input.get("input").and_then(|k| k.get("waveform")).cloned()
    {
        input["input"] = "waveform".into();
        input["wave_norm"] = norm;
    }
    card["format"] = CARD_FORMAT.into();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tympan_audio::{InputKind, WaveNorm};

    fn card() -> ModelCard {
        ModelCard {
            format: CARD_FORMAT,
            arch: "m3".into(),
            input: InputContract::new(InputKind::Waveform, 8_000, (0.0, 1.0), Some(8_000))
                .with_wave_norm(WaveNorm::ScaleMax),
            output: OutputKind::Distribution,
            classes: vec!["zero".into(), "one".into()],
            checkpoints: vec!["model-best.bpk".into()],
            eval_batch_size: 4,
            source: "test".into(),
        }
    }

    #[test]
    fn cards_round_trip_and_bad_ones_name_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let c = card();
        c.write(dir.path()).unwrap();
        assert_eq!(ModelCard::read(dir.path()).unwrap(), c);
        let e = ModelCard::read(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such folder"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        let e = ModelCard::read(empty.path()).unwrap_err().to_string();
        assert!(e.contains("no card.json"), "{e}");
        let mut bad = card();
        bad.input.std = 0.0;
        bad.write(dir.path()).unwrap();
        let e = ModelCard::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("std a positive number"), "{e}");
        let mut bad = card();
        bad.arch = "no-such-net".into();
        bad.write(dir.path()).unwrap();
        let e = ModelCard::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no-such-net"), "{e}");
        let e = card()
            .load_model(dir.path(), Checkpoint::WeightAveraged, &Device::flex())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no model-wa.bpk; it has model-best.bpk"), "{e}");
    }

    /// A card written in format 1 (waveform normalisation inside the input kind) reads as the
    /// same card in format 2.
    #[test]
    fn format_1_cards_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let c = card();
        c.write(dir.path()).unwrap();
        let path = dir.path().join(CARD_FILE);
        let mut old: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        old["format"] = 1.into();
        old["input"]["input"] = serde_json::json!({"waveform": "scale-max"});
        old["input"].as_object_mut().unwrap().remove("wave_norm");
        let old = old.to_string();
        std::fs::write(&path, old).unwrap();
        assert_eq!(ModelCard::read(dir.path()).unwrap(), c);
    }
}
