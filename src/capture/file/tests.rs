//! Byte-built pcap and pcapng files exercising the replay reader.

use std::io::Write;

use super::*;

const FRAME_A: [u8; 6] = [1, 2, 3, 4, 5, 6];
const FRAME_B: [u8; 3] = [7, 8, 9];

fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(bytes).expect("write temp file");
    file
}

/// Classic pcap with the given magic written in the given byte order.
fn classic(magic: u32, big_endian: bool, linktype: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(&u32b(magic));
    out.extend_from_slice(&u16b(2));
    out.extend_from_slice(&u16b(4));
    out.extend_from_slice(&u32b(0));
    out.extend_from_slice(&u32b(0));
    out.extend_from_slice(&u32b(65535));
    out.extend_from_slice(&u32b(linktype));
    for (secs, frac, data) in records {
        out.extend_from_slice(&u32b(*secs));
        out.extend_from_slice(&u32b(*frac));
        out.extend_from_slice(&u32b(data.len() as u32));
        out.extend_from_slice(&u32b(data.len() as u32 + 10));
        out.extend_from_slice(data);
    }
    out
}

fn ng_block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let mut padded = body.to_vec();
    while !padded.len().is_multiple_of(4) {
        padded.push(0);
    }
    let total = (padded.len() + 12) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&block_type.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&padded);
    out.extend_from_slice(&total.to_le_bytes());
    out
}

fn ng_shb() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    ng_block(0x0A0D_0D0A, &body)
}

fn ng_idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&linktype.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    if let Some(resol) = tsresol {
        body.extend_from_slice(&9u16.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&[resol, 0, 0, 0]);
        body.extend_from_slice(&[0, 0, 0, 0]);
    }
    ng_block(1, &body)
}

fn ng_epb(if_id: u32, ts: u64, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&if_id.to_le_bytes());
    body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ts as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    ng_block(6, &body)
}

fn ng_spb(data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    ng_block(3, &body)
}

fn read_all(reader: &mut FileReader) -> Vec<(u64, LinkType, Vec<u8>, u32)> {
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame().expect("frame") {
        frames.push((
            frame.ts.as_nanos(),
            frame.link,
            frame.data.to_vec(),
            frame.orig_len,
        ));
    }
    frames
}

#[test]
fn reads_classic_microsecond_little_endian() {
    let bytes = classic(
        0xA1B2_C3D4,
        false,
        1,
        &[
            (1_700_000_000, 250_000, &FRAME_A),
            (1_700_000_001, 1, &FRAME_B),
        ],
    );
    let file = write_temp(&bytes);
    let mut reader = FileReader::open(file.path()).expect("open");
    let frames = read_all(&mut reader);
    assert_eq!(
        frames,
        vec![
            (
                1_700_000_000_250_000_000,
                LinkType::Ethernet,
                FRAME_A.to_vec(),
                16
            ),
            (
                1_700_000_001_000_001_000,
                LinkType::Ethernet,
                FRAME_B.to_vec(),
                13
            ),
        ]
    );
    assert_eq!(
        reader.stats(),
        CaptureStats {
            frames: 2,
            bytes: 9,
            truncated_records: 0
        }
    );
    assert!(reader.next_frame().expect("eof").is_none());
}

#[test]
fn reads_classic_nanosecond_big_endian() {
    let bytes = classic(0xA1B2_3C4D, true, 113, &[(10, 123_456_789, &FRAME_A)]);
    let file = write_temp(&bytes);
    let mut reader = FileReader::open(file.path()).expect("open");
    let frames = read_all(&mut reader);
    assert_eq!(
        frames,
        vec![(10_123_456_789, LinkType::LinuxSll, FRAME_A.to_vec(), 16)]
    );
}

