//! The model a run starts from: the recipe's architecture, its initialisation (Glorot, a trained
//! tympan model, or ImageNet weights) and the Adam optimizer with PSLA's settings.

use std::path::Path;

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use tympan_models::{StemInit, Tagger, create, load_burnpack};

use super::Event;
use crate::data::resolve;
use crate::error::TrainError;
use crate::recipe::{Init, Pretrained, Recipe, Stem};

/// A fresh model of the recipe's architecture, with the recipe's BatchNorm momentum.
pub(crate) fn new_model(
    recipe: &Recipe,
    classes: usize,
    device: &Device,
) -> Result<Tagger, TrainError> {
    let mut model = create(&recipe.model.arch, classes, device)?;
    if let Some(m) = recipe.model.bn_momentum
        && !model.set_bn_momentum(m)
    {
        tracing::warn!(
            "model.bn_momentum applies to EfficientNet backbones only; {} keeps its own",
            recipe.model.arch
        );
    }
    Ok(model)
}

/// The recipe's model on `device`, initialised as the recipe says (events say how).
pub(crate) fn build_model(
    recipe: &Recipe,
    classes: usize,
    device: &Device,
    data_dir: &Path,
    on_event: &mut dyn FnMut(Event),
) -> Result<Tagger, TrainError> {
    let mut model = new_model(recipe, classes, device)?;
    if recipe.model.init == Init::Glorot {
        model = tympan_models::layers::glorot_uniform(model, recipe.train.seed);
        on_event(Event::Info(
            "Glorot-uniform weights, zero biases (Keras defaults)".into(),
        ));
    }
    if let Some(path) = &recipe.model.init_from {
        let model = load_burnpack(model, path)?;
        on_event(Event::Info(format!(
            "initialised from the trained model {}",
            path.display()
        )));
        return Ok(model);
    }
    match &recipe.model.pretrained {
        None => Ok(model),
        Some(Pretrained::None) => {
            on_event(Event::Info(
                "model.pretrained = \"none\": training from scratch".into(),
            ));
            Ok(model)
        }
        Some(Pretrained::Weights(w)) => {
            load_pretrained(model, recipe, &resolve(data_dir, w), on_event)
        }
    }
}

/// ImageNet weights into `model`, or (with `model.pretrained_optional`) a note that there are none.
fn load_pretrained(
    mut model: Tagger,
    recipe: &Recipe,
    path: &Path,
    on_event: &mut dyn FnMut(Event),
) -> Result<Tagger, TrainError> {
    if !path.is_file() && recipe.model.pretrained_optional {
        on_event(Event::Info(format!(
            "ImageNet weights {} not found: training from scratch",
            path.display()
        )));
        return Ok(model);
    }
    let stem = match recipe.model.stem {
        Stem::AverageRgb => StemInit::AverageRgb,
        Stem::Fresh => StemInit::Fresh,
    };
    let report = tympan_models::pretrained::load_imagenet(&mut model, path, stem)?;
    on_event(Event::Info(format!(
        "ImageNet weights: {} tensors from {} ({} left at init: stem/head)",
        report.applied,
        path.display(),
        report.missing.len()
    )));
    Ok(model)
}

/// Adam with the recipe's betas, epsilon 1e-8 and L2 weight decay (as `torch.optim.Adam`).
pub(crate) fn adam(recipe: &Recipe) -> ModuleOptimizer {
    let o = &recipe.optim;
    let mut cfg = AdamConfig::new()
        .with_beta_1(o.betas.0)
        .with_beta_2(o.betas.1)
        .with_epsilon(1e-8);
    if o.weight_decay > 0.0 {
        cfg = cfg.with_weight_decay(Some(WeightDecayConfig::new(o.weight_decay)));
    }
    cfg.init()
}
