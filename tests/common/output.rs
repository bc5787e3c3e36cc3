//! A replay's delivered output, read back for comparison between runs.

use std::fs;
use std::path::Path;

use tapline::replay::{replay_with, ReplayOptions, Summary};

/// Replays `capture` against `warrants` into `out`; every warrant must load.
pub fn replay_all_loaded(capture: &Path, warrants: &Path, out: &Path, options: &ReplayOptions) -> Summary {
    let (summary, refused) = replay_with(capture, warrants, out, options).unwrap();
    assert!(refused.is_empty(), "warrants refused: {refused:?}");
    summary
}

/// Every file under `out/<agency>/`, named `agency/file`, with its bytes, in name order.
pub fn streams(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for agency in fs::read_dir(out).unwrap().flatten().filter(|e| e.path().is_dir()) {
        for f in fs::read_dir(agency.path()).unwrap().flatten() {
            let name = format!("{}/{}", agency.file_name().to_string_lossy(), f.file_name().to_string_lossy());
            files.push((name, fs::read(f.path()).unwrap()));
        }
    }
    files.sort();
    files
}
