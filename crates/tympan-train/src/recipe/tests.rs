//! Recipe parsing, overrides and validation.

use std::path::Path;

use super::*;

/// A minimal valid recipe (FSDD); other modules' tests override its data section.
pub(crate) const R: &str = r#"
name = "t"
[data]
dataset = "fsdd"
data_dir = "x"
[model]
arch = "psla-effnet-b0"
[optim]
lr = 1e-3
schedule = { kind = "multistep", from_epoch = 10 }
[train]
batch_size = 4
epochs = 2
sampler = "uniform"
"#;

#[test]
fn parses_with_overrides() {
    let r = Recipe::from_toml(
        R,
        Path::new("t.toml"),
        &["train.epochs=3".into(), "data.data_dir=/d".into()],
    )
    .unwrap();
    assert_eq!(r.train.epochs, 3);
    assert_eq!(r.data.data_dir, PathBuf::from("/d"));
    assert_eq!(r.optim.betas, (0.95, 0.999));
    assert_eq!(
        r.optim.schedule,
        Schedule::Multistep {
            from_epoch: 10,
            every: 5,
            gamma: 0.5
        }
    );
    let back = Recipe::from_toml(&r.to_toml(), Path::new("t.toml"), &[]).unwrap();
    assert_eq!(back, r);
}

#[test]
fn rejects_bad_values_with_the_path() {
    let e = Recipe::from_toml(R, Path::new("t.toml"), &["train.sampler=\"weird\"".into()])
        .unwrap_err()
        .to_string();
    // The file, the key, the value and the allowed values.
    for part in [
        "t.toml",
        "train.sampler",
        "weird",
        "uniform",
        "class-balanced",
    ] {
        assert!(e.contains(part), "{part} missing from: {e}");
    }
    let e = Recipe::from_toml(R, Path::new("t.toml"), &["features.input=\"mfcc\"".into()])
        .unwrap_err()
        .to_string();
    for part in ["features.input", "mfcc", "fbank", "waveform"] {
        assert!(e.contains(part), "{part} missing from: {e}");
    }
    let e = Recipe::from_toml(R, Path::new("t.toml"), &["train.typo=1".into()]).unwrap_err();
    assert!(e.to_string().contains("typo"), "{e}");
    // A fitted length is a share of the clips, and not for VGGish patches.
    for bad in ["0", "1.5", "-0.1"] {
        let e = Recipe::from_toml(
            R,
            Path::new("t.toml"),
            &[format!("features.fit_length={bad}")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("features.fit_length") && e.contains(bad), "{e}");
    }
    let r = Recipe::from_toml(R, Path::new("t.toml"), &["features.fit_length=1".into()]).unwrap();
    assert_eq!(r.features.fit_length, Some(1.0));
    let e = Recipe::from_toml(
        R,
        Path::new("t.toml"),
        &[
            "model.arch=\"hershey-fc\"".into(),
            "features.fit_length=0.9".into(),
        ],
    )
    .unwrap_err();
    assert!(e.to_string().contains("VGGish"), "{e}");
}

#[test]
fn validation_is_typed_and_never_the_test_split() {
    let r = Recipe::from_toml(R, Path::new("t.toml"), &[]).unwrap();
    assert_eq!(r.data.validation(), Validation::Fraction(0.1));
    let r = Recipe::from_toml(
        R,
        Path::new("t.toml"),
        &["data.valid={fraction=0.2}".into()],
    )
    .unwrap();
    assert_eq!(r.data.validation(), Validation::Fraction(0.2));
    let back = Recipe::from_toml(&r.to_toml(), Path::new("t.toml"), &[]).unwrap();
    assert_eq!(back, r);
    let err = |set: &[&str]| {
        let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        Recipe::from_toml(R, Path::new("t.toml"), &set)
            .unwrap_err()
            .to_string()
    };
    let e = err(&["data.test_fold=2", "data.valid={fold=2}"]);
    assert!(e.contains("must not be the test split"), "{e}");
    let e = err(&["data.valid=\"official\""]);
    assert!(e.contains("no official validation split"), "{e}");
    let e = err(&["data.valid={fraction=1.5}"]);
    assert!(e.contains("(0, 1)"), "{e}");
    let e = err(&["data.valid={datafile=\"v.json\"}"]);
    assert!(e.contains("audioset"), "{e}");
    let e = err(&["data.valid={share=0.1}"]);
    assert!(e.contains("data.valid") && e.contains("fraction"), "{e}");
}

/// `features.input` comes from the model card when the recipe leaves it out, and a recipe that
/// feeds a model something other than what its card reads is refused at parse time, naming both
/// keys; so is an architecture the registry does not know.
#[test]
fn input_follows_the_model_card() {
    let load = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Recipe::from_toml(R, Path::new("t.toml"), &sets)
    };
    let cases = [
        ("psla-effnet-b0", InputKind::Fbank),
        ("m11", InputKind::Waveform),
        ("slim2d-rb1", InputKind::Slim2d),
        ("hershey-fc", InputKind::Vggish),
        ("densenet-logmel-small", InputKind::Waveform),
    ];
    for (arch, input) in cases {
        let r = load(&[&format!("model.arch=\"{arch}\"")]).unwrap();
        assert_eq!(r.features.input, input, "{arch}");
        // Stating the card's own input is accepted.
        let set = format!("features.input=\"{input}\"");
        assert_eq!(
            load(&[&format!("model.arch=\"{arch}\""), &set])
                .unwrap()
                .features
                .input,
            input
        );
    }
    let e = load(&["model.arch=\"m11\"", "features.input=\"fbank\""])
        .unwrap_err()
        .to_string();
    for part in ["features.input = \"fbank\"", "\"m11\"", "\"waveform\""] {
        assert!(e.contains(part), "{e}");
    }
    let e = load(&["model.arch=\"psla-effnet-b99\""])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.arch") && e.contains("psla-effnet-b99"),
        "{e}"
    );
    // ImageNet weights only where the card says where they go.
    let imagenet = "model.pretrained=\"../weights/efficientnet-lite0-57934424.pth\"";
    assert!(load(&["model.arch=\"psla-resnet50\"", imagenet]).is_ok());
    let e = load(&["model.arch=\"m11\"", imagenet])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.pretrained") && e.contains("\"m11\""),
        "{e}"
    );
    assert!(load(&["model.arch=\"m11\"", "model.pretrained=\"none\""]).is_ok());
}

