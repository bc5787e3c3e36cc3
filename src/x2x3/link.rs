//! One X2/X3 connection as a sans-IO state machine: framing of the bytes received, the
//! keep-alive discipline of TS 103 221-2 clause 6 and the PDUs to send.
//!
//! The sending end (a POI) sends a Keepalive (type 3, attribute 8 = its sequence number)
//! every TIME_P1 — on a timer, even while data flows, because data PDUs are never
//! acknowledged — and drops the connection when a keepalive has gone TIME_P2 without a
//! Keepalive Ack echoing its sequence number. The sending end answers a keepalive it
//! receives with an ack at once; the receiving end (a mediation function) reports it as
//! [`Event::Keepalive`] and acks only when its shell calls [`Link::acknowledge`] — once the
//! data before the keepalive is durable, since the ack lets the sender delete it. The
//! receiving end may also drop a connection that has been silent for an idle limit (a
//! sender that stopped sending keepalives is dead).
//!
//! Call order, from the shell that owns the socket:
//! 1. [`Link::handle_input`] with every chunk of bytes read (at time `now`);
//! 2. [`Link::handle_timeout`] whenever [`Link::poll_timeout`] has passed;
//! 3. [`Link::send`] for each data PDU to send (sending end);
//! 4. [`Link::poll_transmit`] to take the bytes to write, [`Link::poll_event`] to take the
//!    PDUs received and the close; once closed, the shell drops the socket.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::framing::{FrameError, Framer, DEFAULT_MAX_PDU};
use super::pdu::{PduError, PduRepr, PduType};

/// Timers and limits of a connection.
#[derive(Clone, Copy, Debug)]
pub struct LinkConfig {
    /// TIME_P1: interval between keepalives (sending end).
    pub keepalive_every: Duration,
    /// TIME_P2: how long a keepalive may go without its ack before the connection drops.
    pub ack_within: Duration,
    /// Receiving end: drop a connection that sent nothing for this long (None: never).
    pub idle_limit: Option<Duration>,
    pub max_pdu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            keepalive_every: Duration::from_secs(5),
            ack_within: Duration::from_secs(5),
            idle_limit: Some(Duration::from_secs(30)),
            max_pdu: DEFAULT_MAX_PDU,
        }
    }
}

/// Which end of the connection this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends data and keepalives (a POI).
    Sender,
    /// Receives data, answers keepalives (a mediation function).
    Receiver,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    #[error("keepalive {sequence} not acknowledged within TIME_P2")]
    NoAck { sequence: u32 },
    #[error("peer silent for longer than the idle limit")]
    Idle,
    #[error("stream refused: {0}")]
    Framing(FrameError),
    #[error("closed by the shell (peer closed or I/O error)")]
    Shell,
}

/// What the shell takes from the link.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole X2 or X3 PDU, already checked to parse.
    Data(Vec<u8>),
    /// A PDU framed correctly but refused (bad attribute): counted and skipped.
    Refused(PduError),
    /// Receiving end: the peer sent keepalive `sequence` after the data events before it;
    /// answer it with [`Link::acknowledge`] once that data is safe.
    Keepalive(u32),
    /// Sending end: the ack of keepalive `sequence` came (settling every older one too), so
    /// the peer has read everything sent before that keepalive.
    Acknowledged(u32),
    /// The connection is over; nothing more will be sent or received.
    Closed(CloseReason),
}

/// Counters of one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkStats {
    pub data_received: u64,
    pub data_sent: u64,
    pub refused: u64,
    pub keepalives_sent: u64,
    pub keepalives_received: u64,
    pub acks_sent: u64,
    pub acks_received: u64,
    /// Acks that echoed no keepalive outstanding.
    pub acks_unexpected: u64,
}

#[derive(Debug)]
enum State {
    Open {
        /// Sending end: when the next keepalive is due.
        next_keepalive: Option<Instant>,
        /// Keepalives sent and not yet acknowledged, oldest first, with their deadlines.
        outstanding: VecDeque<(u32, Instant)>,
        last_input: Instant,
    },
    Closed {
        at: Instant,
        reason: CloseReason,
    },
}

/// One X2/X3 connection (no I/O).
#[derive(Debug)]
pub struct Link {
    config: LinkConfig,
    role: Role,
    framer: Framer,
    state: State,
    next_sequence: u32,
    transmit: Vec<u8>,
    events: VecDeque<Event>,
    stats: LinkStats,
}

