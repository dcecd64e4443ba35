//! Dataset adapters on the real files in `../shared/data`.

use tympan_data::datasets::{
    Mapping, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL, csv_manifest, esc50, folder_per_class, fsd50k,
    fsdd, fsdkaggle2018, map_to_audioset, read_mapping, urbansound8k,
};
use tympan_data::{ClassList, Ontology};
use tympan_tests::{require_data, workspace_root};

#[test]
fn fsdd_has_3000_clips_300_in_test() {
    // FSDD's README: takes 0-4 are the test set, "the first 10% of the recordings": with 6
    // speakers x 10 digits that is 300 of 3000 (the issue text says 500, which the data refutes).
    let Some(data) = require_data("fsdd_has_3000_clips_300_in_test") else {
        return;
    };
    let ds = fsdd(&data.join("fsdd")).unwrap();
    assert_eq!(ds.clips.len(), 3000);
    let (test, train) = ds.split_fold(0);
    assert_eq!((test.len(), train.len()), (300, 2700));
    assert!(ds.missing.is_empty());
    let c = ds
        .clips
        .iter()
        .find(|c| c.path.ends_with("7_theo_3.wav"))
        .unwrap();
    assert_eq!((c.labels.clone(), c.fold), (vec![7], 0));
    assert_eq!(ds.clips.iter().filter(|c| c.labels == [3]).count(), 300);
}

#[test]
fn urbansound8k_reports_missing_folds() {
    let Some(data) = require_data("urbansound8k_reports_missing_folds") else {
        return;
    };
    let ds = urbansound8k(&data.join("urbansound8k/UrbanSound8K")).unwrap();
    assert_eq!(ds.clips.len(), 2148);
    assert_eq!(ds.missing.len(), 8732 - 2148);
    assert_eq!(ds.classes[3], "dog_bark");
    let (fold1, rest) = ds.split_fold(1);
    assert_eq!(fold1.len() + rest.len(), 2148);
    assert!(
        fold1
            .iter()
            .all(|c| c.path.parent().unwrap().ends_with("fold1"))
    );
    assert!(ds.clips.iter().all(|c| (1..=3).contains(&c.fold)));
}

#[test]
fn urbansound8k_maps_into_audioset_with_ancestors() {
    let Some(data) = require_data("urbansound8k_maps_into_audioset_with_ancestors") else {
        return;
    };
    let onto = Ontology::load(&data.join("audioset/ontology.json")).unwrap();
    let classes = ClassList::load(&data.join("audioset/class_labels_indices.csv")).unwrap();
    let mapping = Mapping::UrbanSound8k.table().unwrap();
    // The compiled-in table is the file in the crate, read as a user's own table would be.
    let file = workspace_root().join("crates/tympan-data/mappings/urbansound8k_audioset.csv");
    assert_eq!(read_mapping(&file).unwrap(), mapping);
    assert_eq!(mapping.len(), 10);
    let us = urbansound8k(&data.join("urbansound8k/UrbanSound8K")).unwrap();
    let mapped = map_to_audioset(&us, &mapping, &onto, &classes).unwrap();
    assert_eq!(mapped.classes.len(), 527);
    let i = us.clips.iter().position(|c| c.labels == [3]).unwrap(); // dog_bark
    let t = mapped.target(i);
    let on: Vec<&str> = (0..527)
        .filter(|&k| t[k] == 1.0)
        .map(|k| classes.classes()[k].name.as_str())
        .collect();
    for want in ["Bark", "Dog", "Domestic animals, pets", "Animal"] {
        assert!(on.contains(&want), "{want} not in {on:?}");
    }
    // Every clip keeps at least its own node; street_music maps to the root "Music" (no ancestor).
    assert!(mapped.clips.iter().all(|c| !c.labels.is_empty()));
    let music = us.clips.iter().position(|c| c.labels == [9]).unwrap();
    assert_eq!(
        mapped.clips[music].labels,
        vec![classes.index_of("/m/04rlf").unwrap()]
    );
}

/// The FSD50K vocabulary of the small layouts below: three classes.
const FSD50K_VOCABULARY: &str = "0,Accordion,/m/0mkg\n1,Music,/m/04rlf\n2,Bark,/m/05tny_\n";

