//! The 16-bit PCM WAV fast path (and, when it declines, symphonia's WAV reader).
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use tympan_audio::LoadOptions;

fuzz_target!(|data: &[u8]| {
    let path = common::as_file("input.wav", data);
    if let Err(e) = tympan_audio::load::load(&path, &LoadOptions::default()) {
        common::names_file(e.to_string(), &path);
    }
});
