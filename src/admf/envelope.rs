//! The X1 containers of a round: requests wrapped with this ADMF's header, and the answers
//! checked to come from the POI addressed, one per request, in order.

use crate::x1::{MessageHeader, Request, Response, X1Request, X1Response, VERSION};
use crate::Timestamp;

/// Who sends and who is addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parties {
    /// This ADMF: the common name of its client certificate.
    pub admf: String,
    /// The POI's neIdentifier.
    pub ne: String,
}

/// Why the answer to a round is not usable (a protocol failure, not a refusal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the POI answered with a top-level error (it could not read the request)")]
    TopLevel,
    #[error("{got} answers to {sent} requests")]
    Count { sent: usize, got: usize },
    #[error("answer {0} is from another network element or ADMF")]
    Parties(usize),
    #[error("answer {0} does not echo its request's transaction id")]
    Transaction(usize),
}

/// The container of `requests` at `now`; transaction ids are name-based UUIDs of the POI,
/// the time and the position.
pub fn container(parties: &Parties, requests: &[Request], now: Timestamp) -> X1Request {
    let messages = requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let header = MessageHeader {
                admf_identifier: parties.admf.clone(),
                ne_identifier: parties.ne.clone(),
                timestamp: now.to_rfc3339(),
                version: VERSION.to_owned(),
                transaction_id: super::plan::name_uuid("tapline/admf/transaction", &format!("{}/{}/{i}", parties.ne, now.0)),
            };
            (header, r.clone())
        })
        .collect();
    X1Request { messages }
}

/// The answers of `response` to `request`, in order.
pub fn answers(parties: &Parties, request: &X1Request, response: X1Response) -> Result<Vec<Response>, EnvelopeError> {
    let X1Response::Responses(messages) = response else { return Err(EnvelopeError::TopLevel) };
    if messages.len() != request.messages.len() {
        return Err(EnvelopeError::Count { sent: request.messages.len(), got: messages.len() });
    }
    let mut out = Vec::with_capacity(messages.len());
    for (i, ((h, answer), (sent, _))) in messages.into_iter().zip(&request.messages).enumerate() {
        if h.ne_identifier != parties.ne || h.admf_identifier != parties.admf {
            return Err(EnvelopeError::Parties(i));
        }
        if h.transaction_id != sent.transaction_id {
            return Err(EnvelopeError::Transaction(i));
        }
        out.push(answer);
    }
    Ok(out)
}
