//! `tapline decode hi2.ber --calls`: the call summary the reference LEMF writes to
//! `calls.jsonl`, printed from its files (the same [`CallView`], one implementation). The
//! `hi3.ber` next to the file, when there is one, gives the content counts.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use tapline::lemf::calls::{calls_of_files, pdus_of, CallView};

/// Prints one JSON line per call of the etsi `hi2.ber` in `bytes` (read from `file`).
pub fn print(file: &Path, bytes: &[u8]) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if tapline::handover::laes::decode::looks_like_cdc(bytes) {
        return Err(format!("{}: --calls reads an etsi hi2.ber (PS-PDUs), this is a laes stream", file.display()).into());
    }
    let (hi2, whole) = pdus_of(bytes);
    let hi3_path = file.with_file_name("hi3.ber");
    let hi3 = match std::fs::read(&hi3_path) {
        Ok(b) if hi3_path != file => pdus_of(&b).0,
        Ok(_) => Vec::new(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("{}: {e}", hi3_path.display()).into()),
    };
    let lines = calls_of_files(&mut CallView::default(), &hi2, &hi3);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = lines.iter().try_for_each(|l| writeln!(out, "{}", l.to_json())).and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        // A reader that went away (`| head`) ends the output quietly.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(format!("writing the calls: {e}").into()),
    }
    if whole < bytes.len() {
        eprintln!("tapline: {}: handover stream framing broken at offset {whole}; calls after it are missing", file.display());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
