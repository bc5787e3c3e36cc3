//! Issue reports (TS 103 221-1 clause 6.5) both ways: [`Reporter`], the client a network
//! element uses to send `ReportTaskIssue`, `ReportDestinationIssue` and `ReportNEIssue` to
//! its ADMF, and [`acknowledge`], the ADMF's sans-IO answer to a received container (the
//! sender's identity bound to its certificate, as the NE binds the ADMF's).

use std::path::Path;

use super::client::{ClientError, X1Client, X1Url};
use super::message::*;
use super::parse::{parse_response, X1Error};
use super::write::write_reports;
use crate::delivery::tls::TlsError;
use crate::x2x3::Xid;
use crate::Timestamp;

/// Why a report was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("the ADMF's answer is not X1: {0}")]
    Answer(#[from] X1Error),
    #[error("the ADMF refused the report: error code {code}")]
    Refused { code: u32 },
    #[error("the ADMF's answer does not acknowledge the report")]
    NotAcknowledged,
}

/// A network element's link to its ADMF's report endpoint.
pub struct Reporter {
    client: X1Client,
    admf_identifier: String,
    ne_identifier: String,
}

impl Reporter {
    /// Reports to `url` (server certificate from `ca`) as `ne_identifier`, with the client
    /// certificate `cert`/`key` whose common name is `ne_identifier`.
    pub fn new(url: &X1Url, ca: &Path, cert: &Path, key: &Path, admf_identifier: &str, ne_identifier: &str) -> Result<Reporter, TlsError> {
        Ok(Reporter {
            client: X1Client::new(url, ca, cert, key)?,
            admf_identifier: admf_identifier.to_owned(),
            ne_identifier: ne_identifier.to_owned(),
        })
    }

    /// Sends `report`; Ok once the ADMF acknowledged it.
    pub async fn send(&self, report: IssueReport, now: Timestamp) -> Result<(), ReportError> {
        let kind = report.kind();
        let body = report_container(&self.admf_identifier, &self.ne_identifier, report, now);
        match parse_response(&self.client.post(body).await?)? {
            X1Response::Responses(r) => match r.as_slice() {
                [(_, Response::Ok { request, .. })] if *request == kind => Ok(()),
                [(_, Response::Error { error, .. })] => Err(ReportError::Refused { code: error.code }),
                _ => Err(ReportError::NotAcknowledged),
            },
            X1Response::TopLevelError { .. } => Err(ReportError::NotAcknowledged),
        }
    }
}

/// The `X1Request` container a network element `ne_identifier` sends to the ADMF
/// `admf_identifier` for one `report` at `now` (a fresh transaction id).
pub fn report_container(admf_identifier: &str, ne_identifier: &str, report: IssueReport, now: Timestamp) -> String {
    let header = MessageHeader {
        admf_identifier: admf_identifier.to_owned(),
        ne_identifier: ne_identifier.to_owned(),
        timestamp: now.to_rfc3339(),
        version: VERSION.to_owned(),
        transaction_id: transaction_id(now),
    };
    write_reports(&X1Reports { messages: vec![(header, report)] })
}

/// A transaction id unique per instant and process (a random UUID, version 4).
fn transaction_id(now: Timestamp) -> Xid {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&now.0.to_be_bytes());
    for chunk in b[8..].chunks_mut(4) {
        chunk.copy_from_slice(&crate::delivery::tls::random_u32().to_be_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Xid(b)
}

/// Who may report to this ADMF.
pub struct ReportPolicy<'a> {
    pub admf_identifier: &'a str,
    /// neIdentifiers of the network elements this ADMF tasks.
    pub known: &'a [String],
}

