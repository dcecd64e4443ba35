//! The PSLA family (Gong, Chung & Glass, "PSLA: Improving Audio Tagging With Pretraining,
//! Sampling, Labeling, and Aggregation", IEEE/ACM TASLP 2021).

mod attention;
pub mod cards;
mod model;

pub use attention::{ATTENTION_EPS, Attention, MHeadAttention, MeanPooling, PoolingHead};
pub use model::{EffNetAttention, EffNetAttentionConfig, ResNetAttention, ResNetAttentionConfig};
