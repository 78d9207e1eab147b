//! A streaming WARC record reader (WARC/0.17–1.1; plain or multi-member gzip, one member per
//! record or one for the whole file).
//!
//! Records come out with their byte offset in the (decompressed) stream and, for provenance, in
//! the file as stored: gzip files are decompressed member by member, so a record's stored offset
//! is where the member holding its first byte starts (with one member per record, Common Crawl's
//! layout, that is the record's own offset). Damage never panics and
//! never silently loses data: a record without a `WARC/` version line, without a valid
//! `Content-Length`, or cut short becomes a [`WarcItem::Skipped`] with a reason and its offset, and
//! reading resumes at the next line starting with `WARC/`; a read error (corrupt gzip, I/O) is an
//! error naming the file and both offsets, after which the reader stops.

use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::HarvestError;
use crate::gzip::{GzipMembers, MemberStarts};
use wit_contract::AtPath;

/// One WARC record: its offset, version, named fields and content block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarcRecord {
    /// Offset of the record's first byte in the decompressed stream.
    pub offset: u64,
    /// Offset in the file as stored: of the record in a plain file, of the gzip member holding the
    /// record's first byte in a gzip file.
    pub stored_offset: u64,
    /// `WARC/1.0` and the like.
    pub version: String,
    /// Field names as written, values trimmed (lossy UTF-8).
    pub headers: Vec<(String, String)>,
    pub block: Vec<u8>,
}

impl WarcRecord {
    /// The first value of the field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `WARC-Type`, lower-cased.
    pub fn warc_type(&self) -> String {
        self.header("WARC-Type").unwrap_or("").to_ascii_lowercase()
    }

    /// `WARC-Record-ID`, as written (`<urn:uuid:…>`).
    pub fn record_id(&self) -> Option<&str> {
        self.header("WARC-Record-ID")
    }

    /// `WARC-Target-URI` without the angle brackets WARC/1.1 drafts allowed.
    pub fn target_uri(&self) -> Option<&str> {
        self.header("WARC-Target-URI").map(|u| u.trim_start_matches('<').trim_end_matches('>'))
    }
}

/// What the reader yields.
#[derive(Debug)]
pub enum WarcItem {
    Record(WarcRecord),
    /// Bytes that could not be read as a record, and why.
    Skipped {
        offset: u64,
        reason: &'static str,
        detail: String,
    },
}

/// Limits of the reader.
#[derive(Debug, Clone, Copy)]
pub struct WarcLimits {
    /// Records with a larger block are skipped (`warc_record_too_large`), their bytes discarded.
    pub max_block: u64,
    /// Longest header line.
    pub max_line: usize,
}

impl Default for WarcLimits {
    fn default() -> Self {
        WarcLimits { max_block: 64 << 20, max_line: 64 << 10 }
    }
}

/// Reads the WARC records of one file or stream.
pub struct WarcReader {
    path: PathBuf,
    input: Box<dyn BufRead + Send>,
    compressed_read: Option<Arc<AtomicU64>>,
    /// Gzip inputs: where members start (for stored offsets).
    member_starts: Option<MemberStarts>,
    limits: WarcLimits,
    offset: u64,
    pending_line: Option<Vec<u8>>,
    /// Buffers used again: the last line read, and the block and header strings of a record
    /// handed back by [`WarcReader::recycle`].
    spare_line: Vec<u8>,
    spare_block: Vec<u8>,
    spare_headers: Vec<(String, String)>,
    done: bool,
}

impl WarcReader {
    /// Opens `path`, gzip or not (decided by its first two bytes).
    pub fn open(path: &Path, limits: WarcLimits) -> Result<Self, HarvestError> {
        let file = std::fs::File::open(path).at_path(path)?;
        let mut file = io::BufReader::with_capacity(1 << 16, file);
        let magic = file.fill_buf().at_path(path)?;
        if magic.starts_with(&[0x1f, 0x8b]) {
            let decoder = GzipMembers::new(file).at_path(path)?;
            let (count, starts) = (decoder.compressed_counter(), decoder.member_starts());
            let mut reader = Self::with_input(path, Box::new(decoder), Some(count), limits);
            reader.member_starts = Some(starts);
            Ok(reader)
        } else {
            Ok(Self::with_input(path, Box::new(file), None, limits))
        }
    }

    /// Reads from an already decompressed stream; `path` names it in messages.
    pub fn from_reader(path: &Path, input: Box<dyn BufRead + Send>, limits: WarcLimits) -> Self {
        Self::with_input(path, input, None, limits)
    }

