//! SIP over a TCP byte stream (RFC 3261 18.3): frames messages by the end of the header
//! block plus Content-Length, skips RFC 5626 CRLF keep-alives and resynchronises on garbage.
//!
//! A framer starts **unsynchronised**: a capture may join a connection that is already up,
//! so the first bytes may be the middle of a message. Until it finds a message boundary it
//! discards bytes up to the next SIP start line — a request line or `SIP/2.0 NNN` status
//! line at the beginning of a line, followed by a complete header block of header lines only
//! (no other start line) that has `Call-ID` and `CSeq`. The very first bytes of a stream may
//! be the tail of a line, so they only count when they begin with a known method or a status
//! line (then the identifiers are not required). Each such recovery is counted
//! ([`Framer::resyncs`]) with the bytes it skipped ([`Framer::skipped_bytes`]). After a
//! rejected header block, an overflow or a TCP gap ([`Framer::resync`]) it is
//! unsynchronised again.

use thiserror::Error;

use super::multipart::find_blank_line;
use super::text::find_byte;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FramingError {
    #[error("SIP stream buffer over its limit ({buffered} > {limit} bytes) without a complete message; buffer reset")]
    Overflow { buffered: usize, limit: usize },
    #[error("SIP message Content-Length {content_length} over the stream limit {limit}; header block skipped")]
    BodyTooLarge { content_length: usize, limit: usize },
    #[error("SIP message on stream has a non-numeric Content-Length; header block skipped")]
    BadContentLength,
}

/// Reassembles SIP messages from one direction of a TCP connection.
///
/// ```
/// # use tapline::sip::{stream::Framer, parse};
/// let mut framer = Framer::new();
/// framer.push(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n");
/// while let Some(frame) = framer.next_message() {
///     let msg = parse(frame.unwrap()).unwrap();
///     assert!(msg.is_request());
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    /// Bytes before `start` were handed out or skipped; removed on the next `push`.
    start: usize,
    limit: usize,
    skipped_bytes: u64,
    keepalives: u64,
    sync: Sync,
    /// Bytes were skipped since the last frame: the next frame is a resynchronisation.
    skipped_since_frame: bool,
    resyncs: u64,
}

/// Where the framer stands in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// The next byte starts a message (or keep-alive, or garbage before one).
    InSync,
    /// Somewhere unknown; `line_start`: the next byte is known to begin a line.
    Lost { line_start: bool },
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

enum Step {
    Skip { len: usize, keepalive: bool },
    NeedMore,
    Overflow { buffered: usize },
    Frame { len: usize },
    Reject { len: usize, error: FramingError },
}

impl Framer {
    /// Default cap on incomplete buffered data and on Content-Length: 1 MiB.
    pub const DEFAULT_LIMIT: usize = 1 << 20;

    pub fn new() -> Self {
        Framer::with_limit(Framer::DEFAULT_LIMIT)
    }

    pub fn with_limit(limit: usize) -> Self {
        Framer {
            buf: Vec::new(),
            start: 0,
            limit,
            skipped_bytes: 0,
            keepalives: 0,
            sync: Sync::Lost { line_start: false },
            skipped_since_frame: false,
            resyncs: 0,
        }
    }

    /// Appends stream bytes (in TCP sequence order).
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, borrowed from the framer's buffer (hand it to
    /// [`super::parse`]). `None` when more bytes are needed. After an error, call again.
    pub fn next_message(&mut self) -> Option<Result<&[u8], FramingError>> {
        loop {
            match self.step() {
                Step::Skip { len, keepalive } => {
                    self.start += len;
                    match (&mut self.sync, keepalive) {
                        (Sync::InSync, true) => self.keepalives += 1,
                        // Line breaks while lost are skipped bytes (a blank line inside a
                        // message), and say nothing about where a line starts.
                        (Sync::Lost { .. }, true) | (Sync::InSync, false) => {
                            self.skipped_bytes += len as u64;
                            self.skipped_since_frame = true;
                        }
                        (Sync::Lost { line_start }, false) => {
                            // A skipped line ends at a line break.
                            *line_start = true;
                            self.skipped_bytes += len as u64;
                            self.skipped_since_frame = true;
                        }
                    }
                }
                Step::NeedMore => return None,
                Step::Overflow { buffered } => {
                    self.skipped_bytes += buffered as u64;
                    self.resync();
                    return Some(Err(FramingError::Overflow {
                        buffered,
                        limit: self.limit,
                    }));
                }
                Step::Reject { len, error } => {
                    self.start += len;
                    self.skipped_bytes += len as u64;
                    self.skipped_since_frame = true;
                    // Where the unframeable body ends is unknown.
                    self.sync = Sync::Lost { line_start: true };
                    return Some(Err(error));
                }
                Step::Frame { len } => {
                    if self.skipped_since_frame {
                        self.resyncs += 1;
                        self.skipped_since_frame = false;
                    }
                    self.sync = Sync::InSync;
                    let from = self.start;
                    self.start += len;
                    return self.buf.get(from..from + len).map(Ok);
                }
            }
        }
    }

