//! Reading a recipe: the file, its `kind`, `--set` overrides, the model card's defaults, then
//! validation.

use std::path::Path;

use serde::Deserialize;

use super::{InputKind, Pretrained, ProbeRecipe, Recipe};
use crate::error::TrainError;

/// What a recipe file describes, by its top-level `kind` (`"train"` when absent).
// One value per run, parsed once: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Experiment {
    /// A training run (`kind = "train"`, the default).
    Train(Recipe),
    /// A probe of a trained run's embeddings (`kind = "probe"`).
    Probe(ProbeRecipe),
}

/// The top-level `kind` key of a recipe file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    #[default]
    Train,
    Probe,
}

impl Experiment {
    /// Read and parse a recipe file of either kind; `overrides` apply to training recipes only.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        Self::from_toml(&read_recipe(path)?, path, overrides)
    }

    /// Parse recipe text of either kind.
    pub fn from_toml(text: &str, source: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let mut table = parse_table(text, source)?;
        match take_kind(&mut table, source)? {
            Kind::Train => Recipe::from_table(table, source, overrides).map(Self::Train),
            Kind::Probe if !overrides.is_empty() => Err(recipe_error(
                source,
                "probe recipes take no --set overrides".into(),
            )),
            Kind::Probe => typed(table, source).map(Self::Probe),
        }
    }
}

fn recipe_error(source: &Path, reason: String) -> TrainError {
    TrainError::Recipe {
        path: source.to_path_buf(),
        reason,
    }
}

fn read_recipe(path: &Path) -> Result<String, TrainError> {
    std::fs::read_to_string(path).map_err(|e| recipe_error(path, e.to_string()))
}

fn parse_table(text: &str, source: &Path) -> Result<toml::Table, TrainError> {
    parse_extending(text, source, 0)
}

/// How deep `extends` may chain (a cycle stops here with an error).
const MAX_EXTENDS: usize = 8;

/// The recipe's table with its `extends = "base.toml"` resolved: the base file (relative to
/// this one's folder) read first, then this file's keys over it, sections merged key by key. A
/// variant of a paper's recipe (another table's batch size, another architecture) is then the
/// few keys that differ.
fn parse_extending(text: &str, source: &Path, depth: usize) -> Result<toml::Table, TrainError> {
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| recipe_error(source, e.to_string()))?;
    let Some(base) = table.remove("extends") else {
        return Ok(table);
    };
    let toml::Value::String(base) = base else {
        return Err(recipe_error(
            source,
            "extends: a recipe file name, e.g. extends = \"hikvision-mix.toml\"".into(),
        ));
    };
    if depth >= MAX_EXTENDS {
        return Err(recipe_error(
            source,
            format!("extends chains more than {MAX_EXTENDS} files deep (a cycle?)"),
        ));
    }
    let path = source.parent().unwrap_or(Path::new(".")).join(&base);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        recipe_error(
            source,
            format!("extends = {base:?}: {}: {e}", path.display()),
        )
    })?;
    let mut merged = parse_extending(&text, &path, depth + 1)?;
    merge_into(&mut merged, table);
    Ok(merged)
}

