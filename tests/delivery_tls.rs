//! Delivery over real mutual-TLS sockets on loopback, fed with synthetic PS-PDU streams:
//! a LEMF restarted mid-stream, refused certificates both ways, two agencies kept apart.

mod delivery_support;

use std::time::Duration;

use delivery_support::*;
use tapline::delivery::Delivery;

#[test]
fn lemf_restarted_mid_stream_ends_with_every_record_once_and_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["agency-a"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = dir.path().join("lemf");
    let lemf = start_lemf(&rt, &lemf_config(&pki, "agency-a", any_port(), &out));
    let addrs = lemf.local_addrs().to_vec();
    let agencies = vec![agency("agency-a", &addrs, &pki.ca)];
    let delivery = Delivery::start(&appliance(), &agencies, &liids(&[("LIID-A", "agency-a")]), &delivery_options(&dir.path().join("spool"), &pki, Duration::from_secs(3))).unwrap();
    let pdus = synthetic(0, "LIID-A", 4, 250);
    let total = pdus.len() as u64;
    let mut output = delivery.output();
    let feeder = std::thread::spawn(move || {
        feed(&mut output, &pdus, 50, Duration::from_millis(10));
        output
    });
    assert!(wait_until(Duration::from_secs(20), || lemf.stats().records >= 300), "LEMF got records");
    let first = rt.block_on(lemf.stop()).unwrap();
    assert!(first.records < total, "stopped in the middle ({} of {total})", first.records);
    std::thread::sleep(Duration::from_millis(300));
    let lemf = start_lemf(&rt, &lemf_config(&pki, "agency-a", addrs.clone(), &out));
    let output = feeder.join().unwrap();
    assert!(output.error().is_none());
    let reports = delivery.finish(Duration::from_secs(30));
    let stats = rt.block_on(lemf.stop()).unwrap();
    assert_eq!(reports.iter().map(|r| r.unconfirmed).sum::<u64>(), 0, "{reports:?}");
    assert_eq!(reports.iter().map(|r| r.confirmed).sum::<u64>(), total);
    assert_eq!(stats.records, total, "distinct records");
    assert_eq!(stats.gaps, 0);
    assert_eq!(pdu_count(&out.join("hi2.ber")) + pdu_count(&out.join("hi3.ber")), total as usize);
    let lines = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    let fresh = lines.lines().filter(|l| l.contains("\"duplicate\":false")).count();
    assert_eq!(fresh as u64, total);
    if let Some(script) = oracle() {
        oracle_check(&script, &out.join("hi2.ber"));
        oracle_check(&script, &out.join("hi3.ber"));
    }
}

