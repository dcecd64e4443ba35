//! The raw-waveform and slim 2D families' registered models:
//! - [`Dai`]: `m3`, `m5`, `m11`, `m18`, `m34-res-rb{1..6}` (Dai et al. with Naranjo-Alcazar et
//!   al.'s residual blocks) and `m10-res-rb{1..6}` (M34-res's widths with one block per stage,
//!   tympan's CPU-scale variant);
//! - [`NaranjoSlim2d`]: `slim2d-rb{1..6}`, the slim 2D network;
//! - [`Chen`]: `chen-resnet`, `chen-resnet-1250` and their `-small` CPU-scale variants.

use burn::prelude::Device;
use tympan_audio::{InputContract, InputKind};

use super::{ChenNetConfig, MNetConfig, MVariant, ResidualKind, Slim2dConfig};
use crate::card::{Family, ModelInfo, OutputKind};
use crate::tagger::Tagger;

fn waveform(rate: u32, samples: usize) -> InputContract {
    InputContract::new(InputKind::Waveform, samples, (0.0, 1.0), Some(rate))
}

/// Dai et al.'s M-networks (ICASSP 2017, Table 1) and Naranjo-Alcazar et al.'s M34-res with
/// RB1-RB6 (Fig. 2-3): 4 s at 8 kHz, a softmax over classes.
pub struct Dai;

fn parse_dai(name: &str) -> Option<(MVariant, ResidualKind)> {
    if let Some(rest) = name.strip_prefix("m34-res-") {
        return Some((MVariant::M34Res, ResidualKind::from_name(rest)?));
    }
    if let Some(rest) = name.strip_prefix("m10-res-") {
        return Some((MVariant::M10Res, ResidualKind::from_name(rest)?));
    }
    ["m3", "m5", "m11", "m18"]
        .contains(&name)
        .then(|| MVariant::from_name(name).map(|v| (v, ResidualKind::Rb6)))
        .flatten()
}

impl Family for Dai {
    fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = ["m3", "m5", "m11", "m18"].map(String::from).into();
        for stem in ["m34-res", "m10-res"] {
            out.extend(
                ResidualKind::ALL
                    .iter()
                    .map(|k| format!("{stem}-{}", k.name())),
            );
        }
        out
    }

    fn card(&self, name: &str) -> Option<ModelInfo> {
        let (variant, block) = parse_dai(name)?;
        let block = block.name().to_uppercase();
        let description = match variant {
            MVariant::M34Res => format!("Dai et al. M34-res with residual block {block}"),
            MVariant::M10Res => format!(
                "M34-res reduced to one block per stage (tympan) with residual block {block}"
            ),
            v => format!("Dai et al. {v:?} (plain conv layers)"),
        };
        Some(ModelInfo::new(
            name,
            description,
            "Dai et al. (ICASSP 2017) Table 1; Naranjo-Alcazar et al. Fig. 2-3",
            waveform(8_000, 32_000),
            OutputKind::Distribution,
        ))
    }

    fn create(&self, name: &str, num_classes: usize, device: &Device) -> Option<Tagger> {
        let (variant, block) = parse_dai(name)?;
        Some(Tagger::MNet(
            MNetConfig::new(variant, num_classes)
                .with_block(block)
                .init(device),
        ))
    }
}

/// Naranjo-Alcazar et al.'s slim 2D log-mel network (Table I): 64 x 199 log-mel of 4 s at 8 kHz.
pub struct NaranjoSlim2d;

fn parse_slim(name: &str) -> Option<ResidualKind> {
    ResidualKind::from_name(name.strip_prefix("slim2d-")?)
}

impl Family for NaranjoSlim2d {
    fn names(&self) -> Vec<String> {
        ResidualKind::ALL
            .iter()
            .map(|k| format!("slim2d-{}", k.name()))
            .collect()
    }

    fn card(&self, name: &str) -> Option<ModelInfo> {
        let block = parse_slim(name)?;
        Some(ModelInfo::new(
            name,
            format!(
                "Naranjo-Alcazar et al. slim 2D log-mel network with {}",
                block.name().to_uppercase()
            ),
            "Naranjo-Alcazar et al., Table I",
            // 4 s: Naranjo-Alcazar et al.'s 64 x 199.
            InputContract::new(InputKind::Slim2d, 199, (0.0, 1.0), Some(8_000)),
            OutputKind::Distribution,
        ))
    }

    fn create(&self, name: &str, num_classes: usize, device: &Device) -> Option<Tagger> {
        let block = parse_slim(name)?;
        Some(Tagger::Slim2d(
            Slim2dConfig::new(num_classes)
                .with_block(block)
                .init(device),
        ))
    }
}

/// Chen et al.'s 1D ResNet-18 -> 2D ResNet-50 with multi-level attention (Hikvision, Interspeech 2019, Sec. 3.1):
/// 10 s at 16 kHz, per-class probabilities.
pub struct Chen;

/// `(small, front-end stride)`: one bottleneck per ResNet stage and a 64-channel front end for
/// CPU-scale runs; stride 64 (2,500 frames per 10 s) or 128 (1,250; Table 3).
fn parse_chen(name: &str) -> Option<(bool, usize)> {
    Some(match name {
        "chen-resnet" => (false, 64),
        "chen-resnet-1250" => (false, 128),
        "chen-resnet-small" => (true, 64),
        "chen-resnet-small-1250" => (true, 128),
        _ => return None,
    })
}

impl Family for Chen {
    fn names(&self) -> Vec<String> {
        ["chen-resnet", "chen-resnet-1250", "chen-resnet-small"]
            .map(String::from)
            .into()
    }

