//! Gzip files decoded member by member, noting where each member starts (for provenance).
//!
//! Common Crawl writes one gzip member per record, about a kilobyte compressed each. A streaming
//! inflater pays its setup per member and copies every byte through its window; libdeflate
//! ([`Inflater`]) decodes a whole member from memory into memory at once. [`GzipMembers`] keeps a
//! window of the compressed file, decodes each member whole with libdeflate into a buffer the reader
//! borrows (it is a [`BufRead`]), and refills the window when a member crosses its end. Memory stays
//! bounded: a member that does not fit in [`MAX_WINDOW`] compressed or [`MAX_MEMBER`] decompressed
//! (a plain `gzip` of a whole WARC is one such member) is streamed through flate2 instead, and so is
//! any member libdeflate rejects, so damage is reported by the streaming decoder as before (with the
//! member's offset in the file), never a panic.

use std::collections::VecDeque;
use std::ffi::c_void;
use std::io::{self, BufRead, Read};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use libdeflate_sys as ffi;

/// Largest compressed window: a member longer than this is streamed.
pub const MAX_WINDOW: usize = 4 << 20;
/// Largest member decoded whole: a member inflating to more than this is streamed.
pub const MAX_MEMBER: usize = 16 << 20;
/// Output chunk of the streaming path.
const STREAM_CHUNK: usize = 64 << 10;

/// Buffer sizes of [`GzipMembers`]: both buffers start small and double as members need, up to
/// their limits.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    first_window: usize,
    max_window: usize,
    first_output: usize,
    max_member: usize,
}

const SIZES: Sizes =
    Sizes { first_window: 1 << 20, max_window: MAX_WINDOW, first_output: 256 << 10, max_member: MAX_MEMBER };

/// Why a whole-member decode failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberError {
    /// Not a complete, valid gzip member (also: the member goes on past the input given).
    BadData,
    /// The member inflates to more than the output buffer holds.
    OutputFull,
}

/// A libdeflate decompressor (its tables allocated once, reused for every member).
pub struct Inflater(NonNull<ffi::libdeflate_decompressor>);

// SAFETY: the decompressor is plain memory owned by this value; libdeflate keeps no thread state.
unsafe impl Send for Inflater {}

impl Inflater {
    pub fn new() -> io::Result<Self> {
        // SAFETY: no arguments; a null return (out of memory) is checked.
        let raw = unsafe { ffi::libdeflate_alloc_decompressor() };
        NonNull::new(raw)
            .map(Inflater)
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "libdeflate could not allocate a decompressor"))
    }

    /// Decodes the gzip member at the start of `input` into `out`; returns (compressed bytes
    /// consumed, bytes written). Data after the member is left alone.
    pub fn gzip_member(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), MemberError> {
        let (mut used, mut written) = (0usize, 0usize);
        // SAFETY: the pointers and lengths come from live slices; libdeflate reads at most
        // `input.len()` bytes and writes at most `out.len()`.
        let result = unsafe {
            ffi::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr() as *const c_void,
                input.len(),
                out.as_mut_ptr() as *mut c_void,
                out.len(),
                &mut used,
                &mut written,
            )
        };
        match result {
            ffi::libdeflate_result_LIBDEFLATE_SUCCESS => Ok((used, written)),
            ffi::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => Err(MemberError::OutputFull),
            _ => Err(MemberError::BadData),
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
        unsafe { ffi::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

/// Where gzip members start: (offset in the decompressed stream, offset in the file), oldest
/// first, for the members the decoder has reached and the reader has not yet passed.
pub type MemberStarts = Arc<Mutex<VecDeque<(u64, u64)>>>;

/// The compressed file through a window that can grow; a [`BufRead`] over the unread part, so the
/// streaming decoder reads exactly one member from it.
struct Window<R> {
    input: R,
    bytes: Vec<u8>,
    /// Unread bytes are `bytes[pos..len]`.
    pos: usize,
    len: usize,
    /// File offset of `bytes[0]`.
    start: u64,
    /// The input has no more bytes.
    eof: bool,
    max: usize,
}

impl<R: Read> Window<R> {
    /// File offset of the next unread byte.
    fn offset(&self) -> u64 {
        self.start + self.pos as u64
    }

    fn unread(&self) -> &[u8] {
        &self.bytes[self.pos..self.len]
    }

    /// Moves the unread bytes to the front and reads until the window is full or the input ends.
    fn refill(&mut self) -> io::Result<()> {
        self.bytes.copy_within(self.pos..self.len, 0);
        self.start += self.pos as u64;
        self.len -= self.pos;
        self.pos = 0;
        while self.len < self.bytes.len() && !self.eof {
            match self.input.read(&mut self.bytes[self.len..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Makes room for more of a member that crosses the window's end; false when the window is
    /// already at its largest or the input is exhausted (the member is what there is).
    fn extend(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos == 0 && self.len == self.bytes.len() {
            if self.bytes.len() >= self.max {
                return Ok(false);
            }
            self.bytes.resize((self.bytes.len() * 2).min(self.max), 0);
        }
        self.refill()?;
        Ok(true)
    }
}

impl<R: Read> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, buf)
    }
}

/// `Read::read` of a [`BufRead`]: copies from its buffer (filled when empty) and consumes that.
fn read_buffered(reader: &mut impl BufRead, buf: &mut [u8]) -> io::Result<usize> {
    let available = reader.fill_buf()?;
    let n = available.len().min(buf.len());
    buf[..n].copy_from_slice(&available[..n]);
    reader.consume(n);
    Ok(n)
}

impl<R: Read> BufRead for Window<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.len && !self.eof {
            self.refill()?;
        }
        Ok(self.unread())
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.len);
    }
}

