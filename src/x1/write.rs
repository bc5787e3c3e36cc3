//! Writes X1 requests and responses as XML valid against the ETSI schema (prefix `x1` for
//! the X1 namespace, `c` for TS 103 280 common types), elements in schema order, text
//! escaped.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::message::*;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Text with the five XML special characters escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn new() -> Xml {
        Xml { out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"), depth: 0 }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn open(&mut self, tag: &str, attrs: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{tag}{attrs}>");
        self.depth += 1;
    }

    fn close(&mut self, tag: &str) {
        self.depth -= 1;
        self.indent();
        let _ = writeln!(self.out, "</{tag}>");
    }

    fn leaf(&mut self, tag: &str, text: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{tag}>{}</{tag}>", escape(text));
    }
}

fn root_attrs() -> String {
    format!(" xmlns:x1=\"{NAMESPACE}\" xmlns:c=\"{COMMON_NAMESPACE}\" xmlns:xsi=\"{XSI}\"")
}

fn header(x: &mut Xml, h: &MessageHeader) {
    x.leaf("x1:admfIdentifier", &h.admf_identifier);
    x.leaf("x1:neIdentifier", &h.ne_identifier);
    x.leaf("x1:messageTimestamp", &h.timestamp);
    x.leaf("x1:version", &h.version);
    x.leaf("x1:x1TransactionId", &h.transaction_id.to_string());
}

fn task_details(x: &mut Xml, tag: &str, t: &TaskDetails) {
    x.open(tag, "");
    x.leaf("x1:xId", &t.xid.to_string());
    x.open("x1:targetIdentifiers", "");
    for target in &t.targets {
        x.open("x1:targetIdentifier", "");
        x.leaf(&format!("x1:{}", target.element()), target.value());
        x.close("x1:targetIdentifier");
    }
    x.close("x1:targetIdentifiers");
    x.leaf("x1:deliveryType", t.delivery_type.as_str());
    dids(x, "x1:listOfDIDs", &t.destinations);
    if let Some(c) = t.correlation_id {
        x.leaf("x1:correlationID", &c.to_string());
    }
    if let Some(b) = t.implicit_deactivation_allowed {
        x.leaf("x1:implicitDeactivationAllowed", if b { "true" } else { "false" });
    }
    x.close(tag);
}

fn dids(x: &mut Xml, tag: &str, dids: &[crate::x2x3::Xid]) {
    x.open(tag, "");
    for d in dids {
        x.leaf("x1:dId", &d.to_string());
    }
    x.close(tag);
}

fn destination_details(x: &mut Xml, d: &DestinationDetails) {
    x.open("x1:destinationDetails", "");
    x.leaf("x1:dId", &d.did.to_string());
    if let Some(name) = &d.friendly_name {
        x.leaf("x1:friendlyName", name);
    }
    x.leaf("x1:deliveryType", d.delivery_type.as_str());
    x.open("x1:deliveryAddress", "");
    match &d.address {
        DeliveryAddress::IpAndPort { address, port } => {
            x.open("x1:ipAddressAndPort", "");
            x.open("c:address", "");
            match address {
                IpAddr::V4(a) => x.leaf("c:IPv4Address", &a.to_string()),
                // TS 103 280 wants all eight groups, four lower-case digits each.
                IpAddr::V6(a) => {
                    let groups: Vec<String> = a.segments().iter().map(|g| format!("{g:04x}")).collect();
                    x.leaf("c:IPv6Address", &groups.join(":"))
                }
            }
            x.close("c:address");
            x.open("c:port", "");
            match port {
                Port::Tcp(p) => x.leaf("c:TCPPort", &p.to_string()),
                Port::Udp(p) => x.leaf("c:UDPPort", &p.to_string()),
            }
            x.close("c:port");
            x.close("x1:ipAddressAndPort");
        }
        DeliveryAddress::Uri(uri) => x.leaf("x1:uri", uri),
    }
    x.close("x1:deliveryAddress");
    x.close("x1:destinationDetails");
}

fn request_type_name(r: &Request) -> String {
    format!("{}Request", r.kind().as_str())
}

/// Writes an `X1Request` container.
pub fn write_request(request: &X1Request) -> String {
    let mut x = Xml::new();
    x.open("x1:X1Request", &root_attrs());
    for (h, r) in &request.messages {
        x.open("x1:x1RequestMessage", &format!(" xsi:type=\"x1:{}\"", request_type_name(r)));
        header(&mut x, h);
        match r {
            Request::ActivateTask(t) | Request::ModifyTask(t) => task_details(&mut x, "x1:taskDetails", t),
            Request::DeactivateTask { xid } | Request::GetTaskDetails { xid } => x.leaf("x1:xId", &xid.to_string()),
            Request::CreateDestination(d) | Request::ModifyDestination(d) => destination_details(&mut x, d),
            Request::RemoveDestination { did } => x.leaf("x1:dId", &did.to_string()),
            Request::DeactivateAllTasks | Request::ListAllDetails | Request::GetNeStatus | Request::Ping | Request::Keepalive => {}
        }
        x.close("x1:x1RequestMessage");
    }
    x.close("x1:X1Request");
    x.out
}

