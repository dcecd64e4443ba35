//! Models against PyTorch transcriptions this project wrote (not goldens): Naranjo-Alcazar et
//! al. and Jeong & Lim publish no code, so `scripts/generate_reference.py` transcribes their
//! networks from the papers (`_rawwave_nets`, `_densenet`) and writes the fixtures. These tests
//! check that tympan's models compute what those transcriptions compute, weights loaded by name;
//! whether a transcription matches its paper is not something a test can check. The goldens
//! against upstream code are in `golden_models.rs`.

use burn::prelude::*;
use tympan_audio::npy;
use tympan_models::{Backend, Tagger, TorchLoadOptions, create, load_pytorch};
use tympan_tests::{fixture_json, fixtures, max_abs_diff};

/// Naranjo-Alcazar et al.'s networks against PyTorch transcriptions of the papers
/// (`scripts/generate_reference.py`, `_rawwave_nets`): M34-res on a real UrbanSound8K clip's 4 s
/// of 8 kHz samples and the slim 2D network on its 64 x 199 `slim2d` features, each with RB1,
/// RB5 (BN on the block input) and RB6 (BN after the addition), random weights and BatchNorm
/// statistics, eval mode, all six state dicts loaded by name with no key left over.
/// Tolerance: 1e-4 x max(1, max |logit|) on the logits.
#[test]
fn m34_res_and_slim2d_match_their_pytorch_transcriptions() {
    let device = Backend::Flex.device().unwrap();
    let manifest = fixture_json("models/rawwave_manifest.json");
    let weights = fixtures().join("models/rawwave_rb156.pth");
    let wave = npy::read(&fixtures().join("models/m34__input.npy")).unwrap();
    let feats = npy::read(&fixtures().join("presets/slim2d__us8k.npy")).unwrap(); // [T, F]
    for (key, arch) in [
        ("m34_rb1", "m34-res-rb1"),
        ("m34_rb5", "m34-res-rb5"),
        ("m34_rb6", "m34-res-rb6"),
        ("slim2d_rb1", "slim2d-rb1"),
        ("slim2d_rb5", "slim2d-rb5"),
        ("slim2d_rb6", "slim2d-rb6"),
    ] {
        let mut model = create(arch, 10, &device).unwrap();
        let opts = TorchLoadOptions {
            top_level_key: Some(key.into()),
            ..TorchLoadOptions::default()
        };
        let report = load_pytorch(&mut model, &weights, &opts).unwrap();
        assert!(report.is_complete(), "{key}: {report}");
        let logits = match &model {
            Tagger::MNet(m) => {
                let n = wave.data.len();
                m.forward(
                    Tensor::<1>::from_floats(wave.data.as_slice(), &device).reshape([1, 1, n]),
                )
            }
            Tagger::Slim2d(m) => {
                let (t, f) = (feats.shape[0], feats.shape[1]);
                let x = Tensor::<1>::from_floats(feats.data.as_slice(), &device)
                    .reshape([1, t, f])
                    .swap_dims(1, 2)
                    .unsqueeze_dim::<4>(1);
                m.forward(x)
            }
            _ => panic!("{arch} is not a Naranjo-Alcazar network"),
        };
        let ours: Vec<f32> = logits.into_data().try_to_vec().unwrap();
        let want: Vec<f32> = manifest["logits"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
        let d = max_abs_diff(&ours, &want);
        eprintln!("{key}: max |logit diff| {d:e} (scale {scale})");
        assert!(
            d <= 1e-4 * scale,
            "{key}: {d} > 1e-4 x {scale}\nours {ours:?}\nwant {want:?}"
        );
    }
}

/// Jeong & Lim's log-mel DenseNet (`densenet-logmel-small-16k`: growth 16, 32, 64, 64, 64, 8
/// heads, 41 classes, the in-graph log-mel at 16 kHz) against a PyTorch transcription of their
/// Fig. 2a with torchaudio's Slaney log-mel (`scripts/generate_reference.py`, `_densenet`), eval
/// mode, random weights and BatchNorm statistics, on 2 s of a real UrbanSound8K clip's samples.
/// Tolerance: 2e-5 absolute on the mean of the heads' softmax outputs.
#[test]
fn densenet_matches_its_pytorch_transcription() {
    let device = Backend::Flex.device().unwrap();
    let dir = fixtures().join("models");
    let manifest = fixture_json("models/densenet_manifest.json");
    let mut model = create(manifest["arch"].as_str().unwrap(), 41, &device).unwrap();
    let report = load_pytorch(
        &mut model,
        &dir.join("densenet_logmel_small_16k_41.pth"),
        &TorchLoadOptions::default(),
    )
    .unwrap();
    assert!(report.is_complete(), "{report}");
    let input = npy::read(&dir.join("densenet__input.npy")).unwrap();
    let n = input.data.len();
    let x = Tensor::<1>::from_floats(input.data.as_slice(), &device).reshape([1, 1, n]);
    let ours: Vec<f32> = model.forward(x).into_data().try_to_vec().unwrap();
    let want: Vec<f32> = manifest["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let d = max_abs_diff(&ours, &want);
    eprintln!("densenet-logmel-small-16k: max |probability diff| {d:e}");
    assert!(d <= 2e-5, "{d}");
}
