//! L2–L4 decoding: the first octet picks the link type, the rest is a run of frames
//! (two-octet length prefixes) through one decoder, so fragment reassembly is reached.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tapline::capture::{Frame, LinkType};

const LINKS: [LinkType; 9] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Other(147),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, mut rest)) = data.split_first() else { return };
    let link = LINKS[usize::from(pick) % LINKS.len()];
    let mut decoder = tapline::wire::Decoder::new();
    let mut i = 0u64;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let frame = &rest[2..2 + len];
        rest = &rest[2 + len..];
        let f = Frame { ts: tapline::Timestamp::from_secs_micros(1_790_000_000 + i, 0), link, data: frame, orig_len: len as u32 };
        let _ = format!("{:?}", decoder.decode(&f));
        i += 1;
    }
});
