//! Model numerics against upstream PyTorch code (fixtures by `scripts/generate_reference.py`;
//! each test says its reference and tolerance). Comparisons with this project's own PyTorch
//! transcriptions of papers without code are in `transcription_models.rs`. The first: PSLA's own `EffNetAttention(b=2, head_num=4, label_dim=527)` on `efficientnet_pytorch` 0.7.1,
//! saved through `DataParallel` (keys carry `module.`), with non-trivial BatchNorm statistics and
//! head weights. Loaded into tympan, scores must match PyTorch's within 1e-4 absolute on the same
//! fbank input (two real clips, 1056 x 128).

use burn::prelude::*;
use tympan_audio::npy;
use tympan_models::{Backend, Tagger, TorchLoadOptions, create, load_pytorch, num_params};
use tympan_tests::{fixture_json, fixtures, max_abs_diff};

#[test]
fn psla_effnet_b2_matches_pytorch() {
    let device = Backend::Flex.device().unwrap();
    let dir = fixtures().join("models");
    let manifest = fixture_json("models/manifest.json");
    let mut model = create("psla-effnet-b2", 527, &device).unwrap();
    // PSLA reports 13.6M parameters for B2 with 4 heads; the PyTorch model has exactly this many.
    assert_eq!(
        num_params(&model),
        manifest["parameters"].as_u64().unwrap() as usize
    );

    let report = load_pytorch(
        &mut model,
        &dir.join("psla_effnet_b2_h4_527.pth"),
        &TorchLoadOptions::default(),
    )
    .unwrap();
    assert!(report.is_complete(), "{report}");
    assert!(report.num_batches_tracked > 0);

    let input = npy::read(&dir.join("psla_effnet_b2_h4_527__input.npy")).unwrap();
    let want = npy::read(&dir.join("psla_effnet_b2_h4_527__scores.npy")).unwrap();
    let [b, t, f] = [input.shape[0], input.shape[1], input.shape[2]];
    let x = Tensor::<1>::from_floats(input.data.as_slice(), &device).reshape([b, t, f]);

    let Tagger::EffNet(effnet) = &model else {
        panic!("expected EffNetAttention")
    };
    let feats = effnet
        .effnet
        .forward(x.clone().unsqueeze_dim::<4>(1).swap_dims(2, 3));
    let want_feats = npy::read(&dir.join("psla_effnet_b2_h4_527__features.npy")).unwrap();
    assert_eq!(feats.dims().to_vec(), want_feats.shape);
    let got_feats: Vec<f32> = feats.into_data().try_into_vec_as::<f32>().unwrap();
    let fd = max_abs_diff(&got_feats, &want_feats.data);
    let scale = want_feats.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        fd <= 1e-4 * scale.max(1.0),
        "backbone features differ by {fd} (max |x| {scale})"
    );

    let scores = model.forward(x);
    assert_eq!(scores.dims().to_vec(), want.shape);
    let got: Vec<f32> = scores.into_data().try_into_vec_as::<f32>().unwrap();
    let d = max_abs_diff(&got, &want.data);
    let tol = manifest["tolerance"].as_f64().unwrap() as f32;
    assert!(d <= tol, "scores differ from PyTorch by {d} > {tol}");
}

#[test]
fn key_mismatches_are_reported_not_ignored() {
    let device = Backend::Flex.device().unwrap();
    let path = fixtures().join("models/psla_effnet_b2_h4_527.pth");
    // A B0 has different shapes and fewer blocks: the load must fail and name the keys.
    let mut wrong = create("psla-effnet-b0", 527, &device).unwrap();
    let err = load_pytorch(&mut wrong, &path, &TorchLoadOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("psla_effnet_b2_h4_527.pth"), "{msg}");
    // A model with one head: the file's extra heads are listed as unused.
    let mut one_head = create("psla-effnet-b2-att1", 527, &device).unwrap();
    let opts = TorchLoadOptions {
        allow_partial: true,
        ..Default::default()
    };
    match load_pytorch(&mut one_head, &path, &opts) {
        Ok(report) => {
            assert!(!report.is_complete());
            assert!(
                report.unused.iter().any(|k| k.contains("attention")),
                "{report}"
            );
        }
        Err(e) => assert!(e.to_string().contains("attention"), "{e}"),
    }
}

/// A layer list whose entry 1 has no parameters (Hershey et al.'s VGG keeps its poolings in
/// `features`).
#[derive(Module, Debug)]
struct GappedStack {
    features: Vec<Part>,
}

