//! The ADMF shell inside `tapline run --pois FILE`: one task per POI on a small runtime of
//! its own, driving [`PoiSync`] over the [`X1Client`]. It rounds as soon as the warrants
//! change ([`Admf::follow`], called by the run on every reload), when a warrant starts or
//! ends, and reconciles in full every `reconcile_secs` and after any failure (so a POI that
//! restarted or came back is re-tasked). Events are logged (INFO for tasking, WARN for
//! refusals and unreachable POIs, never a target), audited as the `admf` actor and counted
//! in `tapline_x1_requests_total{poi,outcome}`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::config::{PoiConfig, PoisConfig};
use super::envelope::{answers, container, Parties};
use super::plan::{next_boundary, Plan};
use super::reports::ReportDesk;
use super::sync::{AdmfEvent, PoiState, PoiSync};
use crate::audit::{AuditLog, Event, ProvisioningAct};
use crate::delivery::tls::TlsError;
use crate::metrics::{Metrics, X1Family};
use crate::provision::https::HttpsError;
use crate::time::RunClock;
use crate::warrant::Warrant;
use crate::x1::client::X1Client;
use crate::x1::{parse_response, write_request};

/// Who the ADMF's audit entries name.
pub const ADMF_ACTOR: &str = "admf";
/// Longest wait before retrying a POI that failed (shorter when `reconcile_secs` is).
const RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AdmfError {
    #[error("POI `{poi}`: {source}")]
    Tls { poi: String, source: TlsError },
    #[error("ADMF runtime: {0}")]
    Runtime(std::io::Error),
    #[error("X1 report endpoint: {0}")]
    ReportTls(TlsError),
    #[error("X1 report endpoint on {addr}: {source}")]
    ReportListen { addr: std::net::SocketAddr, source: std::io::Error },
}

/// What the ADMF needs from the run.
pub struct AdmfContext {
    pub clock: Arc<RunClock>,
    pub audit: Option<Arc<Mutex<AuditLog>>>,
    pub metrics: Arc<Metrics>,
}

type Warrants = Arc<Vec<Warrant>>;

/// The running ADMF; stopped when dropped.
pub struct Admf {
    warrants: watch::Sender<Warrants>,
    states: Arc<Mutex<BTreeMap<String, PoiState>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    report_addr: Option<std::net::SocketAddr>,
}

