//! JSON readers: PSLA datafiles and AudioSet's `ontology.json`.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::as_file("input.json", data);
    if let Err(e) = tympan_data::Datafile::load(&path) {
        common::names_file(e.to_string(), &path);
    }
    if let Err(e) = tympan_data::Ontology::load(&path) {
        common::names_file(e.to_string(), &path);
    }
});
