//! Weight import and export: PyTorch state dicts (`efficientnet_pytorch`, torchvision, PSLA
//! checkpoints, the legacy EfficientNet-Lite files) and Burn's own burnpack records.
//!
//! Key mapping (PyTorch -> tympan), applied in this order:
//!
//! | PyTorch | tympan | why |
//! |---|---|---|
//! | `module.` prefix | dropped | PSLA saves `torch.nn.DataParallel` models |
//! | leading `_` of a segment (`_blocks.3._bn1`) | dropped (`blocks.3.bn1`) | `efficientnet_pytorch`'s private names |
//! | `se_reduce`, `se_expand` | `se.se_reduce`, `se.se_expand` | SE is its own sub-module here |
//! | `downsample.0`, `downsample.1` | `downsample.conv`, `downsample.bn` | torchvision's `nn.Sequential` shortcut |
//! | BN `weight`, `bias` | `gamma`, `beta` | Burn's names (burn-store's PyTorch adapter) |
//!
//! `num_batches_tracked` has no counterpart in Burn and is always reported as unused. Every other
//! unused or missing key is reported in [`LoadReport`] and, unless partial loading is asked for,
//! makes the load fail: nothing is silently ignored.

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, ModuleStore, PytorchStore};

use crate::error::ModelError;

/// The key remapping rules of this module, as `(regex, replacement)` pairs.
pub const TORCH_KEY_RULES: &[(&str, &str)] = &[
    (r"^module\.", ""),
    (r"^_", ""),
    (r"\._", "."),
    (r"\.se_(reduce|expand)\.", ".se.se_$1."),
    (r"\.downsample\.0\.", ".downsample.conv."),
    (r"\.downsample\.1\.", ".downsample.bn."),
];

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Source file.
    pub path: PathBuf,
    /// Number of tensors written into the model.
    pub applied: usize,
    /// Model tensors the file did not provide (tympan names).
    pub missing: Vec<String>,
    /// File tensors the model has no place for (after remapping), `num_batches_tracked` excluded.
    pub unused: Vec<String>,
    /// Count of `num_batches_tracked` entries skipped.
    pub num_batches_tracked: usize,
}

impl LoadReport {
    /// `true` when every model tensor was loaded and every file tensor used.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unused.is_empty()
    }
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} tensors loaded, {} missing, {} unused ({} num_batches_tracked skipped)",
            self.path.display(),
            self.applied,
            self.missing.len(),
            self.unused.len(),
            self.num_batches_tracked
        )?;
        for m in &self.missing {
            write!(f, "\n  missing: {m}")?;
        }
        for u in &self.unused {
            write!(f, "\n  unused:  {u}")?;
        }
        Ok(())
    }
}

/// Options for [`load_pytorch`].
#[derive(Debug, Clone, Default)]
pub struct TorchLoadOptions {
    /// Load only tensors under this prefix of the file (after remapping), placing them under
    /// `target_prefix` in the model; e.g. an ImageNet backbone into `effnet.`.
    pub target_prefix: Option<String>,
    /// File keys (after remapping, before prefixing) to leave out, e.g. the ImageNet classifier.
    pub exclude: Vec<String>,
    /// Accept missing and unused keys (they are still reported).
    pub allow_partial: bool,
    /// A top-level key holding the state dict (`state_dict`, `model`), if any.
    pub top_level_key: Option<String>,
}

/// Load a PyTorch `.pth`/`.pt` state dict into `model` with the key rules above.
pub fn load_pytorch<M: Module + ModuleSnapshot>(
    model: &mut M,
    path: &Path,
    options: &TorchLoadOptions,
) -> Result<LoadReport, ModelError> {
    let err = |reason: String| ModelError::Weights {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(err("file not found".into()));
    }
    // burn-store renumbers a file's layer indices to close gaps (`nn.Sequential`s with ReLUs
    // between their convolutions) unless told not to; tympan's names keep their gaps where the
    // model's own lists hold layers without parameters (Hershey et al.'s VGG and AlexNet keep
    // their poolings in `features`), so a state dict in tympan's names must be read as written.
    let mut store = PytorchStore::from_file(path)
        .allow_partial(true)
        .skip_enum_variants(true)
        .map_indices_contiguous(false);
    if let Some(k) = &options.top_level_key {
        store = store.with_top_level_key(k.clone());
    }
    for (from, to) in TORCH_KEY_RULES {
        store = store.with_key_remapping(*from, *to);
    }
    for ex in &options.exclude {
        let pattern = format!("^{}$", regex::escape(ex));
        store = store.with_key_remapping(&pattern, format!("__excluded__.{ex}"));
    }
    if let Some(prefix) = &options.target_prefix {
        store = store.with_key_remapping(r"^(.)", format!("{prefix}$1"));
    }
    let result = model
        .load_from(&mut store)
        .map_err(|e| err(e.to_string()))?;
    if !result.errors.is_empty() {
        let msgs: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
        return Err(err(msgs.join("; ")));
    }
    let mut report = LoadReport {
        path: path.to_path_buf(),
        applied: result.applied.len(),
        missing: result.missing.iter().map(|(p, _)| p.clone()).collect(),
        ..Default::default()
    };
    for u in result.unused {
        if u.ends_with("num_batches_tracked") {
            report.num_batches_tracked += 1;
        } else if !u.contains("__excluded__.") {
            report.unused.push(u);
        }
    }
    report.missing.sort();
    report.unused.sort();
    tracing::debug!("{report}");
    if !options.allow_partial && !report.is_complete() {
        return Err(err(format!("key mismatch: {report}")));
    }
    Ok(report)
}

