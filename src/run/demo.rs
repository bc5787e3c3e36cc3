//! `tapline demo`: the bundled capture and warrants delivered over TLS on loopback to two
//! in-process reference LEMFs, with a development PKI made for the occasion.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::{run, RunError, RunOptions, RunSummary, Source};
use crate::delivery::pki::{create_dev_pki, loopback_hosts, DevPki, PkiError};
use crate::delivery::{DeliveryOptions, SenderConfig, TrackerConfig};
use crate::lemf::{Lemf, LemfConfig, LemfError, LemfStats};
use crate::warrant::{Endpoint, Store, WarrantError};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("warrants: {0}")]
    Warrants(#[from] WarrantError),
    #[error("{0}")]
    Pki(#[from] PkiError),
    #[error("LEMF: {0}")]
    Lemf(#[from] LemfError),
    #[error("{0}")]
    Run(#[from] RunError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("X2/X3 listener: {0}")]
    X2x3(#[from] crate::x2x3::ListenerError),
    #[error("point of interception {id}: {reason} (its log: {log})")]
    Poi { id: String, reason: String, log: PathBuf },
}

/// What the demo did: the appliance's run and what each LEMF received.
#[derive(Debug, serde::Serialize)]
pub struct DemoSummary {
    pub run: RunSummary,
    /// Per agency id: the LEMF's counts (records, duplicates, gaps, per LIID).
    pub lemfs: BTreeMap<String, LemfStats>,
    /// Where each LEMF wrote records.jsonl, hi2.ber, hi3.ber, content.pcap.
    pub out: PathBuf,
}

fn socket(e: &Endpoint) -> Result<SocketAddr, DemoError> {
    (e.host.as_str(), e.port)
        .to_socket_addrs()
        .map_err(|source| DemoError::Io { what: format!("endpoint {}:{}", e.host, e.port), source })?
        .next()
        .ok_or_else(|| DemoError::Io {
            what: format!("endpoint {}:{}", e.host, e.port),
            source: std::io::Error::other("no address"),
        })
}

/// Replays `capture` with the warrants in `warrants` (agencies' endpoints on this host),
/// delivering to one LEMF per agency that writes into `out/AGENCY/`.
pub fn demo(capture: &Path, warrants: &Path, out: &Path) -> Result<DemoSummary, DemoError> {
    let (store, _) = Store::load_dir(warrants)?;
    let work = work_dir("demo")?;
    let ids: Vec<String> = store.agencies.iter().map(|a| a.id.clone()).collect();
    let pki = create_dev_pki(&work.join("pki"), &ids, &loopback_hosts())?;
    let runtime = runtime()?;
    let lemfs = start_lemfs(&store, &pki, warrants, out, &runtime)?;
    let options = run_options(warrants, Source::Pcap { path: capture.to_owned(), rate: None }, &work, &pki, &ids);
    let result = run(&options, Arc::new(AtomicBool::new(false)));
    let received = stop_lemfs(lemfs, runtime)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(DemoSummary { run: result?, lemfs: received, out: out.to_owned() })
}

pub(super) fn io(what: &str) -> impl FnOnce(std::io::Error) -> DemoError {
    let what = what.to_owned();
    move |source| DemoError::Io { what, source }
}

/// A fresh temporary directory for one demo (`tapline-NAME-PID`).
pub(super) fn work_dir(name: &str) -> Result<PathBuf, DemoError> {
    let work = std::env::temp_dir().join(format!("tapline-{name}-{}", std::process::id()));
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io("temporary directory"))?;
    }
    Ok(work)
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, DemoError> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(io("tokio runtime"))
}

/// One reference LEMF per agency of `store` at its HI2/HI3 endpoints, with its server
/// certificate of `pki`, writing into `out/AGENCY/` (earlier output removed).
pub(super) fn start_lemfs(
    store: &Store,
    pki: &DevPki,
    warrants: &Path,
    out: &Path,
    runtime: &tokio::runtime::Runtime,
) -> Result<Vec<(String, Lemf)>, DemoError> {
    let mut lemfs = Vec::new();
    for agency in &store.agencies {
        let dir = out.join(&agency.id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io("earlier demo output"))?;
        }
        let Some(server) = pki.server(&agency.id) else { continue };
        let config = LemfConfig {
            listen: vec![socket(&agency.hi2)?, socket(&agency.hi3)?],
            cert: server.cert.clone(),
            key: server.key.clone(),
            client_ca: pki.ca.clone(),
            out: dir,
            warrants: Some(warrants.to_owned()),
        };
        lemfs.push((agency.id.clone(), runtime.block_on(Lemf::start(&config))?));
    }
    Ok(lemfs)
}

/// Stops the LEMFs (what they received is written) and the runtime; their counts.
pub(super) fn stop_lemfs(lemfs: Vec<(String, Lemf)>, runtime: tokio::runtime::Runtime) -> Result<BTreeMap<String, LemfStats>, DemoError> {
    let mut received = BTreeMap::new();
    for (id, lemf) in lemfs {
        received.insert(id, runtime.block_on(lemf.stop())?);
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(received)
}

/// The demo appliance's run: `source`, spool in `work`, the agencies `ids` trusted through
/// the demo CA.
pub(super) fn run_options(warrants: &Path, source: Source, work: &Path, pki: &DevPki, ids: &[String]) -> RunOptions {
    RunOptions {
        warrants: warrants.to_owned(),
        source,
        delivery: DeliveryOptions {
            spool: work.join("spool"),
            client_cert: pki.appliance.cert.clone(),
            client_key: pki.appliance.key.clone(),
            spool_limit: 256 << 20,
            sender: SenderConfig {
                tracker: TrackerConfig { batch_records: 256, ..TrackerConfig::default() },
                ..SenderConfig::default()
            },
        },
        drain: Duration::from_secs(20),
        ca_override: ids.iter().map(|id| (id.clone(), pki.ca.clone())).collect(),
        calltrace: None,
        pipeline: Default::default(),
        metrics: None,
        mediator: Default::default(),
        records_db: None,
        retention: Default::default(),
    }
}