#[derive(Module, Debug)]
enum Part {
    Linear(burn::nn::Linear),
    Pool(NoParams),
}

#[derive(Module, Debug)]
struct NoParams {
    #[module(skip)]
    _kernel: usize,
}

/// A state dict in tympan's names keeps the gaps of its layer indices (`features.0`,
/// `features.2`: models/index_gaps.pth, constant values) and loads as written. burn-store
/// renumbers indices to close such gaps by default, which sent `features.2` to the pooling at
/// `features.1`: Hershey et al.'s VGG could not load its own names (found 2026-12-07).
#[test]
fn layer_indices_load_as_written() {
    let device = Backend::Flex.device().unwrap();
    let linear = |i, o| Part::Linear(burn::nn::LinearConfig::new(i, o).init(&device));
    let mut stack = GappedStack {
        features: vec![
            linear(2, 3),
            Part::Pool(NoParams { _kernel: 2 }),
            linear(3, 2),
        ],
    };
    let path = fixtures().join("models/index_gaps.pth");
    let report = load_pytorch(&mut stack, &path, &TorchLoadOptions::default()).unwrap();
    assert!(report.is_complete(), "{report}");
    let values = |p: &burn::module::Param<Tensor<2>>| -> Vec<f32> {
        p.val().into_data().try_to_vec::<f32>().unwrap()
    };
    let (Part::Linear(first), Part::Linear(last)) = (&stack.features[0], &stack.features[2]) else {
        panic!("layers 0 and 2 are linear");
    };
    assert_eq!(values(&first.weight), vec![0.5; 6]);
    assert_eq!(values(&last.weight), vec![2.0; 6]);
    let bias = |l: &burn::nn::Linear| -> Vec<f32> {
        l.bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert_eq!((bias(first), bias(last)), (vec![0.25; 3], vec![-1.0; 2]));
}

/// The legacy (pre-1.6 torch) ImageNet EfficientNet-Lite files in `../shared/data/weights` load
/// into the PSLA heads: every backbone tensor but the stem is applied; the ImageNet classifier is
/// dropped; with `average-rgb` the stem is the mean of the RGB filters.
#[test]
fn imagenet_lite_weights_load() {
    let Some(data) = tympan_tests::require_data("imagenet_lite_weights_load") else {
        return;
    };
    let device = Backend::Flex.device().unwrap();
    for (arch, file) in [
        ("psla-effnet-lite0", "efficientnet-lite0-57934424.pth"),
        ("psla-effnet-lite2", "efficientnet-lite2-9656183e.pth"),
    ] {
        let path = data.join("weights").join(file);
        let mut model = create(arch, 10, &device).unwrap();
        let keys = tympan_models::info(arch).unwrap().imagenet.unwrap();
        let fresh = tympan_models::pretrained::load_imagenet(
            &mut model,
            keys,
            &path,
            tympan_models::StemInit::Fresh,
        )
        .unwrap();
        assert!(fresh.unused.is_empty(), "{fresh}");
        assert!(
            fresh
                .missing
                .iter()
                .all(|m| m.starts_with("attention.") || m == "effnet.conv_stem.weight"),
            "{fresh}"
        );
        assert!(
            fresh
                .missing
                .contains(&"effnet.conv_stem.weight".to_string())
        );
        let mut model = create(arch, 10, &device).unwrap();
        let avg = tympan_models::pretrained::load_imagenet(
            &mut model,
            keys,
            &path,
            tympan_models::StemInit::AverageRgb,
        )
        .unwrap();
        assert_eq!(avg.applied, fresh.applied + 1);
        let Tagger::EffNet(m) = &model else { panic!() };
        let stem: Vec<f32> = m
            .effnet
            .conv_stem
            .weight
            .val()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        let (rgb, shape) =
            tympan_models::weights::read_torch_tensor(&path, "conv_stem.weight").unwrap();
        assert_eq!(shape, vec![32, 3, 3, 3]);
        let want: f32 = (rgb[0] + rgb[9] + rgb[18]) / 3.0;
        assert!((stem[0] - want).abs() < 1e-7, "{} vs {want}", stem[0]);
        // The model runs on a PSLA-shaped input.
        let x = Tensor::<3>::zeros([1, 100, 128], &device);
        assert_eq!(model.forward(x).dims(), [1, 10]);
    }
}

/// Jeong & Lim's in-graph log-mel (a DFT as a strided conv, Slaney mel, dB, all in Burn) against
/// the torchaudio reference of the `dcase-densenet` preset (librosa settings: 1024 window and FFT,
/// hop 128, 64 Slaney mel bins, power in dB), on the generator's 44.1 kHz input. The graph
/// computes in float32; measured: 4.9e-4 dB at most. Tolerance: 2e-3 dB on every bin.
#[test]
fn in_graph_log_mel_matches_the_dcase_preset_reference() {
    let manifest = fixture_json("presets/manifest.json");
    let e = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["preset"] == "dcase-densenet")
        .expect("dcase-densenet fixture");
    let input = npy::read(&fixtures().join(e["input"].as_str().unwrap())).unwrap();
    let want = npy::read(&fixtures().join(e["file"].as_str().unwrap())).unwrap();
    let device = Backend::Flex.device().unwrap();
    let logmel = tympan_models::dcase::LogMelConfig::new().init();
    let n = input.data.len();
    let x = Tensor::<1>::from_floats(input.data.as_slice(), &device).reshape([1, 1, n]);
    let y = logmel.forward(x); // [1, T, 64]
    let [_, frames, bins] = y.dims();
    assert_eq!(vec![frames, bins], want.shape, "shape [frames, bins]");
    let ours: Vec<f32> = y.squeeze_dim::<2>(0).into_data().try_to_vec().unwrap();
    let d = max_abs_diff(&ours, &want.data);
    eprintln!("in-graph log-mel: max |diff| {d:e} dB");
    assert!(d <= 2e-3, "{d} dB");

    // Jeong & Lim's Table 1 also runs at 16 and 32 kHz: the registry's `-16k` / `-32k` models
    // build their in-graph log-mel for that rate, and it equals tympan-audio's mel spectrogram
    // with the `dcase-densenet` preset's settings at that rate (the preset itself is fixed at
    // 44.1 kHz; its filter bank code is rate-generic and torchaudio-checked above at 44.1 kHz
    // and at 8 kHz through the slim 2D preset). Same input samples, read as 16 / 32 kHz audio.
    // Tolerance: 2e-3 dB, as above.
    for (name, rate) in [
        ("densenet-logmel-16k", 16_000u32),
        ("densenet-logmel-32k", 32_000),
    ] {
        let tympan_models::Tagger::DenseNet(net) =
            tympan_models::create(name, 41, &device).unwrap()
        else {
            panic!("{name} is not a DenseNet");
        };
        let lm = net.logmel.expect("log-mel front end");
        let x = Tensor::<1>::from_floats(input.data.as_slice(), &device).reshape([1, 1, n]);
        let ours: Vec<f32> = lm
            .forward(x)
            .squeeze_dim::<2>(0)
            .into_data()
            .try_to_vec()
            .unwrap();
        use tympan_audio::melspec::{LogMode, MelBank, MelSpecOptions, MelSpectrogram};
        let preset = MelSpectrogram::new(MelSpecOptions {
            sample_rate: rate,
            win_length: 1024,
            hop_length: 128,
            n_fft: 1024,
            center: true,
            power: 2,
            n_mels: 64,
            f_min: 0.0,
            f_max: rate as f64 / 2.0,
            bank: MelBank::Slaney,
            log: LogMode::Db { amin: 1e-10 },
        })
        .unwrap()
        .compute(&input.data)
        .unwrap();
        let d = max_abs_diff(&ours, &preset.data);
        eprintln!("{name}: in-graph log-mel vs the preset at {rate} Hz: max |diff| {d:e} dB");
        assert!(d <= 2e-3, "{name}: {d} dB");
    }
}

