//! Which CDC messages one IRI record of a communication produces, and their parties taken
//! from the SIP message (or digits from an RFC 4733 packet).

use super::cdc::{CallId, Message, Party, RedirectedFrom};
use super::{ccc_pair, CallState};
use crate::mediation::IriEvent;
use crate::rtp::{RtpPacket, TelephoneEvent};
use crate::sip::{self, Message as Sip, StartLine};
use crate::warrant::{from_uri, Identity, Numbering};
use crate::wire::{ipv4, ipv6, udp};

/// A CDC message to emit, with the values it needs beyond the communication's state.
#[derive(Debug)]
pub(super) enum Plan {
    Origination { calling: Option<Party>, called: Option<Party>, input: String },
    TerminationAttempt { calling: Option<Party>, called: Option<Party>, redirected_from: Option<RedirectedFrom> },
    Answer { answering: Option<Party> },
    Redirection { to: Option<Party>, from: Option<Party> },
    Release,
    CcOpen,
    CcClose,
    Digits(String),
}

impl Plan {
    pub(super) fn message<'a>(&'a self, call_id: CallId<'a>, state: &'a CallState, cin: u32) -> Message<'a> {
        match self {
            Plan::Origination { calling, called, input } => {
                Message::Origination { call_id, calling: calling.clone(), called: called.clone(), input }
            }
            Plan::TerminationAttempt { calling, called, redirected_from } => Message::TerminationAttempt {
                call_id,
                calling: calling.clone(),
                called: called.clone(),
                redirected_from: redirected_from.clone(),
            },
            Plan::Answer { answering } => Message::Answer { call_id, answering: answering.clone() },
            Plan::Redirection { to, from } => {
                Message::Redirection { old: call_id, redirected_to: to.clone(), redirected_from: from.clone() }
            }
            Plan::Release => Message::Release { call_id },
            Plan::CcOpen => {
                let (subject, associate) = if state.target_originates {
                    (&state.offer_sdp, &state.answer_sdp)
                } else {
                    (&state.answer_sdp, &state.offer_sdp)
                };
                Message::CcOpen {
                    call_id,
                    ccc: ccc_pair(cin),
                    subject: subject.as_deref(),
                    associate: associate.as_deref(),
                }
            }
            Plan::CcClose => Message::CcClose { ccc: ccc_pair(cin) },
            Plan::Digits(d) => Message::DialedDigits { call_id, digits: d },
        }
    }
}

/// `CallId.sequencenumber` of a communication: `CIN,HASH`, HASH the 32-bit FNV-1a of the
/// SIP Call-ID in 8 hex digits (at most 19 characters; no Call-ID text leaves the appliance).
pub(super) fn call_sequence(cin: u32, sip_call_id: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in sip_call_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{cin},{h:08X}")
}

