//! Encoding and decoding of each piece of mediation state a snapshot carries: calls (with
//! their intercepts, branches, streams, fingerprints), REGISTER bindings, CIN counters and
//! the media tap table. Warrants are written by LIID only and resolved against the current
//! warrant table on restore: a warrant no longer in it is not revived.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::codec::{Reader, SnapshotError, Writer};
use crate::mediation::bindings::{Binding, Bindings};
use crate::mediation::call::{Call, CallKind, Intercept, Phase, SessionTimer, FINGERPRINTS};
use crate::mediation::cin::CinAllocator;
use crate::mediation::dialog::{Branches, DialogState, Leg, MAX_DIALOGS, MAX_LEGS};
use crate::mediation::media::{MediaTable, Side, Tap};
use crate::mediation::scope::{Role, Scope};
use crate::mediation::streams::{Endpoint, Owner, Streams, MAX_OWNERS};
use crate::warrant::{Identity, Warrant};
use crate::Timestamp;

/// The warrants of the current table by LIID.
pub type WarrantsByLiid = HashMap<String, Arc<Warrant>>;

fn side(w: &mut Writer, s: Side) {
    w.u8(match s {
        Side::Caller => 0,
        Side::Callee => 1,
    });
}

fn read_side(r: &mut Reader<'_>) -> Result<Side, SnapshotError> {
    match r.u8("side")? {
        0 => Ok(Side::Caller),
        1 => Ok(Side::Callee),
        _ => Err(r.invalid("side")),
    }
}

fn endpoint(w: &mut Writer, (addr, port): Endpoint) {
    w.ip(addr);
    w.u16(port);
}

fn read_endpoint(r: &mut Reader<'_>) -> Result<Endpoint, SnapshotError> {
    Ok((r.ip("endpoint address")?, r.u16("endpoint port")?))
}

fn endpoints(w: &mut Writer, eps: &[Endpoint]) {
    w.len(eps.len());
    for ep in eps {
        endpoint(w, *ep);
    }
}

fn read_endpoints(r: &mut Reader<'_>) -> Result<Vec<Endpoint>, SnapshotError> {
    let n = r.count(7, "endpoints")?;
    (0..n).map(|_| read_endpoint(r)).collect()
}

fn intercept(w: &mut Writer, i: &Intercept) {
    w.str(i.warrant.liid.as_str());
    w.u32(i.cin);
    w.u8(match i.role {
        Role::Originating => 0,
        Role::Terminating => 1,
    });
    w.bool(i.scope.full_signalling);
    w.bool(i.scope.content);
    w.bool(i.scope.digits_as_iri);
    w.u64(i.iri_sent);
}

/// An intercept, None when its warrant is no longer in the table.
fn read_intercept(r: &mut Reader<'_>, warrants: &WarrantsByLiid) -> Result<Option<Intercept>, SnapshotError> {
    let liid = r.str("intercept LIID")?;
    let cin = r.u32("intercept CIN")?;
    let role = match r.u8("intercept role")? {
        0 => Role::Originating,
        1 => Role::Terminating,
        _ => return Err(r.invalid("intercept role")),
    };
    let scope = Scope {
        full_signalling: r.bool("intercept scope")?,
        content: r.bool("intercept scope")?,
        digits_as_iri: r.bool("intercept scope")?,
    };
    let iri_sent = r.u64("intercept IRI count")?;
    Ok(warrants.get(liid).map(|warrant| Intercept { warrant: Arc::clone(warrant), cin, role, scope, iri_sent }))
}

fn phase(w: &mut Writer, p: Phase) {
    match p {
        Phase::Setup => w.u8(0),
        Phase::Answered => w.u8(1),
        Phase::Ending => w.u8(2),
        Phase::Ended { at, released } => {
            w.u8(3);
            w.u64(at.as_nanos());
            w.bool(released);
        }
    }
}

fn read_phase(r: &mut Reader<'_>) -> Result<Phase, SnapshotError> {
    match r.u8("call phase")? {
        0 => Ok(Phase::Setup),
        1 => Ok(Phase::Answered),
        2 => Ok(Phase::Ending),
        3 => Ok(Phase::Ended { at: Timestamp::from_nanos(r.u64("call end time")?), released: r.bool("call release")? }),
        _ => Err(r.invalid("call phase")),
    }
}

fn branches(w: &mut Writer, b: &Branches) {
    w.len(b.legs.len());
    for (branch, leg) in &b.legs {
        w.opt_str(branch.as_deref());
        w.u8(match leg {
            Leg::Pending => 0,
            Leg::Answered => 1,
            Leg::Failed => 2,
            Leg::Retry => 3,
        });
    }
    w.len(b.dialogs.len());
    for (tag, state) in &b.dialogs {
        w.str(tag);
        w.u8(match state {
            DialogState::Early => 0,
            DialogState::Confirmed => 1,
            DialogState::Terminated => 2,
        });
    }
}