/// Read one tensor of a PyTorch file (after the `module.` / underscore rules), as f32 data.
pub fn read_torch_tensor(path: &Path, key: &str) -> Result<(Vec<f32>, Vec<usize>), ModelError> {
    let err = |reason: String| ModelError::Weights {
        path: path.to_path_buf(),
        reason,
    };
    let mut store = PytorchStore::from_file(path);
    let keys = store.keys().map_err(|e| err(e.to_string()))?;
    let found = keys
        .iter()
        .find(|k| {
            let stripped = k.strip_prefix("module.").unwrap_or(k);
            stripped == key || stripped.replace("._", ".").trim_start_matches('_') == key
        })
        .cloned()
        .ok_or_else(|| err(format!("no tensor named {key}")))?;
    let t = store
        .get_tensor(&found)
        .map_err(|e| err(e.to_string()))?
        .ok_or_else(|| err(format!("no tensor named {key}")))?;
    let data = burn::store::bridge::to_data(t).map_err(|e| err(e.to_string()))?;
    let shape = data.shape().to_vec();
    let values = data
        .try_into_vec_as::<f32>()
        .map_err(|e| err(format!("{e:?}")))?;
    Ok((values, shape))
}

/// How a 1-channel model gets its stem from a 3-channel ImageNet checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StemInit {
    /// A fresh randomly initialised 1-channel conv, as PSLA (`_change_in_channels`) does.
    #[default]
    Fresh,
    /// The mean of the three RGB filters.
    AverageRgb,
}

/// Replace a conv weight `[out, 1, kh, kw]` by the channel mean of `rgb` `[out, 3, kh, kw]`,
/// read from the file `path` (named by the error when the shapes do not fit).
pub fn average_rgb_into(
    weight: &mut Param<Tensor<4>>,
    rgb: &[f32],
    rgb_shape: &[usize],
    path: &Path,
) -> Result<(), ModelError> {
    let [out, cin, kh, kw] = weight.val().dims();
    if cin != 1 || rgb_shape != [out, 3, kh, kw] {
        return Err(ModelError::Weights {
            path: path.to_path_buf(),
            reason: format!(
                "stem shapes do not fit: model [{out}, {cin}, {kh}, {kw}], file {rgb_shape:?}"
            ),
        });
    }
    let plane = kh * kw;
    let mut avg = vec![0f32; out * plane];
    for o in 0..out {
        for p in 0..plane {
            let s: f32 = (0..3).map(|c| rgb[(o * 3 + c) * plane + p]).sum();
            avg[o * plane + p] = s / 3.0;
        }
    }
    let device = weight.val().device();
    // A new leaf that trains as the stem it replaces (an autodiff model's stem would be frozen
    // otherwise).
    let grad = weight.val().is_require_grad();
    let t = Tensor::<1>::from_floats(avg.as_slice(), &device)
        .reshape([out, 1, kh, kw])
        .set_require_grad(grad);
    let old = weight.clone();
    *weight = old.map(|_| t);
    Ok(())
}

/// Save a model in Burn's native burnpack format, atomically (a temporary file in the same folder,
/// then a rename), so that a kill never leaves a truncated checkpoint behind.
pub fn save_burnpack<M: Module>(model: &M, path: &Path) -> Result<(), ModelError> {
    let err = |reason: String| ModelError::Weights {
        path: path.to_path_buf(),
        reason,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    model
        .clone()
        .save_file(&tmp)
        .map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// Load a burnpack record into `template`.
pub fn load_burnpack<M: Module>(template: M, path: &Path) -> Result<M, ModelError> {
    let err = |reason: String| ModelError::Weights {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(err("file not found".into()));
    }
    template.try_load_file(path).map_err(|e| err(e.to_string()))
}

/// Every float tensor of `model` (parameters and BatchNorm running statistics) in module order,
/// as the bits of its f32 values: what "the same weights, bit for bit" means. Two burnpack files
/// of equal weights can still differ as files: each also records its parameters' ids, which a
/// process draws afresh.
pub fn weight_bits<M: Module>(model: &M) -> Vec<u32> {
    struct Bits(Vec<u32>);
    impl burn::module::ModuleVisitor for Bits {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let data = param.val().into_data();
            match data.try_to_vec::<f32>() {
                Ok(v) => self.0.extend(v.into_iter().map(f32::to_bits)),
                Err(_) => self.0.push(u32::MAX),
            }
        }
    }
    let mut bits = Bits(Vec::new());
    model.visit(&mut bits);
    bits.0
}