    fn with_input(
        path: &Path,
        input: Box<dyn BufRead + Send>,
        compressed_read: Option<Arc<AtomicU64>>,
        limits: WarcLimits,
    ) -> Self {
        WarcReader {
            path: path.to_path_buf(),
            input,
            compressed_read,
            member_starts: None,
            limits,
            offset: 0,
            pending_line: None,
            spare_line: Vec::new(),
            spare_block: Vec::new(),
            spare_headers: Vec::new(),
            done: false,
        }
    }

    /// Hands a record read back, so that its block's and header strings' memory holds the next
    /// record's (a Common Crawl file holds a record per kilobyte or so; allocating each costs more
    /// than its parsing).
    pub fn recycle(&mut self, record: WarcRecord) {
        if record.block.capacity() > self.spare_block.capacity() {
            self.spare_block = record.block;
        }
        self.spare_headers = record.headers;
    }

    /// Bytes of the decompressed stream consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Where the record at decompressed `offset` starts in the file as stored (see
    /// [`WarcRecord::stored_offset`]); forgets the members before it.
    fn stored_offset(&self, offset: u64) -> u64 {
        let Some(starts) = &self.member_starts else { return offset };
        let mut starts = starts.lock().unwrap_or_else(|p| p.into_inner());
        while starts.len() > 1 && starts[1].0 <= offset {
            starts.pop_front();
        }
        starts.front().map_or(0, |&(_, stored)| stored)
    }

    fn error(&self, e: io::Error) -> HarvestError {
        let problem = match &self.compressed_read {
            Some(count) => format!(
                "reading failed (gzip stream, about {} compressed bytes in): {e}",
                count.load(Ordering::Relaxed)
            ),
            None => format!("reading failed: {e}"),
        };
        HarvestError::AtOffset { path: self.path.clone(), offset: self.offset, problem }
    }

    /// One line (with its end) or None at the end; lines longer than the limit are cut there.
    fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        if let Some(line) = self.pending_line.take() {
            self.offset += line.len() as u64;
            return Ok(Some(line));
        }
        let mut line = std::mem::take(&mut self.spare_line);
        line.clear();
        let n = (&mut self.input).take(self.limits.max_line as u64).read_until(b'\n', &mut line)?;
        self.offset += n as u64;
        if n == 0 {
            self.spare_line = line;
            return Ok(None);
        }
        Ok(Some(line))
    }

    /// Skips to the next line starting with `WARC/`; returns the bytes skipped.
    fn resync(&mut self) -> io::Result<u64> {
        let start = self.offset;
        while let Some(line) = self.read_line()? {
            if line.starts_with(b"WARC/") {
                self.offset -= line.len() as u64;
                self.pending_line = Some(line);
                return Ok(self.offset - start);
            }
        }
        Ok(self.offset - start)
    }

    fn next_item(&mut self) -> io::Result<Option<WarcItem>> {
        // Blank lines between records.
        let first = loop {
            match self.read_line()? {
                None => return Ok(None),
                Some(line) if line.iter().all(|b| matches!(b, b'\r' | b'\n')) => self.spare_line = line,
                Some(line) => break line,
            }
        };
        let record_offset = self.offset - first.len() as u64;
        if !first.starts_with(b"WARC/") {
            let skipped = first.len() as u64 + self.resync()?;
            return Ok(Some(WarcItem::Skipped {
                offset: record_offset,
                reason: "warc_malformed_record",
                detail: format!("no WARC/ version line; skipped {skipped} bytes to the next record"),
            }));
        }
        let version = lossy(&first).trim().to_owned();
        self.spare_line = first;
        // Strings of a recycled record's headers are written over; `count` are this record's.
        let mut headers = std::mem::take(&mut self.spare_headers);
        let mut count = 0;
        loop {
            let Some(line) = self.read_line()? else {
                return Ok(Some(WarcItem::Skipped {
                    offset: record_offset,
                    reason: "warc_truncated_record",
                    detail: "the stream ends inside the record's header".into(),
                }));
            };
            if line.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                self.spare_line = line;
                break;
            }
            if line.starts_with(b"WARC/") {
                // A new record began before this one's header ended.
                self.offset -= line.len() as u64;
                self.pending_line = Some(line);
                return Ok(Some(WarcItem::Skipped {
                    offset: record_offset,
                    reason: "warc_malformed_record",
                    detail: "the header has no end".into(),
                }));
            }
            let text = lossy(&line);
            let read = if line[0] == b' ' || line[0] == b'\t' {
                if let Some((_, value)) = headers[..count].last_mut() {
                    value.push(' ');
                    value.push_str(text.trim());
                }
                true
            } else if let Some((name, value)) = text.split_once(':') {
                match headers.get_mut(count) {
                    Some((old_name, old_value)) => {
                        old_name.clear();
                        old_name.push_str(name.trim());
                        old_value.clear();
                        old_value.push_str(value.trim());
                    }
                    None => headers.push((name.trim().to_owned(), value.trim().to_owned())),
                }
                count += 1;
                true
            } else {
                false
            };
            drop(text);
            if !read {
                let skipped = self.resync()?;
                return Ok(Some(WarcItem::Skipped {
                    offset: record_offset,
                    reason: "warc_malformed_record",
                    detail: format!("header line without a colon; skipped {skipped} bytes to the next record"),
                }));
            }
            self.spare_line = line;
        }
        headers.truncate(count);
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
            .and_then(|(_, v)| v.parse::<u64>().ok());
        let Some(length) = length else {
            let skipped = self.resync()?;
            return Ok(Some(WarcItem::Skipped {
                offset: record_offset,
                reason: "warc_bad_content_length",
                detail: format!("no valid Content-Length; skipped {skipped} bytes to the next record"),
            }));
        };
        if length > self.limits.max_block {
            let discarded = io::copy(&mut (&mut self.input).take(length), &mut io::sink())?;
            self.offset += discarded;
            return Ok(Some(WarcItem::Skipped {
                offset: record_offset,
                reason: "warc_record_too_large",
                detail: format!("{length} bytes (limit {})", self.limits.max_block),
            }));
        }
        let mut block = std::mem::take(&mut self.spare_block);
        block.clear();
        if block.capacity() < length as usize {
            block = Vec::with_capacity(length as usize);
        }
        let got = (&mut self.input).take(length).read_to_end(&mut block)?;
        self.offset += got as u64;
        if (got as u64) < length {
            return Ok(Some(WarcItem::Skipped {
                offset: record_offset,
                reason: "warc_truncated_record",
                detail: format!("Content-Length {length} but the stream ends after {got} bytes"),
            }));
        }
        let stored_offset = self.stored_offset(record_offset);
        Ok(Some(WarcItem::Record(WarcRecord { offset: record_offset, stored_offset, version, headers, block })))
    }
}

