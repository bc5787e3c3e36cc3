//! SIP over a TCP byte stream (RFC 3261 18.3): frames messages by the end of the header
//! block plus Content-Length, skips RFC 5626 CRLF keep-alives and resynchronises on garbage.

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
                    if keepalive {
                        self.keepalives += 1;
                    } else {
                        self.skipped_bytes += len as u64;
                    }
                }
                Step::NeedMore => return None,
                Step::Overflow { buffered } => {
                    self.skipped_bytes += buffered as u64;
                    self.reset();
                    return Some(Err(FramingError::Overflow {
                        buffered,
                        limit: self.limit,
                    }));
                }
                Step::Reject { len, error } => {
                    self.start += len;
                    self.skipped_bytes += len as u64;
                    return Some(Err(error));
                }
                Step::Frame { len } => {
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
        if !plausible_start_line(data.get(..lf).unwrap_or(&[])) {
            return Step::Skip {
                len: lf + 1,
                keepalive: false,
            };
        }
        let Some((header_end, body_start)) = find_blank_line(data) else {
            return overflow_or_wait();
        };
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

    /// Drops everything buffered (e.g. after a TCP sequence gap).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.start = 0;
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
