//! A bounded look at the changes of a sync message before automerge reads them.
//!
//! automerge inflates compressed change chunks and the deflated columns of document chunks with
//! no limit, so a few kilobytes on the wire could become gigabytes in memory. This scan walks
//! the chunk headers, inflates every compressed part through a reader that stops at the budget,
//! and refuses the message when the total would exceed it. Nothing here trusts a length it read:
//! every slice is checked against what is left.

use std::io::Read;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Column specs with this bit set are deflated.
const DEFLATE_BIT: u64 = 0b1000;

/// Why the changes of a message were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScanError {
    #[error("changes would take more than {limit} bytes once decompressed")]
    TooLarge { limit: usize },
    #[error("malformed change chunk: {0}")]
    Malformed(&'static str),
    #[error("compressed data that does not inflate")]
    BadDeflate,
    #[error("chunk type {0} is not accepted from peers")]
    Refused(u8),
    #[error("a bloom filter with {bits} bits per entry and {probes} probes")]
    Bloom { bits: u64, probes: u64 },
}

/// Checks the shape of a peer's bloom filter (what `BloomFilter::to_bytes` writes) before
/// automerge uses it: with no bits it divides by zero, and it allocates a vector as long as the
/// probe count the peer wrote. automerge writes 10 bits per entry and 7 probes.
pub fn check_bloom(bytes: &[u8]) -> Result<(), ScanError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut r = Reader(bytes);
    let _entries = r.uleb()?;
    let bits = r.uleb()?;
    let probes = r.uleb()?;
    if (1..=64).contains(&bits) && (1..=64).contains(&probes) {
        Ok(())
    } else {
        Err(ScanError::Bloom { bits, probes })
    }
}

/// The bytes the chunks take once decompressed, if within `limit`.
pub fn inflated_size<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
    limit: usize,
) -> Result<usize, ScanError> {
    let mut total = 0usize;
    for chunk in chunks {
        let mut r = Reader(chunk);
        // A chunk list may hold several chunks back to back.
        while !r.0.is_empty() {
            // The inner checks know only what was left of the budget; report the whole limit.
            let size = one_chunk(&mut r, limit.saturating_sub(total)).map_err(|e| match e {
                ScanError::TooLarge { .. } => ScanError::TooLarge { limit },
                e => e,
            })?;
            total = total.saturating_add(size);
            if total > limit {
                return Err(ScanError::TooLarge { limit });
            }
        }
    }
    Ok(total)
}

fn one_chunk(r: &mut Reader<'_>, budget: usize) -> Result<usize, ScanError> {
    if r.take(4)? != MAGIC {
        return Err(ScanError::Malformed("bad magic bytes"));
    }
    r.take(4)?; // checksum
    let kind = r.byte()?;
    let len = r.len()?;
    let body = r.take(len)?;
    match kind {
        // A change: its columns are never compressed on their own.
        1 => Ok(body.len()),
        // A compressed change: the whole body is deflated.
        2 => inflate(body, budget),
        0 => document(body, budget),
        other => Err(ScanError::Refused(other)),
    }
}

/// A document chunk: actors, heads, two lists of column specs, then the columns, any of which
/// may be deflated.
fn document(body: &[u8], budget: usize) -> Result<usize, ScanError> {
    let mut r = Reader(body);
    let actors = r.count()?;
    for _ in 0..actors {
        let n = r.len()?;
        r.take(n)?;
    }
    let heads = r.count()?;
    for _ in 0..heads {
        r.take(32)?;
    }
    let mut columns = Vec::new();
    for _ in 0..2 {
        let n = r.count()?;
        for _ in 0..n {
            let spec = r.uleb()?;
            let len = r.len()?;
            columns.push((spec, len));
        }
    }
    let mut total = body.len();
    for (spec, len) in columns {
        let data = r.take(len)?;
        if spec & DEFLATE_BIT != 0 {
            total = total.saturating_add(inflate(data, budget.saturating_sub(total))?);
            if total > budget {
                return Err(ScanError::TooLarge { limit: budget });
            }
        }
    }
    Ok(total)
}