    fn step(&self) -> Step {
        let data = self.buf.get(self.start..).unwrap_or(&[]);
        let breaks = data
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if breaks > 0 {
            return Step::Skip {
                len: breaks,
                keepalive: true,
            };
        }
        if data.is_empty() {
            return Step::NeedMore;
        }
        let overflow_or_wait = || {
            if data.len() > self.limit {
                Step::Overflow {
                    buffered: data.len(),
                }
            } else {
                Step::NeedMore
            }
        };
        let Some(lf) = find_byte(data, b'\n') else {
            return overflow_or_wait();
        };
        let skip_line = Step::Skip {
            len: lf + 1,
            keepalive: false,
        };
        let line = data.get(..lf).unwrap_or(&[]);
        let start_ok = match self.sync {
            Sync::InSync | Sync::Lost { line_start: true } => plausible_start_line(line),
            // Maybe the tail of a line: only a known method or a status line begins here.
            Sync::Lost { line_start: false } => super::looks_like_sip(line) && plausible_start_line(line),
        };
        if !start_ok {
            return skip_line;
        }
        let Some((header_end, body_start)) = find_blank_line(data) else {
            return overflow_or_wait();
        };
        if let Sync::Lost { line_start } = self.sync {
            // After skipped bytes the candidate must also carry a dialog's identifiers.
            if !resync_header_block(data.get(lf + 1..header_end).unwrap_or(&[]), line_start) {
                return skip_line;
            }
        }
        let content_length = match content_length(data.get(..header_end).unwrap_or(&[])) {
            Ok(n) => n.unwrap_or(0),
            Err(error) => {
                return Step::Reject {
                    len: body_start,
                    error,
                }
            }
        };
        if content_length > self.limit {
            return Step::Reject {
                len: body_start,
                error: FramingError::BodyTooLarge {
                    content_length,
                    limit: self.limit,
                },
            };
        }
        let total = body_start + content_length;
        if data.len() < total {
            Step::NeedMore
        } else {
            Step::Frame { len: total }
        }
    }

    /// Drops everything buffered; the framer stays where it is in the stream.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    /// Drops everything buffered and resynchronises on the next start line: for bytes that
    /// do not follow what was pushed before (a TCP sequence gap given up).
    pub fn resync(&mut self) {
        if self.buffered() > 0 {
            self.skipped_since_frame = true;
            self.skipped_bytes += self.buffered() as u64;
        }
        self.reset();
        self.sync = Sync::Lost { line_start: false };
        self.skipped_since_frame = true;
    }

    /// Times the framer found a message boundary again after skipping bytes (joined
    /// mid-stream, garbage, a rejected header block, a gap).
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Bytes discarded: garbage before a start line, rejected header blocks, overflows.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped_bytes
    }

    /// Runs of CRLF between messages (RFC 5626 keep-alive pings and pongs).
    pub fn keepalives(&self) -> u64 {
        self.keepalives
    }
}

/// `SIP/2.0 ddd ...` or `TOKEN SP uri SP SIP/2.0`.
fn plausible_start_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/2.0 "))
    {
        return line
            .get(8..11)
            .is_some_and(|c| c.iter().all(u8::is_ascii_digit));
    }
    let Some(sp) = find_byte(line, b' ') else {
        return false;
    };
    let method = line.get(..sp).unwrap_or(&[]);
    !method.is_empty()
        && method
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(b))
        && line.len() > 8
        && line
            .get(line.len() - 8..)
            .is_some_and(|v| v.eq_ignore_ascii_case(b" SIP/2.0"))
}

/// Whether the header lines after a candidate start line make it a real message when the
/// framer is resynchronising: every line is a header (`name:` or a folded continuation), none
/// is another start line, and (with `need_ids`) `Call-ID` (`i`) and `CSeq` are present.
fn resync_header_block(headers: &[u8], need_ids: bool) -> bool {
    let (mut call_id, mut cseq) = (false, false);
    for line in headers.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if plausible_start_line(line) {
            return false;
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let Some(colon) = find_byte(line, b':') else { return false };
        let name = line.get(..colon).unwrap_or(&[]).trim_ascii();
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(b)) {
            return false;
        }
        call_id |= name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i");
        cseq |= name.eq_ignore_ascii_case(b"cseq");
    }
    !need_ids || (call_id && cseq)
}

