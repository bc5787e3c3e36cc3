//! How the sender batches over a real mutual-TLS socket: an agency server that answers
//! every keep-alive (as the reference LEMF does) and measures what came before each one.
//! Every written batch of at most 64 KiB of records carries its own confirming keep-alive,
//! and every record is confirmed once.

mod common;
mod delivery_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use delivery_support::*;
use tapline::delivery::pki::DevPki;
use tapline::delivery::{tls, Delivery, DeliveryOptions, SenderConfig};
use tapline::handover::{decode_pdu, split_stream, Payload};
use tapline::lemf::keepalive_response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server saw: record octets between consecutive keep-alives, and records.
#[derive(Default)]
struct Seen {
    gaps: Mutex<Vec<usize>>,
    records: AtomicU64,
    largest_record: AtomicU64,
}

/// A TLS server presenting `agency`'s certificate that reads records and answers each
/// keep-alive with a response echoing its PSHeader (as the reference LEMF builds it).
fn answering_server(rt: &tokio::runtime::Runtime, pki: &DevPki, agency: &str) -> (std::net::SocketAddr, Arc<Seen>) {
    let server = pki.server(agency).expect("server cert");
    let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(&server.cert, &server.key, &pki.ca).expect("config"));
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("address");
    let seen = Arc::new(Seen::default());
    let shared = seen.clone();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, seen) = (acceptor.clone(), shared.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let (mut buf, mut block, mut since_keepalive) = (Vec::new(), vec![0u8; 64 * 1024], 0usize);
                loop {
                    let n = match tls.read(&mut block).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&block[..n]);
                    let (mut used, mut answers) = (0, Vec::new());
                    for pdu in split_stream(&buf) {
                        let Ok(pdu) = pdu else { break };
                        used += pdu.len();
                        let decoded = decode_pdu(pdu).expect("the appliance sends decodable PDUs");
                        if decoded.payload != Payload::KeepAlive {
                            since_keepalive += pdu.len();
                            seen.records.fetch_add(1, Ordering::Relaxed);
                            seen.largest_record.fetch_max(pdu.len() as u64, Ordering::Relaxed);
                            continue;
                        }
                        if since_keepalive > 0 {
                            seen.gaps.lock().unwrap().push(since_keepalive);
                        }
                        since_keepalive = 0;
                        keepalive_response(&mut answers, &decoded.header);
                    }
                    buf.drain(..used);
                    if !answers.is_empty() && (tls.write_all(&answers).await.is_err() || tls.flush().await.is_err()) {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[test]
fn every_written_batch_of_at_most_64_kib_carries_its_own_keepalive() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["agency-a"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, seen) = answering_server(&rt, &pki, "agency-a");
    let agencies = vec![agency("agency-a", &[addr, addr], &pki.ca)];
    let options = DeliveryOptions {
        spool: dir.path().join("spool"),
        client_cert: pki.appliance.cert.clone(),
        client_key: pki.appliance.key.clone(),
        spool_limit: 64 << 20,
        sender: SenderConfig::default(),
    };
    let delivery = Delivery::start(&appliance(), &agencies, &liids(&[("LIID-A", "agency-a")]), &options).unwrap();
    // 2,000 IRI and 2,000 CC records: several batches on each interface, yet fewer than
    // the 16 keep-alives allowed in flight, so every batch may carry one.
    let pdus = synthetic(0, "LIID-A", 4, 500);
    let total = pdus.len() as u64;
    // Every record is spooled before the senders may read one (the publish gate X2/X3
    // ingest uses): a sender racing the feed would send slivers, each with a keep-alive of
    // its own, and run out of keep-alives in flight, which is not what this test is about.
    let interfaces = tapline::delivery::queue::checkpointed(delivery.queues());
    interfaces.iter().for_each(|q| q.hold_unpublished());
    let mut output = delivery.output();
    feed(&mut output, &pdus, 0, Duration::ZERO);
    interfaces.iter().for_each(|q| q.publish(q.end()));
    assert!(
        wait_until(Duration::from_secs(60), || delivery.reports().iter().map(|r| r.confirmed).sum::<u64>() == total),
        "every record confirmed: {:?}",
        delivery.reports()
    );
    let reports = delivery.finish(Duration::from_secs(5));
    assert_eq!(reports.iter().map(|r| r.unconfirmed).sum::<u64>(), 0);
    assert_eq!(seen.records.load(Ordering::Relaxed), total, "each record sent once");
    let gaps = seen.gaps.lock().unwrap().clone();
    let largest = seen.largest_record.load(Ordering::Relaxed) as usize;
    let bytes: usize = gaps.iter().sum();
    assert!(gaps.len() >= bytes / (64 << 10), "{} keep-alives for {bytes} octets of records", gaps.len());
    // A batch is at most 64 KiB, or one record when a single record is bigger.
    let over: Vec<&usize> = gaps.iter().filter(|&&g| g > (64 << 10).max(largest)).collect();
    assert!(over.is_empty(), "batches over 64 KiB without a keep-alive: {over:?} (largest record {largest})");
}
