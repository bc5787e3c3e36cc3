//! Handover to agencies: the `etsi` profile's BER encoder (TS 102 232-1 PS-PDUs with
//! TS 102 232-5 IP multimedia payloads), the US `laes` profile (PCESP CDC + PacketCable CCC)
//! and tapline's own decoders for those streams; [`profile`] gives every handover profile
//! (`etsi`, `laes`, `x2x3`) one shape.

pub mod ber;
pub mod decode;
pub mod etsi;
pub mod records;
pub mod laes;
pub mod profile;
pub mod sequencer;

pub use decode::{
    decode_pdu, decode_stream_jsonl, liid_of, pdu_to_json, split_stream, CcContentKind, CcRecord,
    DecodeError, Header, Hi1Operation, IriContentKind, IriRecord, Payload, Pdu, StreamError,
};
pub use etsi::{
    check_header, encode_cc, encode_iri, encode_keepalive, encode_keepalive_response, Direction,
    EncodeError, IriContent, IriType, PduHeader,
};
