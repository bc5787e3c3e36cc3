//! The X1 messages tapline reads and writes (ETSI TS 103 221-1, schema 1.22.1): the
//! request/response subset an ADMF and a network element exchange for tasks, destinations,
//! status, ping and keepalive, and the error responses.

use std::net::IpAddr;

use crate::x2x3::Xid;

/// The X1 XML namespace.
pub const NAMESPACE: &str = "http://uri.etsi.org/03221/X1/2017/10";
/// The TS 103 280 common types namespace (addresses and ports of destinations).
pub const COMMON_NAMESPACE: &str = "http://uri.etsi.org/03280/common/2017/07";
/// The schema version tapline writes.
pub const VERSION: &str = "v1.22.1";

/// The fields every request and response message starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageHeader {
    pub admf_identifier: String,
    pub ne_identifier: String,
    /// `QualifiedMicrosecondDateTime`, e.g. `2017-10-06T18:46:21.247432Z`, kept as written.
    pub timestamp: String,
    pub version: String,
    /// A UUID.
    pub transaction_id: Xid,
}

/// Which X2/X3 streams a task or destination gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryType {
    X2Only,
    X3Only,
    X2AndX3,
}

impl DeliveryType {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryType::X2Only => "X2Only",
            DeliveryType::X3Only => "X3Only",
            DeliveryType::X2AndX3 => "X2andX3",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryType> {
        match s {
            "X2Only" => Some(DeliveryType::X2Only),
            "X3Only" => Some(DeliveryType::X3Only),
            "X2andX3" => Some(DeliveryType::X2AndX3),
            _ => None,
        }
    }

    /// Whether content (X3) may be sent.
    pub fn content(self) -> bool {
        match self {
            DeliveryType::X2Only => false,
            DeliveryType::X3Only | DeliveryType::X2AndX3 => true,
        }
    }
}

/// One target identifier of a task. Identifiers tapline does not interpret keep their
/// element name and text (simple-typed alternatives only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetIdentifier {
    /// Digits only, no `+`.
    E164Number(String),
    SipUri(String),
    TelUri(String),
    Other { element: String, value: String },
}

impl TargetIdentifier {
    pub fn element(&self) -> &str {
        match self {
            TargetIdentifier::E164Number(_) => "e164Number",
            TargetIdentifier::SipUri(_) => "sipUri",
            TargetIdentifier::TelUri(_) => "telUri",
            TargetIdentifier::Other { element, .. } => element,
        }
    }

    pub fn value(&self) -> &str {
        match self {
            TargetIdentifier::E164Number(v) | TargetIdentifier::SipUri(v) | TargetIdentifier::TelUri(v) => v,
            TargetIdentifier::Other { value, .. } => value,
        }
    }
}

/// A task (TS 103 221-1 clause 6.2.1.2): what a POI intercepts and where it delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDetails {
    pub xid: Xid,
    pub targets: Vec<TargetIdentifier>,
    pub delivery_type: DeliveryType,
    /// Destination ids (UUIDs).
    pub destinations: Vec<Xid>,
    pub correlation_id: Option<u64>,
    pub implicit_deactivation_allowed: Option<bool>,
}

/// The transport port of a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    Tcp(u16),
    Udp(u16),
}

/// Where a destination is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryAddress {
    IpAndPort { address: IpAddr, port: Port },
    Uri(String),
}

/// A destination (clause 6.3.1.2): an MDF's X2/X3 endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationDetails {
    pub did: Xid,
    pub friendly_name: Option<String>,
    pub delivery_type: DeliveryType,
    pub address: DeliveryAddress,
}

/// The requests of the subset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    ActivateTask(TaskDetails),
    ModifyTask(TaskDetails),
    DeactivateTask { xid: Xid },
    DeactivateAllTasks,
    GetTaskDetails { xid: Xid },
    ListAllDetails,
    CreateDestination(DestinationDetails),
    ModifyDestination(DestinationDetails),
    RemoveDestination { did: Xid },
    GetNeStatus,
    Ping,
    Keepalive,
}