/// Writes `files` (relative path -> contents) under `root`.
fn layout(root: &std::path::Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[test]
fn esc50_official_layout_and_esc10() {
    let dir = tempfile::tempdir().unwrap();
    let meta = "filename,fold,target,category,esc10,src_file,take\n\
                1-100032-A-0.wav,1,0,dog,True,100032,A\n\
                1-100038-A-14.wav,1,14,chirping_birds,False,100038,A\n\
                2-100648-A-43.wav,2,43,chainsaw,False,100648,A\n\
                5-9032-A-0.wav,5,0,dog,True,9032,A\n";
    layout(
        dir.path(),
        &[
            ("meta/esc50.csv", meta),
            ("audio/1-100032-A-0.wav", ""),
            ("audio/1-100038-A-14.wav", ""),
            ("audio/5-9032-A-0.wav", ""),
        ],
    );
    let ds = esc50(dir.path(), false).unwrap();
    assert_eq!(ds.classes.len(), 50);
    assert_eq!(
        (ds.classes[0].as_str(), ds.classes[43].as_str()),
        ("dog", "chainsaw")
    );
    assert_eq!(ds.clips.len(), 3);
    assert_eq!(ds.missing.len(), 1);
    assert_eq!(ds.clips[1].labels, vec![14]);
    assert_eq!(ds.split_fold(5).0.len(), 1);
    let e10 = esc50(dir.path(), true).unwrap();
    assert_eq!(e10.classes, vec!["dog"]);
    assert_eq!(e10.clips.len(), 2);
    // Malformed row: file and line.
    layout(
        dir.path(),
        &[(
            "meta/esc50.csv",
            "filename,fold,target,category,esc10,src_file,take\nx.wav,9,0,dog,True,1,A\n",
        )],
    );
    let err = esc50(dir.path(), false).unwrap_err().to_string();
    assert!(err.contains("esc50.csv:2") && err.contains("fold"), "{err}");
}

#[test]
fn fsdkaggle2018_keeps_manually_verified() {
    let dir = tempfile::tempdir().unwrap();
    layout(
        dir.path(),
        &[
            (
                "FSDKaggle2018.meta/train_post_competition.csv",
                "fname,label,manually_verified,freesound_id,license\na.wav,Hi-hat,0,1,CC0\nb.wav,Saxophone,1,2,CC0\n",
            ),
            (
                "FSDKaggle2018.meta/test_post_competition_scoring_clips.csv",
                "fname,label,usage,freesound_id,license\nc.wav,Saxophone,Public,3,CC0\n",
            ),
            ("FSDKaggle2018.audio_train/a.wav", ""),
            ("FSDKaggle2018.audio_train/b.wav", ""),
            ("FSDKaggle2018.audio_test/c.wav", ""),
        ],
    );
    let ds = fsdkaggle2018(dir.path()).unwrap();
    assert_eq!(ds.classes, vec!["Hi-hat", "Saxophone"]);
    assert_eq!(
        ds.clips.iter().map(|c| c.verified).collect::<Vec<_>>(),
        vec![false, true, true]
    );
    assert_eq!(
        ds.clips.iter().map(|c| c.fold).collect::<Vec<_>>(),
        vec![SPLIT_TRAIN, SPLIT_TRAIN, SPLIT_TEST]
    );
}

#[test]
fn fsd50k_multi_label_with_official_validation() {
    let dir = tempfile::tempdir().unwrap();
    layout(
        dir.path(),
        &[
            ("FSD50K.ground_truth/vocabulary.csv", FSD50K_VOCABULARY),
            (
                "FSD50K.ground_truth/dev.csv",
                "fname,labels,mids,split\n64760,\"Accordion,Music\",\"/m/0mkg,/m/04rlf\",train\n16399,Bark,/m/05tny_,val\n",
            ),
            (
                "FSD50K.ground_truth/eval.csv",
                "fname,labels,mids\n37199,Music,/m/04rlf\n",
            ),
            ("FSD50K.dev_audio/64760.wav", ""),
            ("FSD50K.dev_audio/16399.wav", ""),
        ],
    );
    let ds = fsd50k(dir.path()).unwrap();
    assert_eq!(ds.clips.len(), 2);
    assert_eq!(ds.missing.len(), 1, "eval clip not on disk");
    assert_eq!(ds.clips[0].labels, vec![0, 1]);
    assert_eq!(ds.target(0), vec![1.0, 1.0, 0.0]);
    assert_eq!(ds.clips[1].fold, SPLIT_VAL);
}

#[test]
fn own_data_folders_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    layout(
        dir.path(),
        &[
            ("folders/dog/a.wav", ""),
            ("folders/dog/sub/b.flac", ""),
            ("folders/cat/c.mp3", ""),
            ("folders/cat/notes.txt", ""),
            (
                "m/manifest.csv",
                "path,label\nclips/x.wav,dog;animal\nclips/y.wav,cat\nclips/gone.wav,dog\n",
            ),
            ("m/clips/x.wav", ""),
            ("m/clips/y.wav", ""),
        ],
    );
    let f = folder_per_class(&dir.path().join("folders")).unwrap();
    assert_eq!(f.classes, vec!["cat", "dog"]);
    assert_eq!(f.clips.len(), 3);
    let m = csv_manifest(&dir.path().join("m/manifest.csv")).unwrap();
    assert_eq!(m.classes, vec!["dog", "animal", "cat"]);
    assert_eq!(m.clips[0].labels, vec![0, 1]);
    assert_eq!(m.missing.len(), 1);
}

