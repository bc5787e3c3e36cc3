//! Zero-copy SIP message parser: start line, header lines (compact forms, folding), body.
//! A `Message<'a>` borrows the packet buffer and keeps header positions in a fixed array.

pub use super::name_addr::NameAddr;
pub use super::start_line::{looks_like_sip, Method, StartLine};

use super::start_line::parse_start_line;
use super::text::{find_byte, mime_type, param, CommaSplit};
use super::SipError;

/// Most header lines one message may carry; more is `SipError::TooManyHeaders`.
pub const MAX_HEADERS: usize = 128;

/// Compact header forms (RFC 3261 7.3.3 and the IANA registry), lower case.
const COMPACT: [(u8, &str); 19] = [
    (b'a', "accept-contact"),
    (b'b', "referred-by"),
    (b'c', "content-type"),
    (b'd', "request-disposition"),
    (b'e', "content-encoding"),
    (b'f', "from"),
    (b'i', "call-id"),
    (b'j', "reject-contact"),
    (b'k', "supported"),
    (b'l', "content-length"),
    (b'm', "contact"),
    (b'o', "event"),
    (b'r', "refer-to"),
    (b's', "subject"),
    (b't', "to"),
    (b'u', "allow-events"),
    (b'v', "via"),
    (b'x', "session-expires"),
    (b'y', "identity"),
];

/// The full name of a header name given in compact form; other names are returned as given.
pub fn full_header_name(name: &str) -> &str {
    match name.as_bytes() {
        [c] => {
            let c = c.to_ascii_lowercase();
            COMPACT
                .iter()
                .find(|(short, _)| *short == c)
                .map(|(_, full)| *full)
                .unwrap_or(name)
        }
        _ => name,
    }
}

/// Case-insensitive header name equality with compact forms equivalent to full names.
pub fn header_name_eq(a: &str, b: &str) -> bool {
    full_header_name(a).eq_ignore_ascii_case(full_header_name(b))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn range(self) -> core::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct HeaderSpan {
    name: Span,
    value: Span,
    /// End of the header's last line (the line starts at `name.start`), folding included.
    line_end: u32,
}

/// A parsed SIP message borrowing its buffer. Header values are trimmed; a folded value keeps
/// its inner line break and leading whitespace (LWS), which the helpers here treat as spaces.
/// Header lines that are not valid UTF-8 are skipped and counted (`skipped_headers`).
#[derive(Debug, Clone)]
pub struct Message<'a> {
    buf: &'a [u8],
    start: StartLine<'a>,
    headers: [HeaderSpan; MAX_HEADERS],
    header_count: usize,
    skipped_headers: usize,
    raw_start: usize,
    body: Span,
    body_truncated: bool,
}

/// One line of the buffer: `content` without CR/LF, `next` the index after its LF.
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

fn next_line(buf: &[u8], from: usize) -> Line {
    let rest = buf.get(from..).unwrap_or(&[]);
    let (len, next) = match find_byte(rest, b'\n') {
        Some(lf) => (lf, from + lf + 1),
        None => (rest.len(), buf.len()),
    };
    let mut end = from + len;
    if end > from && buf.get(end - 1) == Some(&b'\r') {
        end -= 1;
    }
    Line {
        start: from,
        end,
        next,
    }
}

fn span(start: usize, end: usize) -> Span {
    // Callers check `buf.len() <= u32::MAX` first.
    Span {
        start: start as u32,
        end: end as u32,
    }
}

fn is_utf8(buf: &[u8], start: usize, end: usize) -> bool {
    buf.get(start..end)
        .is_some_and(|b| std::str::from_utf8(b).is_ok())
}

/// Trimmed `[start, end)` within `buf`.
fn trimmed(buf: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && buf.get(start).is_some_and(u8::is_ascii_whitespace) {
        start += 1;
    }
    while end > start && buf.get(end - 1).is_some_and(u8::is_ascii_whitespace) {
        end -= 1;
    }
    (start, end)
}

