//! Byte-built pcap and pcapng files exercising the replay reader.

use std::io::Write;

use super::*;

const FRAME_A: [u8; 6] = [1, 2, 3, 4, 5, 6];
const FRAME_B: [u8; 3] = [7, 8, 9];

/// Every test runs against the chunked reader (`open`), the mapped one and the buffered one.
const OPENERS: [fn(&Path) -> Result<FileReader, CaptureError>; 3] =
    [FileReader::open, FileReader::open_mapped, FileReader::open_buffered];

pub(super) fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(bytes).expect("write temp file");
    file
}

/// Classic pcap with the given magic written in the given byte order.
pub(super) fn classic(magic: u32, big_endian: bool, linktype: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
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

pub(super) fn ng_shb() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    ng_block(0x0A0D_0D0A, &body)
}

pub(super) fn ng_idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
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

pub(super) fn ng_epb(if_id: u32, ts: u64, data: &[u8]) -> Vec<u8> {
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
    for open in OPENERS {
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
        let mut reader = open(file.path()).expect("open");
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
}

#[test]
fn reads_classic_nanosecond_big_endian() {
    for open in OPENERS {
        let bytes = classic(0xA1B2_3C4D, true, 113, &[(10, 123_456_789, &FRAME_A)]);
        let file = write_temp(&bytes);
        let mut reader = open(file.path()).expect("open");
        let frames = read_all(&mut reader);
        assert_eq!(
            frames,
            vec![(10_123_456_789, LinkType::LinuxSll, FRAME_A.to_vec(), 16)]
        );
    }
}

#[test]
fn reads_pcapng_interfaces_with_own_resolution() {
    for open in OPENERS {
        let mut bytes = ng_shb();
        bytes.extend(ng_idb(1, Some(9)));
        bytes.extend(ng_idb(101, None));
        // A name resolution block (type 4) with only an end marker: skipped.
        bytes.extend(ng_block(4, &[0, 0, 0, 0]));
        bytes.extend(ng_epb(0, 1_700_000_000_123_456_789, &FRAME_A));
        bytes.extend(ng_epb(1, 1_700_000_000_654_321, &FRAME_B));
        bytes.extend(ng_spb(&FRAME_B));
        let file = write_temp(&bytes);
        let mut reader = open(file.path()).expect("open");
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
}

#[test]
fn undeclared_interface_is_an_error_then_eof() {
    for open in OPENERS {
        let mut bytes = ng_shb();
        bytes.extend(ng_idb(1, Some(9)));
        bytes.extend(ng_epb(3, 5, &FRAME_A));
        let file = write_temp(&bytes);
        let mut reader = open(file.path()).expect("open");
        match reader.next_frame() {
            Err(CaptureError::Format { offset, reason, .. }) => {
                assert_eq!(offset, 28 + 32);
                assert!(reason.contains("interface 3"), "{reason}");
            }
            other => panic!("expected a format error, got {other:?}"),
        }
        assert!(reader.next_frame().expect("eof after error").is_none());
    }
}

#[test]
fn truncated_last_record_reports_offset_then_eof() {
    for open in OPENERS {
        let mut bytes = classic(0xA1B2_C3D4, false, 1, &[(1, 0, &FRAME_A), (2, 0, &FRAME_A)]);
        bytes.truncate(bytes.len() - 2);
        let file = write_temp(&bytes);
        let mut reader = open(file.path()).expect("open");
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
}

#[test]
fn corrupt_pcapng_block_is_an_error() {
    for open in OPENERS {
        let mut bytes = ng_shb();
        bytes.extend(ng_idb(1, Some(6)));
        // Block length 5: not a multiple of 4 and shorter than a block header.
        bytes.extend_from_slice(&[6, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
        let file = write_temp(&bytes);
        let mut reader = open(file.path()).expect("open");
        assert!(matches!(
            reader.next_frame(),
            Err(CaptureError::Format { .. })
        ));
        assert!(reader.next_frame().expect("eof").is_none());
    }
}

#[test]
fn open_errors_name_the_path() {
    for open in OPENERS {
        let missing = Path::new("/nonexistent/tapline-test.pcap");
        let err = open(missing).err().expect("missing file fails");
        assert!(matches!(err, CaptureError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/tapline-test.pcap"));

        let file = write_temp(b"this is not a capture file at all, just text");
        let err = open(file.path()).err().expect("text file fails");
        assert!(
            matches!(err, CaptureError::Format { offset: 0, .. }),
            "{err}"
        );
    }
}

#[test]
fn frames_larger_than_the_initial_buffer_are_read() {
    for open in OPENERS {
        let big = vec![0xAB; buffered::BUFFER_CAPACITY + 1000];
        let bytes = classic(
            0xA1B2_C3D4,
            false,
            1,
            &[(1, 0, &FRAME_A), (2, 0, &big), (3, 0, &FRAME_B)],
        );
        let file = write_temp(&bytes);
        let mut reader = open(file.path()).expect("open");
        let frames = read_all(&mut reader);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1].2.len(), big.len());
        assert_eq!(frames[2].2, FRAME_B.to_vec());
    }
}

/// A big-endian pcapng section: header, one Linux-cooked interface at microseconds (the
/// default resolution) and one enhanced packet block.
fn ng_section_be(ts: u64, data: &[u8]) -> Vec<u8> {
    let block = |block_type: u32, body: &[u8]| {
        let mut padded = body.to_vec();
        while !padded.len().is_multiple_of(4) {
            padded.push(0);
        }
        let total = (padded.len() + 12) as u32;
        let mut out = block_type.to_be_bytes().to_vec();
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&padded);
        out.extend_from_slice(&total.to_be_bytes());
        out
    };
    let mut shb = 0x1A2B_3C4Du32.to_be_bytes().to_vec();
    shb.extend_from_slice(&1u16.to_be_bytes());
    shb.extend_from_slice(&0u16.to_be_bytes());
    shb.extend_from_slice(&(-1i64).to_be_bytes());
    let mut out = block(0x0A0D_0D0A, &shb);
    let mut idb = 113u16.to_be_bytes().to_vec();
    idb.extend_from_slice(&[0, 0]);
    idb.extend_from_slice(&0u32.to_be_bytes());
    out.extend(block(1, &idb));
    let mut epb = 0u32.to_be_bytes().to_vec();
    epb.extend_from_slice(&((ts >> 32) as u32).to_be_bytes());
    epb.extend_from_slice(&(ts as u32).to_be_bytes());
    epb.extend_from_slice(&(data.len() as u32).to_be_bytes());
    epb.extend_from_slice(&(data.len() as u32 + 4).to_be_bytes());
    epb.extend_from_slice(data);
    out.extend(block(6, &epb));
    out
}

#[test]
fn pcapng_sections_switch_byte_order() {
    for open in OPENERS {
        let mut bytes = ng_shb();
        bytes.extend(ng_idb(1, Some(9)));
        bytes.extend(ng_epb(0, 5_000_000_001, &FRAME_A));
        bytes.extend(ng_section_be(7_000_002, &FRAME_B));
        bytes.extend(ng_shb());
        bytes.extend(ng_idb(101, None));
        bytes.extend(ng_epb(0, 9_000_003, &FRAME_A));
        let file = write_temp(&bytes);
        let mut reader = open(file.path()).expect("open");
        assert_eq!(
            read_all(&mut reader),
            vec![
                (5_000_000_001, LinkType::Ethernet, FRAME_A.to_vec(), 6),
                (7_000_002_000, LinkType::LinuxSll, FRAME_B.to_vec(), 7),
                (9_000_003_000, LinkType::RawIp, FRAME_A.to_vec(), 6),
            ]
        );
    }
}

#[test]
fn truncated_pcapng_block_reports_its_offset() {
    for open in OPENERS {
        let mut bytes = ng_shb();
        bytes.extend(ng_idb(1, None));
        let header_len = bytes.len();
        bytes.extend(ng_epb(0, 1, &FRAME_A));
        let second = bytes.len();
        bytes.extend(ng_epb(0, 2, &FRAME_B));
        bytes.truncate(bytes.len() - 5);
        let file = write_temp(&bytes);
        let mut reader = open(file.path()).expect("open");
        assert_eq!(
            reader.next_frame().expect("first").map(|f| f.data.to_vec()),
            Some(FRAME_A.to_vec())
        );
        match reader.next_frame() {
            Err(CaptureError::Format { offset, reason, .. }) => {
                assert_eq!(offset, second as u64);
                assert_eq!(reason, "truncated record at end of file");
            }
            other => panic!("expected a format error, got {other:?}"),
        }
        assert!(second > header_len);
        assert!(reader.next_frame().expect("eof").is_none());
        assert_eq!(reader.stats().truncated_records, 1);
    }
}

#[test]
fn files_are_chunked_or_mapped_and_empty_files_read_through_the_buffer() {
    let bytes = classic(0xA1B2_C3D4, false, 1, &[(1, 0, &FRAME_A)]);
    let file = write_temp(&bytes);
    let chunked = FileReader::open(file.path()).expect("open");
    assert!(matches!(chunked.source, Source::Chunked(_)));
    let mapped = FileReader::open_mapped(file.path()).expect("open");
    assert!(matches!(mapped.source, Source::Mapped(_)));
    let empty = write_temp(b"");
    let mapped = FileReader::open_mapped(empty.path());
    assert!(mapped.is_err(), "an empty file is not a capture");
    let buffered = FileReader::open_buffered(file.path()).expect("open");
    assert!(matches!(buffered.source, Source::Buffered(_)));

    for open in OPENERS {
        let empty = write_temp(b"");
        match open(empty.path()) {
            Err(CaptureError::Format { offset, reason, .. }) => {
                assert_eq!(offset, 0);
                assert_eq!(reason, "empty file");
            }
            other => panic!("expected a format error, got {:?}", other.map(|_| ())),
        }
        let short = write_temp(&0xA1B2_C3D4u32.to_le_bytes());
        match open(short.path()) {
            Err(CaptureError::Format { reason, .. }) => {
                assert_eq!(reason, "file shorter than its header")
            }
            other => panic!("expected a format error, got {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn a_fifo_is_read_in_chunks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("capture.fifo");
    match std::process::Command::new("mkfifo").arg(&fifo).status() {
        Ok(status) if status.success() => {}
        _ => {
            eprintln!("skipping: mkfifo is not available");
            return;
        }
    }
    let bytes = classic(0xA1B2_C3D4, false, 1, &[(1, 5, &FRAME_A), (2, 6, &FRAME_B)]);
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut pipe = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .expect("open fifo for writing");
        pipe.write_all(&bytes).expect("write fifo");
    });
    let mut reader = FileReader::open(&fifo).expect("open fifo");
    assert!(matches!(reader.source, Source::Chunked(_)));
    assert_eq!(
        read_all(&mut reader),
        vec![
            (1_000_005_000, LinkType::Ethernet, FRAME_A.to_vec(), 16),
            (2_000_006_000, LinkType::Ethernet, FRAME_B.to_vec(), 13),
        ]
    );
    writer.join().expect("writer thread");
}

#[test]
fn chunked_mapped_and_buffered_readers_agree_on_the_demo_capture() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.pcap");
    let mut chunked = FileReader::open(&path).expect("open");
    let mut mapped = FileReader::open_mapped(&path).expect("open");
    let mut buffered = FileReader::open_buffered(&path).expect("open");
    let frames = read_all(&mut chunked);
    assert_eq!(frames.len(), 1647);
    assert_eq!(frames, read_all(&mut mapped));
    assert_eq!(frames, read_all(&mut buffered));
    assert_eq!(chunked.stats(), buffered.stats());
    assert_eq!(mapped.stats(), buffered.stats());
}

#[test]
fn frames_are_intact_across_released_pages() {
    let records: Vec<Vec<u8>> = (0..((mapped::RELEASE_STEP + mapped::RELEASE_TRAIL) / 60_000 + 200))
        .map(|i| vec![(i % 251) as u8; 60_000])
        .collect();
    let listed: Vec<(u32, u32, &[u8])> = records
        .iter()
        .enumerate()
        .map(|(i, data)| (i as u32, 0, data.as_slice()))
        .collect();
    let file = write_temp(&classic(0xA1B2_C3D4, false, 1, &listed));
    let mut reader = FileReader::open_mapped(file.path()).expect("open");
    assert!(matches!(reader.source, Source::Mapped(_)));
    let map = reader.shared_map().expect("mapped");
    let mut count = 0;
    let mut kept = Vec::new();
    while let Some(frame) = reader.next_frame().expect("frame") {
        assert_eq!(frame.ts.as_nanos(), count as u64 * 1_000_000_000);
        assert_eq!(frame.data, records[count].as_slice(), "frame {count}");
        if count % 100 == 0 {
            kept.push((count, frame.data.as_ptr() as usize - map.as_ptr() as usize));
        }
        count += 1;
    }
    assert_eq!(count, records.len());
    // A batch holding offsets into the shared map reads the same bytes after the release.
    for (i, offset) in kept {
        assert_eq!(&map[offset..offset + 60_000], records[i].as_slice(), "kept frame {i}");
    }
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

#[test]
fn timestamp_fast_paths_saturate_like_the_general_formula() {
    assert_eq!(to_timestamp(u64::MAX, 1_000_000, 0).as_nanos(), u64::MAX);
    assert_eq!(
        to_timestamp(u64::MAX, 1_000_000_000, 0).as_nanos(),
        u64::MAX
    );
    assert_eq!(
        to_timestamp(u64::MAX / 1_000, 1_000_000, 0).as_nanos(),
        u64::MAX / 1_000 * 1_000
    );
    assert_eq!(
        to_timestamp(1_000_001, 1_000_000, 2).as_nanos(),
        3_000_001_000
    );
}

proptest::proptest! {
    #[test]
    fn timestamp_fast_paths_equal_the_general_formula(
        units in proptest::prelude::any::<u64>(),
        resolution in proptest::prop_oneof![
            proptest::strategy::Just(1_000_000u64),
            proptest::strategy::Just(1_000_000_000u64),
            proptest::prelude::any::<u64>(),
        ],
        offset in proptest::prop_oneof![
            proptest::strategy::Just(0i64),
            -4_000_000_000i64..4_000_000_000i64,
            proptest::prelude::any::<i64>(),
        ],
    ) {
        proptest::prop_assert_eq!(
            to_timestamp(units, resolution, offset),
            to_timestamp_general(units, resolution, offset)
        );
    }

    #[test]
    fn timestamp_fast_paths_equal_the_general_formula_for_realistic_times(
        secs in 0u64..5_000_000_000,
        frac in 0u64..1_000_000_000,
        nano in proptest::prelude::any::<bool>(),
    ) {
        let (per_sec, frac) = if nano { (1_000_000_000, frac) } else { (1_000_000, frac / 1_000) };
        let units = secs * per_sec + frac;
        proptest::prop_assert_eq!(
            to_timestamp(units, per_sec, 0),
            to_timestamp_general(units, per_sec, 0)
        );
    }
}
