//! Replay benchmark: generates a synthetic capture with `tapline::gen`, puts warrants of
//! every kind on a share of its subscribers, replays it to files and prints throughput.
//!
//! `cargo bench --bench replay` (sizes from `TAPLINE_BENCH_CALLS`, default 2000 calls, and
//! `TAPLINE_BENCH_CONCURRENT`, default 500).

use std::fs;
use std::time::Instant;

use tapline::gen::{generate, GenConfig};
use tapline::replay::replay;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const KINDS: [&str; 4] = ["pen-register", "trap-and-trace", "pen-trap", "title-iii"];

fn main() {
    let calls = env_or("TAPLINE_BENCH_CALLS", 2_000);
    let concurrent = env_or("TAPLINE_BENCH_CONCURRENT", 500) as u32;
    let tmp = tempfile::tempdir().expect("tempdir");
    let capture = tmp.path().join("bench.pcap");
    let t = Instant::now();
    let file = std::io::BufWriter::new(fs::File::create(&capture).expect("create capture"));
    let stats = generate(&GenConfig::new(calls, concurrent, 7), file).expect("generate");
    let size = fs::metadata(&capture).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated {} calls, {} frames, {:.1} MB in {:.2} s",
        stats.calls,
        stats.frames,
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    // Subscribers are +1{303,720,212,415}555{0100..9999}; 1,000 targets in 303 cover ~2.5%
    // of the parties, across all four order kinds and two agencies.
    let wdir = tmp.path().join("warrants");
    fs::create_dir(&wdir).expect("warrant dir");
    fs::write(
        wdir.join("agencies.toml"),
        "[appliance]\noperator_id = \"BENCH\"\nnetwork_element_id = \"MED-01\"\ncountry = \"US\"\n\
         [[agency]]\nid = \"a\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://127.0.0.1:6100\"\nhi3 = \"tls://127.0.0.1:6101\"\n\
         [[agency]]\nid = \"b\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://127.0.0.1:6200\"\nhi3 = \"tls://127.0.0.1:6201\"\n",
    )
    .expect("agencies");
    for i in 0..1_000u32 {
        let kind = KINDS[(i % 4) as usize];
        let agency = if i % 2 == 0 { "a" } else { "b" };
        fs::write(
            wdir.join(format!("w{i}.toml")),
            format!(
                "liid = \"BENCH-{i}\"\nkind = \"{kind}\"\nagency = \"{agency}\"\ntargets = [\"tel:+1303555{:04}\"]\n\
                 valid_from = 2000-01-01T00:00:00Z\nvalid_until = 2099-01-01T00:00:00Z\ncourt_order = \"b\"\nissuing_authority = \"b\"\n",
                100 + i * 9
            ),
        )
        .expect("warrant");
    }

    let out = tmp.path().join("out");
    let t = Instant::now();
    let (summary, _) = replay(&capture, &wdir, &out).expect("replay");
    let secs = t.elapsed().as_secs_f64();
    let records: u64 = summary.liids.values().map(|c| c.iri_records + c.cc_records).sum();
    println!(
        "replay: {} packets in {:.2} s = {:.0} packets/s, {:.2} Gbit/s, {} records ({:.0}/s), {} calls seen, {} intercepted",
        summary.packets_read,
        secs,
        summary.packets_read as f64 / secs,
        summary.bytes_read as f64 * 8.0 / secs / 1e9,
        records,
        records as f64 / secs,
        summary.calls_seen,
        summary.calls_intercepted
    );
}
