//! symphonia's containers (FLAC, MP3, Ogg/Vorbis, WAV) through `load`, the first byte choosing the
//! extension (the probe's hint).
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use tympan_audio::LoadOptions;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let ext = ["flac", "mp3", "ogg", "wav", "bin"][pick as usize % 5];
    let path = common::as_file(&format!("input.{ext}"), rest);
    if let Err(e) = tympan_audio::load::load(&path, &LoadOptions::at_rate(16_000)) {
        common::names_file(e.to_string(), &path);
    }
});
