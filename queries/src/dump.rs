//! Reading dumps: which parts of which files to read, and reading them in parallel.
//!
//! A *unit* is either a group of whole bzip2 streams of a multistream dump (decoded independently,
//! so many at once) or a whole input read as one stream (plain XML, stdin, single-stream bz2, or a
//! multistream file whose streams do not start at page boundaries). Stream boundaries come from the
//! dump's index when there is one, else from scanning the file for stream headers preceded by an
//! end-of-stream marker; a file is treated as multistream when a second stream starts within its
//! first [`PROBE_BYTES`] and that stream begins with a `<page>`.
//!
//! [`for_each_article`] runs units on worker threads: stream groups are decoded by the workers
//! themselves; a whole-input unit is parsed by the calling thread (a bz2 one decoded on a thread of
//! its own, so decoding and parsing overlap), which hands batches of articles to the workers.
//! Channels are bounded, so memory stays bounded whatever the input.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::bz2::{self, Bz2Reader, Compression};
use crate::error::{QueriesError, Result};
use crate::pages::{Origin, Page, PageReader};
use wit_contract::AtPath;

/// How far into a bz2 file to look for a second stream before treating it as single-stream.
pub const PROBE_BYTES: u64 = 64 << 20;
/// The path that means standard input.
pub const STDIN: &str = "-";

/// One input dump, with its multistream index when known.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DumpInput {
    pub path: PathBuf,
    pub index: Option<PathBuf>,
}

impl DumpInput {
    pub fn is_stdin(&self) -> bool {
        self.path.as_os_str() == STDIN
    }
}

/// A piece of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// Compressed bytes `start..end` of input `input`: whole bzip2 streams holding whole pages.
    Streams { input: usize, start: u64, end: u64 },
    /// All of input `input`, read as one stream.
    Whole { input: usize },
}

/// How inputs were split, for the stats.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub units: Vec<(usize, u64, u64, bool)>,
    /// Bytes of all inputs (0 for stdin).
    pub input_bytes: u64,
    /// bzip2 streams found in multistream inputs.
    pub streams: u64,
}

fn file_len(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path).at_path(path)?.len())
}

fn head(path: &Path, n: usize) -> Result<Vec<u8>> {
    let file = File::open(path).at_path(path)?;
    let mut buf = Vec::with_capacity(n);
    file.take(n as u64).read_to_end(&mut buf).at_path(path)?;
    Ok(buf)
}

