//! Planning of call flows: all SIP frames of a call (or MESSAGE exchange) now, its media as
//! lazy RTP/RTCP streams.

use std::time::Duration;

use super::call::{
    proxy_ip, ua_ip, CallSpec, MessageSpec, Outcome, Transport, DIGIT_SPACING_TICKS,
    FIRST_DIGIT_TICK, INFO_FIRST, INFO_SPACING, RETRANSMIT_AFTER, SIP_PORT,
};
use super::channel::{at, SipChannel};
use super::dialog::{
    self, branch, contact, contact_uri, loose_route, Dialog, Scope, Txn, PROXY_AGENT, UA_AGENT,
};
use super::frame::Endpoint;
use super::media::{event_code, MediaChange, MediaPlan, MediaStream, Tone, EVENT_TICKS, PTIME};
use super::rng::Rng;
use super::sip_text::{phone_uri, sdp, Direction, SipMessage};
use super::source::CallFrames;
use crate::Timestamp;

fn ms(rng: &mut Rng, low: u64, high: u64) -> u64 {
    rng.between(low, high) * 1_000_000
}

fn dur_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// How the INVITE transaction of a dialog ends.
enum Answer {
    Talk { talk: Duration, bye: bool },
    Cancel { ring: Duration },
    Reject { status: u16 },
    Redirect { to: String },
}

/// A request the caller sends inside an answered dialog.
enum InDialogEvent {
    Info(char),
    Hold,
}

struct Flow<'a> {
    spec: &'a CallSpec,
    rng: Rng,
    chan: SipChannel,
    media: Vec<MediaStream>,
    rtt: u64,
    invites_sent: u32,
}

/// Plans one call: all SIP frames now, media as lazy streams.
pub(crate) fn plan_call(spec: &CallSpec, mut rng: Rng) -> CallFrames {
    let rtt = rng.between(10_000, 50_000) * 1_000;
    let proxy = Endpoint::new(proxy_ip(spec.ipv6), SIP_PORT);
    let client_port = match spec.transport {
        Transport::Udp => SIP_PORT,
        Transport::Tcp => rng.between(49_152, 65_535) as u16,
    };
    let (uac, uas) = match &spec.outcome {
        Outcome::ForwardedDiversion { to, .. } => (
            Endpoint::new(proxy.ip, client_port),
            Endpoint::new(ua_ip(to, spec.ipv6), SIP_PORT),
        ),
        _ => (
            Endpoint::new(ua_ip(&spec.caller, spec.ipv6), client_port),
            proxy,
        ),
    };
    let chan = SipChannel::new(uac, uas, spec.vlan, spec.transport, &mut rng);
    let mut flow = Flow {
        spec,
        rng,
        chan,
        media: Vec::new(),
        rtt,
        invites_sent: 0,
    };
    let t = flow.chan.open(spec.start, rtt);
    match &spec.outcome {
        Outcome::Answered { talk } => flow.call(
            &spec.callee,
            None,
            t,
            Answer::Talk {
                talk: *talk,
                bye: true,
            },
        ),
        Outcome::NeverEnds { talk } => flow.call(
            &spec.callee,
            None,
            t,
            Answer::Talk {
                talk: *talk,
                bye: false,
            },
        ),
        Outcome::RangNoAnswer { ring } => {
            flow.call(&spec.callee, None, t, Answer::Cancel { ring: *ring })
        }
        Outcome::Rejected { status } => {
            flow.call(&spec.callee, None, t, Answer::Reject { status: *status })
        }
        Outcome::ForwardedBy3xx { to, talk } => {
            let redirected = flow.call(&spec.callee, None, t, Answer::Redirect { to: to.clone() });
            let t2 = at(redirected, ms(&mut flow.rng, 10, 30));
            flow.call(
                to,
                None,
                t2,
                Answer::Talk {
                    talk: *talk,
                    bye: true,
                },
            )
        }
        Outcome::ForwardedDiversion { to, talk } => flow.call(
            to,
            Some(&spec.callee),
            t,
            Answer::Talk {
                talk: *talk,
                bye: true,
            },
        ),
    };
    CallFrames::new(flow.chan.into_frames(), flow.media)
}