/// The two ResNet-50 models against PyTorch (`scripts/generate_reference.py --only resnet50`):
/// `psla-resnet50` against PSLA's own `ResNetAttention(label_dim=527)` (its
/// `src/models/Models.py`, torchvision's ResNet-50) on the B2 fixture's real fbanks, and
/// `hershey-resnet50-b128` (10 outputs) against torchvision's ResNet-50 with Hershey et al.'s
/// unstrided one-channel stem, mean pooling and 128-d bottleneck, on two real 96x64 log-mel
/// patches. Random weights; BatchNorm statistics calibrated on real inputs; eval mode; both state
/// dicts load by name with no key left over. Tolerances: 1e-4 absolute on PSLA's scores (as for
/// B2), 1e-4 x max(1, max |logit|) on Hershey's logits.
#[test]
fn resnet50_models_match_pytorch() {
    let device = Backend::Flex.device().unwrap();
    let dir = fixtures().join("models");
    let manifest = fixture_json("models/resnet50_manifest.json");
    let weights = dir.join("resnet50_psla_hershey.pth");
    let flat = |key: &str| -> Vec<f32> {
        manifest[key]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter())
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    for (key, arch, classes, input, want, rel_tol) in [
        (
            "psla",
            "psla-resnet50",
            527,
            "psla_effnet_b2_h4_527__input.npy",
            flat("psla_scores"),
            false,
        ),
        (
            "hershey",
            "hershey-resnet50-b128",
            10,
            "hershey__input.npy",
            flat("hershey_logits"),
            true,
        ),
    ] {
        let mut model = create(arch, classes, &device).unwrap();
        let opts = TorchLoadOptions {
            top_level_key: Some(key.into()),
            ..TorchLoadOptions::default()
        };
        let report = load_pytorch(&mut model, &weights, &opts).unwrap();
        assert!(report.is_complete(), "{arch}: {report}");
        let x = npy::read(&dir.join(input)).unwrap();
        let [b, t, f] = [x.shape[0], x.shape[1], x.shape[2]];
        let x = Tensor::<1>::from_floats(x.data.as_slice(), &device).reshape([b, t, f]);
        let out = match &model {
            Tagger::Hershey(h) => h.forward(x), // logits, before the sigmoid
            m => m.forward(x),
        };
        let ours: Vec<f32> = out.into_data().try_to_vec().unwrap();
        let scale = if rel_tol {
            want.iter().fold(1f32, |m, v| m.max(v.abs()))
        } else {
            1.0
        };
        let d = max_abs_diff(&ours, &want);
        eprintln!("{arch}: max |diff| {d:e} (scale {scale})");
        assert!(d <= 1e-4 * scale, "{arch}: {d} > 1e-4 x {scale}");
    }
}