/// Whether the stream at `start` begins (after whitespace) with a page or the document's end.
fn starts_at_page_boundary(path: &Path, start: u64) -> bool {
    let Ok(mut file) = File::open(path) else { return false };
    if file.seek(SeekFrom::Start(start)).is_err() {
        return false;
    }
    let mut decoder = Bz2Reader::new(BufReader::new(file), start);
    let mut buf = vec![0u8; 256];
    let mut got = 0;
    while got < buf.len() {
        match decoder.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let text = String::from_utf8_lossy(&buf[..got]);
    let t = text.trim_start();
    t.starts_with("<page") || t.starts_with("</mediawiki") || t.is_empty()
}

/// A multistream file is cut into at least this many units (when it has the streams), so that on a
/// small file the workers still finish together. A constant, not a function of the thread count:
/// ranks share units by their index, so every rank must cut the files the same way.
pub const MIN_UNITS_PER_FILE: u64 = 16;

/// Splits the inputs into units; stream groups of about `unit_bytes` compressed bytes (less on a
/// file under `MIN_UNITS_PER_FILE × unit_bytes`).
pub fn plan(inputs: &[DumpInput], unit_bytes: u64, parallel: bool) -> Result<(Vec<Unit>, Plan)> {
    let mut units = Vec::new();
    let mut plan = Plan::default();
    for (i, input) in inputs.iter().enumerate() {
        if input.is_stdin() {
            units.push(Unit::Whole { input: i });
            continue;
        }
        let path = input.path.as_path();
        let len = file_len(path)?;
        plan.input_bytes += len;
        if !parallel || bz2::sniff(&head(path, 4)?) != Compression::Bz2 {
            units.push(Unit::Whole { input: i });
            continue;
        }
        let index = input.index.clone().or_else(|| bz2::index_beside(path));
        let starts = match &index {
            Some(index) => bz2::read_index(index, path)?,
            None => {
                let probe = bz2::scan_stream_starts(path, Some(PROBE_BYTES))?;
                if probe.len() > 1 && len > PROBE_BYTES {
                    bz2::scan_stream_starts(path, None)?
                } else {
                    probe
                }
            }
        };
        let aligned = starts.len() > 1 && starts_at_page_boundary(path, starts[1]);
        if !aligned {
            if starts.len() > 1 {
                tracing::info!(file = %path.display(), "bzip2 streams do not start at pages; reading it as one stream");
            }
            units.push(Unit::Whole { input: i });
            continue;
        }
        plan.streams += starts.len() as u64;
        let group_bytes = unit_bytes.min(len / MIN_UNITS_PER_FILE).max(1);
        let mut group_start = starts[0];
        for (k, &start) in starts.iter().enumerate().skip(1) {
            let is_last = k == starts.len() - 1;
            if start - group_start >= group_bytes {
                units.push(Unit::Streams { input: i, start: group_start, end: start });
                group_start = start;
            }
            if is_last {
                units.push(Unit::Streams { input: i, start: group_start, end: len });
            }
        }
        tracing::info!(
            file = %path.display(),
            streams = starts.len(),
            index = index.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none (scanned)".into()),
            "multistream dump: decoding streams in parallel"
        );
    }
    plan.units = units
        .iter()
        .map(|u| match *u {
            Unit::Streams { input, start, end } => (input, start, end, true),
            Unit::Whole { input } => (input, 0, 0, false),
        })
        .collect();
    Ok((units, plan))
}

/// Page tallies and bytes read, shared by all workers.
#[derive(Debug, Default)]
pub struct Tally {
    pub compressed_bytes: AtomicU64,
    pub xml_bytes: AtomicU64,
    pub pages: AtomicU64,
    pub redirects: AtomicU64,
    pub other_namespaces: AtomicU64,
    pub articles: AtomicU64,
    /// Articles left to other ranks.
    pub other_ranks: AtomicU64,
}

impl Tally {
    fn page(&self, page: &Page) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        if page.redirect {
            self.redirects.fetch_add(1, Ordering::Relaxed);
        } else if page.ns != 0 {
            self.other_namespaces.fetch_add(1, Ordering::Relaxed);
        } else {
            self.articles.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A reader that adds what it reads to a counter.
struct Counting<'a, R> {
    inner: R,
    count: &'a AtomicU64,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Bytes of decoded XML per chunk handed from a decoding thread to its parser.
const PIPE_CHUNK: usize = 1 << 20;
/// Chunks in flight between a decoding thread and its parser.
const PIPE_DEPTH: usize = 4;

/// The reading end of a decoding thread: its chunks in order, then its error (if any) — the bytes
/// and the fault a parser sees are the ones the decoder would have returned on the parser's thread.
struct Pipe {
    chunks: crossbeam_channel::Receiver<io::Result<Vec<u8>>>,
    recycle: crossbeam_channel::Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Pipe {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.current.len() && !self.done {
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    let used = std::mem::replace(&mut self.current, chunk);
                    let _ = self.recycle.try_send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => self.done = true,
            }
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.current.len());
    }
}

/// Decodes `decoder` on a thread of `scope`, so a single-stream dump is decompressed on one core
/// while it is parsed on another; decoded bytes are added to `xml_bytes` as they are produced.
fn decode_on_thread<'scope, 'env: 'scope, R: Read + Send + 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    mut decoder: R,
    xml_bytes: &'env AtomicU64,
) -> Pipe {
    let (send, chunks) = crossbeam_channel::bounded::<io::Result<Vec<u8>>>(PIPE_DEPTH);
    let (recycle, recycled) = crossbeam_channel::bounded::<Vec<u8>>(PIPE_DEPTH + 2);
    scope.spawn(move || loop {
        let mut chunk = recycled.try_recv().unwrap_or_default();
        chunk.resize(PIPE_CHUNK, 0);
        let mut filled = 0;
        let mut failure = None;
        while filled < PIPE_CHUNK {
            match decoder.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        chunk.truncate(filled);
        xml_bytes.fetch_add(filled as u64, Ordering::Relaxed);
        // A closed channel means the parser stopped (an error of its own): stop decoding.
        if filled > 0 && send.send(Ok(chunk)).is_err() {
            return;
        }
        if let Some(e) = failure {
            let _ = send.send(Err(e));
            return;
        }
        if filled == 0 {
            return;
        }
    });
    Pipe { chunks, recycle, current: Vec::new(), pos: 0, done: false }
}

/// Opens a unit as decoded XML (`fragment`: a part of a multistream document). A whole bz2 input is
/// decoded on a thread of `scope`; stream groups are decoded by the calling thread, since they are
/// already decoded in parallel, one group per worker.
fn open_unit<'scope, 'env: 'scope>(
    inputs: &'env [DumpInput],
    unit: &Unit,
    tally: &'env Tally,
    scope: &'scope std::thread::Scope<'scope, 'env>,
) -> Result<(Box<dyn BufRead + 'env>, Origin<'env>, bool)> {
    match *unit {
        Unit::Streams { input, start, end } => {
            let path = inputs[input].path.as_path();
            let mut file = File::open(path).at_path(path)?;
            file.seek(SeekFrom::Start(start)).at_path(path)?;
            let raw = Counting { inner: file.take(end - start), count: &tally.compressed_bytes };
            let decoder = Bz2Reader::new(BufReader::with_capacity(1 << 20, raw), start);
            let xml = Counting { inner: decoder, count: &tally.xml_bytes };
            Ok((Box::new(BufReader::with_capacity(1 << 20, xml)), Origin { path, base: start }, true))
        }
        Unit::Whole { input } => {
            let path = inputs[input].path.as_path();
            let raw: Box<dyn Read + Send> = if inputs[input].is_stdin() {
                Box::new(io::stdin())
            } else {
                Box::new(File::open(path).at_path(path)?)
            };
            let mut raw = BufReader::with_capacity(1 << 20, Counting { inner: raw, count: &tally.compressed_bytes });
            let head = raw.fill_buf().at_path(path)?;
            let reader: Box<dyn BufRead + 'env> = match bz2::sniff(head) {
                Compression::Bz2 => Box::new(decode_on_thread(scope, Bz2Reader::new(raw, 0), &tally.xml_bytes)),
                Compression::Plain => Box::new(BufReader::new(Counting { inner: raw, count: &tally.xml_bytes })),
            };
            Ok((reader, Origin { path, base: 0 }, false))
        }
    }
}

