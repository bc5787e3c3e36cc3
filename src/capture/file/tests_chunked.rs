//! The chunked reader's hand-over from chunk to chunk, on byte-built captures.

use std::path::Path;
use std::sync::Arc;

use super::chunked::CHUNK_LEN;
use super::tests::{classic, ng_epb, ng_idb, ng_shb, write_temp};
use super::FileReader;
use crate::capture::{within, CaptureSource, Next};

/// Reads `path` as the batch stage does (through `CaptureSource`), holding on to every
/// frame's chunk: each frame lies in the backing of its batch (a new chunk comes after a
/// `Boundary`), and a held chunk keeps its bytes while the reader goes on. Returns the
/// number of boundaries.
fn read_held_chunks(path: &Path, records: &[Vec<u8>]) -> usize {
    let mut reader = FileReader::open(path).expect("open");
    let mut backing = CaptureSource::backing(&reader).expect("chunks are shared");
    let (mut held, mut boundaries) = (Vec::new(), 0);
    loop {
        match CaptureSource::next_frame(&mut reader, None).expect("read") {
            Next::Frame(frame) => {
                let range = within(backing.bytes(), frame.data).expect("a frame lies in the current chunk");
                assert_eq!(frame.data, records[held.len()].as_slice(), "frame {}", held.len());
                held.push((Arc::clone(&backing), range));
            }
            Next::Boundary => {
                boundaries += 1;
                backing = CaptureSource::backing(&reader).expect("chunks are shared");
            }
            Next::End => break,
            Next::Idle => panic!("a file is never idle"),
        }
    }
    assert_eq!(held.len(), records.len());
    for (i, (chunk, range)) in held.iter().enumerate() {
        assert_eq!(&chunk.bytes()[range.clone()], records[i].as_slice(), "held frame {i}");
    }
    boundaries
}

#[test]
fn blocks_cut_by_a_chunk_end_are_read_whole_from_the_next_chunk() {
    // 7,001-byte records: blocks straddle every chunk end.
    let records: Vec<Vec<u8>> = (0..(3 * CHUNK_LEN / 7_001 + 5)).map(|i| vec![(i % 251) as u8; 7_001]).collect();
    let listed: Vec<(u32, u32, &[u8])> = records.iter().enumerate().map(|(i, d)| (i as u32, 0, d.as_slice())).collect();
    let classic_file = write_temp(&classic(0xA1B2_C3D4, false, 1, &listed));
    assert!(read_held_chunks(classic_file.path(), &records) >= 3);
    let mut ng = ng_shb();
    ng.extend(ng_idb(1, None));
    for (i, data) in records.iter().enumerate() {
        ng.extend(ng_epb(0, i as u64, data));
    }
    let ng_file = write_temp(&ng);
    assert!(read_held_chunks(ng_file.path(), &records) >= 3);
}
