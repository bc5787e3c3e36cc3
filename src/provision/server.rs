//! The HTTPS server of the provisioning API (on the shared mutual-TLS plumbing of
//! [`super::https`]): routes, roles from the client certificate, audit entries of every act.
//!
//! `GET /warrants` (`?all=1` adds the revoked ones, `?state=S` lists one state),
//! `GET /warrants/LIID`, `POST /warrants`, `PUT /warrants/LIID`, `DELETE /warrants/LIID`
//! (body `{"reason": "…"}`; empty from older clients); JSON in and out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};

use super::https::{self, error, percent_decode, read_body, reply, HttpsError, HttpsServer, Peer, Reply, TlsListen};
use super::reason;
use super::store::{Listing, Role, StoreError, WarrantStore};
use crate::audit::{AuditError, AuditLog, Event, ProvisioningAct};
use crate::delivery::pki::{ROLE_PROVISIONING, ROLE_VIEWER};
use crate::delivery::tls::TlsError;
use crate::metrics::WarrantState;
use crate::warrant::describe;

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

/// Where the API listens, its certificates, and the stores it writes.
#[derive(Clone, Debug)]
pub struct ProvisionConfig {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA of the client certificates (roles are their OU: `provisioning`, `viewer`).
    pub client_ca: PathBuf,
    pub warrants: PathBuf,
    pub audit: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("audit trail: {0}")]
    Audit(#[from] AuditError),
}

/// A running API server.
pub struct ProvisionServer {
    pub addr: SocketAddr,
    server: HttpsServer,
}

impl ProvisionServer {
    pub fn stop(self) {
        self.server.stop();
    }
}

/// The client of one connection: who (certificate CN), role, and address.
#[derive(Clone, Debug)]
struct Client {
    who: String,
    role: Option<Role>,
    peer: SocketAddr,
}

struct Api {
    store: WarrantStore,
    audit: Option<Mutex<AuditLog>>,
    /// One write at a time, so checks and renames of two requests never interleave.
    writing: tokio::sync::Mutex<()>,
}

/// Binds and serves on the current tokio runtime until the server is stopped.
pub async fn start(config: &ProvisionConfig) -> Result<ProvisionServer, ProvisionError> {
    let audit = match &config.audit {
        Some(dir) => Some(Mutex::new(AuditLog::open(dir)?)),
        None => None,
    };
    let api = Arc::new(Api { store: WarrantStore::new(&config.warrants), audit, writing: Default::default() });
    let listen = TlsListen { listen: config.listen, cert: config.cert.clone(), key: config.key.clone(), client_ca: config.client_ca.clone() };
    let server = https::serve(&listen, "provisioning", move |peer, req| {
        let api = api.clone();
        async move { api.handle(&client_of(&peer), req).await }
    })
    .await
    .map_err(|e| match e {
        HttpsError::Tls(e) => ProvisionError::Tls(e),
        HttpsError::Listen { addr, source } => ProvisionError::Listen { addr, source },
    })?;
    Ok(ProvisionServer { addr: server.addr, server })
}

fn client_of(peer: &Peer) -> Client {
    let units = &peer.subject.units;
    let role = if units.iter().any(|u| u == ROLE_PROVISIONING) {
        Some(Role::Provisioning)
    } else if units.iter().any(|u| u == ROLE_VIEWER) {
        Some(Role::Viewer)
    } else {
        None
    };
    Client { who: peer.who(), role, peer: peer.addr }
}

