//! The X2/X3 keep-alive discipline over real mutually authenticated TLS sockets on
//! loopback: the sender's shell against tapline's listener (acks echo, nothing dropped) and
//! against a peer that never acknowledges (dropped after TIME_P2 and reconnected), and a
//! client without a certificate refused.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tapline::delivery::pki::{create_dev_pki, loopback_hosts, DevPki};
use tapline::delivery::tls;
use tapline::x2x3::sender::{self, SenderConfig, SenderStats};
use tapline::x2x3::{Direction, Feed, LinkConfig, Listener, ListenerConfig, PayloadFormat, PduRepr, PduType, Xid};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

fn pki(dir: &std::path::Path) -> DevPki {
    create_dev_pki(dir, &["mf".to_string()], &loopback_hosts()).expect("dev PKI")
}

fn timers(p1_ms: u64, p2_ms: u64) -> LinkConfig {
    LinkConfig {
        keepalive_every: Duration::from_millis(p1_ms),
        ack_within: Duration::from_millis(p2_ms),
        idle_limit: Some(Duration::from_secs(5)),
        ..LinkConfig::default()
    }
}

fn sender_config(pki: &DevPki, addr: SocketAddr, link: LinkConfig) -> SenderConfig {
    SenderConfig {
        addr,
        server_name: ServerName::try_from("localhost").expect("name"),
        tls: tls::client_config(&pki.ca, &pki.appliance.cert, &pki.appliance.key).expect("client TLS"),
        link,
        reconnect_after: Duration::from_millis(50),
    }
}

/// The probes' task, held by the listener for all time (no warrants here).
fn hold_probe_task(feed: &Feed) {
    feed.xids.hold_tasks([(Xid([3; 16]), tapline::Timestamp::from_nanos(0), tapline::Timestamp::from_nanos(u64::MAX))]);
}