/// Calls `f` for every page of a unit, in order, on the calling thread.
pub fn read_unit(
    inputs: &[DumpInput],
    unit: &Unit,
    tally: &Tally,
    mut f: impl FnMut(Page) -> Result<()>,
) -> Result<()> {
    std::thread::scope(|scope| {
        let (reader, origin, fragment) = open_unit(inputs, unit, tally, scope)?;
        let mut pages = PageReader::new(reader, origin, fragment);
        while let Some(page) = pages.next_page()? {
            tally.page(&page);
            f(page)?;
        }
        Ok(())
    })
}

/// What [`for_each_article`] needs to know.
pub struct Parallel {
    pub threads: usize,
    pub rank: usize,
    pub world_size: usize,
    /// Text bytes per batch handed from a whole-input reader to the workers.
    pub batch_bytes: usize,
}

enum Job {
    Unit(usize),
    Articles(Vec<Page>),
}

/// Runs `work(state, article)` for every article (namespace 0, not a redirect) of this rank's share
/// of the units on `threads` workers, each with its own state from `init`; returns the states.
/// Rank share: stream units `i % world_size == rank`; whole inputs, articles by ordinal.
pub fn for_each_article<S: Send>(
    inputs: &[DumpInput],
    units: &[Unit],
    tally: &Tally,
    parallel: &Parallel,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, Page) -> Result<()> + Sync,
) -> Result<Vec<S>> {
    let threads = parallel.threads.max(1);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<QueriesError>> = Mutex::new(None);
    let fail = |e: QueriesError| {
        failed.store(true, Ordering::Relaxed);
        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
    };
    let (tx, rx) = crossbeam_channel::bounded::<Job>(threads * 2);
    let states = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                let (init, work, fail, failed) = (&init, &work, &fail, &failed);
                scope.spawn(move || {
                    let mut state = init();
                    for job in rx {
                        if failed.load(Ordering::Relaxed) {
                            continue; // drain
                        }
                        let done = match job {
                            Job::Unit(u) => read_unit(inputs, &units[u], tally, |page| {
                                if page.is_article() {
                                    work(&mut state, page)
                                } else {
                                    Ok(())
                                }
                            }),
                            Job::Articles(pages) => pages.into_iter().try_for_each(|page| work(&mut state, page)),
                        };
                        if let Err(e) = done {
                            fail(e);
                        }
                    }
                    state
                })
            })
            .collect();
        drop(rx);
        let world = parallel.world_size.max(1);
        let mut stream_ordinal = 0usize;
        let mut article_ordinal = 0u64;
        for (u, unit) in units.iter().enumerate() {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            match unit {
                Unit::Streams { .. } => {
                    let mine = stream_ordinal % world == parallel.rank;
                    stream_ordinal += 1;
                    if mine && tx.send(Job::Unit(u)).is_err() {
                        break;
                    }
                }
                Unit::Whole { .. } => {
                    let mut batch = Vec::new();
                    let mut batch_bytes = 0usize;
                    let read = read_unit(inputs, unit, tally, |page| {
                        if !page.is_article() {
                            return Ok(());
                        }
                        let mine = article_ordinal % world as u64 == parallel.rank as u64;
                        article_ordinal += 1;
                        if !mine {
                            tally.other_ranks.fetch_add(1, Ordering::Relaxed);
                            return Ok(());
                        }
                        batch_bytes += page.text.len();
                        batch.push(page);
                        if batch_bytes >= parallel.batch_bytes {
                            batch_bytes = 0;
                            let _ = tx.send(Job::Articles(std::mem::take(&mut batch)));
                        }
                        if failed.load(Ordering::Relaxed) {
                            return Err(QueriesError::Config("stopped after a worker's error".into()));
                        }
                        Ok(())
                    });
                    if !batch.is_empty() {
                        let _ = tx.send(Job::Articles(batch));
                    }
                    if let Err(e) = read {
                        fail(e);
                    }
                }
            }
        }
        drop(tx);
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    states.into_iter().map(|s| s.map_err(|_| QueriesError::Config("a worker thread panicked".into()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A single-stream bz2 export of `pages` articles, each with `body` as its text.
    fn export(dir: &Path, pages: usize, body: &str) -> DumpInput {
        let mut xml = String::from("<mediawiki>\n");
        for i in 0..pages {
            xml.push_str(&format!(
                "<page><title>P{i}</title><ns>0</ns><id>{i}</id><revision><text>{body} {i}</text></revision></page>\n"
            ));
        }
        xml.push_str("</mediawiki>\n");
        let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        encoder.write_all(xml.as_bytes()).unwrap();
        let path = dir.join("dump.xml.bz2");
        std::fs::write(&path, encoder.finish().unwrap()).unwrap();
        DumpInput { path, index: None }
    }

    #[test]
    fn a_whole_bz2_input_decoded_on_its_own_thread_gives_every_page_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // Over PIPE_DEPTH chunks of XML, so the decoding thread has to wait for the parser.
        let inputs = [export(dir.path(), 4000, &"word ".repeat(400))];
        let tally = Tally::default();
        let mut ids = Vec::new();
        read_unit(&inputs, &Unit::Whole { input: 0 }, &tally, |page| {
            ids.push(page.id);
            Ok(())
        })
        .unwrap();
        assert_eq!(ids, (0..4000).collect::<Vec<u64>>());
        assert!(tally.xml_bytes.load(Ordering::Relaxed) > (PIPE_DEPTH * PIPE_CHUNK) as u64);
        assert_eq!(tally.compressed_bytes.load(Ordering::Relaxed), std::fs::metadata(&inputs[0].path).unwrap().len());
    }

    #[test]
    fn a_parser_that_stops_early_stops_the_decoding_thread() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = [export(dir.path(), 4000, &"word ".repeat(400))];
        let tally = Tally::default();
        // Returns (instead of waiting forever on a decoder blocked on a full channel).
        let err = read_unit(&inputs, &Unit::Whole { input: 0 }, &tally, |page| {
            if page.id == 3 {
                return Err(QueriesError::Config("enough".into()));
            }
            Ok(())
        })
        .unwrap_err();
        assert!(err.to_string().contains("enough"), "{err}");
    }

    #[test]
    fn a_truncated_whole_bz2_input_names_the_compressed_offset_after_its_pages() {
        let dir = tempfile::tempdir().unwrap();
        let input = export(dir.path(), 3000, &"word ".repeat(400));
        let bytes = std::fs::read(&input.path).unwrap();
        std::fs::write(&input.path, &bytes[..bytes.len() * 3 / 4]).unwrap();
        let tally = Tally::default();
        let mut pages = 0;
        let err = read_unit(&[input], &Unit::Whole { input: 0 }, &tally, |_| {
            pages += 1;
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(pages > 1000, "the pages before the cut are read: {pages}");
        assert!(err.contains("compressed byte") && err.contains("dump.xml.bz2"), "{err}");
    }
}