impl Flow<'_> {
    /// One INVITE dialog towards `target` (diverted from `diverted_from` when given); returns
    /// the time of its last message.
    fn call(
        &mut self,
        target: &str,
        diverted_from: Option<&str>,
        t: Timestamp,
        answer: Answer,
    ) -> Timestamp {
        let mut d = self.dialog(target, diverted_from);
        let caller_media = Endpoint::new(
            ua_ip(&self.spec.caller, self.spec.ipv6),
            self.rng.between(8_192, 16_383) as u16 * 2,
        );
        let callee_media = Endpoint::new(
            ua_ip(target, self.spec.ipv6),
            self.rng.between(8_192, 16_383) as u16 * 2,
        );
        let offer_id = self.rng.between(1_000_000_000, 9_999_999_999);
        let answer_id = self.rng.between(1_000_000_000, 9_999_999_999);
        let ruri = d.ruri.clone();
        let invite_branch = branch(&mut self.rng);
        let (mut invite, txn) = d.request(
            "INVITE",
            &ruri,
            d.cseq,
            invite_branch.clone(),
            Scope::Initial,
            &mut self.rng,
        );
        invite.body(
            "application/sdp",
            sdp(offer_id, 1, caller_media, Direction::SendRecv),
        );
        self.send_invite(t, &invite);
        let mut t_sent = t;
        if self.spec.retransmit_invite && self.spec.transport == Transport::Udp {
            t_sent = at(t, dur_ns(RETRANSMIT_AFTER));
            self.chan.send(t_sent, true, &[&invite]);
        }
        let t100 = at(t_sent, self.rtt);
        let trying = d.response(&txn, 100, false);
        let ack_non_2xx = |d: &Dialog, rng: &mut Rng| {
            d.request(
                "ACK",
                &ruri,
                txn.cseq,
                invite_branch.clone(),
                Scope::NonSuccessAck,
                rng,
            )
            .0
        };
        match answer {
            Answer::Reject { status } => {
                self.chan.send(t100, false, &[&trying]);
                let t_final = at(t100, ms(&mut self.rng, 500, 3_000));
                self.chan
                    .send(t_final, false, &[&d.response(&txn, status, true)]);
                let t_ack = at(t_final, self.rtt);
                self.chan
                    .send(t_ack, true, &[&ack_non_2xx(&d, &mut self.rng)]);
                return t_ack;
            }
            Answer::Redirect { to } => {
                self.chan.send(t100, false, &[&trying]);
                let t_final = at(t100, ms(&mut self.rng, 20, 80));
                let mut moved = d.response(&txn, 302, true);
                moved.header("Contact", format!("<{}>", phone_uri(&to)));
                self.chan.send(t_final, false, &[&moved]);
                let t_ack = at(t_final, self.rtt);
                self.chan
                    .send(t_ack, true, &[&ack_non_2xx(&d, &mut self.rng)]);
                return t_ack;
            }
            Answer::Talk { .. } | Answer::Cancel { .. } => {}
        }
        let t180 = at(t100, ms(&mut self.rng, 30, 120));
        let ringing = d.response(&txn, 180, true);
        if self.spec.transport == Transport::Tcp {
            // 100 Trying held back and sent with 180 Ringing in one segment.
            self.chan.send(t180, false, &[&trying, &ringing]);
        } else {
            self.chan.send(t100, false, &[&trying]);
            self.chan.send(t180, false, &[&ringing]);
        }
        match answer {
            Answer::Cancel { ring } => {
                let t_cancel = at(t180, dur_ns(ring));
                let (cancel, cancel_txn) = d.request(
                    "CANCEL",
                    &ruri,
                    txn.cseq,
                    invite_branch.clone(),
                    Scope::Initial,
                    &mut self.rng,
                );
                self.chan.send(t_cancel, true, &[&cancel]);
                let t_ok = at(t_cancel, self.rtt);
                self.chan
                    .send(t_ok, false, &[&d.response(&cancel_txn, 200, true)]);
                let t487 = at(t_ok, 1_000_000);
                self.chan.send(t487, false, &[&d.response(&txn, 487, true)]);
                let t_ack = at(t487, self.rtt);
                self.chan
                    .send(t_ack, true, &[&ack_non_2xx(&d, &mut self.rng)]);
                t_ack
            }
            Answer::Talk { talk, bye } => {
                let t200 = at(t180, ms(&mut self.rng, 1_500, 5_000));
                let mut ok = d.response(&txn, 200, true);
                ok.body(
                    "application/sdp",
                    sdp(answer_id, 1, callee_media, Direction::SendRecv),
                );
                self.chan.send(t200, false, &[&ok]);
                let t_ack = at(t200, self.rtt);
                let contact = d.uas_contact_uri.clone();
                let ack_branch = branch(&mut self.rng);
                let (ack, _) = d.request(
                    "ACK",
                    &contact,
                    txn.cseq,
                    ack_branch,
                    Scope::InDialog,
                    &mut self.rng,
                );
                self.chan.send(t_ack, true, &[&ack]);
                let media = Media {
                    caller: caller_media,
                    callee: callee_media,
                    offer_id,
                    answer_id,
                };
                self.talk(&mut d, at(t_ack, 3_000_000), talk, bye, media)
            }
            Answer::Reject { .. } | Answer::Redirect { .. } => t180,
        }
    }

    /// Media, in-dialog requests and the BYE of an answered dialog starting at `start`.
    fn talk(
        &mut self,
        d: &mut Dialog,
        start: Timestamp,
        talk: Duration,
        bye: bool,
        m: Media,
    ) -> Timestamp {
        let ticks = u32::try_from(talk.as_millis() / PTIME.as_millis()).unwrap_or(u32::MAX);
        let callee_start = start;
        let caller_start = at(start, 2_000_000);
        let talk_ns = u64::from(ticks) * dur_ns(PTIME);
        let t_end = at(caller_start, talk_ns + dur_ns(PTIME));

        let mut events: Vec<(Timestamp, InDialogEvent)> = Vec::new();
        if let Some(digits) = &self.spec.info_digits {
            for (k, c) in digits.chars().enumerate() {
                let t = at(
                    caller_start,
                    dur_ns(INFO_FIRST) + k as u64 * dur_ns(INFO_SPACING),
                );
                if t < t_end {
                    events.push((t, InDialogEvent::Info(c)));
                }
            }
        }
        if self.spec.reinvite_hold {
            events.push((at(caller_start, talk_ns / 2), InDialogEvent::Hold));
        }
        events.sort_by_key(|(t, _)| *t);

        let contact = d.uas_contact_uri.clone();
        let mut caller_change = None;
        let mut callee_change = None;
        for (t, event) in events {
            let cseq = d.next_cseq();
            let b = branch(&mut self.rng);
            match event {
                InDialogEvent::Info(c) => {
                    let (mut info, txn) =
                        d.request("INFO", &contact, cseq, b, Scope::InDialog, &mut self.rng);
                    info.body(
                        "application/dtmf-relay",
                        format!("Signal={c}\r\nDuration=160\r\n"),
                    );
                    self.chan.send(t, true, &[&info]);
                    self.chan
                        .send(at(t, self.rtt), false, &[&d.response(&txn, 200, true)]);
                }
                InDialogEvent::Hold => {
                    let new_port = m.caller.port.wrapping_add(2);
                    let held = Endpoint::new(m.caller.ip, new_port);
                    let (mut reinvite, txn) =
                        d.request("INVITE", &contact, cseq, b, Scope::InDialog, &mut self.rng);
                    reinvite.body(
                        "application/sdp",
                        sdp(m.offer_id, 2, held, Direction::SendOnly),
                    );
                    self.chan.send(t, true, &[&reinvite]);
                    let t_ok = at(t, self.rtt);
                    let mut ok = d.response(&txn, 200, true);
                    ok.body(
                        "application/sdp",
                        sdp(m.answer_id, 2, m.callee, Direction::RecvOnly),
                    );
                    self.chan.send(t_ok, false, &[&ok]);
                    let t_ack = at(t_ok, self.rtt);
                    let ack_branch = branch(&mut self.rng);
                    let (ack, _) = d.request(
                        "ACK",
                        &contact,
                        cseq,
                        ack_branch,
                        Scope::InDialog,
                        &mut self.rng,
                    );
                    self.chan.send(t_ack, true, &[&ack]);
                    caller_change = Some((t_ack, MediaChange::MoveTo(new_port)));
                    callee_change = Some((t_ok, MediaChange::Stop));
                }
            }
        }

        let digits = self
            .spec
            .rfc4733_digits
            .iter()
            .flat_map(|s| s.chars())
            .filter_map(event_code)
            .enumerate()
            .map(|(k, code)| (FIRST_DIGIT_TICK + k as u32 * DIGIT_SPACING_TICKS, code))
            .filter(|(first, _)| first + EVENT_TICKS <= ticks)
            .collect();
        let vlan = self.spec.vlan;
        let rtcp = self.spec.rtcp;
        let callee_plan = MediaPlan {
            src: m.callee,
            dst: m.caller,
            vlan,
            start: callee_start,
            ticks,
            tone: Tone::Hz500,
            digits: Vec::new(),
            change: callee_change,
            rtcp,
        };
        let caller_plan = MediaPlan {
            src: m.caller,
            dst: m.callee,
            vlan,
            start: caller_start,
            ticks,
            tone: Tone::Hz400,
            digits,
            change: caller_change,
            rtcp,
        };
        self.media
            .push(MediaStream::new(caller_plan, &mut self.rng));
        self.media
            .push(MediaStream::new(callee_plan, &mut self.rng));

        if !bye {
            return t_end;
        }
        let (cseq, b) = (d.next_cseq(), branch(&mut self.rng));
        let (bye_req, txn) = d.request("BYE", &contact, cseq, b, Scope::InDialog, &mut self.rng);
        self.chan.send(t_end, true, &[&bye_req]);
        let t_ok = at(t_end, self.rtt);
        self.chan.send(t_ok, false, &[&d.response(&txn, 200, true)]);
        t_ok
    }

    /// The first INVITE over TCP is cut in two segments to exercise reassembly.
    fn send_invite(&mut self, t: Timestamp, invite: &SipMessage) {
        if self.invites_sent == 0 && self.spec.transport == Transport::Tcp {
            let half = invite.render().len() / 2;
            self.chan.send_split(t, true, invite, half);
        } else {
            self.chan.send(t, true, &[invite]);
        }
        self.invites_sent += 1;
    }

    /// Header state of a new dialog to `target` on this call's channel.
    fn dialog(&mut self, target: &str, diverted_from: Option<&str>) -> Dialog {
        let spec = self.spec;
        let anonymous = spec.caller_private || spec.caller_anonymous_unavailable;
        let from_tag = dialog::tag(&mut self.rng);
        let from = if anonymous {
            format!("\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag={from_tag}")
        } else {
            format!("<{}>;tag={from_tag}", phone_uri(&spec.caller))
        };
        let mut invite_headers: Vec<(&'static str, String)> = Vec::new();
        if spec.caller_private && !spec.caller_anonymous_unavailable {
            invite_headers.push(("Privacy", "id".to_string()));
            invite_headers.push((
                "P-Asserted-Identity",
                format!("<{}>", phone_uri(&spec.caller)),
            ));
        }
        if let Some(subject) = &spec.subject {
            invite_headers.push(("Subject", subject.clone()));
        }
        let caller_sip = Endpoint::new(ua_ip(&spec.caller, spec.ipv6), SIP_PORT);
        let callee_sip = Endpoint::new(ua_ip(target, spec.ipv6), SIP_PORT);
        let contact_user = if anonymous {
            "anonymous"
        } else {
            spec.caller.as_str()
        };
        let (to, uac_contact, route, upstream, max_forwards, uac_agent) = match diverted_from {
            Some(original) => {
                invite_headers.push((
                    "Diversion",
                    format!("<{}>;reason=unconditional;counter=1", phone_uri(original)),
                ));
                invite_headers.push((
                    "History-Info",
                    format!(
                        "<{}>;index=1,<{};cause=302>;index=1.1;mp=1",
                        phone_uri(original),
                        phone_uri(target)
                    ),
                ));
                let upstream = super::sip_text::host_port(caller_sip);
                (
                    format!("<{}>", phone_uri(original)),
                    contact(contact_user, caller_sip, spec.transport),
                    None,
                    Some(upstream),
                    69,
                    PROXY_AGENT,
                )
            }
            None => {
                let route = loose_route(self.chan.uas());
                (
                    format!("<{}>", phone_uri(target)),
                    contact(contact_user, self.chan.uac(), spec.transport),
                    Some(route),
                    None,
                    70,
                    UA_AGENT,
                )
            }
        };
        Dialog {
            call_id: dialog::call_id(&mut self.rng),
            ruri: phone_uri(target),
            from,
            to,
            to_tag: dialog::tag(&mut self.rng),
            uac_contact,
            uas_contact_uri: contact_uri(target, callee_sip, spec.transport),
            route,
            upstream_via_host: upstream,
            invite_headers,
            cseq: 1,
            transport: spec.transport,
            uac: self.chan.uac(),
            max_forwards,
            uac_agent,
            uas_agent: UA_AGENT,
        }
    }
}

