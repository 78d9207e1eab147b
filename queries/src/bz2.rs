//! bzip2 that knows where it is: a streaming decoder over concatenated streams that reports the
//! compressed byte offset of any fault, and the stream boundaries of a multistream file (from the
//! dump's `-index.txt.bz2`, or found by scanning for stream headers and checking the end-of-stream
//! marker just before each one).

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use bzip2::{Decompress, Status};

use crate::error::{QueriesError, Result};
use wit_contract::{AtPath, PathError};

/// The 48-bit magic that starts every compressed block (BCD of pi).
const BLOCK_MAGIC: [u8; 6] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
/// The 48-bit magic of the end-of-stream marker (BCD of sqrt(pi)).
const END_MAGIC: u64 = 0x1772_4538_5090;
const END_MAGIC_BYTES: [u8; 6] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];
/// "BZh" + level + block or end magic.
pub const HEADER_LEN: usize = 10;

/// Whether `bytes` starts with a bzip2 stream header followed by a block (or an empty stream's end).
pub fn is_stream_header(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN
        && &bytes[..3] == b"BZh"
        && (b'1'..=b'9').contains(&bytes[3])
        && (bytes[4..10] == BLOCK_MAGIC || bytes[4..10] == END_MAGIC_BYTES)
}

/// Whether the bytes just before a candidate stream start end with a bzip2 end-of-stream marker:
/// 48-bit magic, 32-bit CRC, then 0–7 zero bits of padding up to the byte boundary.
pub fn ends_a_stream(before: &[u8]) -> bool {
    if before.len() < 11 {
        return false;
    }
    let tail = &before[before.len() - 11..];
    let window = tail.iter().fold(0u128, |w, &b| (w << 8) | b as u128);
    (0..8).any(|pad| {
        let padding_clear = window & ((1u128 << pad) - 1) == 0;
        padding_clear && ((window >> (pad + 32)) as u64) & 0xFFFF_FFFF_FFFF == END_MAGIC
    })
}

/// A decoding fault with its position, carried inside an `io::Error` through the XML reader.
#[derive(Debug, Clone)]
pub struct Bz2Fault {
    /// Compressed byte (absolute in the file) where decoding stopped.
    pub offset: u64,
    pub stream_start: u64,
    pub problem: String,
}

impl fmt::Display for Bz2Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bz2 data error at compressed byte {} (stream starting at byte {}): {}",
            self.offset, self.stream_start, self.problem
        )
    }
}

impl std::error::Error for Bz2Fault {}

/// Decodes every bzip2 stream of `inner` one after the other. `start` is the absolute offset of
/// `inner`'s first byte in its file, so faults name true file offsets.
pub struct Bz2Reader<R: BufRead> {
    inner: R,
    data: Decompress,
    /// Absolute offset of the next compressed byte to feed.
    offset: u64,
    stream_start: u64,
    in_stream: bool,
}

impl<R: BufRead> Bz2Reader<R> {
    pub fn new(inner: R, start: u64) -> Self {
        Bz2Reader { inner, data: Decompress::new(false), offset: start, stream_start: start, in_stream: false }
    }

    /// Compressed bytes consumed so far, as an absolute offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn fault(&self, problem: impl Into<String>) -> io::Error {
        io::Error::other(Bz2Fault { offset: self.offset, stream_start: self.stream_start, problem: problem.into() })
    }
}

impl<R: BufRead> Read for Bz2Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let input = self.inner.fill_buf()?;
            if !self.in_stream {
                if input.is_empty() {
                    return Ok(0);
                }
                self.data = Decompress::new(false);
                self.in_stream = true;
                self.stream_start = self.offset;
            }
            let input = self.inner.fill_buf()?;
            let eof = input.is_empty();
            let (before_in, before_out) = (self.data.total_in(), self.data.total_out());
            let status = self.data.decompress(input, buf);
            let consumed = (self.data.total_in() - before_in) as usize;
            let produced = (self.data.total_out() - before_out) as usize;
            self.inner.consume(consumed);
            self.offset += consumed as u64;
            match status {
                Ok(Status::StreamEnd) => self.in_stream = false,
                Ok(_) => {}
                Err(e) => return Err(self.fault(e.to_string())),
            }
            if produced > 0 {
                return Ok(produced);
            }
            if eof && self.in_stream {
                return Err(self.fault("the file ends inside a bzip2 stream (truncated?)"));
            }
        }
    }
}

/// What the start of a file says about its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Bz2,
    Plain,
}

pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(b"BZh") {
        Compression::Bz2
    } else {
        Compression::Plain
    }
}

