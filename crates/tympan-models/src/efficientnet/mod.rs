//! EfficientNet B0-B7 and EfficientNet-Lite0..4 backbones, numerically matching the
//! `efficientnet_pytorch` package (0.7.1) that PSLA builds on.

mod mbconv;
mod model;
pub mod params;
mod same_conv;

pub use mbconv::{Activation, MbConvBlock, SqueezeExcitation};
pub use model::{EfficientNet, EfficientNetConfig};
pub use params::EfficientNetVariant;
pub use same_conv::{same_padding, same_padding_1d};
