//! The desk's HTTPS API (`tapline desk serve`): mutual TLS, the role from the client
//! certificate's organizational unit ([`DeskRole::of`]), every request checked against the
//! authorisation table ([`allowed`]) and then served by the same [`Desk`] operations the
//! command line uses. Refusals and failures are written to the audit trail with the
//! certificate's identity, like every step. The desk runs on a thread of its own (its
//! database clients block), fed one operation at a time.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::roles::{allowed, DeskAction, DeskRole};
use super::{DemandDoc, DemandRecord, Desk, DeskError, Release};
use crate::provision::https::{self, bytes_reply, error, percent_decode, read_body, reply, HttpsError, HttpsServer, Peer, Reply, TlsListen};

/// Largest request body accepted.
const MAX_BODY: usize = 256 * 1024;

/// A running desk API.
pub struct DeskApi {
    pub addr: std::net::SocketAddr,
    server: HttpsServer,
}

impl DeskApi {
    pub fn stop(self) {
        self.server.stop();
    }
}

type Job = Box<dyn FnOnce(&mut Desk) + Send>;

struct Api {
    jobs: mpsc::Sender<Job>,
    packages: PathBuf,
}

/// Serves `desk` on `tls` (current tokio runtime) until stopped; packages are written
/// under `packages` (rebuilt ones under `packages/reproduced`).
pub async fn start(tls: &TlsListen, desk: Desk, packages: &Path) -> Result<DeskApi, HttpsError> {
    let (jobs, queue) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("desk".into())
        .spawn(move || {
            let mut desk = desk;
            for job in queue {
                job(&mut desk);
            }
        })
        .map_err(|source| HttpsError::Listen { addr: tls.listen, source })?;
    let api = Arc::new(Api { jobs, packages: packages.to_owned() });
    let server = https::serve(tls, "desk", move |peer, req| {
        let api = api.clone();
        async move { api.handle(peer, req).await }
    })
    .await?;
    Ok(DeskApi { addr: server.addr, server })
}

/// What a request asks: the action and the demand, number or case it names.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Route {
    action: DeskAction,
    subject: Option<String>,
}

