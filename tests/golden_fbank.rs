//! Kaldi fbank against `torchaudio.compliance.kaldi.fbank` on real clips (fixtures written by
//! `scripts/generate_reference.py`). Tolerance: max absolute difference 1e-4 against torchaudio
//! run in float64, widened per fixture by the measured effect of torch's last-bit log rounding in
//! its float32 mel bank (see tests/README.md); 2e-3 against torchaudio run in float32.

use tympan_audio::{FbankOptions, fbank::Fbank, load::decode_all_channels, npy};
use tympan_tests::{data_dir, fixture_json, fixtures, max_abs_diff, require_data};

#[test]
fn fbank_matches_torchaudio_on_real_clips() {
    let Some(data) = require_data("fbank_matches_torchaudio_on_real_clips") else {
        return;
    };
    let manifest = fixture_json("fbank/manifest.json");
    let entries = manifest["entries"].as_array().unwrap();
    assert!(entries.len() >= 20, "expected the full option matrix");
    let (mut worst, mut within_flat, mut float64) = (0.0f32, 0, 0);
    for e in entries {
        let clip = data.join(e["clip"].as_str().unwrap());
        let (channels, _rate) = decode_all_channels(&clip).unwrap_or_else(|err| panic!("{err}"));
        let opts: FbankOptions = serde_json::from_value(e["options"].clone()).unwrap();
        let ours = Fbank::new(opts).unwrap().compute(&channels[0]).unwrap();
        let want = npy::read(&fixtures().join(e["file"].as_str().unwrap())).unwrap();
        assert_eq!(vec![ours.frames, ours.bins], want.shape, "{}", e["file"]);
        let tol = e["tolerance_abs"].as_f64().unwrap() as f32;
        let d = max_abs_diff(&ours.data, &want.data);
        assert!(d <= tol, "{}: max |diff| {d} > {tol}", e["file"]);
        if e["dtype"] == "float64" {
            worst = worst.max(d);
            within_flat += usize::from(d <= 1e-4);
            float64 += 1;
        }
    }
    eprintln!(
        "{} fbank fixtures within tolerance; float64 runs: {within_flat}/{float64} within a flat 1e-4, worst {worst:e} ({})",
        entries.len(),
        data_dir().display()
    );
}
