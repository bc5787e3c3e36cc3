//! X2/X3 ingest from a third-party network element: the PDUs are built here byte by byte
//! from the TS 103 221-2 layout (not with tapline's encoder), sent to `tapline run`'s X2/X3
//! listener over mutually authenticated TLS, and must give the agencies exactly the HI2/HI3
//! a single-box replay of the same traffic gives (a pen register and a Title III on the
//! same target, one call made by the target and one made to it), checked by the ETSI oracle.
//! The PDUs carry the XID of the Title III's task: the mediator matches the pen register in
//! the same SIP. The same PDUs under an XID of no warrant are counted and not ingested.

mod delivery_support;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use delivery_support::*;
use tapline::capture::FileReader;
use tapline::run::{run, Source};
use tapline::wire::{Decoded, Decoder, FlowKey, Transport};
use tapline::warrant::Liid;
use tapline::x2x3::{Listener, ListenerConfig, Xid};
use tapline::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One TLV conditional attribute.
fn tlv(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

/// An X2 (SIP, format 9) or X3 (RTP, format 8) PDU written field by field. Every other PDU
/// uses lippycat's conventions (version `05 00`, 12-octet timestamp) to exercise the
/// lenient reader.
fn hand_pdu(xid: &Xid, index: u32, ts: Timestamp, flow: &FlowKey, payload: &[u8]) -> Vec<u8> {
    let rtp = payload.first().is_some_and(|b| b & 0xc0 == 0x80);
    let lippycat = index % 2 == 1;
    let mut attrs = Vec::new();
    tlv(&mut attrs, 8, &index.to_be_bytes());
    if lippycat {
        let mut t = (ts.secs() as i64).to_be_bytes().to_vec();
        t.extend_from_slice(&(ts.subsec_nanos() as i32).to_be_bytes());
        tlv(&mut attrs, 9, &t);
    } else {
        let mut t = (ts.secs() as u32).to_be_bytes().to_vec();
        t.extend_from_slice(&ts.subsec_nanos().to_be_bytes());
        tlv(&mut attrs, 9, &t);
    }
    match (flow.src, flow.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            tlv(&mut attrs, 10, &s.octets());
            tlv(&mut attrs, 11, &d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            tlv(&mut attrs, 12, &s.octets());
            tlv(&mut attrs, 13, &d.octets());
        }
        _ => panic!("mixed address families"),
    }
    tlv(&mut attrs, 14, &flow.src_port.to_be_bytes());
    tlv(&mut attrs, 15, &flow.dst_port.to_be_bytes());
    tlv(&mut attrs, 16, &[17]);
    tlv(&mut attrs, 6, b"sbc-edge-01"); // network function id, ignored
    let mut out = Vec::new();
    out.extend_from_slice(if lippycat { &[0x05, 0x00] } else { &[0x00, 0x05] });
    out.extend_from_slice(&(if rtp { 2u16 } else { 1u16 }).to_be_bytes());
    out.extend_from_slice(&(40 + attrs.len() as u32).to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&(if rtp { 8u16 } else { 9u16 }).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // direction unknown: the mediator knows better
    out.extend_from_slice(&xid.0);
    out.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
    out.extend_from_slice(&attrs);
    out.extend_from_slice(payload);
    out
}

/// The capture's UDP datagrams as hand-built X2/X3 PDUs under `xid`.
fn pdus_of(pcap: &Path, xid: &Xid) -> Vec<Vec<u8>> {
    let mut reader = FileReader::open(pcap).expect("open");
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    while let Some(frame) = reader.next_frame().expect("frame") {
        if let Decoded::Datagram(dg) = decoder.decode(&frame) {
            assert_eq!(dg.transport, Transport::Udp, "the scenario is UDP only");
            out.push(hand_pdu(xid, out.len() as u32, dg.ts, &dg.flow, dg.payload));
        }
    }
    out
}

#[test]
fn third_party_x2x3_gives_the_same_hi2_and_hi3_as_a_single_box() {
    // The single box: replay of the capture.
    let SingleBox { dir, pki, rt, pcap, warrants, lemfs, lemf_out, replay_out } = single_box(7, &["mf"]);

    // The mediation function: X2/X3 in, HI2/HI3 out.
    let mf = pki.server("mf").expect("mf cert");
    let config = ListenerConfig::new(vec!["127.0.0.1:0".parse().expect("addr")], mf.cert.clone(), mf.key.clone(), pki.ca.clone());
    let (listener, frames) = Listener::start(&config).expect("X2/X3 listener");
    let addr = listener.local_addrs()[0];
    let mut options = run_options(&warrants, &dir.path().join("spool"), &pki, PathBuf::new(), None);
    options.source = Source::Channel(frames);
    let runner = std::thread::spawn(move || run(&options, Arc::new(AtomicBool::new(false))));

    // The network element: its own certificate, the PDUs, one keepalive in the middle.
    let title_iii = tapline::admf::plan::xid_of(&Liid::new("PHX-2026-T3-0007").expect("liid"));
    let pdus = pdus_of(&pcap, &title_iii);
    // A network element tasked by someone else (or a POI late to deactivate): nothing of it
    // may reach an agency.
    let strays = pdus_of(&pcap, &Xid([0x5a; 16]));
    let client = tapline::delivery::tls::client_config(&pki.ca, &pki.appliance.cert, &pki.appliance.key).expect("client TLS");
    let ack = rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let mut s = tokio_rustls::TlsConnector::from(client).connect(name, tcp).await.expect("TLS");
        let (first, rest) = pdus.split_at(pdus.len() / 2);
        for p in first {
            s.write_all(p).await.expect("write");
        }
        let mut keepalive = vec![0x00, 0x05, 0x00, 0x03, 0, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0, 0];
        keepalive.extend_from_slice(&[0; 24]);
        tlv(&mut keepalive, 8, &4242u32.to_be_bytes());
        s.write_all(&keepalive).await.expect("write keepalive");
        s.flush().await.expect("flush");
        let mut ack = vec![0u8; 48];
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut ack)).await.expect("ack in time").expect("ack");
        for (p, stray) in rest.iter().zip(&strays) {
            s.write_all(p).await.expect("write");
            s.write_all(stray).await.expect("write");
        }
        for stray in strays.iter().skip(rest.len()) {
            s.write_all(stray).await.expect("write");
        }
        s.flush().await.expect("flush");
        ack
    });
    assert_eq!(&ack[2..4], &[0, 4], "a Keepalive Ack");
    assert_eq!(&ack[40..48], &[0, 8, 0, 4, 0, 0, 0x10, 0x92], "echoing sequence number 4242");
    assert!(
        wait_until(Duration::from_secs(20), || {
            let c = listener.counters();
            c.frames == pdus.len() as u64 && c.unknown_xid == strays.len() as u64
        }),
        "every PDU ingested: {:?}",
        listener.counters()
    );
    let counters = listener.stop();
    assert_eq!(counters.malformed_pdus + counters.not_ingested + counters.refused_streams, 0, "{counters:?}");
    assert_eq!(counters.unknown_xid, strays.len() as u64, "every stray PDU refused: {counters:?}");
    let summary = runner.join().expect("run thread").expect("run");
    assert!(summary.interfaces.iter().all(|i| i.unconfirmed == 0), "{:?}", summary.interfaces);
    for l in lemfs {
        rt.block_on(l.stop()).expect("LEMF stops");
    }

    let den = &summary.liids["DEN-2026-0042"];
    let phx = &summary.liids["PHX-2026-T3-0007"];
    assert!(den.iri_records > 0 && den.cc_records == 0, "pen register: IRI only");
    assert!(phx.iri_records > 0 && phx.cc_records > 0, "Title III: IRI and CC");
    for agency in AGENCIES {
        let got = decoded_records(&lemf_out.join(agency));
        let want = decoded_records(&replay_out.join(agency));
        assert!(!want.is_empty(), "{agency}: the replay delivers records");
        assert_eq!(got.len(), want.len(), "{agency}: as many records as the single box");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{agency}: record {i} differs from the single box");
        }
    }
    let fbi_cc = std::fs::metadata(lemf_out.join("fbi-denver/hi3.ber")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(fbi_cc, 0, "no content for the pen register");
    if let Some(script) = oracle() {
        for agency in AGENCIES {
            for name in ["hi2.ber", "hi3.ber"] {
                let f = lemf_out.join(agency).join(name);
                if std::fs::metadata(&f).map(|m| m.len() > 0).unwrap_or(false) {
                    oracle_check(&script, &f);
                }
            }
        }
    }
}
