//! SIP dialog state of the captured leg (Call-ID, tags, Via, Contact, Route, CSeq) and the
//! requests and responses built from it.

use super::channel::Transport;
use super::frame::Endpoint;
use super::rng::Rng;
use super::sip_text::{host, host_port, SipMessage};

pub const UA_AGENT: &str = "tapline-gen UA/1.0";
pub const PROXY_AGENT: &str = "tapline-gen proxy/1.0";

/// Where a request stands relative to the dialog, which decides its To tag and Route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Initial request (or CANCEL): To without tag, no Route.
    Initial,
    /// ACK of a non-2xx final response: To with tag, no Route.
    NonSuccessAck,
    /// Request inside the established dialog: To with tag, Route set.
    InDialog,
}

/// A client transaction as far as its responses need it.
#[derive(Clone, Debug)]
pub struct Txn {
    pub method: &'static str,
    pub cseq: u32,
    vias: Vec<String>,
}

/// Header state of one dialog on the captured leg; requests come from the UAC side.
#[derive(Clone, Debug)]
pub struct Dialog {
    pub call_id: String,
    /// Request-URI of the initial request.
    pub ruri: String,
    /// From value including its tag.
    pub from: String,
    /// To value without a tag.
    pub to: String,
    pub to_tag: String,
    pub uac_contact: String,
    /// Contact URI of the answering party (target of in-dialog requests).
    pub uas_contact_uri: String,
    /// Route set when the UAS side of the capture is the record-routing proxy.
    pub route: Option<String>,
    /// A Via of the upstream hop when the UAC side is the proxy forwarding the request.
    pub upstream_via_host: Option<String>,
    /// Extra headers of the initial INVITE (Privacy, P-Asserted-Identity, Subject, ...).
    pub invite_headers: Vec<(&'static str, String)>,
    pub cseq: u32,
    pub transport: Transport,
    pub uac: Endpoint,
    pub max_forwards: u32,
    pub uac_agent: &'static str,
    pub uas_agent: &'static str,
}

/// Fresh Call-ID, tag and branch values.
pub fn call_id(rng: &mut Rng) -> String {
    rng.hex(32)
}

pub fn tag(rng: &mut Rng) -> String {
    rng.hex(10)
}

pub fn branch(rng: &mut Rng) -> String {
    format!("z9hG4bK{}", rng.hex(16))
}

/// Contact value for `user` at a SIP endpoint.
pub fn contact(user: &str, ep: Endpoint, transport: Transport) -> String {
    let param = match transport {
        Transport::Udp => "",
        Transport::Tcp => ";transport=tcp",
    };
    format!("<sip:{user}@{}{param}>", host_port(ep))
}

/// The standard reason phrase of a status code used by the generator.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        302 => "Moved Temporarily",
        403 => "Forbidden",
        404 => "Not Found",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "Rejected",
    }
}

impl Dialog {
    /// A request from the UAC side; an initial INVITE carries `invite_headers`. ACK for a
    /// non-2xx and CANCEL are given the INVITE's branch by the caller.
    pub fn request(
        &self,
        method: &'static str,
        uri: &str,
        cseq: u32,
        branch: String,
        scope: Scope,
        rng: &mut Rng,
    ) -> (SipMessage, Txn) {
        let in_dialog = scope == Scope::InDialog;
        let mut vias = vec![format!(
            "SIP/2.0/{} {};branch={branch};rport",
            self.transport.via_token(),
            host_port(self.uac)
        )];
        if let Some(upstream) = &self.upstream_via_host {
            vias.push(format!(
                "SIP/2.0/{} {upstream};branch=z9hG4bK{};received={}",
                self.transport.via_token(),
                rng.hex(16),
                upstream_ip(upstream)
            ));
        }
        let mut m = SipMessage::request(method, uri);
        for via in &vias {
            m.header("Via", via.clone());
        }
        m.header("Max-Forwards", self.max_forwards.to_string());
        if in_dialog {
            if let Some(route) = &self.route {
                m.header("Route", route.clone());
            }
        }
        m.header("From", self.from.clone());
        m.header(
            "To",
            if scope == Scope::Initial {
                self.to.clone()
            } else {
                self.to_with_tag()
            },
        );
        m.header("Call-ID", self.call_id.clone());
        m.header("CSeq", format!("{cseq} {method}"));
        if method == "INVITE" {
            m.header("Contact", self.uac_contact.clone());
        }
        if method == "INVITE" && scope == Scope::Initial {
            for (name, value) in &self.invite_headers {
                m.header(name, value.clone());
            }
            m.header(
                "Allow",
                "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, UPDATE",
            );
        }
        m.header("User-Agent", self.uac_agent);
        let txn = Txn { method, cseq, vias };
        (m, txn)
    }

    /// A response from the UAS side to `txn`.
    pub fn response(&self, txn: &Txn, status: u16, with_to_tag: bool) -> SipMessage {
        let mut m = SipMessage::response(status, reason(status));
        for via in &txn.vias {
            m.header("Via", via.clone());
        }
        let establishes = txn.method == "INVITE" && (101..300).contains(&status);
        if establishes {
            if let Some(route) = &self.route {
                m.header("Record-Route", route.clone());
            }
        }
        m.header("From", self.from.clone());
        m.header(
            "To",
            if with_to_tag {
                self.to_with_tag()
            } else {
                self.to.clone()
            },
        );
        m.header("Call-ID", self.call_id.clone());
        m.header("CSeq", format!("{} {}", txn.cseq, txn.method));
        if establishes {
            m.header("Contact", format!("<{}>", self.uas_contact_uri));
        }
        m.header("Server", self.uas_agent);
        m
    }

    pub fn to_with_tag(&self) -> String {
        format!("{};tag={}", self.to, self.to_tag)
    }

    /// Next CSeq number of an in-dialog request.
    pub fn next_cseq(&mut self) -> u32 {
        self.cseq += 1;
        self.cseq
    }
}

fn upstream_ip(host_port: &str) -> &str {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// `sip:{user}@{host}` of an endpoint address, for Contact URIs.
pub fn contact_uri(user: &str, ep: Endpoint, transport: Transport) -> String {
    contact(user, ep, transport)
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// Route/Record-Route value of a loose-routing proxy.
pub fn loose_route(proxy: Endpoint) -> String {
    format!("<sip:{};lr>", host(proxy.ip))
}