#[test]
fn own_folder_with_train_val_test_sub_folders() {
    let dir = tempfile::tempdir().unwrap();
    layout(
        dir.path(),
        &[
            ("f/train/dog/a.wav", ""),
            ("f/train/cat/b.wav", ""),
            ("f/train/cat/deep/c.WAV", ""),
            ("f/val/dog/d.wav", ""),
            ("f/test/cat/e.ogg", ""),
            ("f/test/dog/f.flac", ""),
        ],
    );
    let f = folder_per_class(&dir.path().join("f")).unwrap();
    assert_eq!(f.name, tympan_data::datasets::FOLDER_SPLITS);
    assert_eq!(f.classes, vec!["cat", "dog"]);
    let got: Vec<(String, Vec<usize>, u32)> = f
        .clips
        .iter()
        .map(|c| {
            let name = c.path.file_name().unwrap().to_string_lossy().into_owned();
            (name, c.labels.clone(), c.fold)
        })
        .collect();
    let want = [
        ("b.wav", 0, SPLIT_TRAIN),
        ("c.WAV", 0, SPLIT_TRAIN),
        ("a.wav", 1, SPLIT_TRAIN),
        ("d.wav", 1, SPLIT_VAL),
        ("e.ogg", 0, SPLIT_TEST),
        ("f.flac", 1, SPLIT_TEST),
    ];
    let want: Vec<(String, Vec<usize>, u32)> = want
        .iter()
        .map(|(n, k, s)| (n.to_string(), vec![*k], *s))
        .collect();
    assert_eq!(got, want);
    // A test class that train/ lacks is an error naming its folder.
    layout(dir.path(), &[("f/test/bird/g.wav", "")]);
    let e = folder_per_class(&dir.path().join("f"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bird") && e.contains("train"), "{e}");
}

#[test]
fn esc50_mapping_table_covers_all_50_classes() {
    let Some(data) = require_data("esc50_mapping_table_covers_all_50_classes") else {
        return;
    };
    let onto = Ontology::load(&data.join("audioset/ontology.json")).unwrap();
    let classes = ClassList::load(&data.join("audioset/class_labels_indices.csv")).unwrap();
    let mapping = Mapping::Esc50.table().unwrap();
    assert_eq!(mapping.len(), 50);
    for (cat, mid) in &mapping {
        assert!(
            onto.node(mid).is_some() && classes.index_of(mid).is_some(),
            "{cat} -> {mid}"
        );
    }
    // The adapter's class names map through it: a synthetic ESC-50 with one dog clip.
    let dir = tempfile::tempdir().unwrap();
    layout(
        dir.path(),
        &[
            (
                "meta/esc50.csv",
                "filename,fold,target,category,esc10,src_file,take\n1-1-A-0.wav,1,0,dog,True,1,A\n",
            ),
            ("audio/1-1-A-0.wav", ""),
        ],
    );
    let ds = esc50(dir.path(), true).unwrap();
    let mapped = map_to_audioset(&ds, &mapping, &onto, &classes).unwrap();
    let names: Vec<&str> = mapped.clips[0]
        .labels
        .iter()
        .map(|&k| classes.classes()[k].name.as_str())
        .collect();
    assert!(
        names.contains(&"Dog") && names.contains(&"Animal"),
        "{names:?}"
    );
}

/// PSLA's FSD50K datafiles (`egs/fsd50k/prep_fsd.py`) from a small official layout holding real
/// FSDD clips: the dev list split by its `split` column, the eval list, mids as labels, the class
/// list PSLA's loader and balanced sampler read, and clips that decode.
#[test]
fn fsd50k_datafiles_follow_psla_from_the_official_layout() {
    use tympan_data::fsd50k::fsd50k_datafiles;
    use tympan_data::{Datafile, psla_sample_weights};
    let Some(data) = require_data("fsd50k_datafiles_follow_psla_from_the_official_layout") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    layout(
        dir.path(),
        &[
            ("FSD50K.ground_truth/vocabulary.csv", FSD50K_VOCABULARY),
            (
                "FSD50K.ground_truth/dev.csv",
                "fname,labels,mids,split\n\
                 64760,\"Accordion,Music\",\"/m/0mkg,/m/04rlf\",train\n\
                 16399,Bark,/m/05tny_,val\n\
                 5,Music,/m/04rlf,train\n",
            ),
            (
                "FSD50K.ground_truth/eval.csv",
                "fname,labels,mids\n37199,Music,/m/04rlf\n404,Bark,/m/05tny_\n",
            ),
        ],
    );
    let fsdd = data.join("fsdd/recordings");
    for (fname, real) in [
        ("dev_audio/64760", "0_jackson_0"),
        ("dev_audio/16399", "1_theo_3"),
        ("dev_audio/5", "7_theo_3"),
        ("eval_audio/37199", "9_nicolas_10"),
    ] {
        let to = dir.path().join(format!("FSD50K.{fname}.wav"));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(fsdd.join(format!("{real}.wav")), &to).unwrap();
    }
    let d = fsd50k_datafiles(dir.path()).unwrap();
    let wav = |split: &str, f: &str| {
        dir.path()
            .join(format!("FSD50K.{split}_audio/{f}.wav"))
            .to_string_lossy()
            .into_owned()
    };
    let entries = |df: &Datafile| {
        df.data
            .iter()
            .map(|e| (e.wav.clone(), e.labels.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        entries(&d.train),
        [
            (wav("dev", "64760"), "/m/0mkg,/m/04rlf".to_string()),
            (wav("dev", "5"), "/m/04rlf".to_string()),
        ]
    );
    assert_eq!(
        entries(&d.val),
        [(wav("dev", "16399"), "/m/05tny_".to_string())]
    );
    assert_eq!(
        d.eval.data.len(),
        2,
        "listed clips stay listed, as PSLA's script keeps them"
    );
    assert_eq!(d.missing, [dir.path().join("FSD50K.eval_audio/404.wav")]);
    // Written under PSLA's names and read back by the loaders the recipe uses.
    let written = d.save(dir.path()).unwrap();
    assert_eq!(written.len(), 4);
    let train = Datafile::load(&dir.path().join("datafiles/fsd50k_tr_full.json")).unwrap();
    assert_eq!(train, d.train);
    let classes = ClassList::load(&dir.path().join("fsd50k_class_labels_indices.csv")).unwrap();
    assert_eq!(classes.len(), 3);
    assert_eq!(classes.index_of("/m/05tny_"), Some(2));
    // PSLA's balanced weights: Accordion and Bark once, Music twice in the training list.
    let w = psla_sample_weights(&train, &classes).unwrap();
    let (one, two) = (1000.0 / 1.01, 1000.0 / 2.01);
    assert!(
        (w[0] - (one + two)).abs() < 1e-9 && (w[1] - two).abs() < 1e-9,
        "{w:?}"
    );
    // The listed clips are real audio.
    for e in d.train.data.iter().chain(&d.val.data) {
        let x =
            tympan_audio::load::load(std::path::Path::new(&e.wav), &Default::default()).unwrap();
        assert!(x.samples.len() > 1000, "{}", e.wav);
    }
    // A mid outside the vocabulary names the file and the line.
    layout(
        dir.path(),
        &[(
            "FSD50K.ground_truth/eval.csv",
            "fname,labels,mids\n37199,Music,/m/04rlf\n9,Music,/m/01yrx\n",
        )],
    );
    let err = fsd50k_datafiles(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("eval.csv") && err.contains("/m/01yrx"),
        "{err}"
    );
}