/// tapline's listener with TIME_P1 100 ms / TIME_P2 300 ms holding the probes' task, and
/// the pipeline's stand-in: a thread that takes every frame and confirms it at once
/// (joined: how many it took).
fn probe_listener(pki: &DevPki) -> (Listener, std::thread::JoinHandle<usize>) {
    let server = pki.server("mf").expect("server cert");
    let mut config = ListenerConfig::new(vec![loopback()], server.cert.clone(), server.key.clone(), pki.ca.clone());
    config.link = timers(100, 300);
    let (listener, feed) = Listener::start(&config).expect("listener");
    hold_probe_task(&feed);
    (listener, std::thread::spawn(move || feed.take_all().len()))
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn sip_pdu(i: u32) -> Vec<u8> {
    let text = format!("OPTIONS sip:probe{i}@example.net SIP/2.0\r\nCall-ID: {i}\r\nContent-Length: 0\r\n\r\n");
    let mut p = PduRepr::new(PduType::X2, PayloadFormat::Sip, Direction::FromTarget, Xid([3; 16]), text.as_bytes());
    p.sequence = Some(i);
    p.to_vec()
}

#[test]
fn keepalives_flow_while_data_flows_and_every_ack_echoes_its_keepalive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let (listener, consumer) = probe_listener(&pki);
    let addr = listener.local_addrs()[0];
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (tx, rx) = mpsc::channel(64);
    let stats = Arc::new(SenderStats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = rt.spawn(sender::run(sender_config(&pki, addr, timers(100, 300)), rx, stats.clone(), stop_rx));
    // 60 PDUs, one every 20 ms: data flows the whole time.
    rt.block_on(async {
        for i in 0..60 {
            tx.send(sip_pdu(i)).await.expect("queue");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while listener.counters().frames < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = stop_tx.send(true);
    rt.block_on(task).expect("sender ends");
    let counters = listener.stop();
    assert_eq!(consumer.join().expect("consumer"), 60, "every PDU reached the pipeline");
    assert_eq!(counters.x2_pdus, 60);
    let sent = stats.keepalives_sent.load(Ordering::Relaxed);
    let acked = stats.acks_received.load(Ordering::Relaxed);
    assert!(sent >= 8, "a keepalive every 100 ms over 1.2 s while data flowed, got {sent}");
    assert!(acked + 1 >= sent, "every keepalive but possibly the last acknowledged: {acked}/{sent}");
    assert!(counters.keepalives >= acked && counters.keepalives <= sent, "listener saw {} keepalives", counters.keepalives);
    assert_eq!(stats.connects.load(Ordering::Relaxed), 1, "the link never dropped");
    assert_eq!(stats.ack_timeouts.load(Ordering::Relaxed), 0);
}

#[test]
fn a_peer_that_never_acknowledges_is_dropped_after_time_p2_and_reconnected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let server = pki.server("mf").expect("server cert");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(&server.cert, &server.key, &pki.ca).expect("server TLS"));
    let listener = rt.block_on(tokio::net::TcpListener::bind(loopback())).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = accepted.clone();
    // A mediation function that reads everything and answers nothing.
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            count.fetch_add(1, Ordering::Relaxed);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else { return };
                let mut buf = vec![0u8; 4096];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    let (tx, rx) = mpsc::channel(8);
    let stats = Arc::new(SenderStats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let task = rt.spawn(sender::run(sender_config(&pki, addr, timers(100, 200)), rx, stats.clone(), stop_rx));
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.ack_timeouts.load(Ordering::Relaxed) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed();
    let _ = stop_tx.send(true);
    drop(tx);
    rt.block_on(task).expect("sender ends");
    assert_eq!(stats.ack_timeouts.load(Ordering::Relaxed), 2, "dropped twice for a missing ack");
    assert!(stats.connects.load(Ordering::Relaxed) >= 2, "reconnected after the drop");
    assert!(accepted.load(Ordering::Relaxed) >= 2);
    // Each drop comes TIME_P1 + TIME_P2 = 300 ms into a connection, not before.
    assert!(took >= Duration::from_millis(600), "dropped too early: {took:?}");
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let server = pki.server("mf").expect("server cert");
    let config = ListenerConfig::new(vec![loopback()], server.cert.clone(), server.key.clone(), pki.ca.clone());
    let (listener, frames) = Listener::start(&config).expect("listener");
    let addr = listener.local_addrs()[0];
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut roots = rustls::RootCertStore::empty();
    for c in tls::load_certs(&pki.ca).expect("ca") {
        roots.add(c).expect("root");
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let wrote = rt.block_on(async {
        use tokio::io::AsyncWriteExt;
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let Ok(mut s) = tokio_rustls::TlsConnector::from(Arc::new(client)).connect(name, tcp).await else { return false };
        // TLS 1.3: the refusal arrives after the client's handshake is done.
        let _ = s.write_all(&sip_pdu(1)).await;
        let _ = s.flush().await;
        let mut buf = [0u8; 16];
        matches!(tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await, Ok(Ok(n)) if n > 0)
    });
    assert!(!wrote, "nothing answered to an unauthenticated client");
    let deadline = Instant::now() + Duration::from_secs(5);
    while listener.counters().refused_clients == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let counters = listener.stop();
    assert_eq!(counters.refused_clients, 1);
    assert_eq!(counters.connections, 0);
    assert_eq!(frames.frames.try_iter().count(), 0);
}

/// Waits until `done`, for at most 10 s.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_second_connection_with_a_certificate_already_connected_is_refused_until_the_first_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let (listener, consumer) = probe_listener(&pki);
    let addr = listener.local_addrs()[0];
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let start = |pdus: std::ops::Range<u32>| {
        let (tx, rx) = mpsc::channel(64);
        let stats = Arc::new(SenderStats::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = rt.spawn(sender::run(sender_config(&pki, addr, timers(100, 300)), rx, stats.clone(), stop_rx));
        for i in pdus {
            tx.try_send(sip_pdu(i)).expect("queue");
        }
        (tx, stats, stop_tx, task)
    };
    // The first sender is connected and has delivered its PDUs.
    let (_a_tx, _a_stats, a_stop, a_task) = start(0..10);
    wait_until("the first sender's PDUs are in", || listener.counters().frames >= 10);
    // A second one presenting the same certificate (two POIs sharing one would have each
    // other's PDUs dropped as resends): refused while the first is connected.
    let (_b_tx, b_stats, b_stop, b_task) = start(10..20);
    wait_until("the second is refused", || listener.counters().refused_identity_in_use >= 1);
    assert_eq!(listener.counters().connections, 1, "only the first is connected");
    // The first ends: the second gets in on its next attempt.
    let _ = a_stop.send(true);
    rt.block_on(a_task).expect("first sender ends");
    wait_until("the second connects", || listener.counters().connections == 2);
    wait_until("a keepalive of the second is acknowledged", || b_stats.acks_received.load(Ordering::Relaxed) >= 1);
    let _ = b_stop.send(true);
    rt.block_on(b_task).expect("second sender ends");
    let counters = listener.stop();
    assert!(counters.refused_identity_in_use >= 1);
    assert_eq!(counters.connections, 2);
    assert!(consumer.join().expect("consumer") >= 10);
}
