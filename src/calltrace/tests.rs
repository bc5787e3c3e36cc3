//! Unit tests of the sans-IO tracker and the configuration, with literal SIP messages.

use std::path::Path;

use super::*;
use crate::sip;
use crate::warrant::Numbering;
use crate::Timestamp;

const CONFIG: &str = r#"
domains = ["carrier.example"]
number_prefixes = ["+1303555"]
default_charge_cents = 500
[[area]]
name = "denver"
prefixes = ["1303"]
charge_cents = 650
[[area]]
name = "denver-downtown"
prefixes = ["1303555"]
charge_cents = 700
"#;

const DIRECTORY: &str = r#"
[[subscriber]]
number = "+13035550177"
name = "Pat Example"
address = "1 Main St, Denver CO"
"#;

fn config() -> Config {
    let mut c = Config::from_toml(CONFIG, Path::new("test.toml"), Path::new("."), &Numbering::default()).unwrap();
    c.directory = Directory::from_toml(DIRECTORY, Path::new("dir.toml"), &Numbering::default()).unwrap();
    c
}

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs_micros(1_793_628_000 + secs, 0)
}

fn uri(user: &str) -> String {
    format!("sip:{user}@carrier.example;user=phone")
}

/// An initial INVITE from `from` (a From URI) to `to` with extra header lines.
fn invite(call_id: &str, ruri_user: &str, from: &str, extra: &str) -> String {
    format!(
        "INVITE {} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <{from}>;tag=a\r\n\
         To: <{}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n",
        uri(ruri_user),
        uri(ruri_user)
    )
}

