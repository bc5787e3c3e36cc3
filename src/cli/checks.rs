//! Checks that make a run that did not fully do its job say so and exit non-zero:
//! a directory given as a capture, a truncated capture, an unsupported link type, live
//! capture loss, records left undelivered.
//!
//! Exit codes of `tapline` (also in deploy/README.md):
//! - 0: the job was done;
//! - 1: it could not be done (bad input, I/O error), nothing or only part was written;
//! - 2: bad command line (clap);
//! - 3: the command ran to its end but not everything was handled: the capture was cut
//!   short or malformed, frames of an unsupported link type were skipped, a live capture
//!   lost frames, or records are left undelivered in the spool (they go first in the next run on the same spool).

use std::path::Path;
use std::process::ExitCode;

use tapline::capture::{FileReader, LinkType};

/// Exit status of a command that ran to its end but left something undone.
pub const INCOMPLETE: u8 = 3;

/// Refuses a capture path that is not a readable file, with a message saying what it is.
pub fn capture_path(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            Err(format!("{} is a directory, not a capture file (give a .pcap or .pcapng file)", path.display()))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("cannot read capture file {}: {e}", path.display())),
    }
}

/// The link type of the capture's first frame, when it can be read.
pub fn first_link_type(path: &Path) -> Option<LinkType> {
    let mut reader = FileReader::open(path).ok()?;
    let frame = reader.next_frame().ok()??;
    Some(frame.link)
}

/// A link type's registry name (LINKTYPE_…), for messages.
pub fn link_type_name(link: LinkType) -> String {
    let n = link.linktype();
    let name = match n {
        0 => "NULL",
        1 => "ETHERNET",
        6 => "IEEE802_5 (Token Ring)",
        8 => "SLIP",
        9 => "PPP",
        10 => "FDDI",
        50 => "PPP_HDLC",
        51 => "PPP_ETHER",
        101 => "RAW",
        104 => "C_HDLC",
        105 => "IEEE802_11 (Wi-Fi)",
        107 => "FRELAY",
        108 => "LOOP",
        113 => "LINUX_SLL",
        119 => "IEEE802_11_PRISM",
        127 => "IEEE802_11_RADIOTAP",
        147..=162 => "USERn (private)",
        187 => "BLUETOOTH_HCI_H4",
        189 => "USB_LINUX",
        192 => "PPI",
        195 => "IEEE802_15_4_WITHFCS",
        201 => "BLUETOOTH_HCI_H4_WITH_PHDR",
        220 => "USB_LINUX_MMAPPED",
        228 => "IPV4",
        229 => "IPV6",
        253 => "NETLINK",
        276 => "LINUX_SLL2",
        _ => "unknown",
    };
    format!("{n} (LINKTYPE_{name})").replace("LINKTYPE_unknown", "not in the LINKTYPE registry")
}

/// Problems of a finished capture run, each a line for stderr: capture errors (a
/// truncated or malformed file) and frames skipped because of their link type.
pub fn capture_problems(path: &Path, errors: &[String], skipped_non_ip: u64, frames: u64) -> Vec<String> {
    let mut problems: Vec<String> = errors.iter().map(|e| format!("capture incomplete: {e}")).collect();
    if skipped_non_ip > 0 {
        if let Some(link @ LinkType::Other(_)) = first_link_type(path) {
            problems.push(format!(
                "{}: unsupported link type {}: {skipped_non_ip} of {frames} frames skipped \
                 (supported: Ethernet, Linux cooked v1/v2, raw IPv4/IPv6, BSD loopback)",
                path.display(),
                link_type_name(link)
            ));
        }
    }
    problems
}

/// Frames a live capture lost: dropped on a full pipeline, or by the kernel or NIC.
pub fn capture_loss(pipeline_full: u64, kernel: u64) -> Option<String> {
    (pipeline_full + kernel > 0).then(|| {
        format!("capture loss: {pipeline_full} frames dropped (pipeline full), {kernel} dropped by the kernel or NIC")
    })
}

/// Prints the problems and turns them into the exit status.
pub fn exit_for(problems: &[String]) -> ExitCode {
    for p in problems {
        eprintln!("tapline: {p}");
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INCOMPLETE)
    }
}

/// One line per agency interface with records left unconfirmed in the spool.
pub fn undelivered(interfaces: &[tapline::delivery::InterfaceReport], spool: &Path) -> Vec<String> {
    interfaces
        .iter()
        .filter(|i| i.unconfirmed > 0)
        .map(|i| {
            format!(
                "{} records for agency {} ({}) left undelivered in {} ({} connection failures); \
                 they are sent first by the next run on this spool",
                i.unconfirmed,
                i.agency,
                i.interface,
                spool.display(),
                i.connect_failures
            )
        })
        .collect()
}

/// `pcap` or `pcapng` when the bytes start like a capture file (either byte order).
pub fn capture_format(bytes: &[u8]) -> Option<&'static str> {
    match bytes.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] | [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] => {
            Some("pcap")
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => Some("pcapng"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_loss_is_a_problem_only_when_frames_were_lost() {
        assert_eq!(capture_loss(0, 0), None);
        assert_eq!(
            capture_loss(512, 3).as_deref(),
            Some("capture loss: 512 frames dropped (pipeline full), 3 dropped by the kernel or NIC")
        );
        assert!(capture_loss(0, 1).is_some());
    }
}