/// True when a segment of a flow not yet followed may carry SIP: it starts with a SIP start
/// line, or holds `SIP/2.0` anywhere (a start line or Via header further on: a capture that
/// joined the connection mid-message). One pass over the bytes, no allocation.
pub fn may_carry_sip(payload: &[u8]) -> bool {
    if super::looks_like_sip(payload) {
        return true;
    }
    const NEEDLE: &[u8] = b"SIP/2.0";
    let mut from = 0;
    while let Some(rest) = payload.get(from..) {
        let Some(i) = find_byte(rest, b'S') else { return false };
        if rest.get(i..i + NEEDLE.len()) == Some(NEEDLE) {
            return true;
        }
        from += i + 1;
    }
    false
}

/// Content-Length (or `l`) from a header block; `Ok(None)` when absent.
fn content_length(headers: &[u8]) -> Result<Option<usize>, FramingError> {
    for line in headers.split(|&b| b == b'\n') {
        let Some(colon) = find_byte(line, b':') else {
            continue;
        };
        let name = line.get(..colon).unwrap_or(&[]).trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = line.get(colon + 1..).unwrap_or(&[]).trim_ascii();
            return std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Some)
                .ok_or(FramingError::BadContentLength);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{parse, Method};

    const INVITE: &[u8] = b"INVITE sip:201@10.33.6.101 SIP/2.0\r\n\
Via: SIP/2.0/TCP 10.33.6.100:5060;branch=z9hG4bK-1\r\n\
From: <sip:101@10.33.6.100>;tag=a\r\nTo: <sip:201@10.33.6.101>\r\n\
Call-ID: tcp-1@10.33.6.100\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\
Content-Length: 10\r\n\r\nv=0\r\ns=-\r\n";
    const TRYING: &[u8] =
        b"SIP/2.0 100 Trying\r\nVia: SIP/2.0/TCP 10.33.6.100:5060;branch=z9hG4bK-1\r\n\
Call-ID: tcp-1@10.33.6.100\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n";

    fn frames(framer: &mut Framer) -> Vec<Result<Vec<u8>, FramingError>> {
        let mut out = Vec::new();
        while let Some(f) = framer.next_message() {
            out.push(f.map(<[u8]>::to_vec));
        }
        out
    }

    #[test]
    fn several_messages_in_one_push() {
        let mut f = Framer::new();
        f.push(&[INVITE, TRYING, b"\r\n\r\n"].concat());
        let got = frames(&mut f);
        assert_eq!(got, vec![Ok(INVITE.to_vec()), Ok(TRYING.to_vec())]);
        assert_eq!(f.keepalives(), 1);
        assert_eq!(f.buffered(), 0);
        let msg = parse(&got[0].as_ref().unwrap()[..]).unwrap();
        assert_eq!(msg.method(), Some(Method::Invite));
        assert_eq!(msg.body(), b"v=0\r\ns=-\r\n");
    }

    #[test]
    fn one_message_over_many_pushes() {
        let mut f = Framer::new();
        for chunk in INVITE.chunks(7) {
            assert!(f.buffered() == 0 || f.next_message().is_none());
            f.push(chunk);
        }
        assert_eq!(frames(&mut f), vec![Ok(INVITE.to_vec())]);
    }

    #[test]
    fn garbage_skipped_to_next_start_line() {
        let mut f = Framer::new();
        f.push(b"\x16\x03\x01 junk\r\nmore junk\n");
        f.push(TRYING);
        assert_eq!(frames(&mut f), vec![Ok(TRYING.to_vec())]);
        assert_eq!(f.skipped_bytes(), 20);
    }

    #[test]
    fn missing_content_length_is_zero() {
        let mut f = Framer::new();
        f.push(b"BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nSIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n");
        let got = frames(&mut f);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].as_ref().unwrap(),
            b"BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"
        );
    }

    #[test]
    fn limits_and_bad_length() {
        let mut f = Framer::with_limit(64);
        f.push(&[b'x'; 100]);
        assert_eq!(
            frames(&mut f),
            vec![Err(FramingError::Overflow {
                buffered: 100,
                limit: 64
            })]
        );
        assert_eq!(f.buffered(), 0);
        f.push(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1000\r\n\r\n");
        f.push(TRYING);
        let got = frames(&mut f);
        assert_eq!(
            got[0],
            Err(FramingError::BodyTooLarge {
                content_length: 1000,
                limit: 64
            })
        );
        assert_eq!(
            got[1],
            Ok(TRYING.to_vec()),
            "a complete header block is framed"
        );
        let mut g = Framer::new();
        g.push(b"INFO sip:a@b SIP/2.0\r\nContent-Length: ten\r\n\r\n");
        g.push(TRYING);
        assert_eq!(
            frames(&mut g),
            vec![Err(FramingError::BadContentLength), Ok(TRYING.to_vec())]
        );
    }

    #[test]
    fn start_line_plausibility() {
        assert!(plausible_start_line(b"SIP/2.0 180 Ringing\r"));
        assert!(plausible_start_line(b"FOO sip:x SIP/2.0"));
        assert!(!plausible_start_line(b"HTTP/1.1 200 OK"));
        assert!(!plausible_start_line(b"Via: SIP/2.0/TCP x"));
    }

    #[test]
    fn joined_mid_message_resyncs_on_the_next_start_line() {
        let all = [INVITE, TRYING, INVITE].concat();
        // Every cut inside the first INVITE: the framer skips to TRYING and frames both after.
        for cut in 1..INVITE.len() {
            let mut f = Framer::new();
            f.push(&all[cut..]);
            let got = frames(&mut f);
            assert_eq!(got, vec![Ok(TRYING.to_vec()), Ok(INVITE.to_vec())], "cut at {cut}");
            assert_eq!(f.resyncs(), 1, "cut at {cut}");
            assert_eq!(f.skipped_bytes(), (INVITE.len() - cut) as u64, "cut at {cut}");
        }
        // Joined exactly at a message: nothing skipped, no resync.
        let mut f = Framer::new();
        f.push(&all);
        assert_eq!(frames(&mut f).len(), 3);
        assert_eq!((f.resyncs(), f.skipped_bytes()), (0, 0));
    }

    #[test]
    fn a_start_line_inside_a_body_is_not_a_boundary() {
        // A sipfrag body (NOTIFY after REFER) holds a status line without Call-ID/CSeq.
        let notify = b"NOTIFY sip:a@b SIP/2.0\r\nCall-ID: n\r\nCSeq: 2 NOTIFY\r\n\
Content-Type: message/sipfrag\r\nContent-Length: 22\r\n\r\nSIP/2.0 200 OK\r\nX: y\r\n";
        let all = [&notify[..], TRYING].concat();
        let body_at = notify.len() - 22;
        let mut f = Framer::new();
        f.push(&all[body_at - 3..]);
        assert_eq!(frames(&mut f), vec![Ok(TRYING.to_vec())]);
        // The tail of a request line ("VITE sip:...") is not taken for a message either.
        let mut g = Framer::new();
        g.push(&[&INVITE[2..], TRYING].concat());
        assert_eq!(frames(&mut g), vec![Ok(TRYING.to_vec())]);
    }

    #[test]
    fn resync_after_a_gap_drops_the_partial_message() {
        let mut f = Framer::new();
        f.push(&INVITE[..40]);
        assert!(frames(&mut f).is_empty());
        f.resync();
        f.push(&INVITE[60..]);
        f.push(TRYING);
        assert_eq!(frames(&mut f), vec![Ok(TRYING.to_vec())]);
        assert_eq!(f.resyncs(), 1);
        assert_eq!(f.skipped_bytes(), 40 + (INVITE.len() - 60) as u64);
    }

    #[test]
    fn which_segments_may_start_following_a_flow() {
        assert!(may_carry_sip(TRYING));
        assert!(may_carry_sip(&INVITE[30..]), "a Via header");
        assert!(may_carry_sip(b"xx\r\nSIP/2.0 180 Ringing\r\n"));
        assert!(!may_carry_sip(b"v=0\r\ns=-\r\n"));
        assert!(!may_carry_sip(b"GET / HTTP/1.1\r\nHost: SIP/2\r\n"));
        assert!(!may_carry_sip(b""));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), 0..8)) {
            let mut f = Framer::with_limit(256);
            for c in &chunks {
                f.push(c);
                while let Some(r) = f.next_message() {
                    if let Ok(m) = r { let _ = parse(m); }
                }
            }
        }

        #[test]
        fn split_anywhere_gives_same_frames(cut in 0usize..(INVITE.len() + TRYING.len())) {
            let all = [INVITE, TRYING].concat();
            let mut f = Framer::new();
            f.push(&all[..cut]);
            let mut got = frames(&mut f);
            f.push(&all[cut..]);
            got.extend(frames(&mut f));
            proptest::prop_assert_eq!(got, vec![Ok(INVITE.to_vec()), Ok(TRYING.to_vec())]);
        }
    }
}