    fn card(&self, name: &str) -> Option<ModelInfo> {
        let (small, stride) = parse_chen(name)?;
        let (backbone, note) = if small {
            (
                "ResNet (one bottleneck per stage)",
                " (reduced width for CPU-scale runs, not the paper's network)",
            )
        } else {
            ("ResNet-50", "")
        };
        Some(ModelInfo::new(
            name,
            format!(
                "Chen et al. 1D ResNet-18 -> 2D {backbone} with multi-level attention, {} frames per 10 s{note}",
                160_000 / stride
            ),
            "Chen et al. (Hikvision), Sec. 2",
            waveform(16_000, 160_000),
            OutputKind::Probabilities,
        ))
    }

    fn create(&self, name: &str, num_classes: usize, device: &Device) -> Option<Tagger> {
        let (small, stride) = parse_chen(name)?;
        let mut cfg = ChenNetConfig::new(num_classes).with_front_stride(stride);
        if small {
            cfg = cfg.with_front_channels(64).with_resnet_layers([1, 1, 1, 1]);
        }
        Some(Tagger::Chen(cfg.init(device)))
    }
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    use super::*;
    use crate::{create, keras_param_count};

    /// Chen et al. train on each level (the loss is the mean of the per-level losses); the
    /// network's output is the mean of the levels' probabilities.
    #[test]
    fn chen_trains_three_levels_whose_mean_is_the_output() {
        let device = Device::flex();
        let model = create("chen-resnet", 3, &device).unwrap();
        let wave = Tensor::<3>::random(
            [2, 1, 4096],
            burn::tensor::Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let levels = model.forward_train(wave.clone());
        assert_eq!(levels.len(), 3);
        let mean: Vec<f32> = (levels[0].clone() + levels[1].clone() + levels[2].clone())
            .div_scalar(3.0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let out: Vec<f32> = model.forward(wave).into_data().try_to_vec::<f32>().unwrap();
        for (a, b) in mean.iter().zip(&out) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // Table 3's front ends: 2,500 or 1,250 frames per 10 s (here 1 s: 250 or 125).
        for (name, frames) in [("chen-resnet-small", 250), ("chen-resnet-small-1250", 125)] {
            let Tagger::Chen(net) = create(name, 3, &device).unwrap() else {
                panic!("{name}");
            };
            let x = Tensor::<3>::zeros([1, 1, 16_000], &device);
            assert_eq!(net.front_end(x).dims(), [1, 64, frames], "{name}");
        }
        let other = create("hershey-fc", 3, &device).unwrap();
        let patch = Tensor::<3>::zeros([1, 96, 64], &device);
        assert_eq!(other.forward_train(patch).len(), 1);
    }

    /// Naranjo-Alcazar et al. quote Keras counts for M34-res on 10 classes: 4,001,242 for Dai's
    /// block (RB6: three BNs), 3,988,570 for RB5 (its first BN sees the narrower input) and
    /// 3,989,914 for the others.
    #[test]
    fn m34_res_parameter_counts_match_the_paper() {
        let device = Device::flex();
        for (kind, want) in [
            (ResidualKind::Rb1, 3_989_914),
            (ResidualKind::Rb2, 3_989_914),
            (ResidualKind::Rb3, 3_989_914),
            (ResidualKind::Rb4, 3_989_914),
            (ResidualKind::Rb5, 3_988_570),
            (ResidualKind::Rb6, 4_001_242),
        ] {
            let m = MNetConfig::new(MVariant::M34Res, 10)
                .with_block(kind)
                .init(&device);
            assert_eq!(keras_param_count(&m), want, "{kind:?}");
        }
        let m = MNetConfig::new(MVariant::M34Res, 10).init(&device);
        let x = Tensor::<3>::zeros([2, 1, 32_000], &device);
        assert_eq!(m.forward(x).dims(), [2, 10]);
    }

    /// M10-res (one RB1 block per stage) by hand, Keras-style (BN: 4 values per channel; the
    /// zero-padding shortcut has no weights): first conv 80*48+48, its BN 4*48; a block
    /// (cin -> cout) is 3*cin*cout+cout + 3*cout*cout+cout + 2*4*cout; classifier 384*10+10.
    /// 3,888 + 192 + 14,304 + 42,432 + 167,808 + 667,392 + 3,850 = 899,866. The same formula
    /// gives M34-res's 3,989,914 above.
    #[test]
    fn m10_res_parameter_count_matches_the_hand_count() {
        let device = Device::flex();
        let m = MNetConfig::new(MVariant::M10Res, 10)
            .with_block(ResidualKind::Rb1)
            .init(&device);
        assert_eq!(keras_param_count(&m), 899_866);
        let m = create("m10-res-rb3", 10, &device).expect("registered");
        let x = Tensor::<3>::zeros([2, 1, 8_000], &device);
        assert_eq!(m.forward(x).dims(), [2, 10]);
    }

    #[test]
    fn every_name_parses_and_only_those() {
        for n in Dai.names() {
            assert!(parse_dai(&n).is_some(), "{n}");
        }
        for n in NaranjoSlim2d.names() {
            assert!(parse_slim(&n).is_some(), "{n}");
        }
        for n in Chen.names() {
            assert!(parse_chen(&n).is_some(), "{n}");
        }
        for bad in ["m7", "m34-res-rb7", "slim2d-rb0", "chen-resnet-2500"] {
            assert!(
                parse_dai(bad).is_none() && parse_slim(bad).is_none() && parse_chen(bad).is_none(),
                "{bad}"
            );
        }
    }
}
