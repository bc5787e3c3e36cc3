//! Delivery against hostile peers over real mutual-TLS sockets on loopback: an agency
//! server that forges keep-alive-responses, one that floods an endless PDU, one that stalls,
//! another agency's server (same CA) on an agency's endpoint, a pinned certificate, and a
//! client flooding the reference LEMF. Nothing a peer does confirms a record it did not
//! receive, and every record stays spooled until a genuine LEMF confirms it.

mod common;
mod delivery_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use delivery_support::*;
use tapline::delivery::pki::DevPki;
use tapline::delivery::{tls, Delivery, InterfaceReport};
use tapline::handover::{encode_keepalive_response, PduHeader};
use tapline::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn sum(reports: &[InterfaceReport], f: impl Fn(&InterfaceReport) -> u64) -> u64 {
    reports.iter().map(f).sum()
}

/// What a hostile agency server does once the TLS handshake is done.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Never reads; after 300 ms sends keep-alive-responses numbered 0, 1, 2, … every
    /// 20 ms, built from a plausible PSHeader (the agency's LIID, the appliance's ids).
    Forge,
    /// Sends a PS-PDU header announcing 2 GiB, then zeros until the write fails.
    Flood,
    /// Neither reads nor writes.
    Stall,
}

#[derive(Default)]
struct HostileStats {
    connections: AtomicU64,
    /// Octets written on the flood connection before the appliance cut it.
    flooded: AtomicU64,
    /// Milliseconds from the first flood octet to the failed write (0 while flooding).
    flood_cut_ms: AtomicU64,
}

/// A TLS server presenting `agency`'s certificate (from the dev PKI) that behaves as `mode`.
fn hostile(rt: &tokio::runtime::Runtime, pki: &DevPki, agency: &str, mode: Mode) -> (SocketAddr, Arc<HostileStats>) {
    let server = pki.server(agency).expect("server cert");
    let config = tls::server_config(&server.cert, &server.key, &pki.ca).expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("address");
    let stats = Arc::new(HostileStats::default());
    let shared = stats.clone();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, stats) = (acceptor.clone(), shared.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                stats.connections.fetch_add(1, Ordering::Relaxed);
                match mode {
                    Mode::Forge => {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        for sequence in 0u32.. {
                            let header = PduHeader {
                                liid: "LIID-A",
                                authorization_country: "US",
                                operator_id: "EXAMPLE-TEL",
                                network_element_id: "MED-01",
                                cin: 0,
                                delivery_country: "US",
                                sequence,
                                ts: Timestamp::from_secs_micros(1_790_000_000, 0),
                            };
                            let mut pdu = Vec::new();
                            encode_keepalive_response(&mut pdu, &header);
                            if tls.write_all(&pdu).await.is_err() || tls.flush().await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    Mode::Flood => {
                        let start = Instant::now();
                        let mut written = 6u64;
                        if tls.write_all(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]).await.is_err() {
                            return;
                        }
                        let block = vec![0u8; 64 * 1024];
                        // At most 512 MiB: far more than any sane buffer.
                        while written < 512 << 20 {
                            if tls.write_all(&block).await.is_err() {
                                break;
                            }
                            written += block.len() as u64;
                            stats.flooded.store(written, Ordering::Relaxed);
                        }
                        stats.flood_cut_ms.store(start.elapsed().as_millis().max(1) as u64, Ordering::Relaxed);
                    }
                    Mode::Stall => {
                        tokio::time::sleep(Duration::from_secs(120)).await;
                        drop(tls);
                    }
                }
            });
        }
    });
    (addr, stats)
}

/// Delivers everything still spooled in `spool` to a genuine LEMF of `agency`; the
/// number of distinct records it received.
fn deliver_to_genuine_lemf(dir: &std::path::Path, pki: &DevPki, agency_id: &str, liid: &str) -> u64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lemf = start_lemf(&rt, &lemf_config(pki, agency_id, any_port(), &dir.join("lemf-genuine")));
    let agencies = vec![agency(agency_id, lemf.local_addrs(), &pki.ca)];
    let options = delivery_options(&dir.join("spool"), pki, Duration::from_secs(3));
    let delivery = Delivery::start(&appliance(), &agencies, &liids(&[(liid, agency_id)]), &options).unwrap();
    let reports = delivery.finish(Duration::from_secs(30));
    assert_eq!(sum(&reports, |r| r.unconfirmed), 0, "{reports:?}");
    rt.block_on(lemf.stop()).unwrap().records
}