/// The CDC messages of one IRI record; updates the communication's state. `content`: the
/// warrant is a Title III order (ccopen/ccclose are sent for it).
/// `numbering` keys party URIs as warrant targets are keyed (the appliance's number domains).
pub(super) fn plan_iri(
    state: &mut CallState,
    cin: u32,
    event: IriEvent,
    bytes: &[u8],
    content: bool,
    numbering: &Numbering,
) -> Vec<Plan> {
    if event == IriEvent::DialedDigits {
        if state.sequence.is_empty() {
            state.sequence = call_sequence(cin, "");
        }
        return match rtp_digit(bytes) {
            Some((digit, event_ts)) if state.last_event != Some(event_ts) => {
                state.last_event = Some(event_ts);
                vec![Plan::Digits(digit.to_string())]
            }
            _ => Vec::new(),
        };
    }
    let Ok(msg) = sip::parse(bytes) else { return Vec::new() };
    if state.sequence.is_empty() {
        state.sequence = call_sequence(cin, msg.call_id().unwrap_or(""));
    }
    if content {
        remember_sdp(state, &msg);
    }
    let mut plans = Vec::new();
    match event {
        IriEvent::Origination => {
            state.target_originates = true;
            let input = request_user(&msg).unwrap_or_else(|| "?".to_owned());
            plans.push(Plan::Origination { calling: calling(&msg, numbering), called: called(&msg, numbering), input });
        }
        IriEvent::TerminationAttempt => plans.push(Plan::TerminationAttempt {
            calling: calling(&msg, numbering),
            called: called(&msg, numbering),
            redirected_from: redirected_from(&msg, numbering),
        }),
        IriEvent::Answer => {
            let answering = msg
                .p_asserted_identities()
                .find_map(|n| party(n.uri, numbering))
                .or_else(|| msg.to().and_then(|t| party(t.uri, numbering)));
            plans.push(Plan::Answer { answering });
            if content && !state.opened && !state.released && has_sdp(&msg) {
                state.opened = true;
                plans.push(Plan::CcOpen);
            }
        }
        IriEvent::Redirection => {
            let to = msg
                .contact()
                .and_then(|c| party(c.uri, numbering))
                .or_else(|| msg.history_info().last().and_then(|h| party(h.uri, numbering)));
            let from = msg.to().and_then(|t| party(t.uri, numbering));
            plans.push(Plan::Redirection { to, from });
        }
        IriEvent::Release => {
            if !state.released {
                state.released = true;
                plans.push(Plan::Release);
                if state.opened {
                    plans.push(Plan::CcClose);
                }
                state.offer_sdp = None;
                state.answer_sdp = None;
            }
        }
        // Mediation hands over INFO digit bodies only to orders allowed to see them.
        IriEvent::Other => {
            if let Some(d) = sip::dtmf::info_digits(&msg) {
                plans.push(Plan::Digits(d));
            }
        }
        // REGISTER, MESSAGE, OPTIONS: no PCESP event; not delivered on the laes profile.
        IriEvent::Report | IriEvent::DialedDigits => {}
    }
    plans
}

fn has_sdp(msg: &Sip<'_>) -> bool {
    msg.content_type().and_then(|ct| sip::sdp::find_sdp(ct, msg.body())).is_some_and(|b| !b.is_empty())
}

fn remember_sdp(state: &mut CallState, msg: &Sip<'_>) {
    let Some(sdp) = msg.content_type().and_then(|ct| sip::sdp::find_sdp(ct, msg.body())) else { return };
    if sdp.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(sdp).into_owned();
    let slot = if msg.is_request() { &mut state.offer_sdp } else { &mut state.answer_sdp };
    if slot.is_none() {
        *slot = Some(text);
    }
}

/// A PartyId from a URI: `dn` for an E.164 number, `genericDigits` for other numbers,
/// `genericAddress` (`user@host`) for SIP addresses; `None` for anonymous or unusable URIs.
pub(super) fn party(uri: &str, numbering: &Numbering) -> Option<Party> {
    match from_uri(uri, numbering)? {
        Identity::Tel(d) if d.len() <= 15 => Some(Party::Dn(d)),
        Identity::Tel(d) => Some(Party::Digits(d)),
        Identity::Sip { user, host } => Some(Party::Address(format!("{user}@{host}"))),
    }
}

/// The caller: P-Asserted-Identity, else From.
fn calling(msg: &Sip<'_>, numbering: &Numbering) -> Option<Party> {
    msg.p_asserted_identities()
        .find_map(|n| party(n.uri, numbering))
        .or_else(|| msg.from().and_then(|f| party(f.uri, numbering)))
}

/// The called party: the Request-URI, else To.
fn called(msg: &Sip<'_>, numbering: &Numbering) -> Option<Party> {
    msg.request_uri()
        .and_then(|u| party(u, numbering))
        .or_else(|| msg.to().and_then(|t| party(t.uri, numbering)))
}

/// The dialled string: the Request-URI's user part (or the whole URI when it has none).
fn request_user(msg: &Sip<'_>) -> Option<String> {
    let StartLine::Request { uri, .. } = msg.start() else { return None };
    let user = sip::parse_uri(uri).ok().and_then(|u| u.user).map(|u| sip::unescape_user(u).into_owned());
    Some(user.filter(|u| !u.is_empty()).unwrap_or_else(|| (*uri).to_owned()))
}