/// tympan's flex kernels (`tympan_kernels`) against `torch.nn.functional` (fixtures
/// `kernels/`, torch 2.11): for each convolution path (pointwise, strided stem with asymmetric
/// "same" padding, dilated with bias, depthwise 3x3 and 5x5/2, an M-net 1D conv as height 1) the
/// output and the gradients of `sum(y * r)` with respect to input, weight and bias. Tolerance:
/// 2e-5 of the largest magnitude of each tensor (float32 sums in another order).
#[test]
fn conv_kernels_match_pytorch() {
    use burn::module::Param;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    let device = Backend::Flex.device().unwrap().autodiff();
    let dir = fixtures().join("kernels");
    let manifest = fixture_json("kernels/manifest.json");
    let load = |name: &str, key: &str| npy::read(&dir.join(format!("{name}__{key}.npy"))).unwrap();
    let tensor = |a: &npy::NpyArray| {
        let shape: [usize; 4] = a.shape.clone().try_into().unwrap_or_else(|_| {
            let mut s = [1; 4];
            s[..a.shape.len()].copy_from_slice(&a.shape);
            s
        });
        Tensor::<4>::from_data(TensorData::new(a.data.clone(), shape), &device)
    };
    let cases = manifest["conv"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let u = |k: &str, i: usize| case[k][i].as_u64().unwrap() as usize;
        let (w, x) = (load(name, "w"), load(name, "x"));
        let bias = case["bias"].as_bool().unwrap();
        let groups = case["groups"].as_u64().unwrap() as usize;
        let conv = Conv2dConfig::new(
            [w.shape[1] * groups, w.shape[0]],
            [u("kernel", 0), u("kernel", 1)],
        )
        .with_stride([u("stride", 0), u("stride", 1)])
        .with_dilation([case["dilation"].as_u64().unwrap() as usize; 2])
        .with_padding(PaddingConfig2d::Explicit(
            u("padding", 0),
            u("padding", 1),
            u("padding", 2),
            u("padding", 3),
        ))
        .with_groups(groups)
        .with_bias(bias);
        let mut conv = conv.init(&device);
        conv.weight = Param::from_tensor(tensor(&w).require_grad());
        if bias {
            let b = load(name, "b");
            conv.bias = Some(Param::from_tensor(
                Tensor::<1>::from_data(TensorData::new(b.data.clone(), [b.data.len()]), &device)
                    .require_grad(),
            ));
        }
        let xt = tensor(&x).require_grad();
        let y = tympan_kernels::conv2d(&conv, xt.clone());
        let grads = (y.clone() * tensor(&load(name, "r"))).sum().backward();
        let mut got = vec![
            ("y", y.into_data().try_to_vec::<f32>().unwrap()),
            (
                "x_grad",
                xt.grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ),
            (
                "w_grad",
                conv.weight
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ),
        ];
        if let Some(b) = &conv.bias {
            got.push((
                "b_grad",
                b.grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ));
        }
        for (key, ours) in got {
            let want = load(name, key).data;
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            let diff = max_abs_diff(&ours, &want);
            assert!(
                diff <= 2e-5 * scale,
                "{name} {key}: {diff} (largest magnitude {scale})"
            );
        }
    }
}

