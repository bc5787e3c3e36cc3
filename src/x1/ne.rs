//! The network element's side of X1 (what `tapline poi` will serve) as a sans-IO core: it
//! holds tasks and destinations in memory, answers every request of the subset, and binds
//! the ADMF identity of each message to the peer's certificate.
//!
//! Call order: the shell authenticates the peer (mTLS), takes the ADMF identity from its
//! certificate, parses the body and calls [`NetworkElement::handle_request`]; it writes the
//! returned response and applies the returned [`Change`]s (what to intercept and where to
//! deliver). Failed requests change nothing.

use std::collections::BTreeMap;

use super::message::*;
use crate::x2x3::Xid;
use crate::Timestamp;

/// Who this element is and which ADMF may task it.
#[derive(Clone, Debug)]
pub struct NeConfig {
    pub ne_identifier: String,
    /// The only ADMF accepted; it must also be the identity of the peer's certificate.
    pub admf_identifier: String,
}

/// What a request changed, for the shell to apply (and audit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    TaskActivated(TaskDetails),
    TaskModified(TaskDetails),
    TaskDeactivated(Xid),
    DestinationCreated(DestinationDetails),
    DestinationModified(DestinationDetails),
    DestinationRemoved(Xid),
}

#[derive(Clone, Debug)]
struct Task {
    details: TaskDetails,
    modifications: u64,
}

/// Tasks and destinations of one network element.
#[derive(Debug)]
pub struct NetworkElement {
    config: NeConfig,
    tasks: BTreeMap<Xid, Task>,
    destinations: BTreeMap<Xid, DestinationDetails>,
}

/// A refusal: the description written in the ErrorResponse (never a target).
type Refusal = &'static str;

impl NetworkElement {
    pub fn new(config: NeConfig) -> NetworkElement {
        NetworkElement { config, tasks: BTreeMap::new(), destinations: BTreeMap::new() }
    }

    pub fn task(&self, xid: &Xid) -> Option<&TaskDetails> {
        self.tasks.get(xid).map(|t| &t.details)
    }

    pub fn tasks(&self) -> impl Iterator<Item = &TaskDetails> {
        self.tasks.values().map(|t| &t.details)
    }

    pub fn destination(&self, did: &Xid) -> Option<&DestinationDetails> {
        self.destinations.get(did)
    }

    /// Answers every message of `request` in order. `peer_admf` is the identity of the
    /// client certificate the request came with.
    pub fn handle_request(&mut self, peer_admf: &str, request: &X1Request, now: Timestamp) -> (X1Response, Vec<Change>) {
        let mut responses = Vec::with_capacity(request.messages.len());
        let mut changes = Vec::new();
        for (h, r) in &request.messages {
            let answer = self.check_identity(peer_admf, h).and_then(|()| self.apply(r, &mut changes));
            let response = match answer {
                Ok(response) => response,
                Err(why) => {
                    tracing::warn!(request = r.kind().as_str(), reason = why, "X1 request refused");
                    Response::Error {
                        request_type: r.kind().as_str().to_owned(),
                        error: ErrorInformation { code: error_code::GENERIC, description: why.to_owned() },
                    }
                }
            };
            let header = MessageHeader {
                admf_identifier: h.admf_identifier.clone(),
                ne_identifier: self.config.ne_identifier.clone(),
                timestamp: now.to_rfc3339(),
                version: VERSION.to_owned(),
                transaction_id: h.transaction_id,
            };
            responses.push((header, response));
        }
        (X1Response::Responses(responses), changes)
    }

    fn check_identity(&self, peer_admf: &str, h: &MessageHeader) -> Result<(), Refusal> {
        if h.admf_identifier != self.config.admf_identifier || h.admf_identifier != peer_admf {
            return Err("ADMF identifier not accepted for this client certificate");
        }
        if h.ne_identifier != self.config.ne_identifier {
            return Err("the request is addressed to another network element");
        }
        Ok(())
    }

    fn known_destinations(&self, t: &TaskDetails) -> Result<(), Refusal> {
        if t.destinations.is_empty() {
            return Err("a task needs at least one destination");
        }
        if t.destinations.iter().all(|d| self.destinations.contains_key(d)) {
            Ok(())
        } else {
            Err("unknown destination (dId)")
        }
    }

