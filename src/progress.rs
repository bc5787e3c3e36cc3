//! Progress of long work (`gen`, `replay`, `run` over a file) on stderr: packets, percent,
//! rate and ETA, redrawn at most four times a second while stderr is a terminal (nothing is
//! drawn otherwise), then one end line with the elapsed time and throughput, also when
//! stderr is not a terminal: `tapline: replay: N packets in M:SS.s (R packets/s)`. The
//! formatting is pure ([`status_line`], [`end_line`]); [`Meter`] draws, ticked by the work.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn.
pub const REDRAW: Duration = Duration::from_millis(250);

/// Where the work stands.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Packets read or written so far.
    pub packets: u64,
    /// Share of the work done (0..=1), when the total is known.
    pub fraction: Option<f64>,
}

/// The line drawn while working, e.g. `12.3k packets  45.0 %  1.2k packets/s  ETA 0:12`.
pub fn status_line(sample: Sample, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let mut line = format!("{} packets", count(sample.packets as f64));
    if let Some(f) = sample.fraction.map(|f| f.clamp(0.0, 1.0)) {
        line.push_str(&format!("  {:.1} %", f * 100.0));
        if secs > 0.0 {
            line.push_str(&format!("  {}", rate(sample.packets, elapsed)));
        }
        if f > 0.0 && secs > 0.0 {
            let eta = Duration::from_secs_f64(secs * (1.0 - f) / f);
            line.push_str(&format!("  ETA {}", clock(eta)));
        }
    } else if secs > 0.0 {
        line.push_str(&format!("  {}", rate(sample.packets, elapsed)));
    }
    line
}

/// The end line, e.g. `replay: 1234567 packets in 0:12.3 (100.4k packets/s)`.
pub fn end_line(what: &str, packets: u64, elapsed: Duration) -> String {
    let tenths = elapsed.as_millis() / 100;
    let (mins, secs, tenth) = (tenths / 600, (tenths / 10) % 60, tenths % 10);
    format!("{what}: {packets} packets in {mins}:{secs:02}.{tenth} ({})", rate(packets, elapsed))
}

fn rate(packets: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return "- packets/s".to_owned();
    }
    format!("{} packets/s", count(packets as f64 / secs))
}

/// 999, 12.3k, 4.5M, 1.2G.
fn count(n: f64) -> String {
    match n {
        n if n < 1e3 => format!("{n:.0}"),
        n if n < 1e6 => format!("{:.1}k", n / 1e3),
        n if n < 1e9 => format!("{:.1}M", n / 1e6),
        n => format!("{:.1}G", n / 1e9),
    }
}

/// `M:SS`, or `H:MM:SS` from an hour.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", (s / 60) % 60, s % 60),
    }
}

/// A capture file's size and per-record overhead, to estimate the share read from the
/// packets and captured bytes handed out (the file offset is not published).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CaptureFile {
    size: u64,
    /// File header, and bytes each record adds to its captured bytes.
    header: u64,
    per_record: u64,
}

impl CaptureFile {
    /// A regular file's size and format (pcapng or pcap, from its magic number); None for
    /// anything else (a pipe, an unreadable file): progress then shows no percent.
    pub fn of(path: &std::path::Path) -> Option<CaptureFile> {
        let meta = std::fs::metadata(path).ok().filter(|m| m.is_file() && m.len() > 0)?;
        let mut magic = [0u8; 4];
        std::io::Read::read_exact(&mut std::fs::File::open(path).ok()?, &mut magic).ok()?;
        // pcapng: section and interface blocks, then an enhanced packet block per record
        // (32 bytes and 0–3 of padding); pcap: 24-byte header, 16 per record.
        let (header, per_record) = if magic == [0x0a, 0x0d, 0x0d, 0x0a] { (48, 34) } else { (24, 16) };
        Some(CaptureFile { size: meta.len(), header, per_record })
    }

    /// The share read after `packets` records of `bytes` captured bytes, below 1 until the
    /// end (the work says when it is done).
    pub fn fraction(self, packets: u64, bytes: u64) -> f64 {
        let read = self.header.saturating_add(packets.saturating_mul(self.per_record)).saturating_add(bytes);
        (read as f64 / self.size as f64).min(0.999)
    }
}

/// Draws the status line on stderr while it is a terminal, at most every [`REDRAW`] as the
/// work calls [`tick`](Meter::tick) (on the work's own thread: no thread of its own);
/// [`finish`](Meter::finish) clears it and prints the end line.
#[derive(Debug)]
pub struct Meter {
    what: &'static str,
    started: Instant,
    terminal: bool,
    drawn: Option<Instant>,
}

impl Meter {
    /// Starts timing the work called `what` (e.g. `replay`).
    pub fn start(what: &'static str) -> Meter {
        Meter { what, started: Instant::now(), terminal: std::io::stderr().is_terminal(), drawn: None }
    }

    /// Redraws the line from `sample` when stderr is a terminal and the last draw is
    /// [`REDRAW`] old (the first tick draws at once); otherwise does nothing.
    pub fn tick(&mut self, sample: impl FnOnce() -> Sample) {
        if !self.terminal || self.drawn.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        self.drawn = Some(Instant::now());
        let line = status_line(sample(), self.started.elapsed());
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, "\r\x1b[2K{}: {line}", self.what);
        let _ = stderr.flush();
    }

    /// Clears the line and prints the end line for `packets` (as `tapline: …`, like the other
    /// verdict lines), also when stderr is not a terminal.
    pub fn finish(self, packets: u64) {
        if self.drawn.is_some() {
            eprint!("\r\x1b[2K");
        }
        eprintln!("tapline: {}", end_line(self.what, packets, self.started.elapsed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_has_packets_percent_rate_and_eta() {
        let s = Sample { packets: 12_345, fraction: Some(0.25) };
        assert_eq!(status_line(s, Duration::from_secs(10)), "12.3k packets  25.0 %  1.2k packets/s  ETA 0:30");
        let s = Sample { packets: 2_000_000, fraction: Some(0.5) };
        assert_eq!(status_line(s, Duration::from_secs(3_700)), "2.0M packets  50.0 %  541 packets/s  ETA 1:01:40");
    }

    #[test]
    fn status_line_without_a_total_has_no_percent_or_eta() {
        let s = Sample { packets: 500, fraction: None };
        assert_eq!(status_line(s, Duration::from_secs(2)), "500 packets  250 packets/s");
        assert_eq!(status_line(s, Duration::ZERO), "500 packets");
        let s = Sample { packets: 0, fraction: Some(0.0) };
        assert_eq!(status_line(s, Duration::ZERO), "0 packets  0.0 %", "no ETA before any progress");
    }

    #[test]
    fn a_pcap_read_to_its_end_is_almost_all_read() {
        let f = CaptureFile { size: 24 + 10 * (16 + 100), header: 24, per_record: 16 };
        assert_eq!(f.fraction(0, 0), 24.0 / 1184.0);
        assert!((f.fraction(5, 500) - 604.0 / 1184.0).abs() < 1e-9);
        assert_eq!(f.fraction(10, 1000), 0.999, "capped until the work ends");
    }

    #[test]
    fn end_line_has_elapsed_and_throughput() {
        assert_eq!(end_line("replay", 1_234_567, Duration::from_millis(12_345)), "replay: 1234567 packets in 0:12.3 (100.0k packets/s)");
        assert_eq!(end_line("gen", 10, Duration::from_secs(125)), "gen: 10 packets in 2:05.0 (0 packets/s)");
    }
}