/// A budget shrunk with `--set train.epochs=N` moves the weight-averaging window with it (the
/// same part of the budget), says so, and leaves a window the user sets alone.
#[test]
fn the_weight_averaging_window_follows_the_budget() {
    let psla = format!("{R}[aggregate]\nwa_start = 16\nwa_end = 30\n")
        .replace("epochs = 2", "epochs = 30");
    let load = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Recipe::from_toml(&psla, Path::new("t.toml"), &sets)
    };
    for (epochs, window) in [
        (30, (16, 30)),
        (10, (6, 10)),
        (2, (2, 2)),
        (1, (1, 1)),
        (60, (31, 60)),
    ] {
        let r = load(&[&format!("train.epochs={epochs}")]).unwrap();
        let got = (r.aggregate.wa_start.unwrap(), r.aggregate.wa_end.unwrap());
        assert_eq!(got, window, "epochs = {epochs}");
        assert_eq!(r.notes.len(), usize::from(epochs != 30), "{:?}", r.notes);
    }
    let r = load(&["train.epochs=2"]).unwrap();
    assert!(
        r.notes[0].contains("epochs 2..2 instead of 16..30") && !r.notes[0].contains("  "),
        "{}",
        r.notes[0]
    );
    // A window the user sets is theirs: checked, not moved.
    let e = load(&[
        "train.epochs=2",
        "aggregate.wa_start=4",
        "aggregate.wa_end=6",
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("wa_start..wa_end must lie within 1..=2"), "{e}");
}

/// Every shipped training recipe loads and validates with `--set train.epochs=1` and `=2`
/// (nothing is trained): a user shrinking a budget never meets the recipe's own settings.
#[test]
fn every_shipped_recipe_takes_a_budget_of_one_or_two_epochs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if text.lines().any(|l| l.trim() == "kind = \"probe\"") {
            continue;
        }
        for epochs in [1, 2] {
            let r = Recipe::load(&path, &[format!("train.epochs={epochs}")])
                .unwrap_or_else(|e| panic!("{} with {epochs} epochs: {e}", path.display()));
            if let (Some(s), Some(e)) = (r.aggregate.wa_start, r.aggregate.wa_end) {
                assert!(1 <= s && s <= e && e <= epochs, "{}", path.display());
            }
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} recipes");
}

/// The loss follows the model card's output kind unless the recipe states one: BCE for sigmoid
/// outputs, cross-entropy for softmax ones.
#[test]
fn the_loss_follows_the_output_kind() {
    let load = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Recipe::from_toml(R, Path::new("t.toml"), &sets).unwrap()
    };
    assert_eq!(load(&[]).train.loss, Loss::Bce);
    assert_eq!(load(&["model.arch=\"m11\""]).train.loss, Loss::Ce);
    assert_eq!(load(&["model.arch=\"slim2d-rb1\""]).train.loss, Loss::Ce);
    assert_eq!(load(&["model.arch=\"hershey-fc\""]).train.loss, Loss::Bce);
    assert_eq!(
        load(&["model.arch=\"m11\"", "train.loss=\"bce\""])
            .train
            .loss,
        Loss::Bce
    );
}

/// `extends` reads a base recipe first and lays the file's own keys over it, table by table;
/// a chain that loops stops with an error naming the file.
#[test]
fn a_recipe_extends_its_base_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.toml"), R).unwrap();
    let variant = dir.path().join("variant.toml");
    std::fs::write(
        &variant,
        "extends = \"base.toml\"\nname = \"variant\"\n[train]\nbatch_size = 7\n",
    )
    .unwrap();
    let base = Recipe::from_toml(R, Path::new("t.toml"), &[]).unwrap();
    let v = Recipe::load(&variant, &[]).unwrap();
    assert_eq!((v.name.as_str(), v.train.batch_size), ("variant", 7));
    // Every other key of [train] and every other table comes from the base.
    assert_eq!(v.train.epochs, base.train.epochs);
    assert_eq!(v.optim, base.optim);
    assert_eq!(v.model, base.model);
    let looped = dir.path().join("loop.toml");
    std::fs::write(&looped, "extends = \"loop.toml\"\n").unwrap();
    let e = Recipe::load(&looped, &[]).unwrap_err().to_string();
    assert!(e.contains("loop.toml") && e.contains("cycle"), "{e}");
}

/// `data.valid = "none"` trains on every training clip and chooses nothing, so nothing may read
/// a validation metric: the plateau schedule and in-epoch validation are refused.
#[test]
fn no_validation_split_refuses_what_would_read_one() {
    let load = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Recipe::from_toml(R, Path::new("t.toml"), &sets)
    };
    let r = load(&["data.valid=\"none\""]).unwrap();
    assert_eq!(r.data.validation(), Validation::None);
    let e = load(&[
        "data.valid=\"none\"",
        "optim.schedule={ kind = \"plateau\", factor = 0.2, patience = 15 }",
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("plateau"), "{e}");
    let e = load(&["data.valid=\"none\"", "train.validate_every=100"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("validate_every"), "{e}");
}
