//! ImageNet initialisation of PSLA models (PSLA Sec. III: ImageNet pretraining).
//!
//! The backbone's weights come from an `efficientnet_pytorch` (or EfficientNet-Lite) state dict.
//! The ImageNet classifier (`_fc`) is dropped, as PSLA replaces it by an identity. The stem is
//! either a fresh 1-channel conv, exactly what PSLA gets from `EfficientNet.from_pretrained(...,
//! in_channels=1)`, or the mean of the three RGB filters.

use std::path::Path;

use crate::card::ImageNetKeys;
use crate::error::ModelError;
use crate::tagger::Tagger;
use crate::weights::{
    LoadReport, StemInit, TorchLoadOptions, average_rgb_into, load_pytorch, read_torch_tensor,
};

/// Load ImageNet backbone weights into a freshly created model, where its card's
/// [`ImageNetKeys`] say (`tympan_models::info(name)?.imagenet`).
///
/// The returned report lists the tensors left at their initial values (the stem when
/// [`StemInit::Fresh`], and the attention head); any other missing or unused key is an error.
pub fn load_imagenet(
    model: &mut Tagger,
    keys: ImageNetKeys,
    path: &Path,
    stem: StemInit,
) -> Result<LoadReport, ModelError> {
    let err = |reason: String| ModelError::Weights {
        path: path.to_path_buf(),
        reason,
    };
    let ImageNetKeys {
        prefix,
        stem: stem_key,
        classifier,
    } = keys;
    let options = TorchLoadOptions {
        target_prefix: Some(prefix.to_string()),
        exclude: vec![
            stem_key.to_string(),
            classifier[0].to_string(),
            classifier[1].to_string(),
        ],
        allow_partial: true,
        top_level_key: None,
    };
    let mut report = load_pytorch(model, path, &options)?;
    if stem == StemInit::AverageRgb {
        let (rgb, shape) = read_torch_tensor(path, stem_key)?;
        let weight = match model {
            Tagger::EffNet(m) => &mut m.effnet.conv_stem.weight,
            Tagger::ResNet(m) => &mut m.model.conv1.weight,
            _ => {
                return Err(err(format!(
                    "the model has no ImageNet stem at {prefix}{stem_key}"
                )));
            }
        };
        average_rgb_into(weight, &rgb, &shape, path)?;
        report.applied += 1;
        let full = format!("{prefix}{stem_key}");
        report.missing.retain(|m| m != &full);
    }
    // Only the stem (when fresh) and the new head may be missing.
    let full_stem = format!("{prefix}{stem_key}");
    let unexpected: Vec<&String> = report
        .missing
        .iter()
        .filter(|m| !m.starts_with("attention.") && **m != full_stem)
        .collect();
    if !unexpected.is_empty() || !report.unused.is_empty() {
        return Err(err(format!(
            "checkpoint does not fit the backbone: {report}"
        )));
    }
    Ok(report)
}
