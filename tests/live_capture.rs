//! Live capture end to end, with each backend (libpcap and AF_PACKET; build with
//! `--features live`, run as root). The test creates a network namespace holding one end of
//! a veth pair; tcpreplay plays a capture into it and tapline captures on the other end.
//! - `tapline run --iface` delivers over mutual TLS the same records per LIID as a replay
//!   of the file, and reports no loss;
//! - the frames a source hands out are the file's frames, byte for byte and in order
//!   (VLAN tags the kernel took off put back), with no drops.
//!
//! Skips with a message when not built with `live`, not root, or tcpreplay or `ip` is
//! missing (under `CI=true` the missing pieces are failures).

#![cfg(feature = "live")]

mod delivery_support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use delivery_support::*;
use tapline::capture::{open_live, CaptureBackend, CaptureSource, FileReader, LiveConfig, Next};
use tapline::run::{run, Source};

fn missing(what: &str) {
    assert!(std::env::var_os("CI").is_none(), "{what} (required under CI=true)");
    eprintln!("SKIPPED live capture test: {what}");
}

/// Why live capture cannot be tested here, if it cannot.
fn unavailable() -> Option<&'static str> {
    if Command::new("tcpreplay").arg("--version").output().is_err() {
        return Some("tcpreplay is not installed");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("iproute2 (`ip`) is not installed");
    }
    if !Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n")) {
        return Some("live capture needs root (CAP_NET_RAW, network namespaces)");
    }
    None
}

