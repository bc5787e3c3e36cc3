//! L2–L4 decoding: the first octet picks the link type, the rest is a run of frames
//! (two-octet length prefixes) through one decoder, so fragment reassembly is reached.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tapline::fuzzing::LINKS;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, mut rest)) = data.split_first() else { return };
    let mut frames = Vec::new();
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        frames.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    tapline::fuzzing::l2_l4(LINKS[usize::from(pick) % LINKS.len()], frames);
});
