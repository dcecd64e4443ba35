//! The npy reader (`tympan metrics`, `tympan ensemble`, label enhancement's teacher predictions).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("input.npy");
    if let Err(e) = tympan_audio::npy::parse(data, path) {
        assert!(e.to_string().contains("input.npy"), "{e}");
    }
});