fn faults(x: &mut Xml, faults: &[ErrorInformation]) {
    x.open("x1:listOfFaults", "");
    for f in faults {
        x.open("x1:unresolvedFault", "");
        x.leaf("x1:errorCode", &f.code.to_string());
        x.leaf("x1:errorDescription", &f.description);
        x.close("x1:unresolvedFault");
    }
    x.close("x1:listOfFaults");
}

fn response_type_name(r: &Response) -> String {
    match r {
        Response::Ok { request, .. } => format!("{}Response", request.as_str()),
        Response::GetTaskDetails { .. } => "GetTaskDetailsResponse".into(),
        Response::ListAllDetails { .. } => "ListAllDetailsResponse".into(),
        Response::GetNeStatus { .. } => "GetNEStatusResponse".into(),
        Response::Error { .. } => "ErrorResponse".into(),
    }
}

/// Writes an `X1Response` container or an `X1TopLevelErrorResponse`.
pub fn write_response(response: &X1Response) -> String {
    let mut x = Xml::new();
    match response {
        X1Response::TopLevelError { admf_identifier, ne_identifier, timestamp, version } => {
            x.open("x1:X1TopLevelErrorResponse", &root_attrs());
            x.leaf("x1:admfIdentifier", admf_identifier);
            x.leaf("x1:neIdentifier", ne_identifier);
            x.leaf("x1:messageTimestamp", timestamp);
            x.leaf("x1:version", version);
            x.close("x1:X1TopLevelErrorResponse");
        }
        X1Response::Responses(messages) => {
            x.open("x1:X1Response", &root_attrs());
            for (h, r) in messages {
                x.open("x1:x1ResponseMessage", &format!(" xsi:type=\"x1:{}\"", response_type_name(r)));
                header(&mut x, h);
                match r {
                    Response::Ok { ok, .. } => x.leaf("x1:oK", ok.as_str()),
                    Response::GetTaskDetails { task, status, faults: f } => {
                        x.open("x1:taskResponseDetails", "");
                        task_details(&mut x, "x1:taskDetails", task);
                        x.open("x1:taskStatus", "");
                        x.leaf("x1:provisioningStatus", status.as_str());
                        faults(&mut x, f);
                        x.close("x1:taskStatus");
                        x.close("x1:taskResponseDetails");
                    }
                    Response::ListAllDetails { xids, dids: d } => {
                        x.open("x1:ListOfXIDs", "");
                        for xid in xids {
                            x.leaf("x1:xId", &xid.to_string());
                        }
                        x.close("x1:ListOfXIDs");
                        dids(&mut x, "x1:ListOfDIDs", d);
                    }
                    Response::GetNeStatus { ok, faults: f } => {
                        x.open("x1:neStatusDetails", "");
                        x.leaf("x1:neStatus", if *ok { "OK" } else { "Faults" });
                        faults(&mut x, f);
                        x.close("x1:neStatusDetails");
                    }
                    Response::Error { request_type, error } => {
                        x.leaf("x1:requestMessageType", request_type);
                        x.open("x1:errorInformation", "");
                        x.leaf("x1:errorCode", &error.code.to_string());
                        x.leaf("x1:errorDescription", &error.description);
                        x.close("x1:errorInformation");
                    }
                }
                x.close("x1:x1ResponseMessage");
            }
            x.close("x1:X1Response");
        }
    }
    x.out
}

/// The fields of a task or destination issue report, under `tags` (id, type, code, details).
fn issue(x: &mut Xml, tags: [&str; 4], id: &crate::x2x3::Xid, kind: ReportType, code: Option<u32>, details: Option<&str>) {
    x.leaf(tags[0], &id.to_string());
    x.leaf(tags[1], kind.as_str());
    if let Some(c) = code {
        x.leaf(tags[2], &c.to_string());
    }
    if let Some(d) = details {
        x.leaf(tags[3], d);
    }
}

/// Writes an `X1Request` container of issue reports (network element → ADMF).
pub fn write_reports(reports: &X1Reports) -> String {
    let mut x = Xml::new();
    x.open("x1:X1Request", &root_attrs());
    for (h, r) in &reports.messages {
        x.open("x1:x1RequestMessage", &format!(" xsi:type=\"x1:{}Request\"", r.kind().as_str()));
        header(&mut x, h);
        match r {
            IssueReport::Task { xid, kind, code, details } => {
                let tags = ["x1:xId", "x1:taskReportType", "x1:taskIssueErrorCode", "x1:taskIssueDetails"];
                issue(&mut x, tags, xid, *kind, *code, details.as_deref());
            }
            IssueReport::Destination { did, kind, code, details } => {
                let tags = ["x1:dId", "x1:destinationReportType", "x1:destinationIssueErrorCode", "x1:destinationIssueDetails"];
                issue(&mut x, tags, did, *kind, *code, details.as_deref());
            }
            IssueReport::Ne { kind, description, code } => {
                x.leaf("x1:typeOfNeIssueMessage", kind.as_str());
                x.leaf("x1:description", description);
                if let Some(c) = code {
                    x.leaf("x1:issueCode", &c.to_string());
                }
            }
        }
        x.close("x1:x1RequestMessage");
    }
    x.close("x1:X1Request");
    x.out
}
