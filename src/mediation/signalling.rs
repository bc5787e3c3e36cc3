//! SIP signalling in mediation: target matching for new calls, call state, IRI records
//! and media taps from SDP.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use super::call::{Call, CallKind, Intercept};
use super::media::{PortFilter, Side, Tap};
use super::record::{IriForm, Record, RecordBody, RecordSink};
use super::scope::{scope, Role};
use super::{MediaPath, Mediator, SignallingObserver, SipFacts, TapControl};
use crate::sip::{self, Message, Method};
use crate::warrant::Identity;
use crate::warrant::Warrant;
use crate::wire::Datagram;
use crate::Timestamp;

impl Mediator {
    /// One SIP message (a UDP payload, or one framed from a TCP stream).
    pub(super) fn on_sip(
        &mut self,
        bytes: &[u8],
        dg: &Datagram<'_>,
        sink: &mut impl RecordSink,
        observer: &mut impl SignallingObserver,
    ) {
        let msg = match sip::parse(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.stats.sip_malformed += 1;
                return;
            }
        };
        let Some(facts) = SipFacts::of(&msg) else {
            self.stats.sip_malformed += 1;
            return;
        };
        let (call_id, creates) = (facts.call_id, facts.creates);
        self.stats.sip_messages += 1;
        observer.on_sip(&msg, &facts, dg);
        if msg.status().is_some_and(|s| (200..300).contains(&s))
            && matches!(msg.cseq(), Some((_, Method::Register)))
        {
            self.on_register_ok(&msg, dg.ts);
        }
        let is_invite = matches!(msg.method(), Some(Method::Invite));
        if creates && is_invite {
            self.note_call_seen(call_id, dg.ts);
        }
        let slot = match self.by_call_id.get(call_id) {
            Some(&slot) => {
                if creates {
                    self.add_intercepts(slot, &msg, dg.ts);
                }
                slot
            }
            None => {
                if !creates {
                    return;
                }
                let kind = if is_invite { CallKind::Dialog } else { CallKind::Transaction };
                let matches = self.find_matches(&msg, dg.ts);
                if matches.is_empty() {
                    return;
                }
                let slot = self.new_call(call_id, kind, dg.ts);
                self.attach(slot, matches);
                slot
            }
        };
        if creates {
            if let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) {
                call.add_caller_tag(msg.from().and_then(|f| f.tag));
            }
        }
        self.deliver_sip(slot, &msg, dg, sink);
        self.publish(slot);
    }

    /// Tells the media shards of a call whose intercepts or telephone-event types changed.
    fn publish(&mut self, slot: usize) {
        let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else { return };
        let now = (call.intercepts.len(), call.telephone_event_pts.len());
        if now == call.published || !call.wants_media() {
            return;
        }
        call.published = now;
        self.media.control(TapControl::Call { slot, media: Arc::new(call.media_view()) });
    }

    /// A registrar's 2xx to a REGISTER: the bindings of a target AOR are replaced by the
    /// contacts it lists. Other AORs leave nothing behind.
    fn on_register_ok(&mut self, msg: &Message<'_>, ts: Timestamp) {
        if self.table.is_empty() && self.bindings.is_empty() {
            return;
        }
        let Some(aor) = super::bindings::register_aor(msg, self.table.numbering()) else { return };
        if self.table.matching(&aor, ts).next().is_some() || self.bindings.has_aor(&aor) {
            self.bindings.handle_register_ok(&aor, msg, ts);
        }
    }

    fn note_call_seen(&mut self, call_id: &str, ts: Timestamp) {
        let mut h = self.call_id_hasher.build_hasher();
        call_id.hash(&mut h);
        if self.seen_calls.insert(h.finish(), ts).is_none() {
            self.stats.calls_seen += 1;
        }
    }

    /// The warrants that cover a message creating a call or transaction, with the role
    /// their target has in it.
    fn find_matches(&self, msg: &Message<'_>, ts: Timestamp) -> Vec<(Arc<Warrant>, Role)> {
        let mut found: Vec<(Arc<Warrant>, Role)> = Vec::new();
        if self.table.is_empty() {
            return found;
        }
        let consider = |id: Option<Identity>, role: Role, found: &mut Vec<(Arc<Warrant>, Role)>| {
            let Some(id) = id else { return };
            for w in self.table.matching(&id, ts) {
                if scope(w, role).is_none() || found.iter().any(|(f, _)| Arc::ptr_eq(f, w)) {
                    continue;
                }
                found.push((Arc::clone(w), role));
            }
        };
        // The caller is the network-asserted identity when present, else From; so a
        // "private" caller is still identified, and an anonymous one yields nothing.
        let caller = match msg.p_asserted_identities().find_map(|n| self.table.identity(n.uri)) {
            Some(id) => Some(id),
            None => msg.from().and_then(|f| self.table.identity(f.uri)),
        };
        consider(caller, Role::Originating, &mut found);
        if matches!(msg.method(), Some(Method::Register)) {
            // A registration is the target's own act; its To is the same address of record.
            return found;
        }
        if let Some(sip::StartLine::Request { uri, .. }) = Some(msg.start()) {
            consider(self.table.identity(uri), Role::Terminating, &mut found);
            // The Request-URI may be a contact the target registered (RFC 3261 §10).
            consider(self.bindings.lookup(uri, ts).cloned(), Role::Terminating, &mut found);
        }
        consider(msg.to().and_then(|t| self.table.identity(t.uri)), Role::Terminating, &mut found);
        // A call forwarded from the target is a call to the target.
        for d in msg.diversion() {
            consider(self.table.identity(d.uri), Role::Terminating, &mut found);
        }
        for h in msg.history_info() {
            consider(self.table.identity(h.uri), Role::Terminating, &mut found);
        }
        found
    }

    fn new_call(&mut self, call_id: &str, kind: CallKind, ts: Timestamp) -> usize {
        let call = Call::new(call_id, kind, ts);
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.calls[slot] = Some(call);
                slot
            }
            None => {
                self.calls.push(Some(call));
                self.calls.len() - 1
            }
        };
        self.by_call_id.insert(call_id.to_owned(), slot);
        match kind {
            CallKind::Dialog => self.stats.calls_intercepted += 1,
            CallKind::Transaction => self.stats.transactions_intercepted += 1,
        }
        slot
    }

    /// A later creating request of a known call (redirect retry, second leg, forwarded
    /// INVITE) may bring warrants the call did not have yet.
    fn add_intercepts(&mut self, slot: usize, msg: &Message<'_>, ts: Timestamp) {
        let matches = self.find_matches(msg, ts);
        self.attach(slot, matches);
    }

    fn attach(&mut self, slot: usize, matches: Vec<(Arc<Warrant>, Role)>) {
        let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        for (warrant, role) in matches {
            if call.intercepts.iter().any(|i| Arc::ptr_eq(&i.warrant, &warrant)) {
                continue;
            }
            let Some(scope) = scope(&warrant, role) else { continue };
            let cin = self.cins.allocate(warrant.liid.as_str());
            call.intercepts.push(Intercept { warrant, cin, role, scope, iri_sent: 0 });
        }
    }

    fn deliver_sip(&mut self, slot: usize, msg: &Message<'_>, dg: &Datagram<'_>, sink: &mut impl RecordSink) {
        let fingerprint = fingerprint(&self.call_id_hasher, dg, msg.raw());
        let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if call.is_retransmission(fingerprint) {
            self.stats.sip_retransmissions += 1;
            return;
        }
        let sender = call.sender(msg);
        let step = call.advance(msg, dg.ts);
        for (addr, port) in call.take_dropped() {
            self.media.control(TapControl::Remove { addr, port, call: slot });
            self.ports.release(port);
        }
        if call.wants_media() && !call.is_ended() {
            self.stats.taps_installed += install_taps(&mut self.media, &mut self.ports, call, slot, msg, sender);
        }
        let dtmf_info = matches!(msg.method(), Some(Method::Info)) && sip::dtmf::info_digits(msg).is_some();
        let mut minimised: Option<Vec<u8>> = None;
        for ic in call.intercepts.iter_mut() {
            if !ic.warrant.is_active(dg.ts) {
                self.stats.records_suppressed_inactive_warrant += 1;
                continue;
            }
            let (iri_type, event) = super::call::classify(call.kind, call.phase, ic, step);
            let (form, bytes): (IriForm, &[u8]) = if ic.scope.full_signalling {
                (IriForm::SipMessage, msg.raw())
            } else if ic.scope.digits_as_iri && dtmf_info && sender == ic.target_side() {
                // Post-cut-through digits the order allows: the INFO keeps its digit body.
                (IriForm::IriOnlySipMessage, msg.raw())
            } else {
                let m = minimised.get_or_insert_with(|| sip::redact::iri_only(msg));
                (IriForm::IriOnlySipMessage, m.as_slice())
            };
            let body = RecordBody::Iri { iri_type, event, form, src: dg.flow.src, dst: dg.flow.dst, bytes };
            sink.record(&Record { warrant: &ic.warrant, cin: ic.cin, ts: dg.ts, body });
            ic.iri_sent += 1;
            self.stats.iri_records += 1;
        }
        if call.is_ended() {
            for (addr, port) in call.streams.clear() {
                self.media.control(TapControl::Remove { addr, port, call: slot });
                self.ports.release(port);
            }
        }
    }
}