#[test]
fn server_from_another_ca_and_client_without_the_lemf_ca_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = pki(&dir.path().join("good"), &["agency-a"]);
    let rogue = pki(&dir.path().join("rogue"), &["agency-a"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pdus = synthetic(0, "LIID-A", 1, 5);

    // The LEMF presents a certificate of another CA: the appliance refuses it.
    let out = dir.path().join("rogue-server");
    let lemf = start_lemf(&rt, &lemf_config(&rogue, "agency-a", any_port(), &out));
    let mut cfg = lemf_config(&rogue, "agency-a", any_port(), &out);
    cfg.client_ca = good.ca.clone();
    drop(cfg);
    let agencies = vec![agency("agency-a", lemf.local_addrs(), &good.ca)];
    let delivery = Delivery::start(&appliance(), &agencies, &liids(&[("LIID-A", "agency-a")]), &delivery_options(&dir.path().join("s1"), &good, Duration::from_secs(3))).unwrap();
    feed(&mut delivery.output(), &pdus, 0, Duration::ZERO);
    assert!(wait_until(Duration::from_secs(10), || delivery.reports().iter().all(|r| r.connect_failures >= 2)));
    let reports = delivery.finish(Duration::from_millis(300));
    assert_eq!(reports.iter().map(|r| (r.confirmed, r.unconfirmed, r.connects)).collect::<Vec<_>>(), [(0, 5, 0), (0, 5, 0)]);
    assert_eq!(rt.block_on(lemf.stop()).unwrap().records, 0);

    // The appliance's certificate is not from the LEMF's client CA: the LEMF refuses it.
    let out = dir.path().join("strict-server");
    let mut cfg = lemf_config(&good, "agency-a", any_port(), &out);
    cfg.client_ca = rogue.ca.clone();
    let lemf = start_lemf(&rt, &cfg);
    let agencies = vec![agency("agency-a", lemf.local_addrs(), &good.ca)];
    let delivery = Delivery::start(&appliance(), &agencies, &liids(&[("LIID-A", "agency-a")]), &delivery_options(&dir.path().join("s2"), &good, Duration::from_secs(3))).unwrap();
    feed(&mut delivery.output(), &pdus, 0, Duration::ZERO);
    assert!(wait_until(Duration::from_secs(10), || lemf.stats().refused_clients >= 2));
    let reports = delivery.finish(Duration::from_millis(300));
    assert_eq!(reports.iter().map(|r| (r.confirmed, r.unconfirmed)).collect::<Vec<_>>(), [(0, 5), (0, 5)]);
    let stats = rt.block_on(lemf.stop()).unwrap();
    assert_eq!(stats.records, 0);
    assert_eq!(std::fs::metadata(out.join("hi2.ber")).unwrap().len(), 0);
}

#[test]
fn two_agencies_never_receive_each_others_records() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["agency-a", "agency-b"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (out_a, out_b) = (dir.path().join("a"), dir.path().join("b"));
    let lemf_a = start_lemf(&rt, &lemf_config(&pki, "agency-a", any_port(), &out_a));
    let lemf_b = start_lemf(&rt, &lemf_config(&pki, "agency-b", any_port(), &out_b));
    let agencies = vec![
        agency("agency-a", lemf_a.local_addrs(), &pki.ca),
        agency("agency-b", lemf_b.local_addrs(), &pki.ca),
    ];
    let pairs = liids(&[("LIID-A", "agency-a"), ("LIID-B", "agency-b")]);
    let delivery = Delivery::start(&appliance(), &agencies, &pairs, &delivery_options(&dir.path().join("spool"), &pki, Duration::from_secs(3))).unwrap();
    let mut pdus = synthetic(0, "LIID-A", 2, 40);
    pdus.extend(synthetic(1, "LIID-B", 3, 20));
    feed(&mut delivery.output(), &pdus, 0, Duration::ZERO);
    let reports = delivery.finish(Duration::from_secs(20));
    assert_eq!(reports.iter().map(|r| r.unconfirmed).sum::<u64>(), 0);
    let a = rt.block_on(lemf_a.stop()).unwrap();
    let b = rt.block_on(lemf_b.stop()).unwrap();
    assert_eq!(a.per_liid.into_iter().collect::<Vec<_>>(), [("LIID-A".to_string(), 160)]);
    assert_eq!(b.per_liid.into_iter().collect::<Vec<_>>(), [("LIID-B".to_string(), 120)]);
}

/// Records per second delivered and confirmed over TLS on loopback (debug build, shared
/// cores: a rough number). `cargo test --test delivery_tls -- --ignored --nocapture`
#[test]
#[ignore]
fn measure_confirmed_records_per_second() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["agency-a"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lemf = start_lemf(&rt, &lemf_config(&pki, "agency-a", any_port(), &dir.path().join("lemf")));
    let agencies = vec![agency("agency-a", lemf.local_addrs(), &pki.ca)];
    let mut opts = delivery_options(&dir.path().join("spool"), &pki, Duration::from_secs(3));
    opts.sender.tracker.batch_records = 512;
    let delivery = Delivery::start(&appliance(), &agencies, &liids(&[("LIID-A", "agency-a")]), &opts).unwrap();
    let pdus = synthetic(0, "LIID-A", 10, 5000);
    let started = std::time::Instant::now();
    feed(&mut delivery.output(), &pdus, 0, Duration::ZERO);
    let spooled = started.elapsed();
    let reports = delivery.finish(Duration::from_secs(120));
    let elapsed = started.elapsed();
    let confirmed: u64 = reports.iter().map(|r| r.confirmed).sum();
    assert_eq!(confirmed, pdus.len() as u64);
    eprintln!(
        "{confirmed} records spooled in {:.2} s, confirmed in {:.2} s: {:.0} records/s; {reports:?}",
        spooled.as_secs_f64(),
        elapsed.as_secs_f64(),
        confirmed as f64 / elapsed.as_secs_f64()
    );
    rt.block_on(lemf.stop()).unwrap();
}

#[test]
fn a_full_spool_raises_an_alarm_and_holds_the_pipeline_without_dropping() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &["agency-a"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = dir.path().join("lemf");
    let lemf = start_lemf(&rt, &lemf_config(&pki, "agency-a", any_port(), &out));
    let addrs = lemf.local_addrs().to_vec();
    rt.block_on(lemf.stop()).unwrap();
    let agencies = vec![agency("agency-a", &addrs, &pki.ca)];
    let mut opts = delivery_options(&dir.path().join("spool"), &pki, Duration::from_secs(3));
    opts.spool_limit = 16 * 1024;
    let delivery = Delivery::start(&appliance(), &agencies, &liids(&[("LIID-A", "agency-a")]), &opts).unwrap();
    let pdus = synthetic(0, "LIID-A", 2, 100);
    let total = pdus.len() as u64;
    let mut output = delivery.output();
    let feeder = std::thread::spawn(move || {
        feed(&mut output, &pdus, 0, Duration::ZERO);
        output
    });
    std::thread::sleep(Duration::from_millis(700));
    assert!(!feeder.is_finished(), "the pipeline waits while the spool is full");
    let reports = delivery.reports();
    assert!(reports.iter().any(|r| r.spool_full_alarms >= 1), "{reports:?}");
    assert!(reports.iter().map(|r| r.spooled).sum::<u64>() < total);
    let lemf = start_lemf(&rt, &lemf_config(&pki, "agency-a", addrs, &out));
    let output = feeder.join().unwrap();
    assert!(output.error().is_none());
    let reports = delivery.finish(Duration::from_secs(20));
    let stats = rt.block_on(lemf.stop()).unwrap();
    assert_eq!(reports.iter().map(|r| r.confirmed).sum::<u64>(), total);
    assert_eq!((stats.records, stats.gaps), (total, 0));
}
