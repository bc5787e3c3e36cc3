//! The ADMF's report endpoint (`[admf] report_listen` in pois.toml): HTTPS with client
//! certificates required, where points of interception POST `X1Request` containers of
//! issue reports (TS 103 221-1 clause 6.5). Each report is acknowledged when its
//! neIdentifier is the common name of the client certificate and a POI of pois.toml
//! ([`crate::x1::report::acknowledge`]), then logged (WARN for faults and warnings, INFO
//! otherwise; the free-text details are never logged: they could name anything) and counted
//! in `tapline_x1_reports_total{poi,kind}` and `tapline_x1_report_messages_total{poi,message}`
//! (the latter also in `tapline run`'s summary).

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, StatusCode};

use super::config::PoisConfig;
use crate::provision::https::{self, HttpsError, HttpsServer, Peer, Reply, TlsListen};
use crate::metrics::{Metrics, X1Family};
use crate::x1::report::{acknowledge, ReportPolicy};
use crate::x1::{parse_reports, write_response, IssueReport, NeIssueType, ReportType, X1Response, VERSION};
use crate::Timestamp;

/// Largest report container accepted.
const MAX_BODY: usize = 256 * 1024;

/// What the endpoint knows: who it is and the POIs (neIdentifier → id).
pub(super) struct ReportDesk {
    pub admf: String,
    pub known: Vec<String>,
    pub ids: Vec<(String, String)>,
    pub metrics: Arc<Metrics>,
}

impl ReportDesk {
    pub fn of(config: &PoisConfig, metrics: Arc<Metrics>) -> ReportDesk {
        ReportDesk {
            admf: config.admf_identifier.clone(),
            known: config.pois.iter().map(|p| p.ne_identifier.clone()).collect(),
            ids: config.pois.iter().map(|p| (p.ne_identifier.clone(), p.id.clone())).collect(),
            metrics,
        }
    }

    fn poi_id(&self, ne: &str) -> &str {
        self.ids.iter().find(|(n, _)| n == ne).map_or("unknown", |(_, id)| id.as_str())
    }

    /// Answers one POST body from the peer `peer` (its certificate's common name).
    fn handle(&self, peer: &str, body: &[u8]) -> String {
        let now = Timestamp::wall_now();
        let parsed = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_owned()).and_then(|t| parse_reports(t).map_err(|e| e.to_string()));
        let reports = match parsed {
            Ok(r) => r,
            Err(why) => {
                tracing::warn!(reason = %why, "X1 report not readable; top-level error");
                return write_response(&X1Response::TopLevelError {
                    admf_identifier: self.admf.clone(),
                    ne_identifier: if peer.is_empty() { "unknown".into() } else { peer.to_owned() },
                    timestamp: now.to_rfc3339(),
                    version: VERSION.to_owned(),
                });
            }
        };
        let policy = ReportPolicy { admf_identifier: &self.admf, known: &self.known };
        let (answer, accepted) = acknowledge(&policy, peer, &reports, now);
        let refused = reports.messages.len() - accepted.len();
        if refused > 0 {
            tracing::warn!(refused, "X1 reports refused: sender not a POI of pois.toml or not bound to its certificate");
        }
        for (ne, report) in &accepted {
            let poi = self.poi_id(ne);
            self.metrics.add_x1(X1Family::Reports, poi, report.type_str(), 1);
            self.metrics.add_x1(X1Family::ReportMessages, poi, report.kind().as_str(), 1);
            log(poi, report);
        }
        write_response(&answer)
    }
}

/// Whether a report says something is wrong (logged at WARN).
fn is_fault(report: &IssueReport) -> bool {
    match report {
        IssueReport::Task { kind, .. } | IssueReport::Destination { kind, .. } => match kind {
            ReportType::AllClear | ReportType::FullyActionedAndSuccessful => false,
            ReportType::Warning
            | ReportType::NonTerminatingFault
            | ReportType::TerminatingFault
            | ReportType::ImplicitDeactivation
            | ReportType::FullyActionedAndUnsuccessful => true,
        },
        IssueReport::Ne { kind, .. } => match kind {
            NeIssueType::FaultCleared => false,
            NeIssueType::Warning | NeIssueType::FaultReport | NeIssueType::Alert => true,
        },
    }
}

fn log(poi: &str, report: &IssueReport) {
    let (what, id, code) = report.about();
    let id = id.map(|x| x.to_string());
    let kind = report.type_str();
    if is_fault(report) {
        tracing::warn!(poi, about = what, id, kind, code, "X1 issue reported by a POI");
    } else {
        tracing::info!(poi, about = what, id, kind, code, "X1 issue reported by a POI");
    }
}

fn reply(status: StatusCode, body: String) -> Reply {
    https::bytes_reply(status, "application/xml", body.into_bytes())
}

async fn answer(desk: &ReportDesk, peer: &str, req: hyper::Request<Incoming>) -> Reply {
    if req.method() != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, String::new());
    }
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => reply(StatusCode::OK, desk.handle(peer, &b.to_bytes())),
        Err(_) => reply(StatusCode::PAYLOAD_TOO_LARGE, String::new()),
    }
}

/// Binds the endpoint and serves it on the current runtime until stopped, through the
/// project's mutual-TLS HTTPS plumbing; the peer is its certificate's common name.
pub(super) async fn serve(listen: &TlsListen, desk: Arc<ReportDesk>) -> Result<HttpsServer, HttpsError> {
    https::serve(listen, "x1-reports", move |peer: Peer, req| {
        let desk = Arc::clone(&desk);
        async move { answer(&desk, peer.subject.common_name.as_deref().unwrap_or_default(), req).await }
    })
    .await
}