#[test]
fn reads_pcapng_interfaces_with_own_resolution() {
    let mut bytes = ng_shb();
    bytes.extend(ng_idb(1, Some(9)));
    bytes.extend(ng_idb(101, None));
    // A name resolution block (type 4) with only an end marker: skipped.
    bytes.extend(ng_block(4, &[0, 0, 0, 0]));
    bytes.extend(ng_epb(0, 1_700_000_000_123_456_789, &FRAME_A));
    bytes.extend(ng_epb(1, 1_700_000_000_654_321, &FRAME_B));
    bytes.extend(ng_spb(&FRAME_B));
    let file = write_temp(&bytes);
    let mut reader = FileReader::open(file.path()).expect("open");
    let frames = read_all(&mut reader);
    assert_eq!(
        frames,
        vec![
            (
                1_700_000_000_123_456_789,
                LinkType::Ethernet,
                FRAME_A.to_vec(),
                6
            ),
            (
                1_700_000_000_654_321_000,
                LinkType::RawIp,
                FRAME_B.to_vec(),
                3
            ),
            (
                1_700_000_000_654_321_000,
                LinkType::Ethernet,
                FRAME_B.to_vec(),
                3
            ),
        ]
    );
}

#[test]
fn undeclared_interface_is_an_error_then_eof() {
    let mut bytes = ng_shb();
    bytes.extend(ng_idb(1, Some(9)));
    bytes.extend(ng_epb(3, 5, &FRAME_A));
    let file = write_temp(&bytes);
    let mut reader = FileReader::open(file.path()).expect("open");
    match reader.next_frame() {
        Err(CaptureError::Format { offset, reason, .. }) => {
            assert_eq!(offset, 28 + 32);
            assert!(reason.contains("interface 3"), "{reason}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
    assert!(reader.next_frame().expect("eof after error").is_none());
}

#[test]
fn truncated_last_record_reports_offset_then_eof() {
    let mut bytes = classic(0xA1B2_C3D4, false, 1, &[(1, 0, &FRAME_A), (2, 0, &FRAME_A)]);
    bytes.truncate(bytes.len() - 2);
    let file = write_temp(&bytes);
    let mut reader = FileReader::open(file.path()).expect("open");
    assert_eq!(
        reader.next_frame().expect("first").map(|f| f.data.to_vec()),
        Some(FRAME_A.to_vec())
    );
    match reader.next_frame() {
        Err(CaptureError::Format { offset, .. }) => assert_eq!(offset, 24 + 16 + 6),
        other => panic!("expected a format error, got {other:?}"),
    }
    assert!(reader.next_frame().expect("eof").is_none());
    assert_eq!(reader.stats().truncated_records, 1);
    assert_eq!(reader.stats().frames, 1);
}

#[test]
fn corrupt_pcapng_block_is_an_error() {
    let mut bytes = ng_shb();
    bytes.extend(ng_idb(1, Some(6)));
    // Block length 5: not a multiple of 4 and shorter than a block header.
    bytes.extend_from_slice(&[6, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
    let file = write_temp(&bytes);
    let mut reader = FileReader::open(file.path()).expect("open");
    assert!(matches!(
        reader.next_frame(),
        Err(CaptureError::Format { .. })
    ));
    assert!(reader.next_frame().expect("eof").is_none());
}

#[test]
fn open_errors_name_the_path() {
    let missing = Path::new("/nonexistent/tapline-test.pcap");
    let err = FileReader::open(missing).err().expect("missing file fails");
    assert!(matches!(err, CaptureError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/tapline-test.pcap"));

    let file = write_temp(b"this is not a capture file at all, just text");
    let err = FileReader::open(file.path())
        .err()
        .expect("text file fails");
    assert!(
        matches!(err, CaptureError::Format { offset: 0, .. }),
        "{err}"
    );
}

#[test]
fn frames_larger_than_the_initial_buffer_are_read() {
    let big = vec![0xAB; BUFFER_CAPACITY + 1000];
    let bytes = classic(
        0xA1B2_C3D4,
        false,
        1,
        &[(1, 0, &FRAME_A), (2, 0, &big), (3, 0, &FRAME_B)],
    );
    let file = write_temp(&bytes);
    let mut reader = FileReader::open(file.path()).expect("open");
    let frames = read_all(&mut reader);
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[1].2.len(), big.len());
    assert_eq!(frames[2].2, FRAME_B.to_vec());
}

#[test]
fn timestamp_conversion_handles_resolutions_and_offset() {
    assert_eq!(
        to_timestamp(1_500_000, 1_000_000, 0).as_nanos(),
        1_500_000_000
    );
    assert_eq!(to_timestamp(3, 1 << 1, 0).as_nanos(), 1_500_000_000);
    assert_eq!(to_timestamp(7, 1, 10).as_nanos(), 17_000_000_000);
    assert_eq!(to_timestamp(7, 1, -10).as_nanos(), 0);
}