/// Taps the media endpoints an SDP body of `msg` announces, for the side that sent it: they
/// replace that party's earlier endpoints, and those no longer announced (moved, or port 0)
/// are untapped at once. The call holds each tapped endpoint's port in `ports`. Returns how
/// many endpoints were tapped.
fn install_taps(media: &mut MediaPath, ports: &mut PortFilter, call: &mut Call, slot: usize, msg: &Message<'_>, sender: Side) -> u64 {
    let Some(ct) = msg.content_type() else { return 0 };
    let Some(sdp_bytes) = sip::sdp::find_sdp(ct, msg.body()) else { return 0 };
    let Ok(sdp) = sip::sdp::parse(sdp_bytes) else { return 0 };
    let mut announced: Vec<(IpAddr, u16)> = Vec::new();
    for ep in sdp.media_endpoints() {
        // An RFC 2543 hold (`c=0.0.0.0`) names no endpoint.
        if ep.addr.is_unspecified() {
            continue;
        }
        for key in [(ep.addr, ep.rtp_port), (ep.rtcp_addr, ep.rtcp_port)] {
            if !announced.contains(&key) {
                announced.push(key);
            }
        }
        if let Some(pt) = ep.telephone_event_pt {
            if !call.telephone_event_pts.contains(&pt) {
                call.telephone_event_pts.push(pt);
            }
        }
    }
    let owner = call.owner(msg, sender);
    let (added, removed) = call.streams.set(owner, announced.clone());
    for (addr, port) in removed {
        media.control(TapControl::Remove { addr, port, call: slot });
        ports.release(port);
    }
    for (_, port) in added {
        ports.hold(port);
    }
    for &(addr, port) in &announced {
        media.control(TapControl::Install { addr, port, tap: Tap { call: slot, side: sender } });
    }
    announced.len() as u64
}

/// Identifies a message on the wire: the same bytes between the same endpoints.
fn fingerprint(hasher: &impl BuildHasher, dg: &Datagram<'_>, raw: &[u8]) -> u64 {
    let mut h = hasher.build_hasher();
    dg.flow.hash(&mut h);
    raw.hash(&mut h);
    h.finish()
}
