//! The delivery service of a run: opens every agency interface's lanes (`lanes.rs`), runs
//! one sender per lane on a tokio runtime, and drains or stops them; reports what was
//! confirmed, per interface (the sum over its lanes).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::lanes::Lanes;
use super::queue::{QueueMetrics, Queues, SpoolOutput};
use super::sender::{run_sender, KeepaliveIdentity, Phase, Sender, SenderConfig};
use super::spool::{SpoolError, SpoolOptions};
use super::tls::{self, TlsError};
use crate::handover::profile::Confirmation;
use crate::handover::sequencer::Channel;
use crate::warrant::{Agency, Appliance};

/// Where and how to deliver.
#[derive(Clone, Debug)]
pub struct DeliveryOptions {
    /// Spool directory: `SPOOL/AGENCY/hi2`, `SPOOL/AGENCY/hi3`, `SPOOL/cin-reserved`.
    pub spool: PathBuf,
    /// The appliance's client certificate and key (PEM).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// Size limit of each lane's spool in bytes (unconfirmed records).
    pub spool_limit: u64,
    pub sender: SenderConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("agency `{agency}` has no `ca` in agencies.toml: its server cannot be verified")]
    NoCa { agency: String },
    #[error("agency `{agency}`: {source}")]
    Tls { agency: String, source: TlsError },
    #[error("agency `{agency}`: profile `{profile}` is confirmed by keepalive acks, which agency delivery does not speak")]
    Confirmation { agency: String, profile: &'static str },
    #[error("{0}")]
    Spool(#[from] SpoolError),
    #[error("tokio runtime: {0}")]
    Runtime(std::io::Error),
}

/// What one agency interface delivered. No target appears here.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InterfaceReport {
    pub agency: String,
    pub interface: &'static str,
    pub spooled: u64,
    /// Records confirmed by a keep-alive-response.
    pub confirmed: u64,
    /// Records still in the spool (sent again by the next run).
    pub unconfirmed: u64,
    pub spool_full_alarms: u64,
    /// Times the spool's file system reached its headroom, and whether it is held now.
    pub disk_full_alarms: u64,
    pub disk_full: bool,
    pub connects: u64,
    pub connect_failures: u64,
    /// Keep-alive-responses refused (forged, early, not echoing the keep-alive).
    pub refused_responses: u64,
    /// Connections dropped for an oversized or undecodable PDU from the agency.
    pub malformed_pdus: u64,
    /// Handshakes refused: the server's certificate is not this agency's.
    pub identity_refused: u64,
    /// Connected to the agency when the report was made.
    pub connected: bool,
    /// Spool → confirmed latency of sampled records, milliseconds.
    pub latency_avg_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    /// Keep-alive round trip, milliseconds.
    pub round_trip_avg_ms: Option<f64>,
}

fn interface_name(c: Channel) -> &'static str {
    match c {
        Channel::Hi2 => "hi2",
        Channel::Hi3 => "hi3",
    }
}

/// The spool directory of one agency interface: `SPOOL/AGENCY/hi2`, `SPOOL/AGENCY/hi3`
/// (lane 0's; see `lanes.rs`).
pub fn queue_dir(spool: &std::path::Path, agency: &str, channel: Channel) -> PathBuf {
    spool.join(agency).join(interface_name(channel))
}

/// The report of one interface so far: its lanes' counts summed (maxima: the largest).
pub fn report_of(lanes: &Lanes) -> InterfaceReport {
    let queues = lanes.queues();
    let metrics: Vec<&QueueMetrics> = queues.iter().map(|q| &q.metrics).collect();
    let sum = |f: fn(&QueueMetrics) -> &AtomicU64| metrics.iter().map(|m| f(m).load(Ordering::Relaxed)).sum::<u64>();
    let max = |f: fn(&QueueMetrics) -> &AtomicU64| metrics.iter().map(|m| f(m).load(Ordering::Relaxed)).max().unwrap_or(0);
    let ms = |sum: u64, n: u64| (n > 0).then(|| sum as f64 / n as f64 / 1000.0);
    let samples = sum(|m| &m.latency_samples);
    InterfaceReport {
        agency: lanes.agency.clone(),
        interface: interface_name(lanes.channel),
        spooled: sum(|m| &m.spooled_records),
        confirmed: sum(|m| &m.confirmed_records),
        unconfirmed: queues.iter().map(|q| q.unconfirmed_records()).sum(),
        spool_full_alarms: sum(|m| &m.spool_full),
        disk_full_alarms: sum(|m| &m.disk_full),
        disk_full: metrics.iter().any(|m| m.disk_full_now.load(Ordering::Relaxed)),
        connects: sum(|m| &m.connects),
        connect_failures: sum(|m| &m.connect_failures),
        refused_responses: sum(|m| &m.peer.refused_responses),
        malformed_pdus: sum(|m| &m.peer.malformed_pdus),
        identity_refused: sum(|m| &m.peer.identity_refused),
        connected: metrics.iter().any(|m| m.connected.load(Ordering::Relaxed)),
        latency_avg_ms: ms(sum(|m| &m.latency_us_sum), samples),
        latency_max_ms: (samples > 0).then(|| max(|m| &m.latency_us_max) as f64 / 1000.0),
        round_trip_avg_ms: ms(sum(|m| &m.round_trip_us_sum), sum(|m| &m.confirms)),
    }
}