/// Batch norm in training mode through tympan's flex kernel against `F.batch_norm(training=True,
/// momentum=0.01, eps=1e-3)` (efficientnet_pytorch's settings): output, input/gamma/beta
/// gradients and the running mean within 2e-5 of the largest magnitude. The running variance is
/// Burn's: updated with the biased batch variance, where PyTorch uses the unbiased one (the
/// fixture stores both; the difference is a factor n/(n-1) on the batch term).
#[test]
fn batch_norm_kernel_matches_pytorch() {
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    let device = Backend::Flex.device().unwrap().autodiff();
    let dir = fixtures().join("kernels");
    let manifest = fixture_json("kernels/manifest.json");
    let load = |name: &str, key: &str| npy::read(&dir.join(format!("{name}__{key}.npy"))).unwrap();
    let t1 = |a: &npy::NpyArray| {
        Tensor::<1>::from_data(TensorData::new(a.data.clone(), [a.data.len()]), &device)
    };
    let cases = manifest["batch_norm"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let x = load(name, "x");
        let shape: [usize; 4] = x.shape.clone().try_into().unwrap();
        let mut bn = BatchNormConfig::new(shape[1])
            .with_momentum(0.01)
            .with_epsilon(1e-3)
            .init(&device);
        bn.gamma = Param::from_tensor(t1(&load(name, "gamma")).require_grad());
        bn.beta = Param::from_tensor(t1(&load(name, "beta")).require_grad());
        let xt =
            Tensor::<4>::from_data(TensorData::new(x.data.clone(), shape), &device).require_grad();
        let r = Tensor::<4>::from_data(TensorData::new(load(name, "r").data, shape), &device);
        let y = tympan_kernels::batch_norm(&bn, xt.clone());
        let grads = (y.clone() * r).sum().backward();
        let got = [
            ("y", y.into_data().try_to_vec::<f32>().unwrap()),
            (
                "x_grad",
                xt.grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ),
            (
                "gamma_grad",
                bn.gamma
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ),
            (
                "beta_grad",
                bn.beta
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ),
            (
                "running_mean",
                bn.running_mean
                    .value_sync()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ),
            (
                "running_var_biased",
                bn.running_var
                    .value_sync()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ),
        ];
        for (key, ours) in got {
            let want = load(name, key).data;
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            let diff = max_abs_diff(&ours, &want);
            assert!(
                diff <= 2e-5 * scale,
                "{name} {key}: {diff} (largest magnitude {scale})"
            );
        }
        // And it is not PyTorch's unbiased running variance.
        let torch_var = load(name, "running_var_torch").data;
        let ours = bn
            .running_var
            .value_sync()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(max_abs_diff(&ours, &torch_var) > 0.0);
    }
}

