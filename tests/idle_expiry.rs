//! Memory stays bounded on a capture whose calls never end: intercepted calls idle for the
//! idle timeout (here 1 h of packet time) are dropped, so the calls tracked at once are bounded
//! by the arrival rate × the timeout, not by the length of the capture.

use std::sync::Arc;
use std::time::Duration;

use tapline::capture::FileReader;
use tapline::gen::{CallSpec, Outcome, Scenario, DEMO_START};
use tapline::mediation::{CinAllocator, Mediator, MediatorConfig, Record};
use tapline::warrant::{Store, WarrantTable};
use tapline::wire::{Decoded, Decoder};
use tapline::Timestamp;

#[test]
fn calls_that_never_end_expire_and_tracking_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("never-ending.pcap");
    // 240 calls from the demo warrants' target, one every 60 s over 4 hours; none sends a BYE.
    let mut s = Scenario::new(3);
    for i in 0..240u64 {
        let at = Timestamp::from_secs_micros(DEMO_START.secs() + i * 60, 0);
        s.call(CallSpec::new("+13035550142", "+17205550100", Outcome::NeverEnds { talk: Duration::from_secs(5) }, at));
    }
    s.write_pcap(std::fs::File::create(&capture).unwrap()).unwrap();
    let warrants = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("warrants");
    let (store, _) = Store::load_dir(&warrants).unwrap();
    // Answered calls idle for an hour are dropped (the default for answered calls is longer).
    let config = MediatorConfig { idle_timeout_ns: 3600 * 1_000_000_000, ..MediatorConfig::default() };
    let mut mediator = Mediator::with_config(Arc::new(WarrantTable::new(store.warrants)), config, CinAllocator::new());
    let mut reader = FileReader::open(&capture).unwrap();
    let mut decoder = Decoder::new();
    let (mut most, mut records) = (0usize, 0u64);
    let mut sink = |_: &Record<'_>| records += 1;
    while let Some(frame) = reader.next_frame().unwrap() {
        if let Decoded::Datagram(dg) = decoder.decode(&frame) {
            mediator.handle(&dg, &mut sink);
        }
        most = most.max(mediator.active_calls());
    }
    let stats = mediator.stats();
    assert_eq!(stats.calls_intercepted, 240);
    assert!(records > 240 * 10, "the calls were intercepted with content: {records}");
    // One call a minute, each kept for its 5 s of talk plus the 1 h idle timeout.
    assert!((60..=62).contains(&most), "{most} calls tracked at once");
    assert!(stats.calls_expired_idle >= 240 - 62, "{} expired", stats.calls_expired_idle);
    assert!(mediator.active_calls() <= 62);
}