/// Inflates `data` into nothing, counting, and stops one byte past `budget`.
fn inflate(data: &[u8], budget: usize) -> Result<usize, ScanError> {
    let decoder = flate2::bufread::DeflateDecoder::new(data);
    let cap = u64::try_from(budget).unwrap_or(u64::MAX).saturating_add(1);
    let n = std::io::copy(&mut decoder.take(cap), &mut std::io::sink())
        .map_err(|_| ScanError::BadDeflate)?;
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if n > budget {
        return Err(ScanError::TooLarge { limit: budget });
    }
    Ok(n)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ScanError> {
        if n > self.0.len() {
            return Err(ScanError::Malformed("length past the end of the chunk"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, ScanError> {
        Ok(self.take(1)?[0])
    }

    fn uleb(&mut self) -> Result<u64, ScanError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ScanError::Malformed("integer too long"))
    }

    /// A length, which must fit in what is left.
    fn len(&mut self) -> Result<usize, ScanError> {
        let n = usize::try_from(self.uleb()?).unwrap_or(usize::MAX);
        if n > self.0.len() {
            return Err(ScanError::Malformed("length past the end of the chunk"));
        }
        Ok(n)
    }

    /// A count of items, each at least one byte long.
    fn count(&mut self) -> Result<usize, ScanError> {
        self.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ObjType, ROOT};
    use std::io::Write;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn uleb(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend([0, 0, 0, 0, kind]);
        uleb(body.len() as u64, &mut out);
        out.extend(body);
        out
    }

    fn deflate(data: &[u8]) -> Result<Vec<u8>, std::io::Error> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data)?;
        e.finish()
    }

    #[test]
    fn real_documents_and_changes_pass_with_their_inflated_size() -> TestResult {
        let mut doc = AutoCommit::new();
        let text = doc.put_object(ROOT, "notes", ObjType::Text)?;
        doc.splice_text(&text, 0, 0, &"楼道堆物 ".repeat(500))?;
        doc.commit();
        let saved = doc.save();
        let size = inflated_size([saved.as_slice()], 1 << 20)?;
        assert!(size > saved.len(), "{size} vs {}", saved.len());
        let change = doc.get_last_local_change().ok_or("no change")?;
        assert!(inflated_size([change.raw_bytes()], 1 << 20)? > 0);
        Ok(())
    }

    #[test]
    fn a_compression_bomb_is_refused_before_it_is_inflated() -> TestResult {
        let bomb = deflate(&vec![0u8; 64 << 20])?;
        assert!(bomb.len() < 128 << 10, "{}", bomb.len());
        let c = chunk(2, &bomb);
        assert_eq!(
            inflated_size([c.as_slice()], 1 << 20),
            Err(ScanError::TooLarge { limit: 1 << 20 })
        );
        Ok(())
    }

    #[test]
    fn a_bomb_in_a_document_column_is_refused() -> TestResult {
        let bomb = deflate(&vec![7u8; 32 << 20])?;
        let mut body = Vec::new();
        uleb(0, &mut body); // actors
        uleb(0, &mut body); // heads
        uleb(1, &mut body); // change columns
        uleb(DEFLATE_BIT | 0x10, &mut body);
        uleb(bomb.len() as u64, &mut body);
        uleb(0, &mut body); // op columns
        body.extend(&bomb);
        let c = chunk(0, &body);
        assert_eq!(
            inflated_size([c.as_slice()], 1 << 20),
            Err(ScanError::TooLarge { limit: 1 << 20 })
        );
        Ok(())
    }

    #[test]
    fn bloom_filters_automerge_cannot_use_are_refused() {
        assert_eq!(check_bloom(&[]), Ok(()));
        assert_eq!(check_bloom(&[3, 10, 7, 0, 0, 0, 0]), Ok(()));
        assert_eq!(
            check_bloom(&[3, 0, 7]),
            Err(ScanError::Bloom { bits: 0, probes: 7 })
        );
        assert_eq!(
            check_bloom(&[3, 10, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(ScanError::Bloom {
                bits: 10,
                probes: u64::from(u32::MAX)
            })
        );
    }

    #[test]
    fn lying_lengths_and_unknown_chunks_are_refused() {
        let mut c = chunk(1, b"abc");
        c.truncate(c.len() - 1);
        assert!(matches!(
            inflated_size([c.as_slice()], 1 << 20),
            Err(ScanError::Malformed(_))
        ));
        let huge = [
            0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f,
        ];
        assert!(matches!(
            inflated_size([huge.as_slice()], 1 << 20),
            Err(ScanError::Malformed(_))
        ));
        let bundle = chunk(3, b"x");
        assert_eq!(
            inflated_size([bundle.as_slice()], 1 << 20),
            Err(ScanError::Refused(3))
        );
        assert_eq!(
            inflated_size([b"not a chunk".as_slice()], 1 << 20),
            Err(ScanError::Malformed("bad magic bytes"))
        );
    }
}
