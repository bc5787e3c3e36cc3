//! multipart/* bodies (RFC 2046): iterate the parts, find the SDP part.

use super::text::{mime_type, param};

/// One body part: its raw header block and its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part<'a> {
    /// Header lines of the part (without the blank line), as sent.
    pub headers: &'a [u8],
    /// The part's Content-Type value, trimmed (`None` when absent or not UTF-8).
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// Iterator over the parts of a multipart body.
#[derive(Debug, Clone)]
pub struct Parts<'a, 'b> {
    body: &'a [u8],
    delimiter: &'b str,
    /// Index just after the last delimiter line; `None` when finished.
    pos: Option<usize>,
}

/// The parts of `body` when `content_type` is `multipart/*` with a boundary; else `None`.
pub fn parts<'a, 'b>(content_type: &'b str, body: &'a [u8]) -> Option<Parts<'a, 'b>> {
    let mime = mime_type(content_type);
    let is_multipart = mime
        .get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case("multipart/"));
    if !is_multipart {
        return None;
    }
    let (_, params) = content_type.split_once(';')?;
    let boundary = param(params, "boundary").filter(|b| !b.is_empty())?;
    let mut it = Parts {
        body,
        delimiter: boundary,
        pos: None,
    };
    let (_, after) = it.find_delimiter(0)?;
    it.pos = after;
    Some(it)
}

impl<'a> Parts<'a, '_> {
    /// Finds `--boundary` at a line start at or after `from`: returns its start and the
    /// index after its line (`None` for the closing `--boundary--` or the end of the body).
    fn find_delimiter(&self, from: usize) -> Option<(usize, Option<usize>)> {
        let b = self.delimiter.as_bytes();
        let hay = self.body.get(from..)?;
        let mut search = 0;
        loop {
            let rel = hay
                .get(search..)?
                .windows(b.len() + 2)
                .position(|w| w.get(..2) == Some(b"--") && w.get(2..) == Some(b))?;
            let at = from + search + rel;
            let line_start = at == 0 || self.body.get(at - 1) == Some(&b'\n');
            if line_start {
                let after_marker = at + 2 + b.len();
                let rest = self.body.get(after_marker..).unwrap_or(&[]);
                if rest.starts_with(b"--") {
                    return Some((at, None));
                }
                let next = rest
                    .iter()
                    .position(|&c| c == b'\n')
                    .map(|lf| after_marker + lf + 1);
                return Some((at, next));
            }
            search += rel + 1;
        }
    }
}

impl<'a> Iterator for Parts<'a, '_> {
    type Item = Part<'a>;

    fn next(&mut self) -> Option<Part<'a>> {
        let start = self.pos.take()?;
        let (delim_at, after) = self.find_delimiter(start)?;
        self.pos = after;
        let mut end = delim_at;
        // The line break before the delimiter belongs to the delimiter.
        if end > start && self.body.get(end - 1) == Some(&b'\n') {
            end -= 1;
            if end > start && self.body.get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
        }
        Some(split_part(self.body.get(start..end)?))
    }
}

fn split_part(part: &[u8]) -> Part<'_> {
    let (headers, body) = if part.starts_with(b"\r\n") {
        (&[][..], part.get(2..).unwrap_or(&[]))
    } else if part.starts_with(b"\n") {
        (&[][..], part.get(1..).unwrap_or(&[]))
    } else {
        match find_blank_line(part) {
            Some((h_end, b_start)) => (
                part.get(..h_end).unwrap_or(&[]),
                part.get(b_start..).unwrap_or(&[]),
            ),
            None => (part, &[][..]),
        }
    };
    let content_type = std::str::from_utf8(headers).ok().and_then(|h| {
        h.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-type")
                .then(|| value.trim())
        })
    });
    Part {
        headers,
        content_type,
        body,
    }
}

/// End of the header block and start of the body: `\r\n\r\n` or `\n\n`.
pub(crate) fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(lf) = buf
        .get(i..)
        .and_then(|r| r.iter().position(|&c| c == b'\n'))
    {
        let at = i + lf;
        let next = at + 1;
        if buf.get(next) == Some(&b'\n') {
            return Some((at, next + 1));
        }
        if buf.get(next..next + 2) == Some(b"\r\n") {
            let h_end = if at > 0 && buf.get(at - 1) == Some(&b'\r') {
                at - 1
            } else {
                at
            };
            return Some((h_end, next + 2));
        }
        i = next;
    }
    None
}

/// Nesting depth searched for an SDP part in multipart bodies.
const MAX_DEPTH: u8 = 3;

/// The SDP in a body: the body itself for `application/sdp`, or the first
/// `application/sdp` part of a (possibly nested) multipart body.
pub fn find_sdp<'a>(content_type: &str, body: &'a [u8]) -> Option<&'a [u8]> {
    find_sdp_at(content_type, body, 0)
}

fn find_sdp_at<'a>(content_type: &str, body: &'a [u8], depth: u8) -> Option<&'a [u8]> {
    if mime_type(content_type).eq_ignore_ascii_case("application/sdp") {
        return Some(body);
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    parts(content_type, body)?.find_map(|p| find_sdp_at(p.content_type?, p.body, depth + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/mixed;boundary=unique-boundary-1";
    const BODY: &[u8] = b"preamble\r\n--unique-boundary-1\r\n\
Content-Type: application/sdp\r\n\r\n\
v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n\
\r\n--unique-boundary-1\r\n\
Content-Type: application/isup;version=itu-t92+\r\nContent-Disposition: signal;handling=optional\r\n\r\n\
\x01\x00\x49\x00\r\n--unique-boundary-1--\r\nepilogue";

    #[test]
    fn iterates_parts() {
        let all: Vec<_> = parts(CT, BODY).unwrap().collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].content_type, Some("application/sdp"));
        assert!(all[0].body.starts_with(b"v=0\r\n"));
        assert!(all[0].body.ends_with(b"RTP/AVP 0\r\n"));
        assert_eq!(
            all[1].content_type,
            Some("application/isup;version=itu-t92+")
        );
        assert_eq!(all[1].body, b"\x01\x00\x49\x00");
    }

    #[test]
    fn finds_sdp() {
        assert!(find_sdp(CT, BODY).unwrap().starts_with(b"v=0"));
        assert_eq!(
            find_sdp("application/SDP", b"v=0\r\n"),
            Some(&b"v=0\r\n"[..])
        );
        assert_eq!(find_sdp("text/plain", b"hi"), None);
        assert_eq!(find_sdp("multipart/mixed", BODY), None);
        let quoted = "multipart/mixed; boundary=\"unique-boundary-1\"";
        assert!(find_sdp(quoted, BODY).is_some());
    }

    #[test]
    fn blank_line_forms() {
        assert_eq!(find_blank_line(b"a: b\r\n\r\nbody"), Some((4, 8)));
        assert_eq!(find_blank_line(b"a: b\n\nbody"), Some((4, 6)));
        assert_eq!(find_blank_line(b"a: b\r\n"), None);
    }
}
