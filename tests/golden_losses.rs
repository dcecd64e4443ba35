//! The training losses against PyTorch (fixtures by `scripts/generate_reference.py --only
//! losses`, torch 2.x on the CPU).
//!
//! - **Golden against the reference itself:** PSLA's loss, `nn.BCELoss()` on probabilities
//!   clamped to `[1e-7, 1 - 1e-7]` (`traintest.py`), value and gradient with respect to the
//!   probabilities (including probabilities of exactly 0 and 1, where the clamp's gradient is 0):
//!   1e-6 relative on the value, 1e-6 absolute on the gradient.
//! - **Against our own PyTorch transcriptions** (the papers publish no code): Chen et al.'s mean
//!   of the three levels' BCE (their eq. (3)); Jeong & Lim's batch-wise loss masking (Sec. 3.3:
//!   an unverified clip whose loss is not below 0.8 x the batch's largest is dropped, the mean
//!   over the kept clips); Chen et al.'s mix-training pair (`alpha x_i + (1 - alpha) x_j`, the
//!   partner zero-padded, label `sign(y_i + y_j)`). Tolerances 1e-6 relative, and exact for the
//!   kept set and the labels.

use burn::prelude::*;
use tympan_audio::npy;
use tympan_models::Backend;
use tympan_tests::{fixture_json, fixtures, max_abs_diff};
use tympan_train::loss::{
    bce_per_sample, ce_on_probs_per_sample, jeong_lim_mask, masked_mean, outputs_loss_per_sample,
};
use tympan_train::recipe::Loss;

fn load(name: &str) -> npy::NpyArray {
    npy::read(&fixtures().join("losses").join(format!("{name}.npy"))).unwrap()
}

fn tensor2(a: &npy::NpyArray, device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(
        TensorData::new(a.data.clone(), [a.shape[0], a.shape[1]]),
        device,
    )
}

fn scalar(t: Tensor<1>) -> f32 {
    t.into_data().try_to_vec::<f32>().unwrap()[0]
}

fn close(got: f32, want: f32, what: &str) {
    assert!(
        (got - want).abs() <= 1e-6 * want.abs().max(1.0),
        "{what}: {got} against PyTorch {want}"
    );
}

#[test]
fn psla_bce_matches_pytorch_with_its_gradient() {
    let device = Backend::Flex.device().unwrap().autodiff();
    let p = tensor2(&load("bce__p"), &device).require_grad();
    let y = tensor2(&load("bce__y"), &device);
    let loss = tympan_kernels::mean(bce_per_sample(p.clone(), y));
    close(scalar(loss.clone()), load("bce__bce").data[0], "BCE");
    let grads = loss.backward();
    let got = p
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let want = load("bce__bce_grad").data;
    // The clamp stops the gradient at p = 0, 1 and 1e-9, as torch.clamp does.
    assert_eq!(want[0], 0.0);
    assert!(
        max_abs_diff(&got, &want) <= 1e-6,
        "{:e}",
        max_abs_diff(&got, &want)
    );
}

#[test]
fn chen_level_mean_matches_its_pytorch_transcription() {
    let device = Backend::Flex.device().unwrap();
    let y = tensor2(&load("bce__y"), &device);
    let levels = (0..3)
        .map(|i| tensor2(&load(&format!("chen__level{i}")), &device))
        .collect();
    let loss = tympan_kernels::mean(outputs_loss_per_sample(levels, y, Loss::Bce));
    close(
        scalar(loss),
        load("chen__loss").data[0],
        "Chen's level mean",
    );
}

#[test]
fn jeong_lim_masked_loss_matches_its_pytorch_transcription() {
    let device = Backend::Flex.device().unwrap();
    let probs = tensor2(&load("jeong_lim__probs"), &device);
    let y = tensor2(&load("jeong_lim__y"), &device);
    let per = ce_on_probs_per_sample(probs, y);
    let per_v = per.clone().into_data().try_to_vec::<f32>().unwrap();
    let want_per = load("jeong_lim__per_clip").data;
    assert!(
        max_abs_diff(&per_v, &want_per) <= 1e-5,
        "{per_v:?} {want_per:?}"
    );
    let verified: Vec<bool> = load("jeong_lim__verified")
        .data
        .iter()
        .map(|&v| v > 0.5)
        .collect();
    let keep = jeong_lim_mask(&per_v, &verified, 0.8);
    assert_eq!(keep, load("jeong_lim__keep").data, "the kept clips");
    // The case drops some clips and keeps others, verified ones among the kept.
    assert!(keep.contains(&0.0) && keep.contains(&1.0));
    let mask = Tensor::<1>::from_floats(keep.as_slice(), &device);
    close(
        scalar(masked_mean(per, Some(mask))),
        load("jeong_lim__loss").data[0],
        "masked loss",
    );
}

#[test]
fn mix_training_pairs_match_their_pytorch_transcription() {
    let alphas = fixture_json("losses/manifest.json")["alphas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_f64().unwrap())
        .collect::<Vec<_>>();
    let (xi, xj) = (load("mix__xi").data, load("mix__xj").data);
    let (yi, yj) = (load("mix__yi").data, load("mix__yj").data);
    for (i, a) in alphas.iter().enumerate() {
        let (x, y) = tympan_audio::augment::mix_training_with(*a, &xi, &xj, &yi, &yj);
        let want = load(&format!("mix__x{i}")).data;
        assert_eq!(x.len(), want.len(), "the mix keeps x_i's length");
        assert!(max_abs_diff(&x, &want) <= 1e-6, "alpha {a}");
        assert_eq!(y, load("mix__y").data, "sign(y_i + y_j)");
    }
}