/// `over`'s keys into `base`: a section (`[train]`) merged key by key, any value in it
/// replaced whole (`valid = { fold = 9 }` over `valid = { fraction = 0.1 }` is the fold alone).
fn merge_into(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => b.extend(o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn take_kind(table: &mut toml::Table, source: &Path) -> Result<Kind, TrainError> {
    match table.remove("kind") {
        None => Ok(Kind::Train),
        Some(v) => Kind::deserialize(v)
            .map_err(|e: toml::de::Error| recipe_error(source, format!("kind: {e}"))),
    }
}

/// A table as `T`. serde_path_to_error names the key of a bad value (`train.sampler: unknown
/// variant "weird", expected one of ...`); toml's value deserializer alone gives no position once
/// `--set` overrides have been merged into the table.
fn typed<T: serde::de::DeserializeOwned>(
    table: toml::Table,
    source: &Path,
) -> Result<T, TrainError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(
        |e: serde_path_to_error::Error<toml::de::Error>| {
            recipe_error(source, format!("{}: {}", e.path(), e.inner()))
        },
    )
}

impl Recipe {
    /// Parse a training recipe from TOML text, applying `section.key=value` overrides.
    pub fn from_toml(text: &str, source: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let mut table = parse_table(text, source)?;
        match take_kind(&mut table, source)? {
            Kind::Train => Self::from_table(table, source, overrides),
            Kind::Probe => Err(recipe_error(
                source,
                "kind = \"probe\": a probe recipe, not a training one (Experiment::load reads both)"
                    .into(),
            )),
        }
    }

    fn from_table(
        mut value: toml::Table,
        source: &Path,
        overrides: &[String],
    ) -> Result<Self, TrainError> {
        let bad = |reason: String| recipe_error(source, reason);
        // The budget the file states, before overrides: a weight-averaging window written for it
        // follows a budget changed by `--set train.epochs=N` (unless the window is set too).
        let file_epochs = value
            .get("train")
            .and_then(|t| t.get("epochs"))
            .and_then(toml::Value::as_integer)
            .and_then(|e| usize::try_from(e).ok());
        let window_set = overrides
            .iter()
            .any(|o| o.trim_start().starts_with("aggregate."));
        for o in overrides {
            let (key, raw) = o
                .split_once('=')
                .ok_or_else(|| bad(format!("override `{o}` is not key=value")))?;
            set_path(&mut value, key.trim(), raw.trim()).map_err(bad)?;
        }
        let input_given = value.get("features").and_then(|f| f.get("input")).is_some();
        let loss_given = value.get("train").and_then(|t| t.get("loss")).is_some();
        let mut recipe: Recipe = typed(value, source)?;
        if let Some(from) = file_epochs
            && !window_set
        {
            recipe.follow_budget(from);
        }
        recipe
            .take_model_defaults(input_given, loss_given)
            .map_err(bad)?;
        recipe.validate().map_err(bad)?;
        Ok(recipe)
    }

    /// Fill what the recipe leaves out from the model's card (its registry input contract
    /// and `OutputKind`), so the input contract lives in one place: `features.input` of every model,
    /// `train.loss` from the output kind (BCE for sigmoid outputs, cross-entropy for softmax
    /// ones), and the sample rate of every non-PSLA model (PSLA models keep each file's own rate when none is given, as
    /// PSLA's loader does). The filled values are part of the recipe written to the run's
    /// `config.toml`.
    ///
    /// An unknown `model.arch`, ImageNet weights for a model whose card has no ImageNet keys, or
    /// a `features.input` other than the one the model reads (an
    /// M-net fed fbanks, say, which would otherwise fail deep in the first forward or train on
    /// the wrong features), is refused here, before any data is read.
    fn take_model_defaults(&mut self, input_given: bool, loss_given: bool) -> Result<(), String> {
        let info = tympan_models::info(&self.model.arch).map_err(|e| {
            format!(
                "model.arch = {:?}: {e} (`tympan models list` shows every name)",
                self.model.arch
            )
        })?;
        let card = info.input.input;
        if !input_given {
            self.features.input = card;
        } else if self.features.input != card {
            return Err(format!(
                "features.input = \"{}\" does not match model.arch = {:?}, whose model card reads \"{card}\" input; leave features.input out or set it to \"{card}\"",
                self.features.input, self.model.arch
            ));
        }
        if matches!(self.model.pretrained, Some(Pretrained::Weights(_))) && info.imagenet.is_none()
        {
            return Err(format!(
                "model.pretrained: model.arch = {:?} has no ImageNet initialisation (only PSLA's \
                 EfficientNets and ResNet-50 do); set model.pretrained = \"none\" or leave it out",
                self.model.arch
            ));
        }
        if !loss_given {
            self.train.loss = match info.output {
                tympan_models::OutputKind::Probabilities => super::Loss::Bce,
                tympan_models::OutputKind::Distribution => super::Loss::Ce,
            };
        }
        if self.data.sample_rate.is_none() && info.input.input != InputKind::Fbank {
            self.data.sample_rate = info.input.sample_rate;
        }
        Ok(())
    }

    /// Move the weight-averaging window written for a budget of `from` epochs to the recipe's
    /// budget, keeping its place relative to the budget as PSLA states it (the averaged epochs
    /// are the last part of training, after the learning rate has decayed): the window starts
    /// the same fraction of the way in and ends as far from the end, scaled. PSLA's 16..30 of 30
    /// epochs becomes 2..2 of 2 and 6..10 of 10 (of 1: 1..1). A note says so.
    fn follow_budget(&mut self, from: usize) {
        let to = self.train.epochs;
        let (Some(s), Some(e)) = (self.aggregate.wa_start, self.aggregate.wa_end) else {
            return;
        };
        if to == from || from == 0 || to == 0 || s == 0 || s > e || e > from {
            return;
        }
        let scale = |k: usize| (k * to) / from;
        let end = to - scale(from - e).min(to - 1);
        let start = (1 + scale(s - 1)).min(end);
        if (start, end) != (s, e) {
            self.aggregate.wa_start = Some(start);
            self.aggregate.wa_end = Some(end);
            let note = format!(
                "train.epochs = {to} (the recipe says {from}): weight averaging over epochs \
                 {start}..{end} instead of {s}..{e}, the same part of the budget (set \
                 aggregate.wa_start/wa_end to choose)"
            );
            tracing::info!("{note}");
            self.notes.push(note);
        }
    }

    /// Read and parse a training recipe file.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        Self::from_toml(&read_recipe(path)?, path, overrides)
    }

    /// Serialise (the config snapshot of an experiment folder).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// Set `a.b.c = raw` in a TOML table; `raw` is parsed as a TOML value, or taken as a string.
fn set_path(table: &mut toml::Table, key: &str, raw: &str) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().ok_or("empty override key")?;
    let mut cur = table;
    for p in parents {
        cur = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("override `{key}`: `{p}` is not a section"))?;
    }
    let parsed: toml::Value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    cur.insert(last.to_string(), parsed);
    Ok(())
}