impl Request {
    /// The `RequestMessageType` name (also the `xsi:type` without `Request`).
    pub fn kind(&self) -> RequestKind {
        match self {
            Request::ActivateTask(_) => RequestKind::ActivateTask,
            Request::ModifyTask(_) => RequestKind::ModifyTask,
            Request::DeactivateTask { .. } => RequestKind::DeactivateTask,
            Request::DeactivateAllTasks => RequestKind::DeactivateAllTasks,
            Request::GetTaskDetails { .. } => RequestKind::GetTaskDetails,
            Request::ListAllDetails => RequestKind::ListAllDetails,
            Request::CreateDestination(_) => RequestKind::CreateDestination,
            Request::ModifyDestination(_) => RequestKind::ModifyDestination,
            Request::RemoveDestination { .. } => RequestKind::RemoveDestination,
            Request::GetNeStatus => RequestKind::GetNeStatus,
            Request::Ping => RequestKind::Ping,
            Request::Keepalive => RequestKind::Keepalive,
        }
    }
}

/// Request message types of the subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    ActivateTask,
    ModifyTask,
    DeactivateTask,
    DeactivateAllTasks,
    GetTaskDetails,
    ListAllDetails,
    CreateDestination,
    ModifyDestination,
    RemoveDestination,
    GetNeStatus,
    Ping,
    Keepalive,
    /// Issue reports, sent by a network element to the ADMF ([`IssueReport`]).
    ReportTaskIssue,
    ReportDestinationIssue,
    ReportNeIssue,
}

impl RequestKind {
    pub const ALL: [RequestKind; 15] = [
        RequestKind::ActivateTask,
        RequestKind::ModifyTask,
        RequestKind::DeactivateTask,
        RequestKind::DeactivateAllTasks,
        RequestKind::GetTaskDetails,
        RequestKind::ListAllDetails,
        RequestKind::CreateDestination,
        RequestKind::ModifyDestination,
        RequestKind::RemoveDestination,
        RequestKind::GetNeStatus,
        RequestKind::Ping,
        RequestKind::Keepalive,
        RequestKind::ReportTaskIssue,
        RequestKind::ReportDestinationIssue,
        RequestKind::ReportNeIssue,
    ];

    /// The `RequestMessageType` enumeration value.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::ActivateTask => "ActivateTask",
            RequestKind::ModifyTask => "ModifyTask",
            RequestKind::DeactivateTask => "DeactivateTask",
            RequestKind::DeactivateAllTasks => "DeactivateAllTasks",
            RequestKind::GetTaskDetails => "GetTaskDetails",
            RequestKind::ListAllDetails => "ListAllDetails",
            RequestKind::CreateDestination => "CreateDestination",
            RequestKind::ModifyDestination => "ModifyDestination",
            RequestKind::RemoveDestination => "RemoveDestination",
            RequestKind::GetNeStatus => "GetNEStatus",
            RequestKind::Ping => "Ping",
            RequestKind::Keepalive => "Keepalive",
            RequestKind::ReportTaskIssue => "ReportTaskIssue",
            RequestKind::ReportDestinationIssue => "ReportDestinationIssue",
            RequestKind::ReportNeIssue => "ReportNEIssue",
        }
    }

    pub fn parse(s: &str) -> Option<RequestKind> {
        RequestKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// `OK` of a response: done, or accepted and still being done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OkStatus {
    AcknowledgedAndCompleted,
    Acknowledged,
}

impl OkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OkStatus::AcknowledgedAndCompleted => "AcknowledgedAndCompleted",
            OkStatus::Acknowledged => "Acknowledged",
        }
    }
}

/// `provisioningStatus` of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvisioningStatus {
    AwaitingProvisioning,
    Failed,
    Complete,
}

impl ProvisioningStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisioningStatus::AwaitingProvisioning => "awaitingProvisioning",
            ProvisioningStatus::Failed => "failed",
            ProvisioningStatus::Complete => "complete",
        }
    }
}

/// An error code and its description (`ErrorInformation`, also a fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInformation {
    pub code: u32,
    pub description: String,
}

/// The responses of the subset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The `oK` answer of every request that has no other (ActivateTask, Ping, ...).
    Ok { request: RequestKind, ok: OkStatus },
    GetTaskDetails { task: TaskDetails, status: ProvisioningStatus, faults: Vec<ErrorInformation> },
    ListAllDetails { xids: Vec<Xid>, dids: Vec<Xid> },
    GetNeStatus { ok: bool, faults: Vec<ErrorInformation> },
    Error { request_type: String, error: ErrorInformation },
}

/// An `X1Request` container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X1Request {
    pub messages: Vec<(MessageHeader, Request)>,
}

