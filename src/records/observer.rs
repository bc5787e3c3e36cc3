//! The call detail recorder's foot on mediation's signalling hook, the pipeline's critical
//! path: [`RecordsObserver`] copies what the recorder reads of each SIP message into a
//! [`SignalBatch`] (no allocation per message) and hands full batches to the writer thread,
//! which runs the recorder. It also keeps the [`PurgeSchedule`] (packet time) and asks the
//! writer for the daily retention purge after the messages before it. A full batch is
//! replaced by one the writer emptied and handed back, when there is one, so the arenas are
//! allocated once per run, not once per batch.

use crossbeam_channel::{Receiver, Sender};

use super::purge::PurgeSchedule;
use super::signals::SignalBatch;
use super::writer::{Msg, FLUSH_EVERY};
use crate::mediation::{SignallingObserver, SipFacts};
use crate::sip::Message;
use crate::wire::{Datagram, Transport};
use crate::Timestamp;

/// Mediation's signalling hook for call detail records.
pub struct RecordsObserver {
    tx: Sender<Msg>,
    /// Batches the writer emptied, for reuse.
    recycled: Receiver<SignalBatch>,
    signals: SignalBatch,
    /// Packet time of the first message in `signals`.
    first: Option<Timestamp>,
    schedule: PurgeSchedule,
}

impl RecordsObserver {
    pub(super) fn new(tx: Sender<Msg>, recycled: Receiver<SignalBatch>) -> Self {
        RecordsObserver { tx, recycled, signals: SignalBatch::default(), first: None, schedule: PurgeSchedule::default() }
    }

    /// Hands the messages taken so far to the writer.
    pub fn flush(&mut self) {
        if !self.signals.is_empty() {
            let next = self.recycled.try_recv().unwrap_or_default();
            let batch = std::mem::replace(&mut self.signals, next);
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
    fn on_sip(&mut self, msg: &Message<'_>, facts: &SipFacts<'_>, dg: &Datagram<'_>) {
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
        self.signals.push(msg, facts, dg.ts, transport);
        self.first.get_or_insert(dg.ts);
        self.flush_due(dg.ts);
    }

    fn on_batch(&mut self, last: Timestamp) {
        self.flush_due(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::FlowKey;

    const BYE: &str = "BYE sip:x@y SIP/2.0\r\nFrom: <sip:a@b>;tag=a\r\nTo: <sip:c@d>;tag=b\r\nCall-ID: o1\r\nCSeq: 2 BYE\r\n\
        Content-Length: 0\r\n\r\n";
    const SECOND: u64 = 1_000_000_000;
    /// 2026-11-02 14:00 UTC.
    const T0: u64 = 1_793_628_000 * SECOND;

    fn see(o: &mut RecordsObserver, ts: u64) {
        let msg = crate::sip::parse(BYE.as_bytes()).expect("SIP");
        let ip = "10.0.0.1".parse().expect("ip");
        let flow = FlowKey { src: ip, dst: ip, src_port: 5060, dst_port: 5060, proto: 17 };
        let dg = Datagram { ts: Timestamp::from_nanos(ts), flow, transport: Transport::Udp, payload: &[], ip_packet: &[], vlan: None };
        let facts = SipFacts::of(&msg).expect("Call-ID");
        o.on_sip(&msg, &facts, &dg);
    }

    fn sent(rx: &crossbeam_channel::Receiver<Msg>) -> Vec<&'static str> {
        rx.try_iter()
            .map(|m| match m {
                Msg::Signals(_) => "signals",
                Msg::Drain => "drain",
                Msg::Trace(_) => "trace",
                Msg::Purge(_) => "purge",
            })
            .collect()
    }

    #[test]
    fn batches_go_over_a_second_of_packet_time_after_their_first_message_and_before_a_purge() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut o = RecordsObserver::new(tx, crossbeam_channel::never());
        see(&mut o, T0);
        assert_eq!(sent(&rx), ["purge"], "the first packet's purge, nothing before it");
        see(&mut o, T0 + SECOND / 2);
        o.on_batch(Timestamp::from_nanos(T0 + SECOND - 1));
        assert!(sent(&rx).is_empty(), "kept while younger than a second");
        o.on_batch(Timestamp::from_nanos(T0 + SECOND));
        assert_eq!(sent(&rx), ["signals"], "a quiet link still hands its messages over");
        see(&mut o, T0 + 2 * SECOND);
        see(&mut o, T0 + 24 * 3600 * SECOND);
        assert_eq!(sent(&rx), ["signals", "purge"], "the messages before midnight go in before the purge");
        o.finish();
        assert_eq!(sent(&rx), ["signals", "drain"]);
    }

    #[test]
    fn a_full_batch_is_replaced_by_one_the_writer_handed_back() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (recycle, recycled) = crossbeam_channel::bounded(1);
        let mut o = RecordsObserver::new(tx, recycled);
        let mut spare = SignalBatch::default();
        spare.reserve_for_test(1 << 16);
        let grown = spare.arena_capacity();
        recycle.send(spare).expect("room for one");
        see(&mut o, T0);
        o.flush();
        assert!(sent(&rx).contains(&"signals"));
        assert_eq!(o.signals.arena_capacity(), grown, "the handed-back batch, not a new one");
        o.flush();
        see(&mut o, T0 + 1);
        o.flush();
        assert!(o.signals.arena_capacity() < grown, "none handed back: a new small batch");
    }
}
