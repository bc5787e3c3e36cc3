//! ETSI TS 102 232 PS-PDU streams: split, decode, JSON (what `tapline decode` and the
//! sender's keep-alive-response reader take from outside).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for pdu in tapline::handover::split_stream(data) {
        let Ok(pdu) = pdu else { break };
        let _ = tapline::handover::decode_pdu(pdu);
    }
    let _ = tapline::handover::decode_pdu(data);
    let _ = tapline::handover::decode_stream_jsonl(data, &mut std::io::sink());
});
