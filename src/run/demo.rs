//! `tapline demo`: the bundled capture and warrants delivered over TLS on loopback to two
//! in-process reference LEMFs, with a development PKI made for the occasion.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::{run, RunError, RunOptions, RunSummary, Source};
use crate::delivery::pki::{create_dev_pki, loopback_hosts, PkiError};
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
    let work = std::env::temp_dir().join(format!("tapline-demo-{}", std::process::id()));
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| DemoError::Io { what, source }
    };
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io("temporary directory"))?;
    }
    let ids: Vec<String> = store.agencies.iter().map(|a| a.id.clone()).collect();
    let pki = create_dev_pki(&work.join("pki"), &ids, &loopback_hosts())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io("tokio runtime"))?;
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
    let options = RunOptions {
        warrants: warrants.to_owned(),
        source: Source::Pcap { path: capture.to_owned(), rate: None },
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
    };
    let result = run(&options, Arc::new(AtomicBool::new(false)));
    let mut received = BTreeMap::new();
    for (id, lemf) in lemfs {
        received.insert(id, runtime.block_on(lemf.stop())?);
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&work);
    Ok(DemoSummary { run: result?, lemfs: received, out: out.to_owned() })
}