fn read_branches(r: &mut Reader<'_>) -> Result<Branches, SnapshotError> {
    let n = r.count(2, "call branches")?;
    if n > MAX_LEGS {
        return Err(r.invalid("call branch count"));
    }
    let mut legs = Vec::with_capacity(n);
    for _ in 0..n {
        let branch = r.opt_string("call branch")?;
        let leg = match r.u8("call branch state")? {
            0 => Leg::Pending,
            1 => Leg::Answered,
            2 => Leg::Failed,
            3 => Leg::Retry,
            _ => return Err(r.invalid("call branch state")),
        };
        legs.push((branch, leg));
    }
    let n = r.count(9, "call dialogs")?;
    if n > MAX_DIALOGS {
        return Err(r.invalid("call dialog count"));
    }
    let mut dialogs = Vec::with_capacity(n);
    for _ in 0..n {
        let tag = r.string("dialog tag")?;
        let state = match r.u8("dialog state")? {
            0 => DialogState::Early,
            1 => DialogState::Confirmed,
            2 => DialogState::Terminated,
            _ => return Err(r.invalid("dialog state")),
        };
        dialogs.push((tag, state));
    }
    Ok(Branches { legs, dialogs })
}

fn streams(w: &mut Writer, s: &Streams) {
    w.len(s.by_owner.len());
    for (owner, eps) in &s.by_owner {
        match owner {
            Owner::Caller => w.u8(0),
            Owner::Callee(tag) => {
                w.u8(1);
                w.opt_str(tag.as_deref());
            }
        }
        endpoints(w, eps);
    }
}

fn read_streams(r: &mut Reader<'_>) -> Result<Streams, SnapshotError> {
    let n = r.count(9, "call streams")?;
    if n > MAX_OWNERS {
        return Err(r.invalid("call stream owner count"));
    }
    let mut by_owner = Vec::with_capacity(n);
    for _ in 0..n {
        let owner = match r.u8("stream owner")? {
            0 => Owner::Caller,
            1 => Owner::Callee(r.opt_string("stream owner tag")?),
            _ => return Err(r.invalid("stream owner")),
        };
        by_owner.push((owner, read_endpoints(r)?));
    }
    Ok(Streams { by_owner })
}

/// Writes one call.
pub fn call(w: &mut Writer, c: &Call) {
    w.str(&c.call_id);
    w.u8(match c.kind {
        CallKind::Dialog => 0,
        CallKind::Transaction => 1,
    });
    w.len(c.intercepts.len());
    for i in &c.intercepts {
        intercept(w, i);
    }
    w.len(c.caller_tags.len());
    for t in &c.caller_tags {
        w.str(t);
    }
    phase(w, c.phase);
    w.u64(c.last_seen.as_nanos());
    branches(w, &c.branches);
    streams(w, &c.streams);
    endpoints(w, &c.dropped);
    w.bool(c.session_timer.is_some());
    if let Some(t) = c.session_timer {
        w.u64(t.refreshed.as_nanos());
        w.u64(t.interval_ns);
    }
    w.bytes(&c.telephone_event_pts);
    w.u64(crate::mediation::shard::last_media(&c.last_media).as_nanos());
    w.bool(c.published != (0, 0));
    w.len(c.seen.len());
    for f in &c.seen {
        w.u64(*f);
    }
}