/// Negotiated media of an answered dialog.
struct Media {
    caller: Endpoint,
    callee: Endpoint,
    offer_id: u64,
    answer_id: u64,
}

/// Plans a MESSAGE and its 200 OK.
pub(crate) fn plan_message(spec: &MessageSpec, mut rng: Rng) -> CallFrames {
    let rtt = rng.between(10_000, 50_000) * 1_000;
    let port = match spec.transport {
        Transport::Udp => SIP_PORT,
        Transport::Tcp => rng.between(49_152, 65_535) as u16,
    };
    let uac = Endpoint::new(ua_ip(&spec.from, spec.ipv6), port);
    let proxy = Endpoint::new(proxy_ip(spec.ipv6), SIP_PORT);
    let mut chan = SipChannel::new(uac, proxy, spec.vlan, spec.transport, &mut rng);
    let t = chan.open(spec.at, rtt);
    let d = Dialog {
        call_id: dialog::call_id(&mut rng),
        ruri: phone_uri(&spec.to),
        from: format!("<{}>;tag={}", phone_uri(&spec.from), dialog::tag(&mut rng)),
        to: format!("<{}>", phone_uri(&spec.to)),
        to_tag: dialog::tag(&mut rng),
        uac_contact: contact(&spec.from, uac, spec.transport),
        uas_contact_uri: String::new(),
        route: None,
        upstream_via_host: None,
        invite_headers: Vec::new(),
        cseq: 1,
        transport: spec.transport,
        uac,
        max_forwards: 70,
        uac_agent: UA_AGENT,
        uas_agent: PROXY_AGENT,
    };
    let (mut message, txn): (SipMessage, Txn) = d.request(
        "MESSAGE",
        &d.ruri,
        1,
        branch(&mut rng),
        Scope::Initial,
        &mut rng,
    );
    message.body("text/plain", spec.text.clone());
    chan.send(t, true, &[&message]);
    chan.send(at(t, rtt), false, &[&d.response(&txn, 200, true)]);
    CallFrames::new(chan.into_frames(), Vec::new())
}