    fn apply(&mut self, r: &Request, changes: &mut Vec<Change>) -> Result<Response, Refusal> {
        let done = |request: RequestKind| Response::Ok { request, ok: OkStatus::AcknowledgedAndCompleted };
        match r {
            Request::ActivateTask(t) => {
                if self.tasks.contains_key(&t.xid) {
                    return Err("a task with this XID already exists");
                }
                self.known_destinations(t)?;
                self.tasks.insert(t.xid, Task { details: t.clone(), modifications: 0 });
                changes.push(Change::TaskActivated(t.clone()));
                Ok(done(RequestKind::ActivateTask))
            }
            Request::ModifyTask(t) => {
                self.known_destinations(t)?;
                let task = self.tasks.get_mut(&t.xid).ok_or("no task with this XID")?;
                task.details = t.clone();
                task.modifications += 1;
                changes.push(Change::TaskModified(t.clone()));
                Ok(done(RequestKind::ModifyTask))
            }
            Request::DeactivateTask { xid } => {
                self.tasks.remove(xid).ok_or("no task with this XID")?;
                changes.push(Change::TaskDeactivated(*xid));
                Ok(done(RequestKind::DeactivateTask))
            }
            Request::DeactivateAllTasks => {
                for xid in std::mem::take(&mut self.tasks).into_keys() {
                    changes.push(Change::TaskDeactivated(xid));
                }
                Ok(done(RequestKind::DeactivateAllTasks))
            }
            Request::GetTaskDetails { xid } => {
                let task = self.tasks.get(xid).ok_or("no task with this XID")?;
                Ok(Response::GetTaskDetails { task: task.details.clone(), status: ProvisioningStatus::Complete, faults: Vec::new() })
            }
            Request::ListAllDetails => Ok(Response::ListAllDetails {
                xids: self.tasks.keys().copied().collect(),
                dids: self.destinations.keys().copied().collect(),
            }),
            Request::CreateDestination(d) => {
                if self.destinations.contains_key(&d.did) {
                    return Err("a destination with this dId already exists");
                }
                self.destinations.insert(d.did, d.clone());
                changes.push(Change::DestinationCreated(d.clone()));
                Ok(done(RequestKind::CreateDestination))
            }
            Request::ModifyDestination(d) => {
                let slot = self.destinations.get_mut(&d.did).ok_or("no destination with this dId")?;
                *slot = d.clone();
                changes.push(Change::DestinationModified(d.clone()));
                Ok(done(RequestKind::ModifyDestination))
            }
            Request::RemoveDestination { did } => {
                if !self.destinations.contains_key(did) {
                    return Err("no destination with this dId");
                }
                if self.tasks.values().any(|t| t.details.destinations.contains(did)) {
                    return Err("the destination is used by a task");
                }
                self.destinations.remove(did);
                changes.push(Change::DestinationRemoved(*did));
                Ok(done(RequestKind::RemoveDestination))
            }
            Request::GetNeStatus => Ok(Response::GetNeStatus { ok: true, faults: Vec::new() }),
            Request::Ping => Ok(done(RequestKind::Ping)),
            Request::Keepalive => Ok(done(RequestKind::Keepalive)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn xid(n: u8) -> Xid {
        Xid([n; 16])
    }

    fn ne() -> NetworkElement {
        NetworkElement::new(NeConfig { ne_identifier: "poi-1".into(), admf_identifier: "mf".into() })
    }

    fn msg(admf: &str, r: Request) -> X1Request {
        let h = MessageHeader {
            admf_identifier: admf.into(),
            ne_identifier: "poi-1".into(),
            timestamp: "2026-12-03T06:00:00.000000Z".into(),
            version: VERSION.into(),
            transaction_id: xid(0xee),
        };
        X1Request { messages: vec![(h, r)] }
    }

    fn dest(n: u8) -> DestinationDetails {
        DestinationDetails {
            did: xid(n),
            friendly_name: None,
            delivery_type: DeliveryType::X2AndX3,
            address: DeliveryAddress::IpAndPort { address: IpAddr::V4(Ipv4Addr::LOCALHOST), port: Port::Tcp(24_000) },
        }
    }

    fn task(n: u8, d: u8) -> TaskDetails {
        TaskDetails {
            xid: xid(n),
            targets: vec![TargetIdentifier::E164Number("13035550142".into())],
            delivery_type: DeliveryType::X2Only,
            destinations: vec![xid(d)],
            correlation_id: None,
            implicit_deactivation_allowed: None,
        }
    }

    /// Sends one request as `mf`; the single response and the changes.
    fn send(ne: &mut NetworkElement, r: Request) -> (Response, Vec<Change>) {
        let (resp, changes) = ne.handle_request("mf", &msg("mf", r), Timestamp::from_nanos(1));
        let X1Response::Responses(mut v) = resp else { panic!("container") };
        assert_eq!(v.len(), 1);
        let (h, r) = v.remove(0);
        assert_eq!(h.ne_identifier, "poi-1");
        assert_eq!(h.transaction_id, xid(0xee), "the response echoes the transaction id");
        (r, changes)
    }

    fn is_error(r: &Response) -> bool {
        matches!(r, Response::Error { error: ErrorInformation { code: 1000, .. }, .. })
    }

    #[test]
    fn task_life_cycle() {
        let mut ne = ne();
        assert!(is_error(&send(&mut ne, Request::ActivateTask(task(1, 9))).0), "unknown destination");
        let (r, c) = send(&mut ne, Request::CreateDestination(dest(9)));
        assert_eq!(r, Response::Ok { request: RequestKind::CreateDestination, ok: OkStatus::AcknowledgedAndCompleted });
        assert_eq!(c, vec![Change::DestinationCreated(dest(9))]);
        let (_, c) = send(&mut ne, Request::ActivateTask(task(1, 9)));
        assert_eq!(c, vec![Change::TaskActivated(task(1, 9))]);
        let (r, c) = send(&mut ne, Request::ActivateTask(task(1, 9)));
        assert!(is_error(&r) && c.is_empty(), "the XID is taken");
        let mut modified = task(1, 9);
        modified.delivery_type = DeliveryType::X2AndX3;
        let (_, c) = send(&mut ne, Request::ModifyTask(modified.clone()));
        assert_eq!(c, vec![Change::TaskModified(modified.clone())]);
        let (r, _) = send(&mut ne, Request::GetTaskDetails { xid: xid(1) });
        assert_eq!(r, Response::GetTaskDetails { task: modified, status: ProvisioningStatus::Complete, faults: vec![] });
        assert!(is_error(&send(&mut ne, Request::RemoveDestination { did: xid(9) }).0), "in use");
        send(&mut ne, Request::ActivateTask(task(2, 9)));
        let (r, _) = send(&mut ne, Request::ListAllDetails);
        assert_eq!(r, Response::ListAllDetails { xids: vec![xid(1), xid(2)], dids: vec![xid(9)] });
        let (_, c) = send(&mut ne, Request::DeactivateTask { xid: xid(1) });
        assert_eq!(c, vec![Change::TaskDeactivated(xid(1))]);
        assert!(is_error(&send(&mut ne, Request::DeactivateTask { xid: xid(1) }).0));
        let (_, c) = send(&mut ne, Request::DeactivateAllTasks);
        assert_eq!(c, vec![Change::TaskDeactivated(xid(2))]);
        let (_, c) = send(&mut ne, Request::RemoveDestination { did: xid(9) });
        assert_eq!(c, vec![Change::DestinationRemoved(xid(9))]);
        assert_eq!(ne.tasks().count(), 0);
        assert!(ne.destination(&xid(9)).is_none());
    }

    #[test]
    fn status_ping_keepalive() {
        let mut ne = ne();
        assert_eq!(send(&mut ne, Request::GetNeStatus).0, Response::GetNeStatus { ok: true, faults: vec![] });
        assert_eq!(send(&mut ne, Request::Ping).0, Response::Ok { request: RequestKind::Ping, ok: OkStatus::AcknowledgedAndCompleted });
        assert_eq!(
            send(&mut ne, Request::Keepalive).0,
            Response::Ok { request: RequestKind::Keepalive, ok: OkStatus::AcknowledgedAndCompleted }
        );
    }

    #[test]
    fn an_admf_not_bound_to_the_certificate_is_refused_and_changes_nothing() {
        let mut ne = ne();
        for (peer, claimed) in [("mf", "other"), ("other", "mf"), ("other", "other")] {
            let (resp, changes) = ne.handle_request(peer, &msg(claimed, Request::CreateDestination(dest(9))), Timestamp::from_nanos(1));
            let X1Response::Responses(v) = resp else { panic!("container") };
            assert!(is_error(&v[0].1), "{peer}/{claimed}");
            assert!(changes.is_empty());
        }
        assert!(ne.destination(&xid(9)).is_none());
        let mut wrong_ne = msg("mf", Request::Ping);
        wrong_ne.messages[0].0.ne_identifier = "poi-2".into();
        let (resp, _) = ne.handle_request("mf", &wrong_ne, Timestamp::from_nanos(1));
        let X1Response::Responses(v) = resp else { panic!("container") };
        assert!(is_error(&v[0].1));
    }
}
