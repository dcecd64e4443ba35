//! Raw-waveform and residual-block family: Dai et al.'s M-networks with Naranjo-Alcazar et al.'s
//! residual blocks RB1-RB6.

pub mod cards;
mod chen;
mod dai;
mod residual;
mod slim2d;

pub use chen::{ChenNet, ChenNetConfig};
pub use dai::{ConvBnRelu1d, MLayer, MNet, MNetConfig, MVariant};
pub use residual::{ResidualBlock1d, ResidualBlock2d, ResidualKind};
pub use slim2d::{Slim2d, Slim2dConfig};

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;

    /// Every model of the family builds and runs on every CPU backend compiled into this build
    /// (flex, and ndarray under `cargo test --workspace`); the GPU backends are compile-checked
    /// by CI (`cargo check --features wgpu`) and need a GPU to run.
    #[test]
    fn every_model_builds_and_runs() {
        let cpu = [crate::Backend::Flex, crate::Backend::NdArray];
        for backend in cpu.into_iter().filter(|b| b.is_compiled()) {
            let device = backend.device().expect("compiled-in CPU backend");
            let on = backend.name();
            for v in [
                MVariant::M3,
                MVariant::M5,
                MVariant::M11,
                MVariant::M18,
                MVariant::M34Res,
            ] {
                let m = MNetConfig::new(v, 10).init(&device);
                assert_eq!(
                    m.forward(Tensor::zeros([1, 1, 8_000], &device)).dims(),
                    [1, 10],
                    "{v:?} on {on}"
                );
            }
            for kind in ResidualKind::ALL {
                let m = Slim2dConfig::new(10).with_block(kind).init(&device);
                assert_eq!(
                    m.forward(Tensor::zeros([2, 1, 64, 200], &device)).dims(),
                    [2, 10],
                    "{kind:?} on {on}"
                );
            }
            let chen = ChenNetConfig::new(5).init(&device);
            let levels = chen.forward_levels(Tensor::zeros([1, 1, 16_000], &device));
            assert_eq!(levels.len(), 3, "{on}");
            assert!(levels.iter().all(|l| l.dims() == [1, 5]), "{on}");
        }
    }

    /// Trainable parameters (PyTorch's count, BatchNorm running statistics excluded), 10 classes.
    /// Dai et al.'s Table 1 gives one decimal (M3 0.2M, M5 0.5M, M11 1.8M, M18 3.7M); ours are
    /// within 0.1M of each and pinned exactly here from the hand count (conv weights and biases,
    /// BN scale and shift, classifier). M34-res and m10-res are checked against the papers' exact
    /// Keras counts in `registry.rs`.
    #[test]
    fn parameter_counts() {
        let device = Device::flex();
        for (v, ours, paper) in [
            (MVariant::M3, 221_194, 0.2e6),
            (MVariant::M5, 559_114, 0.5e6),
            (MVariant::M11, 1_786_442, 1.8e6),
            (MVariant::M18, 3_683_786, 3.7e6),
        ] {
            let n = crate::num_params(&MNetConfig::new(v, 10).init(&device));
            assert_eq!(n, ours, "{v:?}");
            assert!((n as f64 - paper).abs() < 0.1e6, "{v:?}: {n} vs {paper}");
        }
        // Slim 2D (Table I of Naranjo-Alcazar et al., who give no count): RB5's first BN sees
        // the block's input channels, RB6 adds a BN after the addition, RB2 moves one.
        for (kind, ours) in [
            (ResidualKind::Rb1, 4_162_234),
            (ResidualKind::Rb2, 4_162_234),
            (ResidualKind::Rb5, 4_161_562),
            (ResidualKind::Rb6, 4_164_634),
        ] {
            let m = Slim2dConfig::new(10).with_block(kind).init(&device);
            assert_eq!(crate::num_params(&m), ours, "slim2d {kind:?}");
        }
        // Chen et al. give no count; pinned from this implementation (1D ResNet-18 front end,
        // 1-channel ResNet-50, three attention levels), so that a change to it is noticed.
        let chen = crate::num_params(&ChenNetConfig::new(527).init(&device));
        assert_eq!(chen, 34_449_671, "Chen et al. (527 classes)");
    }
}