impl Api {
    async fn handle(&self, client: &Client, req: Request<Incoming>) -> Reply {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let req_query = req.uri().query().map(str::to_owned);
        let Some(role) = client.role else {
            self.audit_act(client, "refused", None, Some("certificate has no provisioning role"));
            return error(StatusCode::FORBIDDEN, "this certificate has no provisioning role");
        };
        let liid = match path.strip_prefix("/warrants") {
            Some("") | Some("/") => None,
            Some(rest) => match rest.strip_prefix('/') {
                Some(l) if !l.is_empty() && !l.contains('/') => Some(percent_decode(l)),
                _ => return error(StatusCode::NOT_FOUND, "no such resource"),
            },
            None => return error(StatusCode::NOT_FOUND, "no such resource"),
        };
        let writes = !matches!(method, Method::GET);
        if writes && role != Role::Provisioning {
            self.audit_act(client, "refused", liid.as_deref(), Some("viewer may not change warrants"));
            return error(StatusCode::FORBIDDEN, "this certificate may not change warrants");
        }
        let body = match read_body(req, MAX_BODY).await {
            Ok(b) => b,
            Err(too_large) => return too_large,
        };
        let _writing = if writes { Some(self.writing.lock().await) } else { None };
        let query = req_query.as_deref();
        // Each act: its name, and the reply body with the audit detail of a success.
        let (action, result): (&str, Result<(Value, Option<String>), StoreError>) = match (&method, liid.as_deref()) {
            (&Method::GET, None) => match listing(query) {
                Ok(l) => ("list", self.store.list(role, l).map(|v| (json!(v), None))),
                Err(why) => return error(StatusCode::BAD_REQUEST, &why),
            },
            (&Method::GET, Some(l)) => ("show", self.store.show(l, role).map(|v| (json!(v), None))),
            (&Method::POST, None) => match document(&body) {
                Ok(doc) => ("create", self.store.create(&doc).map(|v| (json!(v), None))),
                Err(why) => return error(StatusCode::BAD_REQUEST, &why),
            },
            (&Method::PUT, Some(l)) => match document(&body) {
                Ok(doc) => ("amend", self.store.amend(l, &doc).map(|(v, c)| (json!(v), Some(describe(&c))))),
                Err(why) => return error(StatusCode::BAD_REQUEST, &why),
            },
            (&Method::DELETE, Some(l)) => match reason::of_body(&body) {
                Ok(why) => {
                    let detail = match &why {
                        Some(line) => format!("reason: {}", reason::capped(line)),
                        None => "reason: (none given)".to_owned(),
                    };
                    ("revoke", self.store.revoke(l, why.as_deref()).map(|v| (json!(v), Some(detail))))
                }
                Err(why) => return error(StatusCode::BAD_REQUEST, &why),
            },
            _ => return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here"),
        };
        let subject_liid = match &result {
            Ok((v, _)) => v.get("liid").and_then(Value::as_str).map(str::to_owned).or(liid.clone()),
            Err(_) => liid.clone().or_else(|| {
                let doc: Value = serde_json::from_slice(&body).ok()?;
                doc.get("liid")?.as_str().map(str::to_owned)
            }),
        };
        if writes {
            let (act, detail) = match &result {
                Ok((_, detail)) => (action, detail.clone()),
                Err(e) => ("refused", Some(format!("{action}: {e}"))),
            };
            self.audit_act(client, act, subject_liid.as_deref(), detail.as_deref());
            tracing::info!(who = %client.who, peer = %client.peer, action = act, liid = subject_liid.as_deref().unwrap_or("-"), "provisioning");
        }
        let result = result.map(|(v, _)| v);
        match result {
            Ok(v) if action == "create" => reply(StatusCode::CREATED, v),
            Ok(v) => reply(StatusCode::OK, v),
            Err(StoreError::Unknown(l)) => error(StatusCode::NOT_FOUND, &format!("no warrant with LIID `{l}`")),
            Err(StoreError::Exists(l)) => error(StatusCode::CONFLICT, &format!("a warrant with LIID `{l}` exists")),
            Err(StoreError::Refused(why)) => error(StatusCode::BAD_REQUEST, &why),
            Err(StoreError::Invalid(errors)) => {
                reply(StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": "invalid warrant", "errors": errors }))
            }
            Err(StoreError::Store(e)) => {
                tracing::error!(error = %e, "warrant store");
                error(StatusCode::INTERNAL_SERVER_ERROR, "warrant store unavailable")
            }
        }
    }

    fn audit_act(&self, client: &Client, action: &str, liid: Option<&str>, detail: Option<&str>) {
        let Some(log) = &self.audit else { return };
        let event = Event::Provisioning(ProvisioningAct {
            who: client.who.clone(),
            action: action.into(),
            liid: liid.map(str::to_owned),
            client: client.peer.to_string(),
            detail: detail.map(str::to_owned),
        });
        let result = match log.lock() {
            Ok(mut log) => log.append(event),
            Err(poisoned) => poisoned.into_inner().append(event),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot write the audit trail");
        }
    }
}

/// The listing a `GET /warrants` query asks for: none, `all=1`, or `state=NAME`.
fn listing(query: Option<&str>) -> Result<Listing, String> {
    let mut listing = Listing::InStore;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        listing = match (key, value) {
            ("all", "1" | "true" | "") => Listing::All,
            ("all", "0" | "false") => Listing::InStore,
            ("state", name) => match WarrantState::ALL.into_iter().find(|s| s.name() == name) {
                Some(state) => Listing::State(state),
                None => return Err("`state` must be pending, active, expired or revoked".into()),
            },
            _ => return Err("unknown query; use `all=1` or `state=pending|active|expired|revoked`".into()),
        };
    }
    Ok(listing)
}

/// The JSON object of a request body, or why not.
fn document(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the body must be a JSON object".into()),
        Err(e) => Err(format!("the body is not JSON: {e}")),
    }
}
