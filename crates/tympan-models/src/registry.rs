//! The lookup over every family's cards, in the spirit of timm's `create_model`:
//! [`create`]`("psla-effnet-b2", 527, &device)`. Each family declares its names, cards and
//! constructors in its own module ([`Family`]); this file only lists the families and looks a
//! name up in them.
//!
//! - PSLA ([`crate::psla::cards`]): `psla-effnet-b{0..7}`, `psla-effnet-lite{0..4}` (4-head
//!   attention, `-att1`, `-mean`) and `psla-resnet50`.
//! - Dai et al. / Naranjo-Alcazar et al. ([`crate::rawwave::cards`]): `m3`, `m5`, `m11`, `m18`,
//!   `m34-res-rb{1..6}`, `m10-res-rb{1..6}`, `slim2d-rb{1..6}`; Chen et al.: `chen-resnet`,
//!   `chen-resnet-1250`, `chen-resnet-small`.
//! - Jeong & Lim ([`crate::dcase::cards`]): `densenet-logmel`, `densenet-wave` with suffixes.
//! - Hershey et al. ([`crate::hershey::cards`]): `hershey-{fc|alexnet|vgg|inception|resnet50}`
//!   and `-b128`.

use burn::prelude::Device;

use crate::card::{Family, ModelInfo};
use crate::error::ModelError;
use crate::tagger::Tagger;

/// Every family, in the order `tympan models list` shows them.
const FAMILIES: &[&dyn Family] = &[
    &crate::psla::cards::Psla,
    &crate::rawwave::cards::Dai,
    &crate::rawwave::cards::NaranjoSlim2d,
    &crate::rawwave::cards::Chen,
    &crate::dcase::cards::JeongLim,
    &crate::hershey::cards::Hershey,
];

/// Every registered name (the heads variants included).
pub fn names() -> Vec<String> {
    FAMILIES.iter().flat_map(|f| f.names()).collect()
}

/// Registry entries, one per name.
pub fn list() -> Vec<ModelInfo> {
    names().iter().filter_map(|n| card(n)).collect()
}

fn card(name: &str) -> Option<ModelInfo> {
    FAMILIES.iter().find_map(|f| f.card(name))
}

fn unknown(name: &str) -> ModelError {
    ModelError::UnknownModel {
        name: name.to_string(),
        known: nearest(name, &names(), 3).join(", "),
    }
}

/// The entry of one name.
pub fn info(name: &str) -> Result<ModelInfo, ModelError> {
    card(name).ok_or_else(|| unknown(name))
}

/// Create a freshly initialised model.
pub fn create(name: &str, num_classes: usize, device: &Device) -> Result<Tagger, ModelError> {
    if num_classes == 0 {
        return Err(ModelError::Config("num_classes must be at least 1".into()));
    }
    FAMILIES
        .iter()
        .find_map(|f| f.create(name, num_classes, device))
        .ok_or_else(|| unknown(name))
}

/// The `n` names closest to `name` by edit distance (ties in registry order).
fn nearest(name: &str, names: &[String], n: usize) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> =
        names.iter().map(|k| (edit_distance(name, k), k)).collect();
    scored.sort_by_key(|&(d, _)| d);
    scored.into_iter().take(n).map(|(_, k)| k.clone()).collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use tympan_audio::InputKind;

    use super::*;
    use crate::card::Normalisation;

    /// Every card says how its input is normalised: PSLA's cards carry PSLA's AudioSet constants
    /// for the released weights, the other feature models take their run's statistics, slim 2D
    /// standardises each clip, waveform models follow `features.wave_norm`.
    #[test]
    fn every_card_names_its_normalisation() {
        for m in list() {
            let want = match m.input.input {
                InputKind::Fbank => Normalisation::FromRun {
                    released: Some((-4.6476, 4.5699)),
                },
                InputKind::Vggish => Normalisation::FromRun { released: None },
                InputKind::Slim2d => Normalisation::PerClip,
                InputKind::Waveform => Normalisation::Waveform,
            };
            assert_eq!(m.normalisation(), want, "{}", m.name);
            assert!(m.input.sample_rate.is_some(), "{}: no rate", m.name);
        }
        let psla = info("psla-effnet-b2").unwrap().normalisation();
        assert_eq!(psla.to_string(), "from the run (released: -4.6476/4.5699)");
    }

    /// Each name belongs to exactly one family, which both describes and builds it; an unknown
    /// name is refused by both lookups.
    #[test]
    fn every_name_has_one_family_that_describes_and_builds_it() {
        let names = names();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "a name registered twice");
        for n in &names {
            let owners = FAMILIES.iter().filter(|f| f.card(n).is_some()).count();
            assert_eq!(owners, 1, "{n}");
            assert_eq!(info(n).unwrap().name, *n);
        }
        let device = Device::flex();
        for n in ["m3", "slim2d-rb1", "hershey-fc", "densenet-logmel-small"] {
            assert!(create(n, 3, &device).is_ok(), "{n}");
        }
        assert!(info("nope").is_err());
        assert!(create("nope", 3, &device).is_err());
        assert!(create("m3", 0, &device).is_err());
    }

    #[test]
    fn a_mistyped_name_gets_the_nearest_names() {
        let e = info("psla-efficientnet-b2").unwrap_err().to_string();
        assert!(e.contains("psla-effnet-b2"), "{e}");
        let e = info("m34res-rb1").unwrap_err().to_string();
        assert!(e.contains("m34-res-rb1"), "{e}");
        assert_eq!(e.matches(", ").count(), 2, "three names: {e}");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
