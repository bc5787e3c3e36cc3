//! Reads X1 requests and responses with roxmltree, which refuses any DTD (so no entity of
//! any kind, external or internal, is ever expanded). Elements are checked in schema order;
//! optional elements tapline does not act on are skipped, anything else is refused.

use std::net::IpAddr;

use roxmltree::{Document, Node};

use super::message::*;
use crate::x2x3::Xid;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Why an X1 document was refused. Values are not quoted (they may hold targets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X1Error {
    #[error("not well-formed XML, or it has a DTD: {0}")]
    Xml(String),
    #[error("the root element is not {0}")]
    Root(&'static str),
    #[error("missing element {0}")]
    Missing(&'static str),
    #[error("unexpected element {0}")]
    Unexpected(String),
    #[error("element {0} has an invalid value")]
    Invalid(&'static str),
    #[error("a container with no message")]
    Empty,
    #[error("message type {0} is not supported")]
    Unsupported(String),
}

/// The element children of `node` in order, read one expected name at a time.
struct Children<'a, 'i> {
    items: Vec<Node<'a, 'i>>,
    at: usize,
}

fn is(node: &Node<'_, '_>, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(NAMESPACE)
}

fn is_common(node: &Node<'_, '_>, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(COMMON_NAMESPACE)
}

impl<'a, 'i> Children<'a, 'i> {
    fn of(node: Node<'a, 'i>) -> Self {
        Children { items: node.children().filter(|n| n.is_element()).collect(), at: 0 }
    }

    fn peek(&self) -> Option<Node<'a, 'i>> {
        self.items.get(self.at).copied()
    }

    fn optional(&mut self, name: &'static str) -> Option<Node<'a, 'i>> {
        let n = self.peek().filter(|n| is(n, name))?;
        self.at += 1;
        Some(n)
    }

    fn required(&mut self, name: &'static str) -> Result<Node<'a, 'i>, X1Error> {
        self.optional(name).ok_or(X1Error::Missing(name))
    }

    fn text(&mut self, name: &'static str) -> Result<String, X1Error> {
        Ok(text_of(self.required(name)?))
    }

    /// Skips optional elements with these names (any number, in any order).
    fn skip(&mut self, names: &[&str]) {
        while self.peek().is_some_and(|n| names.iter().any(|name| is(&n, name))) {
            self.at += 1;
        }
    }

    fn finish(self) -> Result<(), X1Error> {
        match self.peek() {
            None => Ok(()),
            Some(n) => Err(X1Error::Unexpected(n.tag_name().name().to_owned())),
        }
    }
}

/// Text content, whitespace collapsed (`xs:token`).
fn text_of(node: Node<'_, '_>) -> String {
    node.text().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn uuid(text: &str, element: &'static str) -> Result<Xid, X1Error> {
    text.parse::<Xid>().map_err(|_| X1Error::Invalid(element))
}

fn parse_doc(xml: &str) -> Result<Document<'_>, X1Error> {
    // roxmltree's default options refuse a DOCTYPE (`allow_dtd: false`).
    Document::parse(xml).map_err(|e| X1Error::Xml(e.to_string()))
}

/// The local `xsi:type` name of a message element, checked to be in the X1 namespace.
fn xsi_type(node: Node<'_, '_>) -> Result<String, X1Error> {
    let value = node.attribute((XSI, "type")).ok_or(X1Error::Missing("xsi:type"))?;
    let (prefix, local) = match value.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, value),
    };
    if node.lookup_namespace_uri(prefix) != Some(NAMESPACE) {
        return Err(X1Error::Invalid("xsi:type"));
    }
    Ok(local.to_owned())
}

fn header(c: &mut Children<'_, '_>) -> Result<MessageHeader, X1Error> {
    Ok(MessageHeader {
        admf_identifier: c.text("admfIdentifier")?,
        ne_identifier: c.text("neIdentifier")?,
        timestamp: c.text("messageTimestamp")?,
        version: c.text("version")?,
        transaction_id: uuid(&c.text("x1TransactionId")?, "x1TransactionId")?,
    })
}

/// Parses an `X1Request` container.
pub fn parse_request(xml: &str) -> Result<X1Request, X1Error> {
    Ok(X1Request { messages: request_container(xml, request_message)? })
}

/// The messages of an `X1Request` container, each read by `message`.
fn request_container<T>(xml: &str, message: impl Fn(Node<'_, '_>) -> Result<T, X1Error>) -> Result<Vec<T>, X1Error> {
    let doc = parse_doc(xml)?;
    let root = doc.root_element();
    if !is(&root, "X1Request") {
        return Err(X1Error::Root("X1Request"));
    }
    let mut messages = Vec::new();
    for node in root.children().filter(|n| n.is_element()) {
        if !is(&node, "x1RequestMessage") {
            return Err(X1Error::Unexpected(node.tag_name().name().to_owned()));
        }
        messages.push(message(node)?);
    }
    if messages.is_empty() {
        return Err(X1Error::Empty);
    }
    Ok(messages)
}

fn request_message(node: Node<'_, '_>) -> Result<(MessageHeader, Request), X1Error> {
    let kind = xsi_type(node)?;
    let mut c = Children::of(node);
    let h = header(&mut c)?;
    let request = match kind.as_str() {
        "ActivateTaskRequest" => Request::ActivateTask(task_details(c.required("taskDetails")?)?),
        "ModifyTaskRequest" => Request::ModifyTask(task_details(c.required("taskDetails")?)?),
        "DeactivateTaskRequest" => Request::DeactivateTask { xid: uuid(&c.text("xId")?, "xId")? },
        "DeactivateAllTasksRequest" => Request::DeactivateAllTasks,
        "GetTaskDetailsRequest" => Request::GetTaskDetails { xid: uuid(&c.text("xId")?, "xId")? },
        "ListAllDetailsRequest" => Request::ListAllDetails,
        "CreateDestinationRequest" => Request::CreateDestination(destination_details(c.required("destinationDetails")?)?),
        "ModifyDestinationRequest" => Request::ModifyDestination(destination_details(c.required("destinationDetails")?)?),
        "RemoveDestinationRequest" => Request::RemoveDestination { did: uuid(&c.text("dId")?, "dId")? },
        "GetNEStatusRequest" => Request::GetNeStatus,
        "PingRequest" => Request::Ping,
        "KeepaliveRequest" => Request::Keepalive,
        other => return Err(X1Error::Unsupported(other.to_owned())),
    };
    c.finish()?;
    Ok((h, request))
}

fn task_details(node: Node<'_, '_>) -> Result<TaskDetails, X1Error> {
    let mut c = Children::of(node);
    let xid = uuid(&c.text("xId")?, "xId")?;
    let mut targets = Vec::new();
    let mut list = Children::of(c.required("targetIdentifiers")?);
    while let Some(t) = list.optional("targetIdentifier") {
        targets.push(target_identifier(t)?);
    }
    list.finish()?;
    if targets.is_empty() {
        return Err(X1Error::Missing("targetIdentifier"));
    }
    let delivery_type = DeliveryType::parse(&c.text("deliveryType")?).ok_or(X1Error::Invalid("deliveryType"))?;
    let destinations = dids(c.required("listOfDIDs")?)?;
    c.skip(&["listOfMediationDetails"]);
    let correlation_id = match c.optional("correlationID") {
        Some(n) => Some(text_of(n).parse::<u64>().map_err(|_| X1Error::Invalid("correlationID"))?),
        None => None,
    };
    let implicit_deactivation_allowed = match c.optional("implicitDeactivationAllowed") {
        Some(n) => Some(boolean(&text_of(n)).ok_or(X1Error::Invalid("implicitDeactivationAllowed"))?),
        None => None,
    };
    c.skip(&["productID", "listOfServiceTypes", "taskDetailsExtensions", "listOfTrafficPolicyReferences"]);
    c.finish()?;
    Ok(TaskDetails { xid, targets, delivery_type, destinations, correlation_id, implicit_deactivation_allowed })
}

fn boolean(s: &str) -> Option<bool> {
    match s {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn dids(node: Node<'_, '_>) -> Result<Vec<Xid>, X1Error> {
    let mut c = Children::of(node);
    let mut out = Vec::new();
    while let Some(n) = c.optional("dId") {
        out.push(uuid(&text_of(n), "dId")?);
    }
    c.skip(&["dSId"]);
    c.finish()?;
    Ok(out)
}

fn target_identifier(node: Node<'_, '_>) -> Result<TargetIdentifier, X1Error> {
    let mut elements = node.children().filter(|n| n.is_element());
    let (Some(choice), None) = (elements.next(), elements.next()) else {
        return Err(X1Error::Invalid("targetIdentifier"));
    };
    if choice.tag_name().namespace() != Some(NAMESPACE) {
        return Err(X1Error::Unexpected(choice.tag_name().name().to_owned()));
    }
    let value = text_of(choice);
    Ok(match choice.tag_name().name() {
        "e164Number" if !value.is_empty() && value.len() <= 15 && value.bytes().all(|b| b.is_ascii_digit()) => {
            TargetIdentifier::E164Number(value)
        }
        "e164Number" => return Err(X1Error::Invalid("e164Number")),
        "sipUri" if value.starts_with("sip:") || value.starts_with("sips:") => TargetIdentifier::SipUri(value),
        "sipUri" => return Err(X1Error::Invalid("sipUri")),
        "telUri" if value.starts_with("tel:") => TargetIdentifier::TelUri(value),
        "telUri" => return Err(X1Error::Invalid("telUri")),
        other if choice.children().any(|n| n.is_element()) => return Err(X1Error::Unsupported(other.to_owned())),
        other => TargetIdentifier::Other { element: other.to_owned(), value },
    })
}

fn destination_details(node: Node<'_, '_>) -> Result<DestinationDetails, X1Error> {
    let mut c = Children::of(node);
    let did = uuid(&c.text("dId")?, "dId")?;
    let friendly_name = c.optional("friendlyName").map(|n| n.text().unwrap_or("").to_owned());
    let delivery_type = DeliveryType::parse(&c.text("deliveryType")?).ok_or(X1Error::Invalid("deliveryType"))?;
    let address = delivery_address(c.required("deliveryAddress")?)?;
    c.skip(&["destinationDetailsExtensions"]);
    c.finish()?;
    Ok(DestinationDetails { did, friendly_name, delivery_type, address })
}

fn common_child<'a, 'i>(node: Node<'a, 'i>, names: &[&str]) -> Result<Node<'a, 'i>, X1Error> {
    let mut elements = node.children().filter(|n| n.is_element());
    match (elements.next(), elements.next()) {
        (Some(n), None) if names.iter().any(|name| is_common(&n, name)) => Ok(n),
        (Some(n), _) => Err(X1Error::Unexpected(n.tag_name().name().to_owned())),
        (None, _) => Err(X1Error::Missing("address or port")),
    }
}

fn delivery_address(node: Node<'_, '_>) -> Result<DeliveryAddress, X1Error> {
    let mut c = Children::of(node);
    if let Some(ip) = c.optional("ipAddressAndPort") {
        let parts: Vec<Node> = ip.children().filter(|n| n.is_element()).collect();
        let [address, port] = parts.as_slice() else { return Err(X1Error::Invalid("ipAddressAndPort")) };
        if !is_common(address, "address") || !is_common(port, "port") {
            return Err(X1Error::Invalid("ipAddressAndPort"));
        }
        let a = common_child(*address, &["IPv4Address", "IPv6Address"])?;
        let address: IpAddr = text_of(a).parse().map_err(|_| X1Error::Invalid("address"))?;
        if address.is_ipv4() != (a.tag_name().name() == "IPv4Address") {
            return Err(X1Error::Invalid("address"));
        }
        let p = common_child(*port, &["TCPPort", "UDPPort"])?;
        let number: u16 = text_of(p).parse().map_err(|_| X1Error::Invalid("port"))?;
        if number < 2 {
            return Err(X1Error::Invalid("port"));
        }
        let port = if p.tag_name().name() == "TCPPort" { Port::Tcp(number) } else { Port::Udp(number) };
        c.finish()?;
        return Ok(DeliveryAddress::IpAndPort { address, port });
    }
    if let Some(uri) = c.optional("uri") {
        c.finish()?;
        return Ok(DeliveryAddress::Uri(text_of(uri)));
    }
    match c.peek() {
        Some(n) => Err(X1Error::Unsupported(n.tag_name().name().to_owned())),
        None => Err(X1Error::Missing("deliveryAddress")),
    }
}

/// Parses an `X1Response` container or an `X1TopLevelErrorResponse`.
pub fn parse_response(xml: &str) -> Result<X1Response, X1Error> {
    let doc = parse_doc(xml)?;
    let root = doc.root_element();
    if is(&root, "X1TopLevelErrorResponse") {
        let mut c = Children::of(root);
        let r = X1Response::TopLevelError {
            admf_identifier: c.text("admfIdentifier")?,
            ne_identifier: c.text("neIdentifier")?,
            timestamp: c.text("messageTimestamp")?,
            version: c.text("version")?,
        };
        c.finish()?;
        return Ok(r);
    }
    if !is(&root, "X1Response") {
        return Err(X1Error::Root("X1Response"));
    }
    let mut messages = Vec::new();
    for node in root.children().filter(|n| n.is_element()) {
        if !is(&node, "x1ResponseMessage") {
            return Err(X1Error::Unexpected(node.tag_name().name().to_owned()));
        }
        messages.push(response_message(node)?);
    }
    if messages.is_empty() {
        return Err(X1Error::Empty);
    }
    Ok(X1Response::Responses(messages))
}

fn ok_value(c: &mut Children<'_, '_>) -> Result<OkStatus, X1Error> {
    match c.text("oK")?.as_str() {
        "AcknowledgedAndCompleted" => Ok(OkStatus::AcknowledgedAndCompleted),
        "Acknowledged" => Ok(OkStatus::Acknowledged),
        _ => Err(X1Error::Invalid("oK")),
    }
}

fn faults(node: Node<'_, '_>) -> Result<Vec<ErrorInformation>, X1Error> {
    let mut c = Children::of(node);
    let mut out = Vec::new();
    while let Some(n) = c.optional("unresolvedFault") {
        out.push(error_information(n)?);
    }
    c.finish()?;
    Ok(out)
}

fn error_information(node: Node<'_, '_>) -> Result<ErrorInformation, X1Error> {
    let mut c = Children::of(node);
    let code = c.text("errorCode")?.parse().map_err(|_| X1Error::Invalid("errorCode"))?;
    let description = c.required("errorDescription")?.text().unwrap_or("").to_owned();
    c.finish()?;
    Ok(ErrorInformation { code, description })
}

fn response_message(node: Node<'_, '_>) -> Result<(MessageHeader, Response), X1Error> {
    let kind = xsi_type(node)?;
    let mut c = Children::of(node);
    let h = header(&mut c)?;
    let response = match kind.as_str() {
        "ErrorResponse" => {
            let request_type = c.text("requestMessageType")?;
            let error = error_information(c.required("errorInformation")?)?;
            c.skip(&["extensionInformation"]);
            Response::Error { request_type, error }
        }
        "GetTaskDetailsResponse" => {
            let mut d = Children::of(c.required("taskResponseDetails")?);
            let task = task_details(d.required("taskDetails")?)?;
            let mut s = Children::of(d.required("taskStatus")?);
            let status = match s.text("provisioningStatus")?.as_str() {
                "awaitingProvisioning" => ProvisioningStatus::AwaitingProvisioning,
                "failed" => ProvisioningStatus::Failed,
                "complete" => ProvisioningStatus::Complete,
                _ => return Err(X1Error::Invalid("provisioningStatus")),
            };
            let faults = faults(s.required("listOfFaults")?)?;
            s.skip(&[
                "timeOfLastIntercept",
                "amountOfX2Data",
                "amountOfX3Data",
                "timeOfLastModification",
                "numberOfModifications",
                "taskStatusExtensions",
            ]);
            s.finish()?;
            d.finish()?;
            Response::GetTaskDetails { task, status, faults }
        }
        "ListAllDetailsResponse" => {
            let mut x = Children::of(c.required("ListOfXIDs")?);
            let mut xids = Vec::new();
            while let Some(n) = x.optional("xId") {
                xids.push(uuid(&text_of(n), "xId")?);
            }
            x.finish()?;
            let dids = dids(c.required("ListOfDIDs")?)?;
            c.skip(&["ListOfGenericObjectIDs"]);
            Response::ListAllDetails { xids, dids }
        }
        "GetNEStatusResponse" => {
            let mut d = Children::of(c.required("neStatusDetails")?);
            let ok = match d.text("neStatus")?.as_str() {
                "OK" => true,
                "Faults" => false,
                _ => return Err(X1Error::Invalid("neStatus")),
            };
            let faults = faults(d.required("listOfFaults")?)?;
            d.finish()?;
            Response::GetNeStatus { ok, faults }
        }
        other => {
            let request = other
                .strip_suffix("Response")
                .and_then(RequestKind::parse)
                .filter(|k| !matches!(k, RequestKind::GetTaskDetails | RequestKind::ListAllDetails | RequestKind::GetNeStatus))
                .ok_or_else(|| X1Error::Unsupported(other.to_owned()))?;
            Response::Ok { request, ok: ok_value(&mut c)? }
        }
    };
    c.finish()?;
    Ok((h, response))
}

/// Parses an `X1Request` container of issue reports (network element → ADMF); any other
/// request in it is refused.
pub fn parse_reports(xml: &str) -> Result<X1Reports, X1Error> {
    Ok(X1Reports { messages: request_container(xml, report_message)? })
}

fn optional_code(c: &mut Children<'_, '_>, name: &'static str) -> Result<Option<u32>, X1Error> {
    match c.optional(name) {
        Some(n) => text_of(n).parse().map(Some).map_err(|_| X1Error::Invalid(name)),
        None => Ok(None),
    }
}

fn report_type(c: &mut Children<'_, '_>, name: &'static str) -> Result<ReportType, X1Error> {
    ReportType::parse(&c.text(name)?).ok_or(X1Error::Invalid(name))
}

fn report_message(node: Node<'_, '_>) -> Result<(MessageHeader, IssueReport), X1Error> {
    let kind = xsi_type(node)?;
    let mut c = Children::of(node);
    let h = header(&mut c)?;
    let report = match kind.as_str() {
        "ReportTaskIssueRequest" => {
            let xid = uuid(&c.text("xId")?, "xId")?;
            let kind = report_type(&mut c, "taskReportType")?;
            let code = optional_code(&mut c, "taskIssueErrorCode")?;
            let details = c.optional("taskIssueDetails").map(|n| n.text().unwrap_or("").to_owned());
            c.skip(&["taskIssueExtensions"]);
            IssueReport::Task { xid, kind, code, details }
        }
        "ReportDestinationIssueRequest" => {
            let did = uuid(&c.text("dId")?, "dId")?;
            let kind = report_type(&mut c, "destinationReportType")?;
            let code = optional_code(&mut c, "destinationIssueErrorCode")?;
            let details = c.optional("destinationIssueDetails").map(|n| n.text().unwrap_or("").to_owned());
            IssueReport::Destination { did, kind, code, details }
        }
        "ReportNEIssueRequest" => {
            let kind = NeIssueType::parse(&c.text("typeOfNeIssueMessage")?).ok_or(X1Error::Invalid("typeOfNeIssueMessage"))?;
            let description = c.required("description")?.text().unwrap_or("").to_owned();
            let code = optional_code(&mut c, "issueCode")?;
            c.skip(&["nEIssueExtensions"]);
            IssueReport::Ne { kind, description, code }
        }
        other => return Err(X1Error::Unsupported(other.to_owned())),
    };
    c.finish()?;
    Ok((h, report))
}
