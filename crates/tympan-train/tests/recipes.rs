//! Every recipe shipped in `experiments/` parses and validates, and the PSLA recipes carry the
//! settings of PSLA's `egs/*/run.sh`.

use tympan_train::Recipe;
use tympan_train::schedule::Schedule;

#[test]
fn shipped_recipes_parse() {
    let dir = tympan_tests::workspace_root().join("experiments");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            // Probe recipes (`kind = "probe"`) are xtask's, tested there.
            let text = std::fs::read_to_string(&p).unwrap();
            if text.lines().any(|l| l.trim() == "kind = \"probe\"") {
                continue;
            }
            let r = Recipe::load(&p, &[]).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                Some(r.name.as_str()),
                p.file_stem().and_then(|s| s.to_str())
            );
            n += 1;
        }
    }
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
        assert_eq!(r.train.sampler, sampler);
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
