//! Scenarios: a seeded list of calls and MESSAGEs written as one time-ordered pcap with exact
//! counts, and the bundled demo capture.

use std::io::{self, Write};
use std::time::Duration;

use super::call::{CallSpec, MessageSpec, Outcome, Transport};
use super::flow::{plan_call, plan_message};
use super::pcap_writer::{PcapWriter, Resolution};
use super::rng::Rng;
use super::source::{write_counted, Merger};
use crate::Timestamp;

/// Exact counts of what a scenario or generator wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScenarioStats {
    /// pcap records (Ethernet frames, IPv4 fragments and TCP control segments included).
    pub frames: u64,
    /// Complete SIP messages (a retransmission counts again; a fragmented or split message once).
    pub sip_messages: u64,
    /// RTP packets: PCMU audio and telephone-events (each end-of-event copy counts).
    pub rtp_packets: u64,
    pub rtcp_packets: u64,
    /// Call specifications written (a 3xx-forwarded call is one call with two INVITE dialogs).
    pub calls: u64,
}

/// A seeded set of calls and MESSAGEs; the same seed and items give identical bytes.
#[derive(Clone, Debug)]
pub struct Scenario {
    seed: u64,
    calls: Vec<CallSpec>,
    messages: Vec<MessageSpec>,
}

/// Index offset separating the random streams of MESSAGEs from those of calls.
const MESSAGE_STREAM_BASE: u64 = 1 << 32;

impl Scenario {
    pub fn new(seed: u64) -> Self {
        Scenario {
            seed,
            calls: Vec::new(),
            messages: Vec::new(),
        }
    }

    pub fn call(&mut self, spec: CallSpec) -> &mut Self {
        self.calls.push(spec);
        self
    }

    pub fn sip_message(&mut self, spec: MessageSpec) -> &mut Self {
        self.messages.push(spec);
        self
    }

    pub fn calls(&self) -> &[CallSpec] {
        &self.calls
    }

    pub fn messages(&self) -> &[MessageSpec] {
        &self.messages
    }

    /// Writes a microsecond pcap of every item merged by time.
    pub fn write_pcap(&self, w: impl Write) -> io::Result<ScenarioStats> {
        self.write_pcap_with(w, Resolution::Micro)
    }

    pub fn write_pcap_with(
        &self,
        w: impl Write,
        resolution: Resolution,
    ) -> io::Result<ScenarioStats> {
        self.write_pcap_part(w, resolution, |_| true)
    }

    /// [`Scenario::write_pcap_with`] of only the items whose index `keep` accepts (calls
    /// numbered first, then MESSAGEs): each item's frames are exactly those of the whole
    /// capture, so the parts of a partition merge back into it (what each point of
    /// interception of `demo --scale-out` sees).
    pub fn write_pcap_part(
        &self,
        w: impl Write,
        resolution: Resolution,
        keep: impl Fn(usize) -> bool,
    ) -> io::Result<ScenarioStats> {
        let mut merger = Merger::new();
        let mut calls = 0;
        for (i, spec) in self.calls.iter().enumerate().filter(|(i, _)| keep(*i)) {
            merger.add(plan_call(spec, Rng::derive(self.seed, i as u64)));
            calls += 1;
        }
        let first_message = self.calls.len();
        for (i, spec) in self.messages.iter().enumerate().filter(|(i, _)| keep(first_message + i)) {
            merger.add(plan_message(
                spec,
                Rng::derive(self.seed, MESSAGE_STREAM_BASE + i as u64),
            ));
        }
        let mut pcap = PcapWriter::new(w, resolution)?;
        let mut stats = ScenarioStats {
            calls,
            ..ScenarioStats::default()
        };
        while let Some(frame) = merger.pop() {
            write_counted(&mut pcap, &frame, &mut stats)?;
        }
        pcap.into_inner().flush()?;
        Ok(stats)
    }
}

/// 2026-11-02T14:00:00Z, the start of the demo capture.
pub const DEMO_START: Timestamp = Timestamp::from_secs_micros(1_793_628_000, 0);
pub const DEMO_SEED: u64 = 20_261_102;

/// The bundled demo capture `fixtures/demo.pcap` (described in `fixtures/README.md`).
pub fn demo_scenario() -> Scenario {
    let at = |secs: u64| Timestamp::from_secs_micros(DEMO_START.secs() + secs, 0);
    let mut s = Scenario::new(DEMO_SEED);
    let mut lunch = CallSpec::new(
        "+13035550142",
        "+13035550199",
        Outcome::Answered {
            talk: Duration::from_secs(6),
        },
        at(0),
    );
    lunch.rfc4733_digits = Some("1234".to_string());
    lunch.subject = Some("lunch?".to_string());
    s.call(lunch);

    let mut private = CallSpec::new(
        "+13035550177",
        "+13035550142",
        Outcome::RangNoAnswer {
            ring: Duration::from_secs(8),
        },
        at(20),
    );
    private.caller_private = true;
    s.call(private);

    let mut unrelated = CallSpec::new(
        "+17205550101",
        "+17205550102",
        Outcome::Answered {
            talk: Duration::from_secs(5),
        },
        at(10),
    );
    unrelated.transport = Transport::Tcp;
    s.call(unrelated);

    let forwarded = Outcome::ForwardedDiversion {
        to: "+13035550142".to_string(),
        talk: Duration::from_secs(5),
    };
    s.call(CallSpec::new(
        "+13035550111",
        "+13035550188",
        forwarded,
        at(35),
    ));

    s.sip_message(MessageSpec::new(
        "+13035550142",
        "+13035550199",
        "running late, order me the soup",
        at(50),
    ));
    s
}
