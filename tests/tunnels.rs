//! Mirror tunnels end to end: captures the generator wraps in GRE (IP and Ethernet), ERSPAN
//! II/III and VXLAN are checked by tshark (the encapsulation is what a carrier's mirror port
//! sends), and replaying a tunnelled capture intercepts every call exactly as the plain one:
//! the same agencies' streams byte for byte, every frame unwrapped and counted by kind.

use std::fs;
use std::path::Path;
use std::time::Duration;

use tapline::gen::{encapsulate_pcap, generate, tunnel, write_warrant_set, GenConfig, MirrorTunnel};
mod common;

use common::output::{replay_all_loaded, streams};
use tapline::replay::{ReplayOptions, Summary};

fn small_capture(dir: &Path, calls: u64, share: u8) -> (std::path::PathBuf, GenConfig) {
    let capture = dir.join("plain.pcap");
    let mut cfg = GenConfig::new(calls, calls.min(20) as u32, 5);
    cfg.target_share = share;
    cfg.talk = Duration::from_secs(4);
    generate(&cfg, fs::File::create(&capture).unwrap()).unwrap();
    (capture, cfg)
}

fn wrap(plain: &Path, tunnel: MirrorTunnel) -> (std::path::PathBuf, u64) {
    let out = plain.with_file_name(format!("{}.pcap", tunnel.name()));
    let frames = encapsulate_pcap(plain, fs::File::create(&out).unwrap(), tunnel).unwrap();
    (out, frames)
}

#[test]
fn tshark_decodes_every_tunnel_the_generator_writes() {
    if !common::tshark::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (plain, _) = small_capture(dir.path(), 8, 0);
    let plain_protocols: Vec<String> =
        common::tshark::fields(&plain, "frame", &["frame.protocols"]).into_iter().map(|mut f| f.remove(0)).collect();
    assert!(plain_protocols.iter().any(|p| p.contains(":sip")), "the capture has SIP");
    for tunnel in MirrorTunnel::ALL {
        let (wrapped, frames) = wrap(&plain, tunnel);
        let fields = [
            "frame.protocols",
            "gre.key",
            "gre.sequence_number",
            "erspan.version",
            "erspan.spanid",
            "vxlan.vni",
            "_ws.malformed",
            "_ws.expert.severity",
        ];
        let rows = common::tshark::fields(&wrapped, "frame", &fields);
        assert_eq!(rows.len() as u64, frames);
        assert_eq!(rows.len(), plain_protocols.len());
        let prefix = match tunnel {
            MirrorTunnel::GreIp => "eth:ethertype:ip:gre:",
            MirrorTunnel::GreEthernet => "eth:ethertype:ip:gre:eth:ethertype:",
            MirrorTunnel::ErspanII | MirrorTunnel::ErspanIII => "eth:ethertype:ip:gre:erspan:eth:ethertype:",
            MirrorTunnel::Vxlan => "eth:ethertype:ip:udp:vxlan:eth:ethertype:",
        };
        for (i, (row, inner)) in rows.iter().zip(&plain_protocols).enumerate() {
            let name = tunnel.name();
            assert!(row[0].starts_with(prefix), "{name} frame {i}: {}", row[0]);
            // Inside the tunnel tshark sees the same protocols as in the plain frame (GRE-IP
            // carries no Ethernet header or VLAN tag).
            let plain_ip = inner.find(":ip").or_else(|| inner.find(":ipv6")).unwrap();
            assert!(row[0].ends_with(&inner[plain_ip + 1..]), "{name} frame {i}: {} vs {inner}", row[0]);
            assert_eq!(row[6], "", "{name} frame {i}: tshark reports it malformed");
            assert_ne!(row[7], "error", "{name} frame {i}: tshark reports an error");
            let sequence = i.to_string();
            match tunnel {
                MirrorTunnel::GreIp | MirrorTunnel::GreEthernet => {
                    assert_eq!(row[1], format!("0x{:08x}", tunnel::MIRROR_KEY), "{name} key");
                    assert_eq!(row[2], sequence, "{name} sequence");
                }
                MirrorTunnel::ErspanII | MirrorTunnel::ErspanIII => {
                    assert_eq!(row[2], sequence, "{name} sequence");
                    let version = if tunnel == MirrorTunnel::ErspanII { "1" } else { "2" };
                    assert_eq!((row[3].as_str(), row[4].as_str()), (version, "341"), "{name} version, span id");
                }
                MirrorTunnel::Vxlan => assert_eq!(row[5], tunnel::VNI.to_string()),
            }
        }
    }
}

fn replay(capture: &Path, warrants: &Path, out: &Path) -> Summary {
    replay_all_loaded(capture, warrants, out, &ReplayOptions::default())
}

#[test]
fn a_tunnelled_call_is_intercepted_identically_to_the_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, cfg) = small_capture(dir.path(), 60, 40);
    let warrants = dir.path().join("warrants");
    let set = write_warrant_set(&cfg, &warrants).unwrap();
    let reference = replay(&plain, &warrants, &dir.path().join("plain-out"));
    let expected = streams(&dir.path().join("plain-out"));
    assert_eq!(reference.calls_intercepted, set.targeted_dialogs());
    assert!(reference.calls_intercepted > 0 && reference.mediation.cc_records > 0);
    assert!(expected.iter().any(|(n, _)| n.ends_with("hi3.ber")) && expected.iter().any(|(n, _)| n.ends_with("hi2.ber")));

    for tunnel in MirrorTunnel::ALL {
        let name = tunnel.name();
        let (wrapped, frames) = wrap(&plain, tunnel);
        let out = dir.path().join(format!("{name}-out"));
        let summary = replay(&wrapped, &warrants, &out);
        let got = streams(&out);
        assert_eq!(got.iter().map(|(n, _)| n).collect::<Vec<_>>(), expected.iter().map(|(n, _)| n).collect::<Vec<_>>());
        for ((file, bytes), (_, ebytes)) in got.iter().zip(&expected) {
            assert!(bytes == ebytes, "{name}: {file} differs from the plain capture's");
        }
        assert_eq!(summary.calls_intercepted, reference.calls_intercepted, "{name}");
        assert_eq!(summary.calls_seen, reference.calls_seen, "{name}");
        assert_eq!(summary.mediation.cc_records, reference.mediation.cc_records, "{name}");
        assert_eq!(summary.mediation.iri_records, reference.mediation.iri_records, "{name}");
        assert_eq!(summary.malformed, 0, "{name}");
        let t = &summary.decode.tunnels;
        let counted = match tunnel {
            MirrorTunnel::GreIp => t.gre_ip,
            MirrorTunnel::GreEthernet => t.gre_ethernet,
            MirrorTunnel::ErspanII => t.erspan_ii,
            MirrorTunnel::ErspanIII => t.erspan_iii,
            MirrorTunnel::Vxlan => t.vxlan,
        };
        assert_eq!((counted, t.total()), (frames, frames), "{name}: every frame unwrapped, counted as {name}");
    }
}
