//! The subject of a client certificate (common name, organizational units), read from its
//! DER encoding: who is acting, and in which role.

/// Common name and organizational units of a certificate's subject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub common_name: Option<String>,
    pub units: Vec<String>,
}

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_OU: &[u8] = &[0x55, 0x04, 0x0B];

/// One DER TLV at the start of `b`: (tag, contents, rest). Low tag numbers only.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let len = b.get(2..2 + n)?.iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, b.get(header..end)?, b.get(end..)?))
}

/// The subject of the X.509 certificate `der`; None when it is not one.
pub fn subject_of(der: &[u8]) -> Option<Subject> {
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    let (tag, _, after) = tlv(rest)?;
    if tag == 0xA0 {
        rest = after; // [0] version
    }
    // serialNumber, signature, issuer, validity, then subject.
    for _ in 0..4 {
        rest = tlv(rest)?.2;
    }
    let (_, mut names, _) = tlv(rest)?;
    let mut subject = Subject::default();
    while !names.is_empty() {
        let (_, mut set, next) = tlv(names)?;
        names = next;
        while !set.is_empty() {
            let (_, attr, next) = tlv(set)?;
            set = next;
            let (_, oid, value) = tlv(attr)?;
            let (_, text, _) = tlv(value)?;
            let text = String::from_utf8_lossy(text).into_owned();
            if oid == OID_CN {
                subject.common_name = Some(text);
            } else if oid == OID_OU {
                subject.units.push(text);
            }
        }
    }
    Some(subject)
}

/// The common name of the certificate a TLS peer presented; empty when it sent none or the
/// subject cannot be read (a mutual-TLS handshake has already checked it against the CA).
pub fn peer_common_name(conn: &rustls::CommonState) -> String {
    conn.peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| subject_of(c.as_ref()))
        .and_then(|s| s.common_name)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::pki::{create_dev_pki, loopback_hosts};
    use crate::delivery::tls::load_certs;
    use proptest::prelude::*;

    #[test]
    fn reads_common_name_and_unit_of_dev_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let pki = create_dev_pki(dir.path(), &[], &loopback_hosts()).unwrap();
        let subject = |p: &std::path::Path| subject_of(load_certs(p).unwrap()[0].as_ref()).unwrap();
        assert_eq!(
            subject(&pki.provisioner().cert),
            Subject { common_name: Some("provisioner".into()), units: vec!["provisioning".into()] }
        );
        assert_eq!(subject(&pki.viewer().cert).units, ["viewer"]);
        assert_eq!(subject(&pki.appliance.cert), Subject { common_name: Some("appliance".into()), units: vec![] });
    }

    #[test]
    fn truncated_certificate_is_none() {
        assert_eq!(subject_of(&[0x30, 0x82, 0x01]), None);
        assert_eq!(subject_of(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = subject_of(&bytes);
        }
    }
}