#[test]
fn forged_keepalive_responses_confirm_nothing_and_every_record_stays_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["agency-a"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, server) = hostile(&rt, &pki, "agency-a", Mode::Forge);
    let agencies = vec![agency("agency-a", &[addr, addr], &pki.ca)];
    let options = delivery_options(&dir.path().join("spool"), &pki, Duration::from_secs(3));
    let delivery = Delivery::start(&appliance(), &agencies, &liids(&[("LIID-A", "agency-a")]), &options).unwrap();
    let pdus = synthetic(0, "LIID-A", 2, 100);
    let total = pdus.len() as u64;
    let mut output = delivery.output();
    feed(&mut output, &pdus, 0, Duration::ZERO);
    let refused = || sum(&delivery.reports(), |r| r.refused_responses);
    assert!(
        wait_until(Duration::from_secs(20), || refused() >= 4 && server.connections.load(Ordering::Relaxed) >= 4),
        "forged responses refused and the connections dropped: {:?}",
        delivery.reports()
    );
    let reports = delivery.finish(Duration::from_millis(500));
    assert_eq!(sum(&reports, |r| r.confirmed), 0, "a forged response confirmed records: {reports:?}");
    assert_eq!(sum(&reports, |r| r.unconfirmed), total);
    // Every record is still there for the genuine LEMF.
    assert_eq!(deliver_to_genuine_lemf(dir.path(), &pki, "agency-a", "LIID-A"), total);
}

#[test]
fn an_endless_pdu_from_the_agency_is_cut_at_once_and_confirms_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["agency-a"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, server) = hostile(&rt, &pki, "agency-a", Mode::Flood);
    let agencies = vec![agency("agency-a", &[addr, addr], &pki.ca)];
    // A long keep-alive timeout: only the receive-buffer cap can end the flood early.
    let options = delivery_options(&dir.path().join("spool"), &pki, Duration::from_secs(60));
    let delivery = Delivery::start(&appliance(), &agencies, &liids(&[("LIID-A", "agency-a")]), &options).unwrap();
    let pdus = synthetic(0, "LIID-A", 1, 50);
    let total = pdus.len() as u64;
    let mut output = delivery.output();
    feed(&mut output, &pdus, 0, Duration::ZERO);
    assert!(
        wait_until(Duration::from_secs(15), || server.flood_cut_ms.load(Ordering::Relaxed) > 0),
        "the appliance kept reading the endless PDU: {} MiB so far",
        server.flooded.load(Ordering::Relaxed) >> 20
    );
    let flooded = server.flooded.load(Ordering::Relaxed);
    let cut_ms = server.flood_cut_ms.load(Ordering::Relaxed);
    assert!(flooded < 32 << 20, "{} MiB accepted before the cut", flooded >> 20);
    assert!(cut_ms < 10_000, "cut after {cut_ms} ms");
    assert!(wait_until(Duration::from_secs(5), || sum(&delivery.reports(), |r| r.malformed_pdus) >= 1));
    let reports = delivery.finish(Duration::from_millis(500));
    assert_eq!(sum(&reports, |r| r.confirmed), 0, "{reports:?}");
    assert_eq!(sum(&reports, |r| r.unconfirmed), total);
    eprintln!("flood cut after {} KiB, {cut_ms} ms", flooded >> 10);
}

#[test]
fn a_stalled_agency_server_confirms_nothing_and_is_reconnected() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["agency-a"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, server) = hostile(&rt, &pki, "agency-a", Mode::Stall);
    let agencies = vec![agency("agency-a", &[addr, addr], &pki.ca)];
    let options = delivery_options(&dir.path().join("spool"), &pki, Duration::from_millis(800));
    let delivery = Delivery::start(&appliance(), &agencies, &liids(&[("LIID-A", "agency-a")]), &options).unwrap();
    let pdus = synthetic(0, "LIID-A", 2, 50);
    let total = pdus.len() as u64;
    let mut output = delivery.output();
    feed(&mut output, &pdus, 0, Duration::ZERO);
    assert!(
        wait_until(Duration::from_secs(15), || server.connections.load(Ordering::Relaxed) >= 4),
        "dead connections are given up and retried"
    );
    let reports = delivery.finish(Duration::from_millis(500));
    assert_eq!(sum(&reports, |r| r.confirmed), 0, "{reports:?}");
    assert_eq!(sum(&reports, |r| r.unconfirmed), total);
    assert_eq!(deliver_to_genuine_lemf(dir.path(), &pki, "agency-a", "LIID-A"), total);
}

#[test]
fn another_agencys_server_from_the_same_ca_is_refused_and_records_stay_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["fbi-denver", "dea-phoenix"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    // fbi-denver's endpoint is served by a LEMF presenting dea-phoenix's certificate.
    let impostor = start_lemf(&rt, &lemf_config(&pki, "dea-phoenix", any_port(), &dir.path().join("impostor")));
    let agencies = vec![agency("fbi-denver", impostor.local_addrs(), &pki.ca)];
    let options = delivery_options(&dir.path().join("spool"), &pki, Duration::from_secs(3));
    let delivery = Delivery::start(&appliance(), &agencies, &liids(&[("LIID-A", "fbi-denver")]), &options).unwrap();
    let pdus = synthetic(0, "LIID-A", 2, 100);
    let total = pdus.len() as u64;
    let mut output = delivery.output();
    feed(&mut output, &pdus, 0, Duration::ZERO);
    assert!(
        wait_until(Duration::from_secs(15), || sum(&delivery.reports(), |r| r.identity_refused) >= 4),
        "impostor refused: {:?}",
        delivery.reports()
    );
    let reports = delivery.finish(Duration::from_millis(500));
    let stats = rt.block_on(impostor.stop()).unwrap();
    assert_eq!(stats.records, 0, "another agency's server received fbi-denver records");
    assert_eq!(sum(&reports, |r| r.confirmed), 0);
    assert_eq!(sum(&reports, |r| r.unconfirmed), total);
    assert_eq!(deliver_to_genuine_lemf(dir.path(), &pki, "fbi-denver", "LIID-A"), total);
}

