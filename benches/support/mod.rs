//! What the capture benches share: a synthetic capture written into a directory.

use std::fs;
use std::path::{Path, PathBuf};

use tapline::gen::{generate, GenConfig};

/// Writes `dir/bench.pcap` generated with `config` and says how large it came out.
pub fn generated(dir: &Path, config: &GenConfig) -> PathBuf {
    let path = dir.join("bench.pcap");
    let file = std::io::BufWriter::new(fs::File::create(&path).expect("create capture"));
    let stats = generate(config, file).expect("generate");
    println!("generated {} calls, {} frames", stats.calls, stats.frames);
    path
}