/// Decompresses a (multi-member) gzip file member by member, as `MultiGzDecoder` does, noting
/// where each member starts in the file and in the decompressed stream (see the module doc).
pub struct GzipMembers<R> {
    /// The compressed file; lent to `streaming` while a member streams.
    window: Option<Window<R>>,
    streaming: Option<flate2::bufread::GzDecoder<Window<R>>>,
    /// File offset of the member being streamed (for error messages).
    streaming_from: u64,
    inflater: Inflater,
    /// Decompressed bytes: `out[out_pos..out_len]` not yet read.
    out: Vec<u8>,
    out_pos: usize,
    out_len: usize,
    /// Decompressed bytes produced before `out[0]`.
    produced: u64,
    starts: MemberStarts,
    /// Compressed bytes consumed so far (for error messages).
    compressed: Arc<AtomicU64>,
    sizes: Sizes,
    /// Members that went through the streaming decoder.
    streamed: u64,
}

impl<R: Read> GzipMembers<R> {
    pub fn new(input: R) -> io::Result<Self> {
        Self::with_sizes(input, SIZES)
    }

    fn with_sizes(input: R, sizes: Sizes) -> io::Result<Self> {
        let bytes = vec![0; sizes.first_window];
        Ok(GzipMembers {
            window: Some(Window { input, bytes, pos: 0, len: 0, start: 0, eof: false, max: sizes.max_window }),
            streaming: None,
            streaming_from: 0,
            inflater: Inflater::new()?,
            out: Vec::new(),
            out_pos: 0,
            out_len: 0,
            produced: 0,
            starts: MemberStarts::default(),
            compressed: Arc::default(),
            sizes,
            streamed: 0,
        })
    }

    /// The member starts, shared: the reader pops those it has passed.
    pub fn member_starts(&self) -> MemberStarts {
        Arc::clone(&self.starts)
    }

    /// Compressed bytes consumed so far, shared.
    pub fn compressed_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.compressed)
    }

    /// Members that were too large to decode whole, or damaged, and went through flate2.
    pub fn streamed_members(&self) -> u64 {
        self.streamed
    }

    /// Fills `out` with the next decompressed bytes: the next member whole, or a chunk of the
    /// member being streamed. Leaves `out` empty at the end of the file.
    fn next_output(&mut self) -> io::Result<()> {
        self.produced += self.out_len as u64;
        (self.out_pos, self.out_len) = (0, 0);
        loop {
            if self.streaming.is_some() {
                if self.stream_chunk()? {
                    return Ok(());
                }
                continue;
            }
            let Some(window) = self.window.as_mut() else { return Ok(()) };
            if window.fill_buf()?.is_empty() {
                return Ok(());
            }
            let start = window.offset();
            self.starts.lock().unwrap_or_else(|p| p.into_inner()).push_back((self.produced, start));
            self.compressed.store(start, Ordering::Relaxed);
            if self.out.is_empty() {
                self.out.resize(self.sizes.first_output, 0);
            }
            loop {
                let window = self.window.as_mut().expect("not streaming");
                match self.inflater.gzip_member(window.unread(), &mut self.out) {
                    Ok((used, written)) => {
                        window.consume(used);
                        self.out_len = written;
                        self.compressed.store(window.offset(), Ordering::Relaxed);
                        break;
                    }
                    Err(MemberError::OutputFull) if self.out.len() < self.sizes.max_member => {
                        let grown = (self.out.len() * 2).min(self.sizes.max_member);
                        self.out.resize(grown, 0);
                    }
                    Err(MemberError::BadData) if window.extend()? => {}
                    Err(_) => {
                        // Too large to decode whole, or damaged: the streaming decoder reads
                        // it (and names what is wrong).
                        let window = self.window.take().expect("not streaming");
                        self.streaming_from = start;
                        self.streamed += 1;
                        self.streaming = Some(flate2::bufread::GzDecoder::new(window));
                        break;
                    }
                }
            }
            if self.out_len > 0 {
                return Ok(());
            }
        }
    }

    /// Streams the next chunk of the member being streamed into `out`; false when the member
    /// ended (the window is back for the next member).
    fn stream_chunk(&mut self) -> io::Result<bool> {
        let decoder = self.streaming.as_mut().expect("streaming");
        if self.out.len() < STREAM_CHUNK {
            self.out.resize(STREAM_CHUNK, 0);
        }
        let read = decoder.read(&mut self.out);
        let consumed = decoder.get_ref().offset();
        self.compressed.store(consumed, Ordering::Relaxed);
        match read {
            Ok(0) => {
                let decoder = self.streaming.take().expect("streaming");
                self.window = Some(decoder.into_inner());
                Ok(false)
            }
            Ok(n) => {
                self.out_len = n;
                Ok(true)
            }
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("gzip member starting at compressed byte {}: {e}", self.streaming_from),
            )),
        }
    }
}