/// The route of `method` on `path`; Err is the status of a path or method not served.
fn route(method: &Method, path: &str) -> Result<Route, StatusCode> {
    use DeskAction as A;
    let segments: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (action, subject) = match (method, s.as_slice()) {
        (&Method::GET, ["demands"]) => (A::ListDemands, None),
        (&Method::POST, ["demands"]) => (A::EnterDemand, None),
        (&Method::GET, ["demands", id]) => (A::ShowDemand, Some(*id)),
        (&Method::POST, ["demands", id, "validate"]) => (A::ValidateDemand, Some(*id)),
        (&Method::POST, ["demands", id, "decide"]) => (A::DecideDemand, Some(*id)),
        (&Method::GET, ["demands", id, "calls"]) => (A::QueryCalls, Some(*id)),
        (&Method::POST, ["demands", id, "produce"]) => (A::ProducePackage, Some(*id)),
        (&Method::GET, ["demands", id, "package"]) => (A::FetchPackage, Some(*id)),
        (&Method::POST, ["demands", id, "deliver"]) => (A::DeliverPackage, Some(*id)),
        (&Method::POST, ["demands", id, "reproduce"]) => (A::ReproducePackage, Some(*id)),
        (&Method::GET, ["audit"]) => (A::ReadAudit, None),
        (&Method::GET, ["audit", "verify"]) => (A::VerifyAudit, None),
        (&Method::GET, ["lines", n, "cases"]) => (A::ShowCases, Some(*n)),
        (&Method::PUT, ["lines", n, "trace-block"]) => (A::SetTraceBlock, Some(*n)),
        (&Method::PUT, ["lines", n, "cpni-password"]) => (A::SetCpniPassword, Some(*n)),
        (&Method::POST, ["cases", c, "override"]) => (A::OverrideCase, Some(*c)),
        (&Method::POST, ["cases", c, "hand-off"]) => (A::HandOffCase, Some(*c)),
        (_, ["demands" | "audit" | "lines" | "cases", ..]) => return Err(StatusCode::METHOD_NOT_ALLOWED),
        _ => return Err(StatusCode::NOT_FOUND),
    };
    if subject.is_some_and(str::is_empty) {
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(Route { action, subject: subject.map(str::to_owned) })
}

/// A successful answer.
enum Answer {
    Json(StatusCode, Value),
    Bytes(&'static str, Vec<u8>),
}

/// Why a request failed, with its status.
struct Failure {
    status: StatusCode,
    why: String,
}

impl From<DeskError> for Failure {
    fn from(e: DeskError) -> Failure {
        let status = match &e {
            DeskError::NoDemand(_) => StatusCode::NOT_FOUND,
            DeskError::WrongState { .. } => StatusCode::CONFLICT,
            DeskError::Cpni(super::cpni::CpniError::Db(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            DeskError::Invalid { .. } | DeskError::BadNumber | DeskError::Cpni(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DeskError::Db(crate::records::DbError::Invalid(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            DeskError::Db(_) | DeskError::Audit(_) | DeskError::Package(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure { status, why: e.to_string() }
    }
}

fn bad_request(why: String) -> Failure {
    Failure { status: StatusCode::BAD_REQUEST, why }
}

/// The JSON body as `T` (an empty body as `{}`).
fn body_as<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Failure> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    serde_json::from_slice(body).map_err(|e| bad_request(format!("the body is not the expected JSON: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    /// An emergency disclosure's grant.
    grant: Option<Release>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliverBody {
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockBody {
    blocked: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    reason: String,
}

/// A demand in the list every role sees: no numbers, no requester, no records.
fn summary(r: &DemandRecord) -> Value {
    json!({
        "id": r.id,
        "state": r.state,
        "instrument": r.doc.instrument,
        "requester_kind": r.doc.requester_kind,
        "received": r.doc.received,
        "due": r.doc.due,
        "nondisclosure": r.doc.nondisclosure,
        "refusal": r.refusal.as_ref().map(ToString::to_string),
        "follow_up": r.follow_up,
    })
}

fn record_json(r: &DemandRecord) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Null)
}

/// Runs `route` on the desk for `who`, with the request `body`.
fn perform(desk: &mut Desk, who: &str, route: &Route, body: &[u8], packages: &Path) -> Result<Answer, Failure> {
    use DeskAction as A;
    let ok = |v: Value| Ok(Answer::Json(StatusCode::OK, v));
    let subject = route.subject.as_deref().unwrap_or_default();
    match route.action {
        A::ListDemands => ok(Value::Array(desk.list()?.iter().map(summary).collect())),
        A::ShowDemand => ok(record_json(&desk.get(subject)?)),
        A::EnterDemand => {
            let doc: DemandDoc = body_as(body)?;
            Ok(Answer::Json(StatusCode::CREATED, record_json(&desk.enter(doc, who)?)))
        }
        A::ValidateDemand => ok(record_json(&desk.validate(subject, who)?)),
        A::DecideDemand => {
            let b: DecideBody = body_as(body)?;
            ok(record_json(&desk.decide(subject, who, b.grant)?))
        }
        A::QueryCalls => Ok(Answer::Bytes("text/csv", desk.query_calls(subject, who)?)),
        A::ProducePackage => ok(record_json(&desk.produce(subject, who, packages)?)),
        A::FetchPackage => Ok(Answer::Bytes("application/zip", desk.package_zip(subject, who)?)),
        A::DeliverPackage => {
            let b: DeliverBody = body_as(body)?;
            ok(record_json(&desk.deliver(subject, who, &b.to)?))
        }
        A::ReproducePackage => {
            let p = desk.reproduce(subject, &packages.join("reproduced"))?;
            desk.record(who, "demand-reproduced", json!({ "demand": subject, "manifest_sha256": p.manifest_sha256 }))?;
            ok(json!({ "demand": subject, "manifest_sha256": p.manifest_sha256, "matches": true }))
        }
        A::ReadAudit => ok(serde_json::to_value(desk.audit_entries()?).unwrap_or(Value::Null)),
        A::VerifyAudit => match desk.verify_audit()? {
            Ok(v) => ok(json!({ "intact": true, "entries": v.entries, "last": v.last })),
            Err(t) => ok(json!({ "intact": false, "tamper": t.to_string() })),
        },
        A::ShowCases => {
            let (cases, traces) = desk.cases(subject, who)?;
            ok(json!({ "cases": cases, "traces": traces }))
        }
        A::SetTraceBlock => {
            let b: BlockBody = body_as(body)?;
            desk.set_trace_block(subject, b.blocked, who)?;
            ok(json!({ "blocked": b.blocked }))
        }
        A::SetCpniPassword => {
            let b: PasswordBody = body_as(body)?;
            desk.set_cpni_password(subject, &b.password, who)?;
            ok(json!({ "password": "set; the customer is notified at the address of record" }))
        }
        A::OverrideCase => {
            let b: OverrideBody = body_as(body)?;
            desk.override_case(subject, &b.reason, who)?;
            ok(json!({ "case": subject, "overridden": true }))
        }
        A::HandOffCase => ok(json!({ "case": subject, "traces_deleted": desk.hand_off(subject, who)? })),
    }
}

/// The audit detail of a refused or failed request (the certificate, the peer, the action
/// and what it named).
fn attempt(peer: &Peer, role: Option<DeskRole>, route: &Route, why: &str) -> Value {
    json!({
        "action": route.action.name(),
        "subject": route.subject,
        "role": role,
        "certificate_sha256": peer.fingerprint,
        "client": peer.addr.to_string(),
        "why": why,
    })
}

impl Api {
    /// Runs `f` on the desk's thread.
    async fn on_desk<T: Send + 'static>(&self, f: impl FnOnce(&mut Desk) -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |desk| {
            let _ = tx.send(f(desk));
        });
        self.jobs.send(job).ok()?;
        rx.await.ok()
    }

    async fn handle(&self, peer: Peer, req: Request<Incoming>) -> Reply {
        let route = match route(req.method(), req.uri().path()) {
            Ok(r) => r,
            Err(status) => return error(status, "no such resource or method"),
        };
        let who = peer.who();
        let role = DeskRole::of(&peer.subject);
        let refusal = match role {
            None => Some("the certificate has no desk role (OU desk-analyst, desk-supervisor or desk-auditor)"),
            Some(r) if !allowed(r, route.action) => Some("the role may not do this"),
            Some(_) => None,
        };
        if let Some(why) = refusal {
            let detail = attempt(&peer, role, &route, why);
            let logged = self.on_desk(move |desk| desk.record(&who, "desk-refused", detail)).await;
            tracing::warn!(who = %peer.who(), role = ?role, action = route.action.name(), "desk API request refused");
            if !matches!(logged, Some(Ok(()))) {
                tracing::error!("cannot write the refusal to the audit trail");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "audit trail unavailable");
            }
            return error(StatusCode::FORBIDDEN, why);
        }
        let body = match read_body(req, MAX_BODY).await {
            Ok(b) => b,
            Err(too_large) => return too_large,
        };
        let packages = self.packages.clone();
        let (r, p) = (route.clone(), peer.clone());
        let done = self
            .on_desk(move |desk| {
                let result = perform(desk, &who, &r, &body, &packages);
                if let Err(f) = &result {
                    if let Err(e) = desk.record(&who, "desk-failed", attempt(&p, role, &r, &f.why)) {
                        tracing::error!(error = %e, "cannot write the failure to the audit trail");
                    }
                }
                result
            })
            .await;
        let status = |s: StatusCode| s.as_u16();
        match done {
            Some(Ok(Answer::Json(s, v))) => {
                tracing::info!(who = %peer.who(), role = ?role, action = route.action.name(), status = status(s), "desk API");
                reply(s, v)
            }
            Some(Ok(Answer::Bytes(kind, bytes))) => {
                tracing::info!(who = %peer.who(), role = ?role, action = route.action.name(), status = 200, "desk API");
                bytes_reply(StatusCode::OK, kind, bytes)
            }
            Some(Err(f)) => {
                tracing::warn!(who = %peer.who(), role = ?role, action = route.action.name(), status = status(f.status), "desk API request failed");
                error(f.status, &f.why)
            }
            None => {
                tracing::error!("the desk thread is gone");
                error(StatusCode::INTERNAL_SERVER_ERROR, "desk unavailable")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_route_and_unknown_paths_do_not() {
        let mut seen = std::collections::HashSet::new();
        for (m, p) in [
            ("GET", "/demands"),
            ("POST", "/demands"),
            ("GET", "/demands/D-000001"),
            ("POST", "/demands/D-000001/validate"),
            ("POST", "/demands/D-000001/decide"),
            ("GET", "/demands/D-000001/calls"),
            ("POST", "/demands/D-000001/produce"),
            ("GET", "/demands/D-000001/package"),
            ("POST", "/demands/D-000001/deliver"),
            ("POST", "/demands/D-000001/reproduce"),
            ("GET", "/audit"),
            ("GET", "/audit/verify"),
            ("GET", "/lines/%2B13035550142/cases"),
            ("PUT", "/lines/%2B13035550142/trace-block"),
            ("PUT", "/lines/%2B13035550142/cpni-password"),
            ("POST", "/cases/C-1/override"),
            ("POST", "/cases/C-1/hand-off"),
        ] {
            let r = route(&Method::from_bytes(m.as_bytes()).unwrap(), p).unwrap();
            seen.insert(r.action);
        }
        assert_eq!(seen.len(), DeskAction::ALL.len());
        assert_eq!(route(&Method::GET, "/lines/%2B13035550142/cases").unwrap().subject.as_deref(), Some("+13035550142"));
        assert_eq!(route(&Method::GET, "/warrants"), Err(StatusCode::NOT_FOUND));
        assert_eq!(route(&Method::DELETE, "/demands/D-000001"), Err(StatusCode::METHOD_NOT_ALLOWED));
        assert_eq!(route(&Method::GET, "/demands//calls"), Err(StatusCode::NOT_FOUND));
    }
}