fn sh(args: &[&str]) -> Output {
    let output = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// A network namespace holding one end of a veth pair; the other end, in this namespace,
/// is captured. Removed (with the pair) when dropped.
struct Veth {
    netns: String,
    /// The end tapline captures on.
    capture: String,
    /// The end inside the namespace that tcpreplay plays into.
    peer: String,
}

impl Veth {
    fn create(tag: &str) -> Veth {
        let id = std::process::id() % 10_000;
        let veth = Veth {
            netns: format!("tapline-{tag}-{id}"),
            capture: format!("tl{tag}{id}a"),
            peer: format!("tl{tag}{id}b"),
        };
        sh(&["ip", "netns", "add", &veth.netns]);
        sh(&["ip", "link", "add", &veth.capture, "type", "veth", "peer", "name", &veth.peer, "netns", &veth.netns]);
        // No IPv6 on either end: the kernel's own neighbour discovery stays off the wire.
        for (netns, name) in [(None, &veth.capture), (Some(&veth.netns), &veth.peer)] {
            let sysctl = format!("net.ipv6.conf.{name}.disable_ipv6=1");
            let mut args = vec!["sysctl", "-qw", &sysctl];
            let up = ["ip", "link", "set", name.as_str(), "mtu", "9000", "up"];
            let mut up: Vec<&str> = up.to_vec();
            if let Some(netns) = netns {
                args.splice(0..0, ["ip", "netns", "exec", netns.as_str()]);
                up.splice(0..0, ["ip", "netns", "exec", netns.as_str()]);
            }
            sh(&args);
            sh(&up);
        }
        veth
    }

    /// Plays `capture` into the pair at `pps` packets per second.
    fn replay(&self, capture: &Path, pps: u32) -> std::process::Child {
        Command::new("ip")
            .args(["netns", "exec", &self.netns, "tcpreplay", "-q", "-i", &self.peer, "--pps", &pps.to_string()])
            .arg(capture)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

fn live_capture_delivers_what_a_replay_of_the_same_packets_does(backend: CaptureBackend, tag: &str) {
    if let Some(why) = unavailable() {
        return missing(why);
    }
    let veth = Veth::create(tag);
    let Setup { dir, pki, rt, lemfs, warrants, .. } = setup();
    let demo = crate_root().join("fixtures/demo.pcap");
    let (reference, _) = tapline::replay::replay(&demo, &warrants, &dir.path().join("reference")).unwrap();

    let mut options = run_options(&warrants, &dir.path().join("spool"), &pki, demo.clone(), None);
    options.source = Source::Iface(LiveConfig { backend, ..LiveConfig::new(&veth.capture) });
    let stop = Arc::new(AtomicBool::new(false));
    let running = std::thread::spawn({
        let stop = stop.clone();
        move || run(&options, stop)
    });
    std::thread::sleep(Duration::from_secs(2)); // the capture is open
    let played = veth.replay(&demo, 1000).wait_with_output().unwrap();
    assert!(played.status.success(), "tcpreplay: {}", String::from_utf8_lossy(&played.stderr));
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let summary = running.join().unwrap().unwrap();

    assert_eq!((summary.dropped_pipeline_full, summary.dropped_kernel), (0, 0));
    assert_eq!(summary.packets_read, reference.packets_read, "every packet played, nothing else");
    assert_eq!(summary.calls_intercepted, reference.calls_intercepted);
    for (liid, want) in &reference.liids {
        let got = &summary.liids[liid];
        assert_eq!((got.iri_records, got.cc_records), (want.iri_records, want.cc_records), "{liid}");
    }
    assert!(summary.interfaces.iter().all(|i| i.unconfirmed == 0), "{:?}", summary.interfaces);
    let received: u64 = lemfs.into_iter().map(|l| rt.block_on(l.stop()).unwrap().records).sum();
    let expected: u64 = reference.liids.values().map(|c| c.iri_records + c.cc_records).sum();
    assert_eq!(received, expected);
}

#[test]
fn libpcap_live_capture_delivers_what_a_replay_does() {
    live_capture_delivers_what_a_replay_of_the_same_packets_does(CaptureBackend::Pcap, "pc");
}

#[test]
fn af_packet_live_capture_delivers_what_a_replay_does() {
    live_capture_delivers_what_a_replay_of_the_same_packets_does(CaptureBackend::AfPacket, "af");
}

/// Every frame of the file, in order.
fn file_frames(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = FileReader::open(path).unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame().unwrap() {
        frames.push(frame.data.to_vec());
    }
    frames
}

/// Captures with `backend` while the VLAN-tagged external capture is played, and compares.
fn source_hands_out_the_played_frames(backend: CaptureBackend, tag: &str) {
    if let Some(why) = unavailable() {
        return missing(why);
    }
    let file = crate_root().join("../shared/fixtures-external/derived-SIP_DTMF2-vlan100.pcap");
    if !file.exists() {
        return missing("../shared/fixtures-external is absent");
    }
    let want = file_frames(&file);
    let veth = Veth::create(tag);
    let mut source = open_live(&LiveConfig { backend, ..LiveConfig::new(&veth.capture) }).unwrap();
    let mut player = veth.replay(&file, 2000);
    let mut got = Vec::new();
    // Read until tcpreplay has finished and the interface has been quiet for a second (at
    // most a minute: a test that cannot finish reports what it saw).
    let started = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    while quiet_since.is_none_or(|since| since.elapsed() < Duration::from_secs(1))
        && started.elapsed() < Duration::from_secs(60)
    {
        match source.next_frame(None).unwrap() {
            Next::Frame(frame) => {
                got.push(frame.data.to_vec());
                quiet_since = None;
            }
            Next::Boundary => {}
            Next::Idle | Next::End => {
                if quiet_since.is_none() && player.try_wait().unwrap().is_some() {
                    quiet_since = Some(Instant::now());
                }
            }
        }
    }
    let played = player.wait_with_output().unwrap();
    assert!(played.status.success(), "tcpreplay: {}", String::from_utf8_lossy(&played.stderr));
    let stats = source.stats();
    assert_eq!(stats.dropped_kernel, 0, "kernel drops");
    assert_eq!(got.len(), want.len(), "frames captured");
    assert_eq!(stats.frames, want.len() as u64);
    for (i, (got, want)) in got.iter().zip(&want).enumerate() {
        assert_eq!(got, want, "frame {i} differs from the file's");
    }
}

#[test]
fn libpcap_source_hands_out_the_played_frames() {
    source_hands_out_the_played_frames(CaptureBackend::Pcap, "pv");
}

#[test]
fn af_packet_source_hands_out_the_played_frames() {
    source_hands_out_the_played_frames(CaptureBackend::AfPacket, "av");
}