impl Admf {
    /// Starts tasking every POI of `config` with `warrants`.
    pub fn start(config: &PoisConfig, warrants: Vec<Warrant>, context: AdmfContext) -> Result<Admf, AdmfError> {
        let mut clients = Vec::with_capacity(config.pois.len());
        for poi in &config.pois {
            let client = X1Client::new(&poi.x1, &poi.ca, &config.cert, &config.key).map_err(|source| AdmfError::Tls { poi: poi.id.clone(), source })?;
            clients.push((poi.clone(), client));
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(AdmfError::Runtime)?;
        // Bound here, so a bad certificate or a taken port fails the start; its accept loop
        // is a task of `runtime`, driven once the ADMF thread runs it.
        let reports = match &config.reports {
            Some(listen) => {
                let desk = Arc::new(ReportDesk::of(config, Arc::clone(&context.metrics)));
                let server = runtime.block_on(super::reports::serve(listen, desk)).map_err(|e| match e {
                    HttpsError::Tls(e) => AdmfError::ReportTls(e),
                    HttpsError::Listen { addr, source } => AdmfError::ReportListen { addr, source },
                })?;
                Some(server)
            }
            None => None,
        };
        let report_addr = reports.as_ref().map(|r| r.addr);
        let (tx, rx) = watch::channel(Arc::new(warrants));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let states = Arc::new(Mutex::new(config.pois.iter().map(|p| (p.id.clone(), PoiState::Unknown)).collect()));
        let (context, shared, admf, reconcile) = (Arc::new(context), states.clone(), config.admf_identifier.clone(), config.reconcile);
        let thread = std::thread::Builder::new()
            .name("admf".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut tasks = tokio::task::JoinSet::new();
                    for (poi, client) in clients {
                        let parties = Parties { admf: admf.clone(), ne: poi.ne_identifier.clone() };
                        let shell = PoiShell { poi, client, parties, context: context.clone(), states: shared.clone(), reconcile };
                        tasks.spawn(shell.run(rx.clone()));
                    }
                    let _ = stop_rx.await;
                    if let Some(server) = reports {
                        server.stop();
                    }
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                })
            })
            .map_err(AdmfError::Runtime)?;
        tracing::info!(pois = config.pois.len(), admf = %config.admf_identifier, "ADMF tasking points of interception over X1");
        Ok(Admf { warrants: tx, states, stop: Some(stop_tx), thread: Some(thread), report_addr })
    }

    /// The warrants of the store changed: every POI gets the difference now.
    pub fn follow<'w>(&self, warrants: impl IntoIterator<Item = &'w Arc<Warrant>>) {
        let list: Vec<Warrant> = warrants.into_iter().map(|w| Warrant::clone(w)).collect();
        self.warrants.send_replace(Arc::new(list));
    }

    /// Where the issue-report endpoint listens, when configured.
    pub fn report_addr(&self) -> Option<std::net::SocketAddr> {
        self.report_addr
    }

    /// Where the ADMF stands with each POI, by id.
    pub fn states(&self) -> BTreeMap<String, PoiState> {
        self.states.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Admf {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct PoiShell {
    poi: PoiConfig,
    client: X1Client,
    parties: Parties,
    context: Arc<AdmfContext>,
    states: Arc<Mutex<BTreeMap<String, PoiState>>>,
    reconcile: Duration,
}

impl PoiShell {
    async fn run(self, mut warrants: watch::Receiver<Warrants>) {
        let mut sync = PoiSync::new();
        let mut reconciled = Instant::now();
        let retry = self.reconcile.min(RETRY);
        loop {
            let current = warrants.borrow_and_update().clone();
            let now = self.context.clock.now();
            let plan = Plan::new(current.iter(), now, &self.poi.deliver_to);
            let mut events = Vec::new();
            let requests = sync.next(&plan, &mut events);
            self.record(&events);
            let wait = if requests.is_empty() {
                // In step: until the warrants change, one starts or ends, or the next full round.
                let due = self.reconcile.saturating_sub(reconciled.elapsed());
                let boundary = next_boundary(current.iter(), now).map(|t| Duration::from_nanos(t.saturating_sub(now)));
                Some(boundary.map_or(due, |b| b.min(due)))
            } else {
                let x1 = container(&self.parties, &requests, self.context.clock.now());
                let answer = self.client.post(write_request(&x1)).await;
                let parsed = answer.map_err(|e| e.to_string()).and_then(|body| {
                    let response = parse_response(&body).map_err(|e| format!("answer not X1: {e}"))?;
                    answers(&self.parties, &x1, response).map_err(|e| e.to_string())
                });
                match parsed {
                    Ok(got) => {
                        let events = sync.answered(&plan, &requests, &got);
                        let refused = events.iter().filter(|e| matches!(e, AdmfEvent::Refused { .. })).count() as u64;
                        self.count("refused", refused);
                        self.count("ok", requests.len() as u64 - refused.min(requests.len() as u64));
                        self.record(&events);
                        (sync.state() == PoiState::Unknown).then_some(retry)
                    }
                    Err(why) => {
                        tracing::warn!(poi = %self.poi.id, error = %why, requests = requests.len(), "X1 round failed; POI unreachable");
                        self.count("unreachable", requests.len() as u64);
                        self.record(&sync.unreachable());
                        Some(retry)
                    }
                }
            };
            if let Some(wait) = wait {
                tokio::select! {
                    changed = warrants.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(wait) => {}
                }
                if reconciled.elapsed() >= self.reconcile {
                    sync.resync();
                    reconciled = Instant::now();
                }
            }
        }
    }

    fn count(&self, outcome: &'static str, n: u64) {
        if n > 0 {
            self.context.metrics.add_x1(X1Family::Requests, &self.poi.id, outcome, n);
        }
    }

    /// Logs, audits and publishes `events`.
    fn record(&self, events: &[AdmfEvent]) {
        let poi = self.poi.id.as_str();
        for e in events {
            let (action, liid, detail) = match e {
                AdmfEvent::TaskActivated { xid, liid } => {
                    tracing::info!(poi, %xid, %liid, "X1 task activated");
                    ("x1-activate", Some(liid.to_string()), format!("xid {xid}"))
                }
                AdmfEvent::TaskModified { xid, liid } => {
                    tracing::info!(poi, %xid, %liid, "X1 task modified");
                    ("x1-modify", Some(liid.to_string()), format!("xid {xid}"))
                }
                AdmfEvent::TaskDeactivated { xid, liid, why } => {
                    tracing::info!(poi, %xid, liid = liid.as_ref().map(|l| l.as_str()), why = why.as_str(), "X1 task deactivated");
                    ("x1-deactivate", liid.as_ref().map(|l| l.to_string()), format!("xid {xid}: {}", why.as_str()))
                }
                AdmfEvent::DestinationCreated { did } => {
                    tracing::info!(poi, %did, "X1 destination created");
                    ("x1-create-destination", None, format!("did {did}"))
                }
                AdmfEvent::DestinationRemoved { did } => {
                    tracing::info!(poi, %did, "X1 destination removed");
                    ("x1-remove-destination", None, format!("did {did}"))
                }
                AdmfEvent::Refused { request, code } => {
                    tracing::warn!(poi, request = request.as_str(), code, "X1 request refused by the POI");
                    ("x1-refused", None, format!("{} (error code {})", request.as_str(), code.map_or("none".into(), |c| c.to_string())))
                }
                AdmfEvent::State { from, to } => {
                    self.states.lock().unwrap_or_else(|p| p.into_inner()).insert(poi.to_owned(), *to);
                    match to {
                        PoiState::Unreachable | PoiState::Unknown => tracing::warn!(poi, from = from.as_str(), to = to.as_str(), "POI state"),
                        PoiState::Reconciling | PoiState::InStep => tracing::info!(poi, from = from.as_str(), to = to.as_str(), "POI state"),
                    }
                    // State changes are logged, not audited: they are not provisioning acts.
                    continue;
                }
            };
            self.audit(action, liid, detail);
        }
    }

    fn audit(&self, action: &str, liid: Option<String>, detail: String) {
        let Some(log) = &self.context.audit else { return };
        let act = ProvisioningAct { who: ADMF_ACTOR.into(), action: action.into(), liid, client: self.poi.id.clone(), detail: Some(detail) };
        let now = self.context.clock.now();
        if let Err(e) = log.lock().unwrap_or_else(|p| p.into_inner()).append_at(Event::Provisioning(act), now) {
            tracing::error!(error = %e, "cannot write the audit trail");
        }
    }
}
