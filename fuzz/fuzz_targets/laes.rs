//! laes records: J-STD-025-style CdcPdus, PacketCable CCC frames, whole streams.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tapline::handover::laes::decode::{decode_ccc, decode_cdc, decode_laes_jsonl, looks_like_cdc, udp_payload};

fuzz_target!(|data: &[u8]| {
    let _ = (looks_like_cdc(data), decode_cdc(data), decode_ccc(data), udp_payload(data));
    let _ = decode_laes_jsonl(data, &mut std::io::sink());
    let _ = tapline::handover::laes::ccc::split_ccc_stream(data).count();
});