/// Running senders for every agency interface.
pub struct Delivery {
    runtime: tokio::runtime::Runtime,
    queues: Queues,
    phase: watch::Sender<Phase>,
    /// Every lane's sender, also those of lanes opened while the run goes on.
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Delivery {
    /// Opens the spools (anything left unconfirmed by an earlier run is sent first) and
    /// starts the senders. `agencies` is indexed like the sequencer's agency list; `liids`
    /// pairs each warrant's LIID with its agency id (keep-alives carry one of them).
    pub fn start(
        appliance: &Appliance,
        agencies: &[Agency],
        liids: &[(String, String)],
        options: &DeliveryOptions,
    ) -> Result<Delivery, DeliveryError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(DeliveryError::Runtime)?;
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let mut queues = Vec::new();
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        for agency in agencies {
            let ca = agency.ca.as_ref().ok_or_else(|| DeliveryError::NoCa { agency: agency.id.clone() })?;
            let identity = tls::AgencyIdentity {
                agency: agency.id.clone(),
                server_name: agency.server_name.clone(),
                pins: agency.pin_sha256.clone(),
            };
            let tls = tls::agency_client_config(ca, &options.client_cert, &options.client_key, &identity)
                .map_err(|source| DeliveryError::Tls { agency: agency.id.clone(), source })?;
            let liid = liids
                .iter()
                .find(|(_, a)| *a == agency.id)
                .map(|(l, _)| l.clone())
                .unwrap_or_else(|| agency.id.chars().take(25).collect());
            let identity = KeepaliveIdentity {
                liid,
                authorization_country: appliance.country.clone(),
                operator_id: appliance.operator_id.clone(),
                network_element_id: appliance.network_element_id.clone(),
                delivery_country: agency.country.clone(),
            };
            let profile = agency.profile.handover();
            // The senders below keep the TS 102 232-1 keep-alive discipline.
            match profile.confirmation() {
                Confirmation::EchoedKeepalive => {}
                Confirmation::AckedKeepalive => {
                    return Err(DeliveryError::Confirmation { agency: agency.id.clone(), profile: profile.name() })
                }
            }
            let open = |channel, endpoint: &crate::warrant::Endpoint| {
                let dir = queue_dir(&options.spool, &agency.id, channel);
                let spool = SpoolOptions { limit: options.spool_limit, framing: profile.framing(channel), ..SpoolOptions::default() };
                let (handle, tasks, phase_rx) = (runtime.handle().clone(), tasks.clone(), phase_rx.clone());
                let (endpoint, tls, identity, config) = (endpoint.clone(), tls.clone(), identity.clone(), options.sender);
                let start = Box::new(move |queue| {
                    let sender = Sender { queue, endpoint: endpoint.clone(), tls: tls.clone(), identity: identity.clone(), config };
                    let task = handle.spawn(run_sender(sender, phase_rx.clone()));
                    tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(task);
                });
                Lanes::open(&agency.id, channel, &dir, spool, options.sender.lanes, start).map(Arc::new)
            };
            let hi2 = open(Channel::Hi2, &agency.hi2)?;
            let hi3 = open(Channel::Hi3, &agency.hi3)?;
            queues.push([hi2, hi3]);
        }
        Ok(Delivery { runtime, queues, phase, tasks })
    }

    /// The sequencer output that spools into these queues.
    pub fn output(&self) -> SpoolOutput {
        SpoolOutput::new(self.queues.clone())
    }

    pub fn queues(&self) -> &Queues {
        &self.queues
    }

    /// Reports of every interface so far.
    pub fn reports(&self) -> Vec<InterfaceReport> {
        self.queues.iter().flatten().map(|q| report_of(q)).collect()
    }

    /// Unconfirmed records over all interfaces.
    pub fn unconfirmed(&self) -> u64 {
        self.queues.iter().flatten().map(|q| q.unconfirmed_records()).sum()
    }

    /// Makes a pipeline blocked on a full spool give up (on SIGTERM).
    pub fn stop_waiting(&self) {
        self.queues.iter().flatten().for_each(|q| q.stop_waiting());
    }

    /// Delivers everything spooled, waiting at most `limit`, then stops every sender.
    /// What is still unconfirmed stays in the spool for the next run.
    pub fn finish(self, limit: Duration) -> Vec<InterfaceReport> {
        let _ = self.phase.send(Phase::Drain);
        let deadline = Instant::now() + limit;
        let Delivery { runtime, queues, phase, tasks } = self;
        // The pipeline has stopped appending: no lane opens any more.
        let tasks = std::mem::take(&mut *tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        // A finished task's handle is taken, so that after the deadline only the senders
        // still running are awaited (a completed JoinHandle must not be polled again).
        let mut tasks: Vec<Option<JoinHandle<()>>> = tasks.into_iter().map(Some).collect();
        runtime.block_on(async {
            let all = async {
                for slot in tasks.iter_mut() {
                    if let Some(task) = slot.as_mut() {
                        let _ = task.await;
                    }
                    *slot = None;
                }
            };
            if tokio::time::timeout_at(deadline.into(), all).await.is_err() {
                let _ = phase.send(Phase::Stop);
                for task in tasks.into_iter().flatten() {
                    let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
                }
            }
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
        queues.iter().flatten().map(|q| report_of(q)).collect()
    }
}
