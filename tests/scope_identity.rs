//! Issue 11 item 7 end to end: the identity rule on hand-built captures replayed with
//! `tapline replay` and read back through the independent ETSI oracle. A digit user part
//! is a telephone number only for `+…`, `;user=phone`, `tel:` or one of the carrier's number
//! domains (`[appliance] number_domains`); otherwise `user@host` is the identity, so the
//! tenants of a hosted PBX stay apart.

mod common;

use common::handbuilt::{agencies, ep, replay, warrant, Call, Capture};
use common::oracle;
use std::collections::BTreeSet;

/// One answered call with `rtp` packets each way, signalling between two proxies.
fn call(cap: &mut Capture, c: &Call, media_ip: u8, rtp: u16) {
    let (uac, uas) = (ep(1, 5060), ep(2, 5060));
    let (a, b) = (ep(media_ip, 40_000), ep(media_ip + 1, 40_002));
    for (from_caller, m) in c.setup(a, b) {
        if from_caller { cap.udp(uac, uas, &m) } else { cap.udp(uas, uac, &m) }
    }
    cap.rtp(a, b, 0x1000 + u32::from(media_ip), rtp);
    cap.rtp(b, a, 0x2000 + u32::from(media_ip), rtp);
    for (from_caller, m) in c.release() {
        if from_caller { cap.udp(uac, uas, &m) } else { cap.udp(uas, uac, &m) }
    }
}

fn cins(v: &[(String, u64, String)]) -> BTreeSet<u64> {
    v.iter().map(|r| r.1).collect()
}

#[test]
fn tenants_of_a_hosted_pbx_are_different_targets() {
    if !oracle::require_oracle() {
        return;
    }
    let mut cap = Capture::default();
    // Extension 2001 of tenant A is called, then extension 2001 of tenant B, then a
    // global number 2001 (`+2001` is not the extension either).
    call(&mut cap, &Call::new("tenant-a-1", "sip:1001@tenant-a.example", "sip:2001@tenant-a.example"), 10, 25);
    call(&mut cap, &Call::new("tenant-b-1", "sip:1001@tenant-b.example", "sip:2001@tenant-b.example"), 20, 25);
    call(&mut cap, &Call::new("global-1", "sip:1001@tenant-b.example", "sip:+2001@carrier.example"), 30, 25);
    let out = replay(
        &cap,
        &agencies(&[]),
        &[("T3-A", warrant("T3-A", "title-iii", "a", "sip:2001@tenant-a.example"))],
    );
    let hi2 = out.oracle("a", "hi2.ber");
    let hi3 = out.oracle("a", "hi3.ber");
    assert_eq!(cins(&hi2.iri).len(), 1, "only tenant A's call: {:?}", cins(&hi2.iri));
    assert!(hi2.iri.iter().all(|r| r.0 == "T3-A"));
    assert!(hi2.iri.iter().any(|r| r.2.starts_with("INVITE sip:2001@tenant-a.example SIP/2.0")));
    assert!(hi2.iri.iter().all(|r| !r.2.contains("tenant-b") && !r.2.contains("global-1")), "no other tenant's signalling");
    assert_eq!(hi2.iri.len(), 6, "INVITE, 180, 200, ACK, BYE, 200");
    // Content: exactly tenant A's 25 packets each way, none of the other calls' media.
    assert_eq!(hi3.cc.len(), 50);
    assert_eq!(hi3.cc.iter().map(|r| r.1).collect::<BTreeSet<_>>(), cins(&hi2.iri));
    assert_eq!(out.summary["liids"]["T3-A"]["cc_records"], 50);
}

#[test]
fn digit_users_are_numbers_only_at_the_carriers_number_domains() {
    if !oracle::require_oracle() {
        return;
    }
    let mut cap = Capture::default();
    // 1: the carrier's own domain, no user=phone; 2: a hosted tenant whose extension is the
    // same ten digits; 3: a foreign host saying user=phone; 4: a global number.
    call(&mut cap, &Call::new("own-domain", "sip:+17205550100@carrier.example;user=phone", "sip:3035550142@carrier.example"), 10, 3);
    call(&mut cap, &Call::new("tenant-ext", "sip:1001@pbx.tenant.example", "sip:3035550142@pbx.tenant.example"), 20, 3);
    call(&mut cap, &Call::new("user-phone", "sip:+17205550100@peer.example;user=phone", "sip:303-555-0142@peer.example;user=phone"), 30, 3);
    call(&mut cap, &Call::new("global", "sip:+17205550100@peer.example;user=phone", "sip:+13035550142@peer.example"), 40, 3);
    let warrants = [("TT", warrant("TT", "trap-and-trace", "a", "tel:+13035550142"))];

    let with_domains = replay(&cap, &agencies(&["carrier.example"]), &warrants);
    let iri = with_domains.oracle("a", "hi2.ber").iri;
    let calls: BTreeSet<&str> = ["own-domain", "user-phone", "global"].into_iter().collect();
    let got: BTreeSet<&str> =
        calls.iter().copied().filter(|c| iri.iter().any(|r| r.2.contains(&format!("Call-ID: {c}\r\n")))).collect();
    assert_eq!(got, calls);
    assert_eq!(cins(&iri).len(), 3);
    assert!(iri.iter().all(|r| !r.2.contains("tenant-ext")), "a tenant's extension is not the number");

    // Without number domains the carrier's own digit URIs are SIP users too.
    let without = replay(&cap, &agencies(&[]), &warrants);
    let iri = without.oracle("a", "hi2.ber").iri;
    assert_eq!(cins(&iri).len(), 2);
    assert!(iri.iter().all(|r| !r.2.contains("own-domain") && !r.2.contains("tenant-ext")));
}

#[test]
fn a_bad_number_domain_is_refused_with_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("agencies.toml"), agencies(&["carrier.example", "bad host"])).unwrap();
    let errors = tapline::warrant::check_paths(&[tmp.path().to_path_buf()]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    assert!(text.contains("agencies.toml") && text.contains("appliance.number_domains"), "{text}");
}
