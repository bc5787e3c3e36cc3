//! The call detail recorder's foot on mediation's signalling hook, the pipeline's critical
//! path: [`RecordsObserver`] copies what the recorder reads of each SIP message into a
//! [`SignalBatch`] (no allocation per message) and hands full batches to the writer thread,
//! which runs the recorder. It also keeps the [`PurgeSchedule`] (packet time) and asks the
//! writer for the daily retention purge after the messages before it.

use crossbeam_channel::Sender;

use super::purge::PurgeSchedule;
use super::signals::SignalBatch;
use super::writer::{Msg, FLUSH_EVERY};
use crate::mediation::SignallingObserver;
use crate::sip::Message;
use crate::wire::{Datagram, Transport};
use crate::Timestamp;

/// Mediation's signalling hook for call detail records.
pub struct RecordsObserver {
    tx: Sender<Msg>,
    signals: SignalBatch,
    /// Packet time of the first message in `signals`.
    first: Option<Timestamp>,
    schedule: PurgeSchedule,
}

impl RecordsObserver {
    pub(super) fn new(tx: Sender<Msg>) -> Self {
        RecordsObserver { tx, signals: SignalBatch::default(), first: None, schedule: PurgeSchedule::default() }
    }

    /// Hands the messages taken so far to the writer.
    pub fn flush(&mut self) {
        if !self.signals.is_empty() {
            let batch = std::mem::take(&mut self.signals);
            self.first = None;
            // The writer only goes away when the run is finishing; it reports its own error.
            let _ = self.tx.send(Msg::Signals(batch));
        }
    }

    /// End of input: hands everything over, and the calls still open end.
    pub fn finish(mut self) {
        self.flush();
        let _ = self.tx.send(Msg::Drain);
    }

    /// Hands the batch over when full, or when it holds messages older than the writer's
    /// commit interval in packet time (a quiet live link still gets its records in).
    fn flush_due(&mut self, now: Timestamp) {
        let old = self.first.is_some_and(|f| now.saturating_sub(f) >= FLUSH_EVERY.as_nanos() as u64);
        if self.signals.is_full() || old {
            self.flush();
        }
    }
}

impl SignallingObserver for RecordsObserver {
    fn on_sip(&mut self, msg: &Message<'_>, dg: &Datagram<'_>) {
        let now_ns = i64::try_from(dg.ts.as_nanos()).unwrap_or(i64::MAX);
        if self.schedule.due(now_ns) {
            // The records finished before this moment go in before the purge judges them.
            self.flush();
            let _ = self.tx.send(Msg::Purge(now_ns));
        }
        let transport = match dg.transport {
            Transport::Udp => "udp",
            Transport::Tcp { .. } => "tcp",
        };
        self.signals.push(msg, dg.ts, transport);
        self.first.get_or_insert(dg.ts);
        self.flush_due(dg.ts);
    }

    fn on_batch(&mut self, last: Timestamp) {
        self.flush_due(last);
    }
}
