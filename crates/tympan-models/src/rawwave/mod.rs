//! Raw-waveform and residual-block family: Dai et al.'s M-networks with Naranjo-Alcazar et al.'s
//! residual blocks RB1-RB6.

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

    #[test]
    fn every_model_builds_and_runs() {
        let device = Device::flex();
        for v in [MVariant::M3, MVariant::M5, MVariant::M11, MVariant::M18] {
            let m = MNetConfig::new(v, 10).init(&device);
            assert_eq!(
                m.forward(Tensor::zeros([1, 1, 8_000], &device)).dims(),
                [1, 10],
                "{v:?}"
            );
        }
        for kind in ResidualKind::ALL {
            let m = Slim2dConfig::new(10).with_block(kind).init(&device);
            assert_eq!(
                m.forward(Tensor::zeros([2, 1, 64, 200], &device)).dims(),
                [2, 10],
                "{kind:?}"
            );
        }
        let chen = ChenNetConfig::new(5).init(&device);
        let levels = chen.forward_levels(Tensor::zeros([1, 1, 16_000], &device));
        assert_eq!(levels.len(), 3);
        assert!(levels.iter().all(|l| l.dims() == [1, 5]));
    }
}