/// `bytes` as text: borrowed when valid UTF-8 (checked the fast way first), else with U+FFFD.
fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

impl Iterator for WarcReader {
    type Item = Result<WarcItem, HarvestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_item() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(self.error(e)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(kind: &str, body: &str) -> String {
        format!("WARC/1.0\r\nWARC-Type: {kind}\r\nContent-Length: {}\r\n\r\n{body}\r\n\r\n", body.len())
    }

    fn read(bytes: &[u8]) -> Vec<Result<WarcItem, HarvestError>> {
        let input = Box::new(io::Cursor::new(bytes.to_vec()));
        WarcReader::from_reader(Path::new("mem.warc"), input, WarcLimits::default()).collect()
    }

    #[test]
    fn records_come_with_offsets_and_damage_is_skipped_with_a_reason() {
        let a = record("warcinfo", "software: x");
        let b = record("response", "HTTP/1.1 200 OK\r\n\r\nhi");
        let garbage = "this is not a record\r\nnor this\r\n";
        let no_length = "WARC/1.0\r\nWARC-Type: resource\r\nContent-Length: many\r\n\r\nzzz\r\n\r\n";
        let c = record("metadata", "{}");
        let text = format!("{a}{b}{garbage}{no_length}{c}");
        let items = read(text.as_bytes());
        let summary: Vec<String> = items
            .iter()
            .map(|i| match i.as_ref().unwrap() {
                WarcItem::Record(r) => format!("{}@{}", r.warc_type(), r.offset),
                WarcItem::Skipped { offset, reason, .. } => format!("{reason}@{offset}"),
            })
            .collect();
        let at_b = a.len();
        let at_garbage = at_b + b.len();
        let at_no_length = at_garbage + garbage.len();
        let at_c = at_no_length + no_length.len();
        assert_eq!(
            summary,
            [
                "warcinfo@0".to_string(),
                format!("response@{at_b}"),
                format!("warc_malformed_record@{at_garbage}"),
                format!("warc_bad_content_length@{at_no_length}"),
                format!("metadata@{at_c}"),
            ]
        );
        let truncated = &record("response", "0123456789")[..60];
        let items = read(truncated.as_bytes());
        assert!(matches!(items[..], [Ok(WarcItem::Skipped { reason: "warc_truncated_record", offset: 0, .. })]));
    }

    #[test]
    fn records_read_into_recycled_buffers_are_the_records_read_into_new_ones() {
        // Header counts and block sizes change from record to record; a header is continued.
        let text = format!(
            "{}{}{}WARC/1.0\r\nWARC-Type: resource\r\nX-Long: a\r\n  b\r\nContent-Length: 2\r\n\r\nok\r\n\r\n{}",
            record("warcinfo", &"x".repeat(5000)),
            "WARC/1.0\r\nWARC-Type: request\r\nWARC-Target-URI: <http://a/>\r\nWARC-Record-ID: <urn:x>\r\nContent-Length: 3\r\n\r\nabc\r\n\r\n",
            record("metadata", "{}"),
            record("response", "HTTP/1.1 200 OK\r\n\r\nhi"),
        );
        let fresh: Vec<WarcRecord> = read(text.as_bytes())
            .into_iter()
            .map(|item| match item.unwrap() {
                WarcItem::Record(r) => r,
                WarcItem::Skipped { reason, .. } => panic!("skipped: {reason}"),
            })
            .collect();
        assert_eq!(fresh.len(), 5);
        assert_eq!(fresh[3].header("X-Long"), Some("a b"));
        let input = Box::new(io::Cursor::new(text.into_bytes()));
        let mut reader = WarcReader::from_reader(Path::new("mem.warc"), input, WarcLimits::default());
        let mut recycled = Vec::new();
        while let Some(item) = reader.next() {
            let WarcItem::Record(r) = item.unwrap() else { panic!("a record") };
            recycled.push(r.clone());
            reader.recycle(r);
        }
        assert_eq!(recycled, fresh);
    }

    #[test]
    fn gzip_members_are_read_and_corrupt_gzip_is_an_error_naming_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.warc.gz");
        let mut bytes = Vec::new();
        for body in ["one", "two"] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(record("resource", body).as_bytes()).unwrap();
            bytes.extend(gz.finish().unwrap());
        }
        std::fs::write(&path, &bytes).unwrap();
        let items: Vec<_> = WarcReader::open(&path, WarcLimits::default()).unwrap().map(Result::unwrap).collect();
        assert_eq!(items.len(), 2);
        let WarcItem::Record(second) = &items[1] else { panic!("a record") };
        assert_eq!(second.block, b"two");

