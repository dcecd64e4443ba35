//! Feature presets against their Python references (fixtures by `scripts/generate_reference.py`):
//! PSLA's dataloader (1e-4 absolute), the Slaney/dB presets against torchaudio's MelSpectrogram
//! (1e-3 absolute, on values spanning about -100..40 dB), VGGish against a numpy transcription of
//! `mel_features.py` (1e-4 absolute).

use tympan_audio::{LoadOptions, Preset, load::load, npy};
use tympan_tests::{fixture_json, fixtures, max_abs_diff, require_data};

#[test]
fn presets_match_their_references() {
    let Some(data) = require_data("presets_match_their_references") else {
        return;
    };
    let manifest = fixture_json("presets/manifest.json");
    let mut checked = Vec::new();
    for e in manifest["entries"].as_array().unwrap() {
        let name = e["preset"].as_str().unwrap();
        let preset = Preset::from_name(name).unwrap();
        let want = npy::read(&fixtures().join(e["file"].as_str().unwrap())).unwrap();
        let (ours, shape) = if let Some(clip) = e["clip"].as_str() {
            let wav = load(&data.join(clip), &LoadOptions::default()).unwrap();
            let f = preset
                .extractor(wav.sample_rate)
                .unwrap()
                .compute(&wav.samples)
                .unwrap();
            (f.data, vec![f.frames, f.bins])
        } else {
            let input = npy::read(&fixtures().join(e["input"].as_str().unwrap())).unwrap();
            let rate = e["sample_rate"].as_u64().unwrap() as u32;
            let ex = preset.extractor(rate).unwrap();
            if name == "vggish" {
                let patches = ex.patches(&input.data).unwrap();
                let frames = patches.iter().map(|p| p.frames).sum();
                (
                    patches.into_iter().flat_map(|p| p.data).collect(),
                    vec![frames, 64],
                )
            } else {
                let f = ex.compute(&input.data).unwrap();
                (f.data, vec![f.frames, f.bins])
            }
        };
        assert_eq!(shape, want.shape, "{name}: shape");
        let tol = e["tolerance_abs"].as_f64().unwrap() as f32;
        let d = max_abs_diff(&ours, &want.data);
        assert!(d <= tol, "{name} ({}): max |diff| {d} > {tol}", e["file"]);
        checked.push(format!("{name}: {d:e}"));
    }
    assert!(checked.len() >= 5);
    eprintln!("{}", checked.join(", "));
}