/// Forwarding history of an INVITE: Diversion (most recent first), else History-Info.
fn redirected_from(msg: &Sip<'_>, numbering: &Numbering) -> Option<RedirectedFrom> {
    let diversions: Vec<Option<Party>> = msg.diversion().map(|d| party(d.uri, numbering)).collect();
    if !diversions.is_empty() {
        return Some(RedirectedFrom {
            last_redirecting: diversions.first().cloned().flatten(),
            original_called: diversions.last().cloned().flatten(),
            redirections: u8::try_from(diversions.len()).unwrap_or(100).min(100),
        });
    }
    let history: Vec<Option<Party>> = msg.history_info().map(|h| party(h.uri, numbering)).collect();
    if history.len() < 2 {
        return None;
    }
    // History-Info lists the original target first and the current one last.
    Some(RedirectedFrom {
        last_redirecting: history.get(history.len() - 2).cloned().flatten(),
        original_called: history.first().cloned().flatten(),
        redirections: u8::try_from(history.len() - 1).unwrap_or(100).min(100),
    })
}

/// The digit of an RFC 4733 telephone-event packet (a whole IPv4/IPv6 UDP datagram) and the
/// RTP timestamp that identifies the event across its repeated packets.
pub(super) fn rtp_digit(datagram: &[u8]) -> Option<(char, u32)> {
    let udp_bytes = match datagram.first()? >> 4 {
        4 => {
            let ip = ipv4::Packet::new_checked(datagram).ok()?;
            if ip.protocol() != 17 || ip.is_fragment() {
                return None;
            }
            ip.payload()
        }
        6 => {
            let ip = ipv6::Packet::new_checked(datagram).ok()?;
            let payload = ip.payload();
            let upper = ipv6::walk_extensions(ip.next_header(), payload).ok()?;
            if upper.protocol != 17 || upper.fragment.is_some() {
                return None;
            }
            payload.get(upper.offset..)?
        }
        _ => return None,
    };
    let udp = udp::Packet::new_checked(udp_bytes).ok()?;
    let rtp = RtpPacket::new_checked(udp.payload()).ok()?;
    let event = TelephoneEvent::new_checked(rtp.payload()).ok()?;
    Some((event.digit()?, rtp.timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4/UDP carrying RTP PT 101 (ts 0x1000) with telephone-event 5, end bit, vol 10.
    const EVENT: [u8; 44] = [
        0x45, 0, 0, 44, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
        0x0f, 0xa0, 0x13, 0x88, 0, 24, 0, 0, // UDP
        0x80, 0x65, 0, 1, 0, 0, 0x10, 0, 0, 0, 0, 1, // RTP
        5, 0x8a, 0, 160, // event
    ];

    #[test]
    fn digit_from_an_rfc4733_datagram() {
        assert_eq!(rtp_digit(&EVENT), Some(('5', 0x1000)));
        assert_eq!(rtp_digit(&EVENT[..30]), None);
    }

    #[test]
    fn each_event_is_reported_once() {
        let mut st = CallState::default();
        let first = plan_iri(&mut st, 3, IriEvent::DialedDigits, &EVENT, false, &Numbering::default());
        assert!(matches!(first.as_slice(), [Plan::Digits(d)] if d == "5"));
        assert!(plan_iri(&mut st, 3, IriEvent::DialedDigits, &EVENT, false, &Numbering::default()).is_empty());
    }

    #[test]
    fn parties_from_uris() {
        assert_eq!(party("<tel:+13035550142>", &Numbering::default()), Some(Party::Dn("13035550142".into())));
        assert_eq!(party("sip:alice@Example.com", &Numbering::default()), Some(Party::Address("alice@example.com".into())));
        assert_eq!(party("sip:anonymous@anonymous.invalid", &Numbering::default()), None);
    }

    #[test]
    fn call_sequence_is_cin_and_call_id_hash() {
        assert_eq!(call_sequence(7, ""), "7,811C9DC5");
        assert_eq!(call_sequence(7, "a"), "7,E40C292C");
    }

    #[test]
    fn release_closes_content_once() {
        let bye = b"BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        let mut st = CallState { opened: true, ..CallState::default() };
        let plans = plan_iri(&mut st, 1, IriEvent::Release, bye, true, &Numbering::default());
        assert!(matches!(plans.as_slice(), [Plan::Release, Plan::CcClose]));
        assert!(plan_iri(&mut st, 1, IriEvent::Release, bye, true, &Numbering::default()).is_empty());
        assert_eq!(st.sequence, call_sequence(1, "c1"));
    }
}