/// Reads one call; its intercepts of warrants no longer in `warrants` are left out. The
/// media view is published (see [`Call::published`]) when it was at the snapshot.
pub fn read_call(r: &mut Reader<'_>, warrants: &WarrantsByLiid) -> Result<Call, SnapshotError> {
    let call_id = r.string("call id")?;
    let kind = match r.u8("call kind")? {
        0 => CallKind::Dialog,
        1 => CallKind::Transaction,
        _ => return Err(r.invalid("call kind")),
    };
    let n = r.count(20, "intercepts")?;
    let mut intercepts = Vec::with_capacity(n);
    for _ in 0..n {
        intercepts.extend(read_intercept(r, warrants)?);
    }
    let n = r.count(8, "caller tags")?;
    let caller_tags = (0..n).map(|_| r.string("caller tag")).collect::<Result<Vec<_>, _>>()?;
    let phase = read_phase(r)?;
    let last_seen = Timestamp::from_nanos(r.u64("call last seen")?);
    let branches = read_branches(r)?;
    let streams = read_streams(r)?;
    let dropped = read_endpoints(r)?;
    let session_timer = if r.bool("session timer")? {
        Some(SessionTimer {
            refreshed: Timestamp::from_nanos(r.u64("session timer refresh")?),
            interval_ns: r.u64("session timer interval")?,
        })
    } else {
        None
    };
    let telephone_event_pts = r.bytes("telephone-event types")?.to_vec();
    let last_media = Arc::new(AtomicU64::new(r.u64("call last media")?));
    let published = r.bool("call published")?;
    let n = r.count(8, "message fingerprints")?;
    if n > FINGERPRINTS {
        return Err(r.invalid("message fingerprint count"));
    }
    let seen = (0..n).map(|_| r.u64("message fingerprint")).collect::<Result<VecDeque<_>, _>>()?;
    let mut call = Call::new(&call_id, kind, last_seen);
    call.intercepts = intercepts;
    call.caller_tags = caller_tags;
    call.phase = phase;
    call.branches = branches;
    call.streams = streams;
    call.dropped = dropped;
    call.session_timer = session_timer;
    call.telephone_event_pts = telephone_event_pts;
    call.last_media = last_media;
    call.seen = seen;
    // Published views are current after every message (intercepts and telephone-event
    // types only grow), so the restored view is the call's own.
    if published && call.wants_media() {
        call.published = (call.intercepts.len(), call.telephone_event_pts.len());
    }
    Ok(call)
}

fn identity(w: &mut Writer, id: &Identity) {
    match id {
        Identity::Tel(digits) => {
            w.u8(0);
            w.str(digits);
        }
        Identity::Sip { user, host } => {
            w.u8(1);
            w.str(user);
            w.str(host);
        }
    }
}

fn read_identity(r: &mut Reader<'_>) -> Result<Identity, SnapshotError> {
    match r.u8("binding AOR")? {
        0 => Ok(Identity::Tel(r.string("binding AOR")?)),
        1 => Ok(Identity::Sip { user: r.string("binding AOR")?, host: r.string("binding AOR")? }),
        _ => Err(r.invalid("binding AOR")),
    }
}

/// Writes the bindings, sorted by contact (the encoding does not depend on hash order).
pub fn bindings(w: &mut Writer, b: &Bindings) {
    let mut all: Vec<_> = b.by_contact.iter().collect();
    all.sort_by(|a, b| a.0.cmp(b.0));
    w.len(all.len());
    for (contact, binding) in all {
        w.str(contact);
        identity(w, &binding.aor);
        w.u64(binding.expires.as_nanos());
    }
}

pub fn read_bindings(r: &mut Reader<'_>) -> Result<Bindings, SnapshotError> {
    let n = r.count(18, "bindings")?;
    let mut by_contact = HashMap::with_capacity(n);
    for _ in 0..n {
        let contact = r.string("binding contact")?;
        let aor = read_identity(r)?;
        let expires = Timestamp::from_nanos(r.u64("binding expiry")?);
        by_contact.insert(contact, Binding { aor, expires });
    }
    Ok(Bindings { by_contact })
}

/// Writes the CIN counters, sorted by LIID.
pub fn cins(w: &mut Writer, c: &CinAllocator) {
    w.u32(c.floor);
    let mut all: Vec<_> = c.next.iter().collect();
    all.sort();
    w.len(all.len());
    for (liid, next) in all {
        w.str(liid);
        w.u32(*next);
    }
}

/// Reads the CIN counters into `into` (the run's allocator, whose durable reservations may
/// be ahead): a counter is never lowered.
pub fn read_cins(r: &mut Reader<'_>, into: &mut CinAllocator) -> Result<(), SnapshotError> {
    let floor = r.u32("CIN floor")?;
    into.floor = into.floor.max(floor);
    let n = r.count(12, "CIN counters")?;
    for _ in 0..n {
        let liid = r.str("CIN counter LIID")?;
        into.restore(liid, r.u32("CIN counter")?);
    }
    Ok(())
}

/// Writes the tap table, sorted by endpoint.
pub fn taps(w: &mut Writer, t: &MediaTable) {
    let mut all: Vec<_> = t.taps.iter().collect();
    all.sort_by_key(|(ep, _)| **ep);
    w.len(all.len());
    for (ep, tap) in all {
        endpoint(w, *ep);
        w.len(tap.call);
        side(w, tap.side);
    }
}

/// Reads the tap table; `slots` bounds the call slots it may name.
pub fn read_taps(r: &mut Reader<'_>, slots: usize) -> Result<Vec<(Endpoint, Tap)>, SnapshotError> {
    let n = r.count(16, "media taps")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let ep = read_endpoint(r)?;
        let call = r.index(slots, "media tap call slot")?;
        out.push((ep, Tap { call, side: read_side(r)? }));
    }
    Ok(out)
}
