//! PSLA's registered models: `psla-effnet-b{0..7}` and `psla-effnet-lite{0..4}` with 4-head
//! attention (PSLA's default), `-att1` (single head) or `-mean` (mean pooling), and
//! `psla-resnet50` (`ResNetAttention`).

use burn::prelude::Device;
use tympan_audio::presets::{PSLA_MEAN, PSLA_STD};
use tympan_audio::{InputContract, InputKind};

use super::{EffNetAttentionConfig, ResNetAttentionConfig};
use crate::card::{Family, ImageNetKeys, ModelInfo, OutputKind};
use crate::efficientnet::EfficientNetVariant;
use crate::tagger::Tagger;

/// PSLA's family (Gong et al., TASLP 2021: the model Sec. II-C, its ImageNet pretraining Sec. III; `psla/src/models/Models.py`).
pub struct Psla;

const REFERENCE: &str = "Gong et al., PSLA (TASLP 2021), Sec. II-C; psla/src/models/Models.py";

/// PSLA's AudioSet input: 1056 frames of 128-bin Kaldi fbank at 16 kHz, normalised with the
/// AudioSet statistics of the released weights (`egs/audioset/run.sh`).
fn input() -> InputContract {
    InputContract::new(InputKind::Fbank, 1056, (PSLA_MEAN, PSLA_STD), Some(16_000))
}

#[derive(Debug, Clone, Copy)]
enum Arch {
    EffNet {
        variant: EfficientNetVariant,
        heads: usize,
    },
    ResNet50,
}

fn parse(name: &str) -> Option<Arch> {
    if name == "psla-resnet50" {
        return Some(Arch::ResNet50);
    }
    let rest = name.strip_prefix("psla-effnet-")?;
    let (body, heads) = if let Some(b) = rest.strip_suffix("-att1") {
        (b, 1)
    } else if let Some(b) = rest.strip_suffix("-mean") {
        (b, 0)
    } else {
        (rest, 4)
    };
    let variant = if let Some(i) = body.strip_prefix("lite") {
        EfficientNetVariant::Lite(i.parse().ok()?)
    } else {
        EfficientNetVariant::B(body.strip_prefix('b')?.parse().ok()?)
    };
    variant.coefficients()?;
    Some(Arch::EffNet { variant, heads })
}

impl Family for Psla {
    fn names(&self) -> Vec<String> {
        let bodies = (0..=7)
            .map(|b| format!("b{b}"))
            .chain((0..=4).map(|l| format!("lite{l}")));
        let mut out: Vec<String> = bodies
            .flat_map(|b| ["", "-att1", "-mean"].map(|h| format!("psla-effnet-{b}{h}")))
            .collect();
        out.push("psla-resnet50".into());
        out
    }

    fn card(&self, name: &str) -> Option<ModelInfo> {
        let (description, imagenet) = match parse(name)? {
            Arch::EffNet { variant, heads } => {
                let head = match heads {
                    0 => "mean pooling".to_string(),
                    1 => "single-head attention".to_string(),
                    h => format!("{h}-head attention"),
                };
                (
                    format!("PSLA EffNetAttention: {} backbone, {head}", variant.name()),
                    // efficientnet_pytorch's `_conv_stem` / `_fc`, after `weights.rs`'s key
                    // remapping.
                    ImageNetKeys {
                        prefix: "effnet.",
                        stem: "conv_stem.weight",
                        classifier: ["fc.weight", "fc.bias"],
                    },
                )
            }
            Arch::ResNet50 => (
                "PSLA ResNetAttention: ResNet-50 backbone, single-head attention".into(),
                // torchvision's ResNet-50.
                ImageNetKeys {
                    prefix: "model.",
                    stem: "conv1.weight",
                    classifier: ["fc.weight", "fc.bias"],
                },
            ),
        };
        Some(ModelInfo {
            imagenet: Some(imagenet),
            ..ModelInfo::new(
                name,
                description,
                REFERENCE,
                input(),
                OutputKind::Probabilities,
            )
        })
    }

    fn create(&self, name: &str, num_classes: usize, device: &Device) -> Option<Tagger> {
        Some(match parse(name)? {
            Arch::EffNet { variant, heads } => Tagger::EffNet(
                EffNetAttentionConfig::new(num_classes)
                    .with_variant(variant)
                    .with_head_num(heads)
                    .init(device),
            ),
            Arch::ResNet50 => Tagger::ResNet(ResNetAttentionConfig::new(num_classes).init(device)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_and_only_those() {
        for n in Psla.names() {
            assert!(parse(&n).is_some(), "{n}");
        }
        for bad in ["psla-effnet-b8", "psla-effnet-lite5", "psla-effnet-b2-att2"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