/// Every parameter gradient of one list of tensors against another: the relative L2 distance of
/// each parameter's gradient, `|a - b| / |b|`.
fn gradient_distances(a: &[Vec<f32>], b: &[Vec<f32>]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(p, q)| {
            let norm = q.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            let diff = p
                .iter()
                .zip(q)
                .map(|(u, v)| ((u - v) as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            diff / norm.max(1e-30)
        })
        .collect()
}

/// tympan's flex kernels train the README's model as Burn's own ops do, up to float rounding:
/// the ImageNet Lite0 PSLA model of `fsdd-psla`, at its real input size (1056 x 128, batch 2),
/// one BCE training step (batch statistics, ReLU6, depthwise and pointwise convs, attention).
///
/// Bit equality is not the bar: the kernels sum in another order. The bar is Burn against
/// itself when only its summation order changes: the same batch with its two clips swapped
/// (stochastic depth off, so the step is the same function of the set of clips) moves the
/// parameter gradients by rounding alone, and this network amplifies rounding. The kernels
/// against Burn must stay within 5x of that at the median and the 90th percentile of the
/// per-parameter relative L2 distances, or below `FLOOR_MEDIAN` and `FLOOR_P90`, and the loss
/// within 1e-5 relative. The floors are there because the swap's distance is itself noise (flex's
/// parallel sums vary from run to run and with the load of the other tests), so a ratio of two
/// noisy figures alone fails by chance: under `.ci/run` (2026-12-05) the swap moved the gradients
/// by 0.33 % at the median while the kernels' distance was 1.76 %. Measured on this input: the
/// kernels' median distance 0.26-2.6 %, the swap's 0.33-2.6 %, p90s 1.6-5.1 % (eight runs
/// 2026-12-04, five 2026-12-05). A kernel bug at this size (a wrong tile, a missed edge) shows as
/// distances of tens of percent, above both floors.
#[test]
fn kernels_train_pretrained_lite0_within_rounding_noise() {
    /// Twice the largest median distance measured, and twice the largest p90.
    const FLOOR_MEDIAN: f64 = 0.05;
    const FLOOR_P90: f64 = 0.10;
    use tympan_kernels::set_kernels_enabled;
    use tympan_models::parameter_gradients;

    let Some(data) = tympan_tests::require_data("kernels_train_pretrained_lite0") else {
        return;
    };
    let device = Backend::Flex.device().unwrap().autodiff();
    let arch = "psla-effnet-lite0";
    let mut model = create(arch, 10, &device).unwrap();
    let keys = tympan_models::info(arch).unwrap().imagenet.unwrap();
    let weights = data.join("weights/efficientnet-lite0-57934424.pth");
    tympan_models::pretrained::load_imagenet(
        &mut model,
        keys,
        &weights,
        tympan_models::StemInit::Fresh,
    )
    .unwrap();
    let Tagger::EffNet(m) = &mut model else {
        panic!("{arch} is an EfficientNet")
    };
    for block in &mut m.effnet.blocks {
        block.drop_path.prob = 0.0;
    }
    // Real input (the B2 fixture's normalised fbanks of two real clips) and fixed targets, so
    // the step does not depend on the device RNG other tests draw from.
    let input = npy::read(&fixtures().join("models/psla_effnet_b2_h4_527__input.npy")).unwrap();
    assert_eq!(input.shape, vec![2, 1056, 128]);
    let x = Tensor::<1>::from_floats(input.data.as_slice(), &device).reshape([2, 1056, 128]);
    let targets: [f32; 20] = [
        1., 0., 0., 1., 0., 1., 0., 0., 1., 0., 0., 1., 1., 0., 0., 0., 1., 0., 0., 1.,
    ];
    let y = Tensor::<1>::from_floats(targets.as_slice(), &device).reshape([2, 10]);
    let swap = |t: Tensor<3>| Tensor::cat(vec![t.clone().narrow(0, 1, 1), t.narrow(0, 0, 1)], 0);
    let (xs, ys) = (
        swap(x.clone()),
        swap(y.clone().unsqueeze_dim::<3>(2)).squeeze_dim::<2>(2),
    );
    let step = |kernels: bool, x: &Tensor<3>, y: &Tensor<2>| {
        set_kernels_enabled(kernels);
        let p = model.forward(x.clone()).clamp(1e-7, 1.0 - 1e-7);
        let bce = y.clone() * p.clone().log() + (y.clone().neg() + 1.0) * (p.neg() + 1.0).log();
        let loss = bce.neg().mean();
        let value = loss.clone().into_scalar::<f32>();
        let grads = loss.backward();
        (value, parameter_gradients(&model, &grads))
    };
    let (loss_burn, burn) = step(false, &x, &y);
    let (_, swapped) = step(false, &xs, &ys);
    let (loss_ours, ours) = step(true, &x, &y);
    set_kernels_enabled(true);
    assert!(burn.len() > 100, "{} gradients", burn.len());
    assert!(
        ((loss_ours - loss_burn) / loss_burn).abs() < 1e-5,
        "loss {loss_ours} against {loss_burn}"
    );
    let quantiles = |mut d: Vec<f64>| {
        d.sort_by(f64::total_cmp);
        (d[d.len() / 2], d[d.len() * 9 / 10])
    };
    let noise = quantiles(gradient_distances(&swapped, &burn));
    let kernels = quantiles(gradient_distances(&ours, &burn));
    eprintln!("kernels against Burn (median, p90) {kernels:?}; Burn, clips swapped {noise:?}");
    let bound = (
        (5.0 * noise.0).max(FLOOR_MEDIAN),
        (5.0 * noise.1).max(FLOOR_P90),
    );
    assert!(
        kernels.0 <= bound.0 && kernels.1 <= bound.1,
        "kernels against Burn (median, p90) {kernels:?} above {bound:?}; Burn, clips swapped {noise:?}"
    );
}