impl<R: Read> Read for GzipMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, buf)
    }
}

impl<R: Read> BufRead for GzipMembers<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.out_pos == self.out_len {
            self.next_output()?;
        }
        Ok(&self.out[self.out_pos..self.out_len])
    }

    fn consume(&mut self, amt: usize) {
        self.out_pos = (self.out_pos + amt).min(self.out_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Text of `len` bytes; `noisy` makes it incompressible.
    fn text(len: usize, seed: u64, noisy: bool) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if noisy {
                    state as u8
                } else {
                    b"the quick brown fox jumps over the lazy dog "[(i + (state % 3) as usize) % 44]
                }
            })
            .collect()
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    /// A multi-member file: (file, member starts in the file, each member's text).
    fn file(members: &[Vec<u8>]) -> (Vec<u8>, Vec<u64>, Vec<&[u8]>) {
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        for member in members {
            starts.push(bytes.len() as u64);
            bytes.extend(gz(member));
        }
        (bytes, starts, members.iter().map(Vec::as_slice).collect())
    }

    /// Small buffers, so members cross the window, grow both buffers and overflow both limits.
    const SMALL: Sizes = Sizes { first_window: 64, max_window: 4096, first_output: 16, max_member: 64 << 10 };

    fn decode(bytes: &[u8], sizes: Sizes) -> (io::Result<Vec<u8>>, Vec<(u64, u64)>, u64) {
        let mut members = GzipMembers::with_sizes(bytes, sizes).unwrap();
        let mut out = Vec::new();
        let result = members.read_to_end(&mut out).map(|_| out);
        let starts = members.member_starts().lock().unwrap().iter().copied().collect();
        (result, starts, members.streamed_members())
    }

    #[test]
    fn members_decode_whole_or_streamed_with_their_exact_starts() {
        let members = vec![
            text(300, 1, false),
            Vec::new(),
            text(5000, 2, false),
            text(200_000, 3, false), // inflates past SMALL's max_member
            text(20_000, 4, true),   // compressed, longer than SMALL's max_window
            text(1, 5, false),
            text(70_000, 6, false),
        ];
        let (bytes, file_starts, texts) = file(&members);
        let want: Vec<u8> = texts.concat();
        let mut produced = 0u64;
        let want_starts: Vec<(u64, u64)> = texts
            .iter()
            .zip(&file_starts)
            .map(|(t, &at)| {
                produced += t.len() as u64;
                (produced - t.len() as u64, at)
            })
            .collect();
        for (sizes, want_streamed) in [(SIZES, 0), (SMALL, 3)] {
            let (out, starts, streamed) = decode(&bytes, sizes);
            assert!(out.unwrap() == want, "{sizes:?}");
            assert_eq!(starts, want_starts, "{sizes:?}");
            assert_eq!(streamed, want_streamed, "{sizes:?}");
            // Reading through std's MultiGzDecoder agrees.
            let mut reference = Vec::new();
            flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut reference).unwrap();
            assert!(reference == want);
        }
    }

    #[test]
    fn truncated_or_damaged_files_are_errors_naming_the_member_never_panics_or_wrong_bytes() {
        let members = vec![text(200, 7, false), text(900, 8, true), text(400, 9, false)];
        let (bytes, file_starts, texts) = file(&members);
        let member_of = |at: usize| file_starts.iter().rposition(|&s| s as usize <= at).unwrap();
        let ends: Vec<usize> = file_starts.iter().skip(1).map(|&s| s as usize).chain([bytes.len()]).collect();
        for sizes in [SIZES, SMALL] {
            for cut in 0..bytes.len() {
                let (out, _, _) = decode(&bytes[..cut], sizes);
                match out {
                    Ok(out) => {
                        let whole = ends.iter().filter(|&&end| end <= cut).count();
                        assert!(cut == 0 || ends.contains(&cut), "cut at {cut} read as complete");
                        assert!(out == texts[..whole].concat(), "cut at {cut}");
                    }
                    Err(e) => {
                        let named = format!("gzip member starting at compressed byte {}", file_starts[member_of(cut)]);
                        assert!(e.to_string().contains(&named), "cut at {cut}: {e}");
                    }
                }
            }
            for at in 0..bytes.len() {
                let mut damaged = bytes.clone();
                damaged[at] ^= 0x55;
                let (out, _, _) = decode(&damaged, sizes);
                match out {
                    // Header fields that do not touch the data (MTIME, XFL, OS).
                    Ok(out) => assert!(out == texts.concat(), "damage at {at} gave other bytes"),
                    Err(e) => {
                        let named = format!("gzip member starting at compressed byte {}", file_starts[member_of(at)]);
                        assert!(e.to_string().contains(&named), "damage at {at}: {e}");
                    }
                }
            }
        }
    }
}
