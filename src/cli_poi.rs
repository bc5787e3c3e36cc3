//! `tapline poi`: a point of interception's command line (X1 endpoint, capture, X2/X3
//! delivery through a spool); the work is in `tapline::poi`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Args;

use tapline::capture::{open_live, FileReader, Paced};
use tapline::poi::reporting::{ReportOptions, ReportTo};
use tapline::poi::{PoiConfig, PoiSource};
use tapline::warrant::Numbering;
use tapline::x1::client::X1Url;
use tapline::x1::server::X1ServerConfig;
use tapline::x1::NeConfig;
use tapline::x2x3::LinkConfig;

use crate::cli::capture::CaptureArgs;

/// A point of interception (ETSI TS 103 221): serves X1 over HTTPS with mutual TLS, captures
/// (a pcap file or an interface), and delivers each task's SIP as X2 and RTP/RTCP as X3 to
/// the task's destinations over mutual TLS 1.3, through a durable spool.
#[derive(Args)]
pub struct PoiArgs {
    /// Address of the X1 endpoint.
    #[arg(long = "x1-listen", value_name = "HOST:PORT")]
    x1_listen: std::net::SocketAddr,
    /// The X1 endpoint's server certificate (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// The X1 endpoint's private key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// CA of the ADMF's client certificate.
    #[arg(long)]
    client_ca: PathBuf,
    /// This network element's identifier (neIdentifier).
    #[arg(long, default_value = "poi-1")]
    ne_id: String,
    /// The only ADMF allowed to task it: the common name of its client certificate.
    #[arg(long)]
    admf_id: String,
    /// Capture file (pcap/pcapng) to replay; the POI exits once all of it is delivered.
    #[arg(long, conflicts_with = "iface")]
    pcap: Option<PathBuf>,
    /// Replay --pcap paced: packets per second (e.g. 500) or a multiple of the capture's own
    /// rate (e.g. 2x), as `tapline run --rate`.
    #[arg(long, value_name = "PPS|Nx", requires = "pcap")]
    rate: Option<tapline::capture::Rate>,
    /// Capture live from this interface (`--features live`).
    #[arg(long)]
    iface: Option<String>,
    #[command(flatten)]
    capture: CaptureArgs,
    /// Start capturing only once this many tasks are held.
    #[arg(long, default_value_t = 0, value_name = "N")]
    wait_tasks: usize,
    /// Spool directory: one subdirectory per destination; what is found there at start is
    /// delivered to where it was addressed.
    #[arg(long)]
    spool: PathBuf,
    /// Do not fdatasync the spool before sending (benchmarks, tmpfs): survives a process
    /// kill, not a power loss.
    #[arg(long)]
    no_fsync: bool,
    /// Client certificate towards the mediation function's X2/X3 listener (PEM).
    #[arg(long = "x2x3-cert")]
    x2x3_cert: PathBuf,
    /// Its private key (PEM).
    #[arg(long = "x2x3-key")]
    x2x3_key: PathBuf,
    /// CA of the mediation function's server certificate.
    #[arg(long = "x2x3-ca")]
    x2x3_ca: PathBuf,
    /// Name the mediation function's certificate must carry (default: the destination's IP).
    #[arg(long = "x2x3-server-name")]
    x2x3_server_name: Option<String>,
    /// TIME_P1: seconds between keepalives.
    #[arg(long, default_value_t = 5)]
    keepalive_secs: u64,
    /// The carrier's number domains (SIP hosts whose digit users are telephone numbers),
    /// as `[appliance] number_domains` in agencies.toml.
    #[arg(long = "number-domain", value_name = "HOST")]
    number_domains: Vec<String>,
    #[command(flatten)]
    report: ReportArgs,
}

/// Where the POI reports its faults (ReportTaskIssue, ReportDestinationIssue,
/// ReportNEIssue): the ADMF's report endpoint (`[admf] report_listen` of its pois.toml).
#[derive(Args)]
struct ReportArgs {
    /// The ADMF's issue-report endpoint, `https://HOST:PORT/PATH`; without it faults are
    /// only logged and counted.
    #[arg(long = "admf-report", value_name = "URL")]
    admf_report: Option<String>,
    /// The CA that signed the endpoint's server certificate (default: --client-ca).
    #[arg(long = "admf-report-ca", requires = "admf_report")]
    report_ca: Option<PathBuf>,
    /// Client certificate presented there, whose common name is --ne-id (default:
    /// --x2x3-cert, the POI's client certificate).
    #[arg(long = "admf-report-cert", requires_all = ["admf_report", "report_key"])]
    report_cert: Option<PathBuf>,
    /// Its private key (default: --x2x3-key).
    #[arg(long = "admf-report-key", requires = "report_cert")]
    report_key: Option<PathBuf>,
    /// Each issue is reported at most once per this many seconds (no storm while an MDF
    /// is down; the last state is reported when the interval ends).
    #[arg(long = "admf-report-holddown-secs", default_value_t = 30, value_name = "SECS")]
    holddown_secs: u64,
}

pub fn run_poi(a: PoiArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let source = match (&a.pcap, &a.iface) {
        (Some(path), _) => match a.rate {
            Some(rate) => PoiSource::Capture(Box::new(Paced::new(FileReader::open(path)?, rate))),
            None => PoiSource::Capture(Box::new(FileReader::open(path)?)),
        },
        (None, Some(iface)) => PoiSource::Capture(open_live(&a.capture.config(iface))?),
        (None, None) => PoiSource::None,
    };
    let keepalive = std::time::Duration::from_secs(a.keepalive_secs.max(1));
    let to = match &a.report.admf_report {
        Some(url) => Some(ReportTo {
            url: X1Url::parse(url).ok_or_else(|| format!("--admf-report {url}: not an https://host:port/path URL"))?,
            ca: a.report.report_ca.clone().unwrap_or_else(|| a.client_ca.clone()),
            cert: a.report.report_cert.clone().unwrap_or_else(|| a.x2x3_cert.clone()),
            key: a.report.report_key.clone().unwrap_or_else(|| a.x2x3_key.clone()),
            admf_identifier: a.admf_id.clone(),
        }),
        None => None,
    };
    let reports = ReportOptions { to, ne_identifier: a.ne_id.clone(), holddown: std::time::Duration::from_secs(a.report.holddown_secs) };
    let config = PoiConfig {
        x1: X1ServerConfig {
            listen: a.x1_listen,
            cert: a.cert,
            key: a.key,
            client_ca: a.client_ca,
            ne: NeConfig { ne_identifier: a.ne_id, admf_identifier: a.admf_id },
        },
        source,
        wait_tasks: a.wait_tasks,
        spool: a.spool,
        fsync: !a.no_fsync,
        tls: tapline::delivery::tls::client_config(&a.x2x3_ca, &a.x2x3_cert, &a.x2x3_key)?,
        server_name: a.x2x3_server_name,
        link: LinkConfig { keepalive_every: keepalive, ack_within: keepalive, ..LinkConfig::default() },
        numbering: Numbering::new(&a.number_domains),
        mediator: Default::default(),
        reports,
    };
    let summary = tapline::poi::run(config, Arc::new(AtomicBool::new(false)))?;
    eprintln!("poi: {}", serde_json::to_string(&summary)?);
    Ok(if summary.unconfirmed == 0 { ExitCode::SUCCESS } else { ExitCode::from(3) })
}