#[test]
fn a_pinned_fingerprint_admits_only_that_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["agency-a", "agency-b"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lemf = start_lemf(&rt, &lemf_config(&pki, "agency-a", any_port(), &dir.path().join("lemf")));
    let der = |agency: &str| tls::load_certs(&pki.server(agency).unwrap().cert).unwrap().remove(0);
    let pin = |agency: &str| -> [u8; 32] {
        let hex = tls::fingerprint_hex(der(agency).as_ref());
        std::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
    };
    let start = |pins: Vec<[u8; 32]>, spool: &str| {
        let mut a = agency("agency-a", lemf.local_addrs(), &pki.ca);
        a.pin_sha256 = pins;
        let options = delivery_options(&dir.path().join(spool), &pki, Duration::from_secs(3));
        let delivery = Delivery::start(&appliance(), &[a], &liids(&[("LIID-A", "agency-a")]), &options).unwrap();
        let mut output = delivery.output();
        feed(&mut output, &synthetic(0, "LIID-A", 1, 20), 0, Duration::ZERO);
        delivery
    };
    // Pinned to agency-b's certificate: agency-a's genuine server is refused.
    let wrong = start(vec![pin("agency-b")], "spool-wrong");
    assert!(wait_until(Duration::from_secs(10), || sum(&wrong.reports(), |r| r.identity_refused) >= 2));
    let reports = wrong.finish(Duration::from_millis(300));
    assert_eq!((sum(&reports, |r| r.confirmed), sum(&reports, |r| r.unconfirmed)), (0, 40));
    // Pinned to it (beside a rotated-in second pin): delivered.
    let right = start(vec![pin("agency-b"), pin("agency-a")], "spool-right");
    let reports = right.finish(Duration::from_secs(20));
    assert_eq!((sum(&reports, |r| r.confirmed), sum(&reports, |r| r.identity_refused)), (40, 0), "{reports:?}");
    assert_eq!(rt.block_on(lemf.stop()).unwrap().records, 40);
}

#[test]
fn a_client_flooding_the_lemf_with_an_endless_pdu_is_cut_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["agency-a"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lemf = start_lemf(&rt, &lemf_config(&pki, "agency-a", any_port(), &dir.path().join("lemf")));
    let addr = lemf.local_addrs()[0];
    let client = tls::client_config(&pki.ca, &pki.appliance.cert, &pki.appliance.key).unwrap();
    let (written, elapsed) = rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(client).connect(name, tcp).await.unwrap();
        let start = Instant::now();
        let mut written = 0u64;
        tls.write_all(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]).await.unwrap();
        let block = vec![0u8; 64 * 1024];
        while written < 512 << 20 && start.elapsed() < Duration::from_secs(20) {
            match tokio::time::timeout(Duration::from_secs(2), tls.write_all(&block)).await {
                Ok(Ok(())) => written += block.len() as u64,
                _ => break,
            }
        }
        // The LEMF closed: reading ends.
        let mut rest = [0u8; 64];
        let closed = matches!(tokio::time::timeout(Duration::from_secs(2), tls.read(&mut rest)).await, Ok(Ok(0) | Err(_)));
        assert!(closed, "the LEMF still holds the connection");
        (written, start.elapsed())
    });
    assert!(written < 32 << 20, "the LEMF accepted {} MiB of one PDU", written >> 20);
    assert!(elapsed < Duration::from_secs(10), "cut after {elapsed:?}");
    let stats = rt.block_on(lemf.stop()).unwrap();
    assert_eq!(stats.malformed_connections, 1, "{stats:?}");
    assert_eq!(stats.records, 0);
    eprintln!("LEMF cut the flood after {} KiB, {elapsed:?}", written >> 10);
}

#[cfg(unix)]
#[test]
fn lemf_and_run_refuse_a_private_key_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["agency-a"]);
    let key = &pki.server("agency-a").unwrap().key;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = common::lemf::command(&pki.server("agency-a").unwrap().cert, key, &pki.ca, &dir.path().join("lemf"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "lemf started with an exposed key");
    assert!(stderr.contains("agency-a.key") && stderr.contains("readable by group or others"), "{stderr}");
    // The delivery of `run` refuses the appliance's key the same way.
    std::fs::set_permissions(&pki.appliance.key, std::fs::Permissions::from_mode(0o604)).unwrap();
    let agencies = vec![agency("agency-a", &any_port(), &pki.ca)];
    let options = delivery_options(&dir.path().join("spool"), &pki, Duration::from_secs(3));
    let e = Delivery::start(&appliance(), &agencies, &[], &options).err().expect("refused");
    assert!(e.to_string().contains("appliance.key"), "{e}");
}
