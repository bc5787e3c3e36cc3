//! Streams of back-to-back self-delimiting records (BER PDUs, CCC frames): splitting them
//! by a record-length function, and measuring their whole-record prefix.

/// Splits `buf` into records; `record_len(rest, offset)` gives the length of the record at
/// the start of `rest` (which lies at `offset` in `buf`). The first error is yielded once,
/// after which the iterator ends.
pub fn split_records<'a, E>(
    buf: &'a [u8],
    record_len: impl Fn(&'a [u8], usize) -> Result<usize, E>,
) -> impl Iterator<Item = Result<&'a [u8], E>> {
    let mut pos = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= buf.len() {
            return None;
        }
        let rest = buf.get(pos..)?;
        match record_len(rest, pos) {
            Ok(len) => {
                let record = rest.get(..len)?;
                pos += len;
                Some(Ok(record))
            }
            Err(e) => {
                failed = true;
                Some(Err(e))
            }
        }
    })
}

/// Length of the leading whole records of a split stream, and how many there are.
pub fn whole_prefix<'a, E>(records: impl Iterator<Item = Result<&'a [u8], E>>) -> (usize, u64) {
    records
        .map_while(Result::ok)
        .fold((0, 0), |(len, n), r| (len + r.len(), n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records of one length byte followed by that many bytes.
    fn len_prefixed(rest: &[u8], offset: usize) -> Result<usize, usize> {
        match rest.first() {
            Some(&n) if rest.len() > usize::from(n) => Ok(1 + usize::from(n)),
            _ => Err(offset),
        }
    }

    #[test]
    fn splits_until_the_first_bad_record_and_reports_it_once() {
        let buf = [1, 9, 0, 2, 7, 7, 5, 1];
        let got: Vec<_> = split_records(&buf, len_prefixed).collect();
        assert_eq!(got, vec![Ok(&buf[0..2]), Ok(&buf[2..3]), Ok(&buf[3..6]), Err(6)]);
        assert_eq!(whole_prefix(split_records(&buf, len_prefixed)), (6, 3));
        assert_eq!(whole_prefix(split_records(&[][..], len_prefixed)), (0, 0));
    }
}