impl Link {
    /// A connection established at `now`; a sending end sends its first keepalive after
    /// TIME_P1.
    pub fn new(role: Role, config: LinkConfig, now: Instant) -> Link {
        let next_keepalive = (role == Role::Sender).then(|| now + config.keepalive_every);
        Link {
            config,
            role,
            framer: Framer::new(config.max_pdu),
            state: State::Open { next_keepalive, outstanding: VecDeque::new(), last_input: now },
            next_sequence: 0,
            transmit: Vec::new(),
            events: VecDeque::new(),
            stats: LinkStats::default(),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// When and why the connection ended, if it did.
    pub fn closed(&self) -> Option<(Instant, CloseReason)> {
        match self.state {
            State::Closed { at, reason } => Some((at, reason)),
            State::Open { .. } => None,
        }
    }

    fn close(&mut self, now: Instant, reason: CloseReason) {
        if matches!(self.state, State::Open { .. }) {
            self.state = State::Closed { at: now, reason };
            self.transmit.clear();
            self.events.push_back(Event::Closed(reason));
        }
    }

    /// The shell saw the peer close or an I/O error.
    pub fn handle_close(&mut self, now: Instant) {
        self.close(now, CloseReason::Shell);
    }

    /// Bytes read from the connection.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        let State::Open { last_input, .. } = &mut self.state else { return };
        *last_input = now;
        if let Err(e) = self.framer.push(bytes) {
            self.close(now, CloseReason::Framing(e));
            return;
        }
        loop {
            let pdu = match self.framer.next_pdu() {
                Ok(Some(pdu)) => pdu,
                Ok(None) => return,
                Err(e) => {
                    self.close(now, CloseReason::Framing(e));
                    return;
                }
            };
            let parsed = PduRepr::parse_bytes(pdu).map(|r| (r.pdu_type, r.sequence));
            match parsed {
                Err(e) => {
                    self.stats.refused += 1;
                    self.events.push_back(Event::Refused(e));
                }
                Ok((PduType::X2 | PduType::X3, _)) => {
                    self.stats.data_received += 1;
                    let owned = pdu.to_vec();
                    self.events.push_back(Event::Data(owned));
                }
                Ok((PduType::Keepalive, sequence)) => {
                    self.stats.keepalives_received += 1;
                    // A keepalive without a sequence number is answered with 0.
                    let sequence = sequence.unwrap_or(0);
                    match self.role {
                        Role::Sender => self.ack(sequence),
                        Role::Receiver => self.events.push_back(Event::Keepalive(sequence)),
                    }
                }
                Ok((PduType::KeepaliveAck, sequence)) => self.handle_ack(sequence),
            }
        }
    }

    /// Answers keepalive `sequence` with its ack (receiving end, after [`Event::Keepalive`]);
    /// nothing once closed.
    pub fn acknowledge(&mut self, sequence: u32) {
        if matches!(self.state, State::Open { .. }) {
            self.ack(sequence);
        }
    }

    fn ack(&mut self, sequence: u32) {
        PduRepr::keepalive(PduType::KeepaliveAck, sequence).emit_to_vec(&mut self.transmit);
        self.stats.acks_sent += 1;
    }

    fn handle_ack(&mut self, sequence: Option<u32>) {
        self.stats.acks_received += 1;
        let State::Open { outstanding, .. } = &mut self.state else { return };
        match sequence.and_then(|s| outstanding.iter().position(|(o, _)| *o == s)) {
            // Acks come in order: this one also settles every older keepalive.
            Some(i) => {
                outstanding.drain(..=i);
                if let Some(s) = sequence {
                    self.events.push_back(Event::Acknowledged(s));
                }
            }
            None => self.stats.acks_unexpected += 1,
        }
    }

    /// Runs the timers: sends a due keepalive, closes on a missed ack or an idle peer.
    pub fn handle_timeout(&mut self, now: Instant) {
        let State::Open { next_keepalive, outstanding, last_input } = &mut self.state else { return };
        if let Some(&(sequence, deadline)) = outstanding.front() {
            if now >= deadline {
                self.close(now, CloseReason::NoAck { sequence });
                return;
            }
        }
        if let Some(limit) = self.config.idle_limit.filter(|_| self.role == Role::Receiver) {
            if now.saturating_duration_since(*last_input) >= limit {
                self.close(now, CloseReason::Idle);
                return;
            }
        }
        if next_keepalive.is_some_and(|due| now >= due) {
            self.keepalive(now);
        }
    }

    /// Sending end: queues a keepalive now, behind every data PDU queued so far, and
    /// returns its sequence number (None once closed or on the receiving end). Its ack
    /// ([`Event::Acknowledged`]) shows the peer read everything before it; the next timed
    /// keepalive is due TIME_P1 after this one.
    pub fn keepalive(&mut self, now: Instant) -> Option<u32> {
        let State::Open { next_keepalive: Some(due), outstanding, .. } = &mut self.state else { return None };
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        outstanding.push_back((sequence, now + self.config.ack_within));
        // The next one is due TIME_P1 after this one, whatever data was sent meanwhile.
        *due = now + self.config.keepalive_every;
        PduRepr::keepalive(PduType::Keepalive, sequence).emit_to_vec(&mut self.transmit);
        self.stats.keepalives_sent += 1;
        Some(sequence)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next run; None once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let State::Open { next_keepalive, outstanding, last_input } = &self.state else { return None };
        let idle = self.config.idle_limit.filter(|_| self.role == Role::Receiver).map(|l| *last_input + l);
        [*next_keepalive, outstanding.front().map(|(_, d)| *d), idle].into_iter().flatten().min()
    }

    /// Queues a data PDU for sending; false (nothing queued) once the link is closed.
    pub fn send(&mut self, pdu: &PduRepr<'_>) -> bool {
        if !matches!(self.state, State::Open { .. }) {
            return false;
        }
        pdu.emit_to_vec(&mut self.transmit);
        self.stats.data_sent += 1;
        true
    }

    /// Queues an already encoded data PDU (from a spool); false once closed.
    pub fn send_encoded(&mut self, pdu: &[u8]) -> bool {
        if !matches!(self.state, State::Open { .. }) {
            return false;
        }
        self.transmit.extend_from_slice(pdu);
        self.stats.data_sent += 1;
        true
    }

    /// Bytes to write, in order; empty when there is nothing to send.
    pub fn poll_transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.transmit)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;
