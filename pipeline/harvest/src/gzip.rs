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
/// First window size; it grows (doubling) only for members that do not fit.
const FIRST_WINDOW: usize = 1 << 20;
/// First output buffer; it grows (doubling) to the largest member seen, up to [`MAX_MEMBER`].
const FIRST_OUTPUT: usize = 256 << 10;
/// Output chunk of the streaming path.
const STREAM_CHUNK: usize = 64 << 10;

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
        NonNull::new(raw).map(Inflater).ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "libdeflate"))
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
            if self.bytes.len() >= MAX_WINDOW {
                return Ok(false);
            }
            self.bytes.resize((self.bytes.len() * 2).min(MAX_WINDOW), 0);
        }
        self.refill()?;
        Ok(true)
    }
}

impl<R: Read> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let unread = self.fill_buf()?;
            let n = unread.len().min(buf.len());
            buf[..n].copy_from_slice(&unread[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
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
}

impl<R: Read> GzipMembers<R> {
    pub fn new(input: R) -> io::Result<Self> {
        Ok(GzipMembers {
            window: Some(Window { input, bytes: vec![0; FIRST_WINDOW], pos: 0, len: 0, start: 0, eof: false }),
            streaming: None,
            streaming_from: 0,
            inflater: Inflater::new()?,
            out: Vec::new(),
            out_pos: 0,
            out_len: 0,
            produced: 0,
            starts: MemberStarts::default(),
            compressed: Arc::default(),
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
                self.out.resize(FIRST_OUTPUT, 0);
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
                    Err(MemberError::OutputFull) if self.out.len() < MAX_MEMBER => {
                        let grown = (self.out.len() * 2).min(MAX_MEMBER);
                        self.out.resize(grown, 0);
                    }
                    Err(MemberError::BadData) if window.extend()? => {}
                    Err(_) => {
                        // Too large to decode whole, or damaged: the streaming decoder reads
                        // it (and names what is wrong).
                        let window = self.window.take().expect("not streaming");
                        self.streaming_from = start;
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
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(buf.len());
            buf[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
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
