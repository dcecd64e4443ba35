//! Every recipe shipped in `experiments/` parses and validates, and the PSLA recipes carry the
//! settings of PSLA's `egs/*/run.sh`.

use tympan_train::Recipe;
use tympan_train::recipe::Experiment;
use tympan_train::schedule::Schedule;

#[test]
fn shipped_recipes_parse() {
    let dir = tympan_tests::workspace_root().join("experiments");
    let (mut n, mut probes) = (0, 0);
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            // Every recipe is one of the experiment kinds, each named as its file.
            let name = match Experiment::load(&p, &[]).unwrap_or_else(|e| panic!("{e}")) {
                Experiment::Train(r) => {
                    n += 1;
                    // The input contract comes from the model card: every non-PSLA recipe runs
                    // at its model's rate (PSLA recipes at the file's own rate unless stated).
                    let card = tympan_models::info(&r.model.arch).unwrap().input;
                    assert_eq!(r.features.input, card.input, "{}", r.name);
                    if card.input != tympan_train::recipe::InputKind::Fbank {
                        assert_eq!(r.data.sample_rate, card.sample_rate, "{}", r.name);
                    }
                    r.name
                }
                Experiment::Probe(r) => {
                    probes += 1;
                    r.name
                }
            };
            assert_eq!(Some(name.as_str()), p.file_stem().and_then(|s| s.to_str()));
        }
    }
    assert_eq!(probes, 1, "hershey-probe is the one probe recipe");
    // A stated rate wins over the card's.
    let m34 = Recipe::load(
        &dir.join("fsdd-m34-res.toml"),
        &["data.sample_rate=16000".to_string()],
    )
    .unwrap();
    assert_eq!(m34.data.sample_rate, Some(16_000));
    assert!(n >= 7, "{n} recipes");
    // (recipe, lr, batch, epochs, decay from, sampler, WA, frames)
    for (name, lr, batch, epochs, from, sampler, wa, frames) in [
        ("psla-full", 1e-4, 100, 30, 10, "balanced", (16, 30), 1056),
        (
            "psla-balanced",
            1e-3,
            100,
            60,
            35,
            "uniform",
            (41, 60),
            1056,
        ),
        ("psla-fsd50k", 5e-4, 24, 40, 10, "balanced", (21, 40), 3000),
    ] {
        let r = Recipe::load(&dir.join(format!("{name}.toml")), &[]).unwrap();
        assert_eq!(r.optim.lr, lr, "{name}");
        assert_eq!(
            (r.train.batch_size, r.train.epochs),
            (batch, epochs),
            "{name}"
        );
        assert_eq!(
            r.optim.schedule,
            Schedule::Multistep {
                from_epoch: from,
                every: 5,
                gamma: 0.5
            }
        );
        assert_eq!(r.train.sampler.as_str(), sampler);
        assert_eq!(
            (r.aggregate.wa_start, r.aggregate.wa_end),
            (Some(wa.0), Some(wa.1))
        );
        assert_eq!(r.features.target_length, frames);
        assert_eq!(
            (
                r.train.freqm,
                r.train.timem,
                r.train.mixup,
                r.train.mixup_alpha
            ),
            (48, 192, 0.5, 10.0)
        );
        assert_eq!(r.model.arch, "psla-effnet-b2");
        assert_eq!(r.optim.warmup_iters, 1000);
    }
}