/// What an NE answers: a container of responses, or a top-level error (no message could
/// be answered, e.g. the request was not parseable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum X1Response {
    Responses(Vec<(MessageHeader, Response)>),
    TopLevelError { admf_identifier: String, ne_identifier: String, timestamp: String, version: String },
}

/// Standard error codes written (TS 103 221-1 annex: generic error).
pub mod error_code {
    pub const GENERIC: u32 = 1000;
}

/// `TaskReportType` of a task or destination issue report (TS 103 221-1 clause 6.4.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportType {
    AllClear,
    Warning,
    NonTerminatingFault,
    TerminatingFault,
    ImplicitDeactivation,
    FullyActionedAndSuccessful,
    FullyActionedAndUnsuccessful,
}

impl ReportType {
    pub const ALL: [ReportType; 7] = [
        ReportType::AllClear,
        ReportType::Warning,
        ReportType::NonTerminatingFault,
        ReportType::TerminatingFault,
        ReportType::ImplicitDeactivation,
        ReportType::FullyActionedAndSuccessful,
        ReportType::FullyActionedAndUnsuccessful,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportType::AllClear => "AllClear",
            ReportType::Warning => "Warning",
            ReportType::NonTerminatingFault => "NonTerminatingFault",
            ReportType::TerminatingFault => "TerminatingFault",
            ReportType::ImplicitDeactivation => "ImplicitDeactivation",
            ReportType::FullyActionedAndSuccessful => "FullyActionedAndSuccessful",
            ReportType::FullyActionedAndUnsuccessful => "FullyActionedAndUnsuccessful",
        }
    }

    pub fn parse(s: &str) -> Option<ReportType> {
        ReportType::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// `TypeOfNeIssueMessage` of a network-element issue report (clause 6.5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NeIssueType {
    Warning,
    FaultCleared,
    FaultReport,
    Alert,
}

impl NeIssueType {
    pub const ALL: [NeIssueType; 4] = [NeIssueType::Warning, NeIssueType::FaultCleared, NeIssueType::FaultReport, NeIssueType::Alert];

    pub fn as_str(self) -> &'static str {
        match self {
            NeIssueType::Warning => "Warning",
            NeIssueType::FaultCleared => "FaultCleared",
            NeIssueType::FaultReport => "FaultReport",
            NeIssueType::Alert => "Alert",
        }
    }

    pub fn parse(s: &str) -> Option<NeIssueType> {
        NeIssueType::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An issue report a network element sends to its ADMF (clause 6.5): the requests of the
/// other direction, in an `X1Request` container of their own ([`X1Reports`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssueReport {
    /// `ReportTaskIssueRequest`.
    Task { xid: Xid, kind: ReportType, code: Option<u32>, details: Option<String> },
    /// `ReportDestinationIssueRequest`.
    Destination { did: Xid, kind: ReportType, code: Option<u32>, details: Option<String> },
    /// `ReportNEIssueRequest`.
    Ne { kind: NeIssueType, description: String, code: Option<u32> },
}

impl IssueReport {
    pub fn kind(&self) -> RequestKind {
        match self {
            IssueReport::Task { .. } => RequestKind::ReportTaskIssue,
            IssueReport::Destination { .. } => RequestKind::ReportDestinationIssue,
            IssueReport::Ne { .. } => RequestKind::ReportNeIssue,
        }
    }

    /// What the report is about, for logs: `task`, `destination` or `network element`,
    /// with the XID or dId (never a target), and its issue code.
    pub fn about(&self) -> (&'static str, Option<Xid>, Option<u32>) {
        match self {
            IssueReport::Task { xid, code, .. } => ("task", Some(*xid), *code),
            IssueReport::Destination { did, code, .. } => ("destination", Some(*did), *code),
            IssueReport::Ne { code, .. } => ("network element", None, *code),
        }
    }

    /// The report's type as written (a metrics label value).
    pub fn type_str(&self) -> &'static str {
        match self {
            IssueReport::Task { kind, .. } | IssueReport::Destination { kind, .. } => kind.as_str(),
            IssueReport::Ne { kind, .. } => kind.as_str(),
        }
    }
}

/// An `X1Request` container of issue reports (network element → ADMF).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X1Reports {
    pub messages: Vec<(MessageHeader, IssueReport)>,
}