        let mut broken = bytes.clone();
        let len = broken.len();
        broken[len - 20..len - 8].fill(0x55);
        std::fs::write(&path, &broken).unwrap();
        let results: Vec<_> = WarcReader::open(&path, WarcLimits::default()).unwrap().collect();
        let err = results.iter().find_map(|r| r.as_ref().err()).expect("an error").to_string();
        assert!(err.contains("x.warc.gz") && err.contains("at byte") && err.contains("compressed"), "{err}");
    }

    #[test]
    fn stored_offsets_are_where_each_records_gzip_member_starts() {
        let dir = tempfile::tempdir().unwrap();
        let gz = |text: &str| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(text.as_bytes()).unwrap();
            gz.finish().unwrap()
        };
        // One member per record, then one member holding two records, then one record again.
        let (a, b, c, d) =
            (record("warcinfo", "a"), record("response", "bb"), record("request", "c"), record("metadata", "{}"));
        let mut bytes = Vec::new();
        let mut member_starts = Vec::new();
        for member in [a.clone(), b.clone(), format!("{c}{d}"), a.clone()] {
            member_starts.push(bytes.len() as u64);
            bytes.extend(gz(&member));
        }
        let path = dir.path().join("m.warc.gz");
        std::fs::write(&path, &bytes).unwrap();
        let records: Vec<(String, u64, u64)> = WarcReader::open(&path, WarcLimits::default())
            .unwrap()
            .map(|item| match item.unwrap() {
                WarcItem::Record(r) => (r.warc_type(), r.offset, r.stored_offset),
                WarcItem::Skipped { reason, .. } => panic!("skipped: {reason}"),
            })
            .collect();
        let at = |n: usize| [&a, &b, &c, &d][..n].iter().map(|r| r.len() as u64).sum::<u64>();
        assert_eq!(
            records,
            [
                ("warcinfo".to_string(), 0, member_starts[0]),
                ("response".to_string(), at(1), member_starts[1]),
                ("request".to_string(), at(2), member_starts[2]),
                ("metadata".to_string(), at(3), member_starts[2]),
                ("warcinfo".to_string(), at(4), member_starts[3]),
            ]
        );
        // Decompressing from a stored offset gives the record's bytes.
        let mut from_second = String::new();
        flate2::read::GzDecoder::new(&bytes[member_starts[1] as usize..]).read_to_string(&mut from_second).unwrap();
        assert_eq!(from_second, b);
        // A plain file: stored offsets are the offsets.
        let plain = dir.path().join("m.warc");
        std::fs::write(&plain, format!("{a}{b}")).unwrap();
        let offsets: Vec<(u64, u64)> = WarcReader::open(&plain, WarcLimits::default())
            .unwrap()
            .map(|item| match item.unwrap() {
                WarcItem::Record(r) => (r.offset, r.stored_offset),
                WarcItem::Skipped { reason, .. } => panic!("skipped: {reason}"),
            })
            .collect();
        assert_eq!(offsets, [(0, 0), (a.len() as u64, a.len() as u64)]);
    }
}