fn response(call_id: &str, status: u16, method: &str) -> String {
    format!(
        "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=a\r\n\
         To: <sip:c@d>;tag=b\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn feed(t: &mut Tracker, text: &str, secs: u64) -> Option<TraceEvent> {
    let msg = sip::parse(text.as_bytes()).unwrap();
    t.on_sip(&msg, at(secs))
}

/// Subscriber 0142 dials *57.
fn star57(t: &mut Tracker, call_id: &str, secs: u64) -> TraceEvent {
    feed(t, &invite(call_id, "*57", &uri("+13035550142"), ""), secs).expect("a trace")
}

/// The Center's record of a `*57` (every line here may trace).
fn cic(ev: &TraceEvent) -> &TraceRecord {
    ev.cic.as_ref().expect("a record for the Center")
}

fn rang_call(t: &mut Tracker, call_id: &str, caller: &str, secs: u64) {
    assert!(feed(t, &invite(call_id, "+13035550142", &uri(caller), ""), secs).is_none());
    feed(t, &response(call_id, 100, "INVITE"), secs);
    feed(t, &response(call_id, 180, "INVITE"), secs + 1);
}

#[test]
fn answered_call_is_traced_with_directory_listing_and_charge() {
    let mut t = Tracker::new(config());
    rang_call(&mut t, "c1", "+13035550177", 0);
    feed(&mut t, &response("c1", 200, "INVITE"), 3);
    let ev = star57(&mut t, "t1", 60);
    assert_eq!(cic(&ev).result, TraceResult::Success);
    assert_eq!(cic(&ev).trace_id, "CT-00000001");
    assert_eq!(cic(&ev).subscriber, "13035550142");
    assert_eq!(cic(&ev).calling_number.as_deref(), Some("13035550177"));
    assert_eq!(cic(&ev).caller_name.as_deref(), Some("Pat Example"));
    assert_eq!(cic(&ev).caller_address.as_deref(), Some("1 Main St, Denver CO"));
    let call = cic(&ev).traced_call.as_ref().unwrap();
    assert_eq!(call.call_id, "c1");
    assert_eq!(call.time, at(0).to_rfc3339());
    // Longest prefix wins: 1303555 (700) over 1303 (650).
    assert_eq!(cic(&ev).charge_cents, 700);
    let charge = ev.charge.clone().unwrap();
    assert_eq!((charge.area.as_deref(), charge.charge_cents), (Some("denver-downtown"), 700));
    assert_eq!(ev.outcome.charge_cents, 700);
    assert_eq!(ev.outcome.result, TraceResult::Success);
    assert_eq!((cic(&ev).successful_traces, cic(&ev).threshold_reached), (1, false));
}

#[test]
fn unlisted_caller_has_number_but_no_name() {
    let mut t = Tracker::new(config());
    rang_call(&mut t, "c1", "+17205550101", 0);
    feed(&mut t, &response("c1", 487, "INVITE"), 9);
    let ev = star57(&mut t, "t1", 20);
    assert_eq!(cic(&ev).result, TraceResult::Success);
    assert_eq!(cic(&ev).calling_number.as_deref(), Some("17205550101"));
    assert_eq!(cic(&ev).caller_name, None);
}

#[test]
fn never_rang_is_a_free_failure() {
    let mut t = Tracker::new(config());
    feed(&mut t, &invite("c1", "+13035550142", &uri("+13035550177"), ""), 0);
    feed(&mut t, &response("c1", 100, "INVITE"), 0);
    feed(&mut t, &response("c1", 486, "INVITE"), 1);
    // A later 180 of another transaction must not count.
    feed(&mut t, &response("c1", 180, "INVITE"), 2);
    let ev = star57(&mut t, "t1", 10);
    assert_eq!(cic(&ev).result, TraceResult::Failure);
    assert_eq!(cic(&ev).failure_reason, Some(FailureReason::NeverRang));
    assert_eq!(cic(&ev).calling_number, None);
    assert_eq!(cic(&ev).charge_cents, 0);
    assert!(ev.charge.is_none());
    assert_eq!((ev.outcome.result, ev.outcome.charge_cents), (TraceResult::Failure, 0));
}

#[test]
fn no_incoming_call_and_expiry() {
    let mut t = Tracker::new(config());
    let ev = star57(&mut t, "t0", 0);
    assert_eq!(cic(&ev).failure_reason, Some(FailureReason::NoIncomingCall));
    assert!(cic(&ev).traced_call.is_none());
    rang_call(&mut t, "c1", "+13035550177", 10);
    let day = 24 * 3600;
    assert_eq!(t.subscribers_tracked(), 1);
    let ev = star57(&mut t, "t1", 10 + day + 1);
    assert_eq!(cic(&ev).failure_reason, Some(FailureReason::NoIncomingCall));
    assert_eq!(t.subscribers_tracked(), 0, "the sweep forgot the old call");
}

#[test]
fn anonymous_unavailable_fails_private_succeeds() {
    let mut t = Tracker::new(config());
    rang_call(&mut t, "c1", "anonymous", 0);
    let ev = star57(&mut t, "t1", 10);
    assert_eq!(cic(&ev).failure_reason, Some(FailureReason::CallerUnavailable));
    let private = "Privacy: id\r\nP-Asserted-Identity: <sip:+13035550177@carrier.example;user=phone>\r\n";
    feed(&mut t, &invite("c2", "+13035550142", "sip:anonymous@anonymous.invalid", private), 20);
    feed(&mut t, &response("c2", 183, "INVITE"), 21);
    let ev = star57(&mut t, "t2", 30);
    assert_eq!(cic(&ev).result, TraceResult::Success);
    assert_eq!(cic(&ev).calling_number.as_deref(), Some("13035550177"));
    assert!(cic(&ev).traced_call.as_ref().unwrap().caller_private);
}

#[test]
fn call_waiting_call_is_the_last_incoming_call() {
    let mut t = Tracker::new(config());
    rang_call(&mut t, "first", "+13035550177", 0);
    feed(&mut t, &response("first", 200, "INVITE"), 2);
    rang_call(&mut t, "waiting", "+17205550101", 10);
    // A retransmission of the first INVITE does not bring it back.
    feed(&mut t, &invite("first", "+13035550142", &uri("+13035550177"), ""), 11);
    let ev = star57(&mut t, "t1", 40);
    assert_eq!(cic(&ev).traced_call.as_ref().unwrap().call_id, "waiting");
    assert_eq!(cic(&ev).calling_number.as_deref(), Some("17205550101"));
}

#[test]
fn forwarded_call_is_the_last_incoming_call_of_both_subscribers() {
    let mut t = Tracker::new(config());
    let diversion = format!(
        "Diversion: <{}>;reason=unconditional\r\nHistory-Info: <{}>;index=1\r\n",
        uri("+13035550188"),
        uri("+13035550188")
    );
    // The proxy's INVITE to 0142, forwarded from 0188.
    feed(&mut t, &invite("fw", "+13035550142", &uri("+13035550111"), &diversion), 0);
    feed(&mut t, &response("fw", 180, "INVITE"), 1);
    let ev = star57(&mut t, "t1", 10);
    assert_eq!(cic(&ev).calling_number.as_deref(), Some("13035550111"));
    assert!(cic(&ev).traced_call.as_ref().unwrap().forwarded);
    let from_0188 = invite("t2", "*57", &uri("+13035550188"), "");
    let ev = feed(&mut t, &from_0188, 20).unwrap();
    assert_eq!(cic(&ev).subscriber, "13035550188");
    assert_eq!(cic(&ev).result, TraceResult::Success);
}

#[test]
fn third_trace_of_same_caller_sets_flag_and_state_survives() {
    let mut t = Tracker::new(config());
    for i in 0..2u64 {
        rang_call(&mut t, &format!("c{i}"), "+13035550177", i * 100);
        let ev = star57(&mut t, &format!("t{i}"), i * 100 + 50);
        assert_eq!((cic(&ev).successful_traces, cic(&ev).threshold_reached), (i as u32 + 1, false));
    }
    // Restart: counts and the trace id sequence continue.
    let state = t.state();
    assert_eq!(state.next_trace, 3);
    let mut t = Tracker::with_state(config(), state);
    rang_call(&mut t, "c2", "+13035550177", 200);
    let ev = star57(&mut t, "t2", 250);
    assert_eq!(cic(&ev).trace_id, "CT-00000003");
    assert_eq!((cic(&ev).successful_traces, cic(&ev).threshold_reached), (3, true));
    assert_eq!(t.stats().thresholds_reached, 1);
    // Failures do not count; another caller has its own count.
    rang_call(&mut t, "c3", "+17205550101", 300);
    let ev = star57(&mut t, "t3", 350);
    assert_eq!(cic(&ev).successful_traces, 1);
}

#[test]
fn star57_escaped_retransmitted_and_from_non_subscriber() {
    let mut t = Tracker::new(config());
    rang_call(&mut t, "c1", "+13035550177", 0);
    let escaped = invite("t1", "%2A57", &uri("+13035550142"), "");
    assert!(feed(&mut t, &escaped, 10).is_some());
    assert!(feed(&mut t, &escaped, 10).is_none(), "retransmission traced once");
    let outsider = invite("t2", "*57", &uri("+17205550101"), "");
    assert!(feed(&mut t, &outsider, 20).is_none());
    let s = t.stats();
    assert_eq!((s.trace_requests, s.traces_succeeded, s.requests_from_non_subscribers), (1, 1, 1));
    // The *57 call itself is nobody's incoming call.
    assert_eq!(t.subscribers_tracked(), 1);
}

#[test]
fn outcome_json_has_no_caller_identity() {
    let mut t = Tracker::new(config());
    rang_call(&mut t, "c1", "+13035550177", 0);
    let ev = star57(&mut t, "t1", 10);
    let outcome = serde_json::to_string(&ev.outcome).unwrap();
    let charge = serde_json::to_string(&ev.charge).unwrap();
    for text in [&outcome, &charge] {
        for needle in ["5550177", "Pat Example", "Main St", "c1\""] {
            assert!(!text.contains(needle), "{needle} leaked");
        }
    }
    assert!(serde_json::to_string(cic(&ev)).unwrap().contains("13035550177"));
}

#[test]
fn config_validation_names_key() {
    let bad = CONFIG.replace("charge_cents = 700", "charge_cents = 1001");
    let err = Config::from_toml(&bad, Path::new("ct.toml"), Path::new("."), &Numbering::default()).unwrap_err();
    assert!(err.to_string().contains("area[1]"), "{err}");
    let err = Config::from_toml("default_charge_cents = 1", Path::new("ct.toml"), Path::new("."), &Numbering::default());
    assert!(err.is_err());
    let bad_prefix = CONFIG.replace("\"+1303555\"", "\"303-555\"");
    let err = Config::from_toml(&bad_prefix, Path::new("ct.toml"), Path::new("."), &Numbering::default()).unwrap_err();
    assert!(err.to_string().contains("number_prefixes"));
    let c = config();
    let sip_user = crate::warrant::from_uri("sip:alice@carrier.example", &Numbering::default()).unwrap();
    assert!(c.is_subscriber(&sip_user));
    assert_eq!(c.charge_for(&sip_user), (None, 500));
    assert!(!c.is_subscriber(&crate::warrant::from_uri("sip:+17205550101@carrier.example", &Numbering::default()).unwrap()));
}

#[test]
fn redirected_call_counts_as_reached() {
    let mut t = Tracker::new(config());
    feed(&mut t, &invite("c1", "+13035550142", &uri("+13035550177"), ""), 0);
    feed(&mut t, &response("c1", 302, "INVITE"), 1);
    let ev = star57(&mut t, "t1", 10);
    assert_eq!(cic(&ev).result, TraceResult::Success);
    // A 180 to a non-INVITE transaction (CSeq method) is not ringing.
    feed(&mut t, &invite("c2", "+13035550142", &uri("+13035550177"), ""), 20);
    feed(&mut t, &response("c2", 180, "PRACK"), 21);
    let ev = star57(&mut t, "t2", 30);
    assert_eq!(cic(&ev).failure_reason, Some(FailureReason::NeverRang));
}

mod property {
    use super::*;
    use proptest::prelude::*;

    fn message() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<Vec<u8>>(),
            (0u16..700, "[a-c]").prop_map(|(s, id)| response(&id, s, "INVITE").into_bytes()),
            ("[a-c]", "(\\*57|%2A57|\\+1303555014[0-9]|anonymous)", "\\+1(303|720)5550[0-9]{3}")
                .prop_map(|(id, to, from)| invite(&id, &to, &uri(&from), "").into_bytes()),
        ]
    }

    proptest! {
        /// Any message the SIP parser accepts, in any order, never panics the tracker; an
        /// outcome has only its five fields and a charge comes with success only.
        #[test]
        fn arbitrary_messages_never_panic(msgs in proptest::collection::vec(message(), 0..40)) {
            let mut t = Tracker::new(config());
            for (i, m) in msgs.iter().enumerate() {
                let Ok(msg) = sip::parse(m) else { continue };
                if let Some(ev) = t.on_sip(&msg, at(i as u64)) {
                    let json = serde_json::to_value(&ev.outcome).unwrap();
                    prop_assert_eq!(json.as_object().map(|o| o.len()), Some(5));
                    prop_assert_eq!(ev.charge.is_some(), ev.cic.as_ref().is_some_and(|c| c.result == TraceResult::Success));
                }
            }
        }
    }
}

#[test]
fn star57_from_a_blocked_line_traces_and_charges_nothing() {
    let mut c = config();
    let dir = format!("{DIRECTORY}\n[[subscriber]]\nnumber = \"+13035550142\"\nname = \"Alex\"\naddress = \"x\"\ntrace_blocked = true\n");
    c.directory = Directory::from_toml(&dir, Path::new("dir.toml"), &Numbering::default()).unwrap();
    let mut t = Tracker::new(c);
    rang_call(&mut t, "c1", "+13035550177", 0);
    let ev = star57(&mut t, "t1", 10);
    assert_eq!(ev.cic, None, "no record for the Center");
    assert_eq!(ev.charge, None, "no charge");
    assert_eq!((ev.outcome.result, ev.outcome.charge_cents), (TraceResult::Blocked, 0));
    let json = serde_json::to_string(&ev.outcome).unwrap();
    assert!(!json.contains("5550177") && json.contains("\"blocked\""), "{json}");
    let s = t.stats();
    assert_eq!((s.trace_requests, s.requests_blocked, s.traces_succeeded, s.charged_cents), (1, 1, 0, 0));
    assert!(t.state().pairs.is_empty(), "no running count");
}
