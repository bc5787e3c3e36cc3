//! The LEMF's call files: `calls.jsonl` (one line per call) and `calls.pcap` (each call's
//! SIP and RTP as UDP frames), written as the [`CallView`] releases calls. A restart on the
//! same directory rebuilds the view from `hi2.ber`/`hi3.ber` and skips the calls whose line
//! `calls.jsonl` already holds, so every call is written once.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::calls::{self, CallLine, CallView};
use super::collector::CollectorError;
use super::pcap::PcapFile;
use crate::handover::Pdu;
use crate::warrant::Store;

/// How the LEMF learns which party of a call is the target: the agency's copy of the
/// warrants (LIID → target identities). Without it content stays on synthetic addresses.
pub fn view_from_warrants(dir: Option<&Path>) -> Result<CallView, CollectorError> {
    let Some(dir) = dir else { return Ok(CallView::default()) };
    let (store, errors) = Store::load_dir(dir).map_err(|e| CollectorError::Warrants(e.to_string()))?;
    for e in &errors {
        tracing::warn!(error = %e, "warrant file skipped by the LEMF's call view");
    }
    let mut targets: HashMap<String, Vec<String>> = HashMap::new();
    for w in &store.warrants {
        let keys = w.targets.iter().map(|t| crate::calltrace::identity_key(&t.identity));
        targets.entry(w.liid.as_str().to_owned()).or_default().extend(keys);
    }
    tracing::info!(warrants = store.warrants.len(), "call view knows the warrants' targets");
    Ok(CallView::new(store.appliance.numbering.clone(), targets))
}

/// `calls.jsonl` and `calls.pcap` in one directory.
pub struct CallFiles {
    dir: PathBuf,
    view: CallView,
    jsonl: BufWriter<File>,
    pcap: PcapFile,
    written: u64,
    /// Datagrams refused by the pcap (too big for UDP, mixed address families).
    skipped_frames: u64,
}

impl CallFiles {
    /// Opens the files in `dir`, marking the calls `calls.jsonl` already holds as written.
    pub fn open(dir: &Path, mut view: CallView) -> Result<CallFiles, CollectorError> {
        let jsonl_path = dir.join("calls.jsonl");
        match fs::read_to_string(&jsonl_path) {
            Ok(text) => {
                for line in text.lines() {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
                    if let (Some(liid), Some(cin)) = (v["liid"].as_str(), v["cin"].as_u64()) {
                        view.already_written((liid.to_owned(), u32::try_from(cin).unwrap_or(u32::MAX)));
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(CollectorError::Io { path: jsonl_path, source }),
        }
        let file = OpenOptions::new().create(true).append(true).open(&jsonl_path).map_err(|source| CollectorError::Io { path: jsonl_path.clone(), source })?;
        let pcap_path = dir.join("calls.pcap");
        let pcap = PcapFile::open(&pcap_path).map_err(|source| CollectorError::Io { path: pcap_path, source })?;
        Ok(CallFiles { dir: dir.to_owned(), view, jsonl: BufWriter::new(file), pcap, written: 0, skipped_frames: 0 })
    }

    /// One received (not duplicate) PS-PDU; writes the calls it released.
    pub fn pdu(&mut self, pdu: &Pdu) -> Result<(), CollectorError> {
        let lines = calls::feed(&mut self.view, pdu);
        self.write(lines)
    }

    /// Writes every call still held (LEMF shutdown).
    pub fn finish(&mut self) -> Result<(), CollectorError> {
        let lines = self.view.finish();
        self.write(lines)?;
        if self.view.late_content() > 0 {
            tracing::warn!(packets = self.view.late_content(), "content arrived after its call's line was written");
        }
        self.flush()
    }

    /// Calls written since the files were opened, and datagrams left out of `calls.pcap`.
    pub fn counts(&self) -> (u64, u64) {
        (self.written, self.skipped_frames)
    }

    pub fn flush(&mut self) -> Result<(), CollectorError> {
        self.pcap.flush().map_err(|source| CollectorError::Io { path: self.dir.join("calls.pcap"), source })?;
        self.jsonl.flush().map_err(|source| CollectorError::Io { path: self.dir.join("calls.jsonl"), source })
    }

    /// The call's frames first, then its line: a line in `calls.jsonl` means its frames are in
    /// `calls.pcap`.
    fn write(&mut self, lines: Vec<CallLine>) -> Result<(), CollectorError> {
        for line in lines {
            for (ts, src, dst, payload) in line.datagrams() {
                match self.pcap.write_udp(ts, src, dst, payload) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                        self.skipped_frames += 1;
                        tracing::warn!(cin = line.cin, error = %e, "frame left out of calls.pcap");
                    }
                    Err(source) => return Err(CollectorError::Io { path: self.dir.join("calls.pcap"), source }),
                }
            }
            let path = || self.dir.join("calls.jsonl");
            serde_json::to_writer(&mut self.jsonl, &line.to_json())
                .map_err(|e| CollectorError::Io { path: path(), source: io::Error::other(e) })?;
            self.jsonl.write_all(b"\n").map_err(|source| CollectorError::Io { path: path(), source })?;
            self.written += 1;
        }
        Ok(())
    }
}