/// Parses one SIP message from `buf` (a UDP payload or a frame from [`super::stream::Framer`]).
/// Line breaks before the start line are skipped; bare LF line ends are accepted. Without
/// Content-Length the body is the rest of the buffer; with it, the body is that many bytes or
/// what is there (`body_truncated()`).
pub fn parse(buf: &[u8]) -> Result<Message<'_>, SipError> {
    if buf.len() > u32::MAX as usize {
        return Err(SipError::TooLong { len: buf.len() });
    }
    let raw_start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(SipError::Empty)?;
    let first = next_line(buf, raw_start);
    let start_text = buf
        .get(first.start..first.end)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or(SipError::BadStartLine { why: "not UTF-8" })?;
    let start = parse_start_line(start_text)?;

    let mut msg = Message {
        buf,
        start,
        headers: [HeaderSpan::default(); MAX_HEADERS],
        header_count: 0,
        skipped_headers: 0,
        raw_start,
        body: span(buf.len(), buf.len()),
        body_truncated: false,
    };
    let mut pos = first.next;
    let mut body_start = buf.len();
    // Whether the header being built (the last one pushed, or a skipped one) is valid.
    let mut current_valid = false;
    let mut have_current = false;
    while pos < buf.len() {
        let line = next_line(buf, pos);
        pos = line.next;
        if line.start == line.end {
            body_start = line.next;
            break;
        }
        let first_byte = buf.get(line.start).copied().unwrap_or(b' ');
        if first_byte == b' ' || first_byte == b'\t' {
            if !have_current {
                return Err(SipError::BadHeader {
                    offset: line.start,
                    why: "continuation line before any header",
                });
            }
            if current_valid {
                if !is_utf8(buf, line.start, line.end) {
                    msg.header_count = msg.header_count.saturating_sub(1);
                    msg.skipped_headers += 1;
                    current_valid = false;
                    continue;
                }
                let (cs, ce) = trimmed(buf, line.start, line.end);
                if let Some(h) = msg.headers.get_mut(msg.header_count.wrapping_sub(1)) {
                    if cs < ce {
                        if h.value.start == h.value.end {
                            h.value.start = cs as u32;
                        }
                        h.value.end = ce as u32;
                    }
                    h.line_end = line.end as u32;
                }
            }
            continue;
        }
        let line_bytes = buf.get(line.start..line.end).unwrap_or(&[]);
        let colon = find_byte(line_bytes, b':').ok_or(SipError::BadHeader {
            offset: line.start,
            why: "no colon",
        })?;
        let (ns, ne) = trimmed(buf, line.start, line.start + colon);
        if ns == ne
            || buf
                .get(ns..ne)
                .is_some_and(|n| n.iter().any(|b| b.is_ascii_whitespace()))
        {
            return Err(SipError::BadHeader {
                offset: line.start,
                why: "bad header name",
            });
        }
        have_current = true;
        if !is_utf8(buf, line.start, line.end) {
            msg.skipped_headers += 1;
            current_valid = false;
            continue;
        }
        let (vs, ve) = trimmed(buf, line.start + colon + 1, line.end);
        let slot = msg
            .headers
            .get_mut(msg.header_count)
            .ok_or(SipError::TooManyHeaders { limit: MAX_HEADERS })?;
        *slot = HeaderSpan {
            name: span(ns, ne),
            value: span(vs, ve),
            line_end: line.end as u32,
        };
        msg.header_count += 1;
        current_valid = true;
    }

    let available = buf.len().saturating_sub(body_start);
    let body_len = match msg.header("content-length") {
        Some(v) => {
            let declared: usize = v.parse().map_err(|_| SipError::BadContentLength)?;
            msg.body_truncated = declared > available;
            declared.min(available)
        }
        None => available,
    };
    msg.body = span(body_start, body_start + body_len);
    Ok(msg)
}

impl<'a> Message<'a> {
    fn text(&self, s: Span) -> &'a str {
        self.buf
            .get(s.range())
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    pub fn start(&self) -> &StartLine<'a> {
        &self.start
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request (`None` for a response; see `cseq` for a response's method).
    pub fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&'a str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn call_id(&self) -> Option<&'a str> {
        self.header("call-id").filter(|v| !v.is_empty())
    }

    pub fn cseq(&self) -> Option<(u32, Method<'a>)> {
        let mut parts = self.header("cseq")?.split_ascii_whitespace();
        let number = parts.next()?.parse().ok()?;
        Some((number, Method::from_token(parts.next()?)))
    }

    pub fn from(&self) -> Option<NameAddr<'a>> {
        self.header("from").and_then(NameAddr::parse)
    }

