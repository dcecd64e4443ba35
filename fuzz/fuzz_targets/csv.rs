//! CSV readers: Google's segment lists, `class_labels_indices.csv`, a user's CSV manifest.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::as_file("input.csv", data);
    if let Err(e) = tympan_data::read_segments(&path) {
        common::names_file(e.to_string(), &path);
    }
    if let Err(e) = tympan_data::ClassList::load(&path) {
        common::names_file(e.to_string(), &path);
    }
    if let Err(e) = tympan_data::datasets::csv_manifest(&path) {
        common::names_file(e.to_string(), &path);
    }
});