/// Stream start offsets of a bz2 file, found by scanning: every `BZh?` + block magic that follows an
/// end-of-stream marker. Stops after `limit` bytes (returning what it found) when given.
pub fn scan_stream_starts(path: &Path, limit: Option<u64>) -> Result<Vec<u64>> {
    let file = File::open(path).at_path(path)?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut starts = vec![0u64];
    let mut chunk = vec![0u8; 8 << 20];
    // The last bytes of the previous chunk, so a header or end marker split across chunks is seen.
    const KEEP: usize = 16;
    let mut carry: Vec<u8> = Vec::new();
    let mut base = 0u64; // file offset of carry[0]
    let finder = memchr::memmem::Finder::new(b"BZh");
    loop {
        let n = reader.read(&mut chunk).at_path(path)?;
        if n == 0 {
            break;
        }
        let mut window = std::mem::take(&mut carry);
        window.extend_from_slice(&chunk[..n]);
        let at_eof_margin = window.len();
        for pos in finder.find_iter(&window) {
            let absolute = base + pos as u64;
            if absolute == 0 || pos + HEADER_LEN > at_eof_margin {
                continue;
            }
            if starts.last() != Some(&absolute) && is_stream_header(&window[pos..]) && ends_a_stream(&window[..pos]) {
                starts.push(absolute);
            }
        }
        let keep_from = window.len().saturating_sub(KEEP);
        base += keep_from as u64;
        carry = window[keep_from..].to_vec();
        if limit.is_some_and(|limit| base >= limit) {
            break;
        }
    }
    starts.dedup();
    Ok(starts)
}

/// Stream start offsets from a multistream index (`offset:page_id:title` lines, bz2-compressed or
/// plain), with 0 (the header stream) added; each offset is checked against the dump's bytes.
pub fn read_index(index: &Path, dump: &Path) -> Result<Vec<u64>> {
    let file = File::open(index).at_path(index)?;
    let mut head = [0u8; 3];
    let mut peek = BufReader::new(file);
    let n = peek.fill_buf().at_path(index)?.len().min(3);
    head[..n].copy_from_slice(&peek.fill_buf().at_path(index)?[..n]);
    let lines: Box<dyn BufRead> = match sniff(&head[..n]) {
        Compression::Bz2 => Box::new(BufReader::new(Bz2Reader::new(peek, 0))),
        Compression::Plain => Box::new(peek),
    };
    let mut starts = vec![0u64];
    for (i, line) in lines.lines().enumerate() {
        let line = line.at_path(index)?;
        if line.is_empty() {
            continue;
        }
        let offset = line.split(':').next().and_then(|o| o.parse::<u64>().ok()).ok_or_else(|| QueriesError::Line {
            path: index.to_path_buf(),
            line: i as u64 + 1,
            problem: format!("expected OFFSET:PAGE_ID:TITLE, found {:?}", truncate(&line, 80)),
        })?;
        if starts.last() != Some(&offset) {
            starts.push(offset);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let mut dump_file = File::open(dump).at_path(dump)?;
    let size = dump_file.metadata().at_path(dump)?.len();
    let mut header = [0u8; HEADER_LEN];
    for &offset in &starts {
        let ok = offset + HEADER_LEN as u64 <= size
            && dump_file.seek(SeekFrom::Start(offset)).is_ok()
            && dump_file.read_exact(&mut header).is_ok()
            && is_stream_header(&header);
        if !ok {
            return Err(PathError::input(
                index,
                format!(
                    "offset {offset} is not the start of a bzip2 stream in {} (index of another dump?)",
                    dump.display()
                ),
            )
            .into());
        }
    }
    Ok(starts)
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The index file Wikimedia publishes beside a multistream dump, if it is there:
/// `X-multistream.xml.bz2` → `X-multistream-index.txt.bz2`.
pub fn index_beside(dump: &Path) -> Option<std::path::PathBuf> {
    let name = dump.file_name()?.to_str()?;
    let stem = name.strip_suffix(".xml.bz2")?;
    let candidate = dump.with_file_name(format!("{stem}-index.txt.bz2"));
    candidate.is_file().then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn compress(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn concatenated_streams_decode_and_their_starts_are_found_by_scanning() {
        let parts: Vec<Vec<u8>> = (0..5).map(|i| format!("part {i} ").repeat(1000 + i * 37).into_bytes()).collect();
        let mut file = Vec::new();
        let mut expected_starts = Vec::new();
        for part in &parts {
            expected_starts.push(file.len() as u64);
            file.extend(compress(part));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("multi.bz2");
        std::fs::write(&path, &file).unwrap();
        assert_eq!(scan_stream_starts(&path, None).unwrap(), expected_starts);

        let mut decoded = Vec::new();
        Bz2Reader::new(&file[..], 0).read_to_end(&mut decoded).unwrap();
        assert_eq!(decoded, parts.concat());
    }

    #[test]
    fn a_truncated_stream_is_an_error_with_its_offset() {
        let data = compress(&b"hello world ".repeat(5000));
        let cut = &data[..data.len() - 20];
        let err = Bz2Reader::new(cut, 0).read_to_end(&mut Vec::new()).unwrap_err();
        let fault = err.get_ref().and_then(|e| e.downcast_ref::<Bz2Fault>()).unwrap().clone();
        assert!(fault.offset > 0 && fault.offset <= cut.len() as u64, "{fault}");
        assert!(fault.problem.contains("truncated"), "{fault}");
    }

    #[test]
    fn a_header_lookalike_inside_data_is_not_a_boundary() {
        // "BZh91AY&SY" stored uncompressed inside a stream's payload does not survive compression
        // verbatim, so plant it in the compressed bytes where no end marker precedes it.
        let mut data = compress(b"abc");
        let mut fake = b"xxxxxxxxxxxxxxxxBZh91AY&SY".to_vec();
        data.append(&mut fake);
        assert!(!ends_a_stream(&data[..data.len() - 10]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bz2");
        std::fs::write(&path, &data).unwrap();
        assert_eq!(scan_stream_starts(&path, None).unwrap(), vec![0]);
    }
}