    pub fn to(&self) -> Option<NameAddr<'a>> {
        self.header("to").and_then(NameAddr::parse)
    }

    /// The first Contact address (`*` in a REGISTER is returned as a URI `*`).
    pub fn contact(&self) -> Option<NameAddr<'a>> {
        self.header_values("contact")
            .next()
            .and_then(NameAddr::parse)
    }

    /// The `branch` parameter of the topmost Via.
    pub fn via_branch(&self) -> Option<&'a str> {
        let top = self.header_values("via").next()?;
        let (_, params) = top.split_once(';')?;
        param(params, "branch").filter(|b| !b.is_empty())
    }

    /// First value of a header; name case-insensitive, compact forms equivalent.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers_named(name).next()
    }

    /// Every header line as (name as sent, value), in order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.spans()
            .iter()
            .map(move |h| (self.text(h.name), self.text(h.value)))
    }

    /// Every value of a header: each line, comma lists split (respecting `<>` and quotes).
    /// Do not use it for headers whose values contain commas (Date, auth headers).
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers_named(name).flat_map(CommaSplit::new)
    }

    fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.spans()
            .iter()
            .filter(move |h| header_name_eq(self.text(h.name), name))
            .map(move |h| self.text(h.value))
    }

    fn spans(&self) -> &[HeaderSpan] {
        self.headers.get(..self.header_count).unwrap_or(&[])
    }

    /// Whole header lines (`Name: value`, folding kept), with their names, in order.
    pub(crate) fn header_lines(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        self.spans().iter().map(move |h| {
            let line = self.buf.get(h.name.start as usize..h.line_end as usize);
            (self.text(h.name), line.unwrap_or(&[]))
        })
    }

    /// P-Asserted-Identity addresses (RFC 3325), every line and list element.
    pub fn p_asserted_identities(&self) -> impl Iterator<Item = NameAddr<'a>> + '_ {
        self.header_values("p-asserted-identity")
            .filter_map(NameAddr::parse)
    }

    /// True when a Privacy header (RFC 3323/3325) asks for `id` privacy, i.e. the caller
    /// asked that the network-asserted identity be withheld from the called party ("private"
    /// or "blocked" calls). `header`, `user` and `session` are not counted: they do not
    /// concern P-Asserted-Identity.
    pub fn privacy_id(&self) -> bool {
        self.headers_named("privacy")
            .flat_map(|v| v.split([';', ',']))
            .any(|p| p.trim().eq_ignore_ascii_case("id"))
    }

    /// Diversion header entries (RFC 5806), in order.
    pub fn diversion(&self) -> impl Iterator<Item = NameAddr<'a>> + '_ {
        self.header_values("diversion").filter_map(NameAddr::parse)
    }

    /// History-Info entries (RFC 7044) in the order sent; `param("index")` gives the index.
    pub fn history_info(&self) -> impl Iterator<Item = NameAddr<'a>> + '_ {
        self.header_values("history-info")
            .filter_map(NameAddr::parse)
    }

    pub fn content_type(&self) -> Option<&'a str> {
        self.header("content-type")
    }

    /// True when the Content-Type's `type/subtype` equals `mime` (case-insensitive).
    pub fn content_type_is(&self, mime: &str) -> bool {
        self.content_type()
            .is_some_and(|ct| mime_type(ct).eq_ignore_ascii_case(mime))
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }

    /// The body: Content-Length bytes when present (or fewer, see `body_truncated`), else
    /// the rest of the buffer.
    pub fn body(&self) -> &'a [u8] {
        self.buf.get(self.body.range()).unwrap_or(&[])
    }

    /// Content-Length promised more bytes than the buffer holds.
    pub fn body_truncated(&self) -> bool {
        self.body_truncated
    }

    /// Header lines skipped because they were not valid UTF-8.
    pub fn skipped_headers(&self) -> usize {
        self.skipped_headers
    }

    /// The message bytes from the start line to the end of the body.
    pub fn raw(&self) -> &'a [u8] {
        self.buf
            .get(self.raw_start..self.body.end as usize)
            .unwrap_or(&[])
    }

    /// The start line as sent, without its line end.
    pub(crate) fn start_line_raw(&self) -> &'a [u8] {
        let line = next_line(self.buf, self.raw_start);
        self.buf.get(line.start..line.end).unwrap_or(&[])
    }
}