/// The ADMF's answers to `reports` from the peer whose certificate names `peer`: each report
/// acknowledged when its header names this ADMF and the peer itself as a known element, else
/// refused with the generic error. Returns the answer and the reports accepted.
pub fn acknowledge(policy: &ReportPolicy<'_>, peer: &str, reports: &X1Reports, now: Timestamp) -> (X1Response, Vec<(String, IssueReport)>) {
    let mut accepted = Vec::new();
    let mut answers = Vec::with_capacity(reports.messages.len());
    for (h, report) in &reports.messages {
        let refusal = if h.admf_identifier != policy.admf_identifier {
            Some("the report is addressed to another ADMF")
        } else if h.ne_identifier != peer || !policy.known.iter().any(|k| *k == peer) {
            Some("network element not accepted for this client certificate")
        } else {
            None
        };
        let answer = match refusal {
            None => {
                accepted.push((h.ne_identifier.clone(), report.clone()));
                Response::Ok { request: report.kind(), ok: OkStatus::AcknowledgedAndCompleted }
            }
            Some(why) => Response::Error {
                request_type: report.kind().as_str().to_owned(),
                error: ErrorInformation { code: error_code::GENERIC, description: why.to_owned() },
            },
        };
        let header = MessageHeader {
            admf_identifier: policy.admf_identifier.to_owned(),
            ne_identifier: h.ne_identifier.clone(),
            timestamp: now.to_rfc3339(),
            version: VERSION.to_owned(),
            transaction_id: h.transaction_id,
        };
        answers.push((header, answer));
    }
    (X1Response::Responses(answers), accepted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x1::{parse_reports, write_response};

    fn reports(ne: &str) -> X1Reports {
        let h = MessageHeader {
            admf_identifier: "mf".into(),
            ne_identifier: ne.into(),
            timestamp: "2026-12-07T18:00:00.000000Z".into(),
            version: VERSION.into(),
            transaction_id: transaction_id(Timestamp::from_nanos(7)),
        };
        X1Reports {
            messages: vec![
                (h.clone(), IssueReport::Task { xid: Xid([1; 16]), kind: ReportType::Warning, code: Some(7), details: Some("a < b".into()) }),
                (h.clone(), IssueReport::Destination { did: Xid([2; 16]), kind: ReportType::NonTerminatingFault, code: None, details: None }),
                (h, IssueReport::Ne { kind: NeIssueType::FaultReport, description: "MDF unreachable".into(), code: Some(2) }),
            ],
        }
    }

    #[test]
    fn reports_round_trip_and_are_acknowledged_only_from_their_element() {
        let r = reports("poi-1");
        assert_eq!(parse_reports(&write_reports(&r)).expect("parses"), r);
        let known = ["poi-1".to_string()];
        let policy = ReportPolicy { admf_identifier: "mf", known: &known };
        let (answer, accepted) = acknowledge(&policy, "poi-1", &r, Timestamp::from_nanos(1));
        assert_eq!(accepted.len(), 3);
        let text = write_response(&answer);
        let X1Response::Responses(v) = parse_response(&text).expect("answer parses") else { panic!("container") };
        assert!(v.iter().zip(&r.messages).all(|((h, a), (sent, rep))| h.transaction_id == sent.transaction_id
            && *a == Response::Ok { request: rep.kind(), ok: OkStatus::AcknowledgedAndCompleted }));
        // Another element's certificate, or an element this ADMF does not task: refused.
        for (peer, ne) in [("poi-2", "poi-1"), ("poi-2", "poi-2")] {
            let (answer, accepted) = acknowledge(&policy, peer, &reports(ne), Timestamp::from_nanos(1));
            assert!(accepted.is_empty(), "{peer}/{ne}");
            let X1Response::Responses(v) = answer else { panic!("container") };
            assert!(v.iter().all(|(_, a)| matches!(a, Response::Error { .. })));
        }
        // A tasking request is not a report.
        let ping = crate::x1::write_request(&X1Request { messages: vec![(r.messages[0].0.clone(), Request::Ping)] });
        assert_eq!(parse_reports(&ping), Err(X1Error::Unsupported("PingRequest".into())));
    }
}
