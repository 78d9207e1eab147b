//! The input pipeline: corpus shards → decoded, cropped u8 batches → normalised tensors on the device.
//!
//! Threads: one reader walks the shards through wit-contract's typed reader (shard order shuffled
//! per epoch with the run's seed, then split by rank/world size) and shuffles the rows window by
//! window (`shuffle_window` rows at a time, across shard boundaries); `workers` threads decode the
//! images (JPEG, PNG, WebP), take a random resized crop (open_clip's scale 0.9–1.0, ratio 3/4–4/3;
//! a centre crop for evaluation), resize to the model's size and tokenize the caption; one batcher
//! puts the samples back in reader order and fills a bounded prefetch queue of u8 batches. The
//! trainer copies a batch to the device (pinned memory and a non-blocking copy on CUDA) and
//! normalises it there with CLIP's mean and standard deviation.
//!
//! Every random choice is keyed by (seed, epoch, window, row), and every batch carries the
//! [`DataPosition`] just after its last row, so a run resumed from a checkpoint sees exactly the
//! batches an uninterrupted run would. Undecodable images are skipped and counted by reason.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use fast_image_resize::{images::Image, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};
use wit_contract::{CorpusImage, Manifest, RecordKind, RecordReader};

use crate::rng::Rng;
use crate::tokenizer::Tokenizer;

/// CLIP's per-channel pixel mean and standard deviation (RGB, on 0–1 values).
pub const CLIP_MEAN: [f64; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const CLIP_STD: [f64; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

const SHARD_ORDER: u64 = 1;
const WINDOW_ORDER: u64 = 2;
const CROP: u64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Contract(#[from] wit_contract::ContractError),
    #[error("{dir}: manifest kind is {kind}, the trainer reads corpus folders (wit fetch output)")]
    NotCorpus { dir: PathBuf, kind: String },
    #[error("{dir}: {shards} shards, {needed} needed ({why})")]
    TooFewShards { dir: PathBuf, shards: usize, needed: usize, why: String },
    #[error("{dir}: epoch {epoch} had no rows for rank {rank}")]
    Empty { dir: PathBuf, epoch: u64, rank: usize },
    #[error("{dir}: epoch {epoch}: every one of its {rows} rows was skipped ({reasons})")]
    NothingDecodes { dir: PathBuf, epoch: u64, rows: u64, reasons: String },
    #[error("input pipeline stopped: {0}")]
    Stopped(String),
}

/// Which shards of the folder a loader reads: the manifest's last `holdout` shards are held out
/// for evaluation, the others are for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Holdout,
}

#[derive(Debug, Clone)]
pub struct LoaderOptions {
    pub data: PathBuf,
    pub split: Split,
    /// Shards at the end of the manifest kept out of training.
    pub holdout_shards: usize,
    pub batch_size: usize,
    pub image_size: u32,
    pub context_length: usize,
    pub workers: usize,
    /// Batches decoded ahead of the trainer.
    pub prefetch: usize,
    /// Rows shuffled together; 1 keeps shard order.
    pub shuffle_window: usize,
    /// Shuffle shards and rows, random resized crops (training); otherwise file order and centre crops.
    pub shuffle: bool,
    pub seed: u64,
    pub rank: usize,
    pub world_size: usize,
    /// Stop after this many epochs (None: forever).
    pub epochs: Option<u64>,
    /// Where to start (a checkpoint's position, or the default: the very beginning).
    pub start: DataPosition,
    /// Whether a final batch smaller than `batch_size` is delivered (evaluation) or dropped.
    pub keep_partial_batch: bool,
}

/// Where the reader is: the window of rows being shuffled (it began at row `row` of the epoch's
/// `shard_cursor`-th shard of this rank) and how many of its rows were handed out.
///
/// `done` lists shards (indices among the training shards) that this epoch skips because they
/// were read before a resume with another world size ([`reshard`]); it is empty otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataPosition {
    pub epoch: u64,
    pub window: u64,
    pub shard_cursor: usize,
    pub row: u64,
    pub consumed: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<usize>,
}

/// One batch in host memory, as the batcher hands it over.
#[derive(Debug)]
pub struct HostBatch {
    /// (len, 3, size, size) RGB bytes, row-major.
    pub images: Vec<u8>,
    /// (len, context_length) token ids.
    pub tokens: Vec<i64>,
    pub captions: Vec<String>,
    pub query_ids: Vec<Vec<u32>>,
    /// The rows' pair keys (url + caption hash), to trace what a batch held.
    pub keys: Vec<String>,
    pub len: usize,
    /// The reader's position just after this batch's last row.
    pub position: DataPosition,
    /// Rows skipped (by reason) since the previous batch.
    pub skipped: BTreeMap<String, u64>,
}

/// The shard files of one folder, checked against its manifest.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub dir: PathBuf,
    pub shards: Vec<PathBuf>,
    pub rows: Vec<u64>,
}

impl Corpus {
    pub fn open(dir: &Path) -> Result<Self, DataError> {
        let manifest = Manifest::load(dir)?;
        if manifest.kind != RecordKind::Corpus {
            return Err(DataError::NotCorpus { dir: dir.into(), kind: manifest.kind.name().into() });
        }
        let shards = manifest.shards.iter().map(|s| dir.join(&s.file)).collect();
        let rows = manifest.shards.iter().map(|s| s.rows).collect();
        Ok(Corpus { dir: dir.into(), shards, rows })
    }

    /// The shard indices of `split` (manifest order). Training needs a shard beyond the held-out
    /// ones; evaluating a folder that is all test set (holdout = every shard) is fine.
    pub fn split(&self, split: Split, holdout: usize) -> Result<Vec<usize>, DataError> {
        let count = self.shards.len();
        let (needed, why) = match split {
            Split::Train => (holdout + 1, format!("{holdout} held out for evaluation and at least one to train on")),
            Split::Holdout => (holdout, format!("{holdout} held out for evaluation")),
        };
        if holdout > 0 && count < needed {
            return Err(DataError::TooFewShards { dir: self.dir.clone(), shards: count, needed, why });
        }
        let train = count - holdout;
        Ok(match split {
            Split::Train => (0..train).collect(),
            Split::Holdout => (train..count).collect(),
        })
    }
}

/// The running pipeline. Dropping it stops and joins its threads.
pub struct Loader {
    batches: Option<Receiver<Result<HostBatch, DataError>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Loader {
    pub fn start(options: LoaderOptions, tokenizer: Arc<Tokenizer>) -> Result<Self, DataError> {
        keep_image_buffers_on_the_heap();
        let corpus = Corpus::open(&options.data)?;
        let shards = corpus.split(options.split, options.holdout_shards)?;
        if shards.len() < options.world_size.max(1) {
            let why = format!("one per rank of world size {}", options.world_size);
            let dir = corpus.dir.clone();
            return Err(DataError::TooFewShards { dir, shards: shards.len(), needed: options.world_size, why });
        }
        let workers = options.workers.max(1);
        let (job_tx, job_rx) = bounded::<Job>(workers * 8);
        let (done_tx, done_rx) = bounded::<(u64, Outcome)>(workers * 8);
        let (batch_tx, batch_rx) = bounded(options.prefetch.max(1));
        let options = Arc::new(options);
        let mut threads = Vec::new();
        {
            let options = options.clone();
            let paths: Vec<PathBuf> = shards.iter().map(|&i| corpus.shards[i].clone()).collect();
            let dir = corpus.dir.clone();
            threads.push(spawn("wit-reader", move || read_rows(&options, &dir, &paths, &job_tx)));
        }
        for i in 0..workers {
            let (options, tokenizer, jobs, done) =
                (options.clone(), tokenizer.clone(), job_rx.clone(), done_tx.clone());
            threads.push(spawn(&format!("wit-decode-{i}"), move || decode_rows(&options, &tokenizer, &jobs, &done)));
        }
        drop((job_rx, done_tx));
        let dir = corpus.dir.clone();
        threads.push(spawn("wit-batcher", move || make_batches(&options, &dir, &done_rx, &batch_tx)));
        Ok(Loader { batches: Some(batch_rx), threads })
    }

    /// The next batch, or None when the loader's epochs are done.
    pub fn next_batch(&mut self) -> Result<Option<HostBatch>, DataError> {
        let Some(batches) = &self.batches else { return Ok(None) };
        match batches.recv() {
            Ok(Ok(batch)) => Ok(Some(batch)),
            Ok(Err(e)) => Err(e),
            Err(_) => Ok(None),
        }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        drop(self.batches.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new().name(name.into()).spawn(work).expect("spawning an input pipeline thread")
}

/// A row on its way to a decoder, numbered in reader order.
struct Job {
    seq: u64,
    work: Work,
}

enum Work {
    Row(Box<JobRow>),
    EndOfEpoch { epoch: u64, rows: u64 },
    Failed(DataError),
}

struct JobRow {
    row: CorpusImage,
    crop: Rng,
    position: DataPosition,
}

enum Outcome {
    Sample(Box<Sample>),
    Skipped { reason: String, position: DataPosition },
    EndOfEpoch { epoch: u64, rows: u64 },
    Failed(DataError),
}

struct Sample {
    image: Vec<u8>,
    tokens: Vec<i64>,
    key: String,
    caption: String,
    query_ids: Vec<u32>,
    position: DataPosition,
}

/// Rows of the epoch's shards in order, starting at (shard, row).
struct RowStream<'a> {
    paths: &'a [PathBuf],
    shard: usize,
    row: u64,
    reader: Option<RecordReader<CorpusImage>>,
}

impl<'a> RowStream<'a> {
    fn new(paths: &'a [PathBuf], shard: usize, skip: u64) -> Result<Self, DataError> {
        let mut stream = RowStream { paths, shard, row: 0, reader: None };
        for _ in 0..skip {
            if stream.next_row()?.is_none() {
                break;
            }
        }
        Ok(stream)
    }

    fn cursor(&self) -> (usize, u64) {
        (self.shard, self.row)
    }

    fn next_row(&mut self) -> Result<Option<CorpusImage>, DataError> {
        loop {
            if self.shard >= self.paths.len() {
                return Ok(None);
            }
            if self.reader.is_none() {
                self.reader = Some(RecordReader::open(&self.paths[self.shard], 256)?);
            }
            match self.reader.as_mut().and_then(Iterator::next) {
                Some(row) => {
                    self.row += 1;
                    return Ok(Some(row?));
                }
                None => {
                    self.reader = None;
                    self.shard += 1;
                    self.row = 0;
                }
            }
        }
    }
}

/// This rank's shards of `epoch`, in that epoch's order, without the `done` ones.
fn epoch_shards(options: &LoaderOptions, paths: &[PathBuf], epoch: u64, done: &[usize]) -> Vec<PathBuf> {
    let shards = rank_shards(options, paths.len(), epoch, done, options.rank, options.world_size);
    shards.into_iter().map(|i| paths[i].clone()).collect()
}

/// The indices (among `count` training shards) that `rank` of `world` reads in `epoch`: the
/// epoch's shuffled order without `done`, dealt round-robin.
fn rank_shards(
    options: &LoaderOptions,
    count: usize,
    epoch: u64,
    done: &[usize],
    rank: usize,
    world: usize,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    if options.shuffle {
        Rng::keyed(options.seed, &[SHARD_ORDER, epoch]).shuffle(&mut order);
    }
    order.retain(|i| !done.contains(i));
    order.into_iter().skip(rank).step_by(world.max(1)).collect()
}

/// The position to resume from with `options.world_size` ranks when the checkpoint's `old`
/// positions (one per old rank) were written by another number of ranks: the earliest epoch any
/// old rank was in, from its beginning, minus the shards every old rank had finished (a shard one
/// rank was half-way through is read again; no row is left out).
pub fn reshard(old: &[DataPosition], options: &LoaderOptions) -> Result<DataPosition, DataError> {
    let corpus = Corpus::open(&options.data)?;
    let count = corpus.split(options.split, options.holdout_shards)?.len();
    let epoch = old.iter().map(|p| p.epoch).min().unwrap_or(0);
    let earlier: Vec<usize> = old.iter().find(|p| p.epoch == epoch).map(|p| p.done.clone()).unwrap_or_default();
    let mut done = earlier.clone();
    for (rank, position) in old.iter().enumerate() {
        let shards = rank_shards(options, count, epoch, &earlier, rank, old.len());
        let finished = if position.epoch > epoch { shards.len() } else { position.shard_cursor.min(shards.len()) };
        done.extend_from_slice(&shards[..finished]);
    }
    done.sort_unstable();
    done.dedup();
    Ok(DataPosition { epoch, done, ..Default::default() })
}

fn read_rows(options: &LoaderOptions, dir: &Path, paths: &[PathBuf], jobs: &Sender<Job>) {
    let mut seq = 0u64;
    let mut send = |work: Work| {
        let ok = jobs.send(Job { seq, work }).is_ok();
        seq += 1;
        ok
    };
    let mut start = options.start.clone();
    loop {
        if options.epochs.is_some_and(|epochs| start.epoch >= epochs) {
            return;
        }
        let epoch = start.epoch;
        let order = epoch_shards(options, paths, epoch, &start.done);
        let mut stream = match RowStream::new(&order, start.shard_cursor, start.row) {
            Ok(stream) => stream,
            Err(e) => {
                send(Work::Failed(e));
                return;
            }
        };
        let (mut window, mut skip, mut rows) = (start.window, start.consumed, 0u64);
        loop {
            let (shard_cursor, row) = stream.cursor();
            let mut rows_of_window = Vec::with_capacity(options.shuffle_window.max(1));
            while rows_of_window.len() < options.shuffle_window.max(1) {
                match stream.next_row() {
                    Ok(Some(row)) => rows_of_window.push(Some(row)),
                    Ok(None) => break,
                    Err(e) => {
                        send(Work::Failed(e));
                        return;
                    }
                }
            }
            if rows_of_window.is_empty() {
                break;
            }
            let mut order: Vec<usize> = (0..rows_of_window.len()).collect();
            if options.shuffle {
                Rng::keyed(options.seed, &[WINDOW_ORDER, epoch, window]).shuffle(&mut order);
            }
            for (consumed, &index) in order.iter().enumerate().skip(skip as usize) {
                let Some(record) = rows_of_window[index].take() else { continue };
                let position = DataPosition {
                    epoch,
                    window,
                    shard_cursor,
                    row,
                    consumed: consumed as u64 + 1,
                    done: start.done.clone(),
                };
                let crop = Rng::keyed(options.seed, &[CROP, epoch, window, index as u64]);
                if !send(Work::Row(Box::new(JobRow { row: record, crop, position }))) {
                    return;
                }
                rows += 1;
            }
            skip = 0;
            window += 1;
        }
        let fresh_epoch = start == DataPosition { epoch, ..Default::default() };
        if rows == 0 && fresh_epoch {
            send(Work::Failed(DataError::Empty { dir: dir.into(), epoch, rank: options.rank }));
            return;
        }
        // An end-of-epoch marker lets the batcher notice an epoch in which nothing decoded.
        if !send(Work::EndOfEpoch { epoch, rows }) {
            return;
        }
        start = DataPosition { epoch: epoch + 1, ..Default::default() };
    }
}

fn decode_rows(options: &LoaderOptions, tokenizer: &Tokenizer, jobs: &Receiver<Job>, done: &Sender<(u64, Outcome)>) {
    let mut resizer = Resizer::new();
    for job in jobs.iter() {
        let outcome = match job.work {
            Work::Failed(e) => Outcome::Failed(e),
            Work::EndOfEpoch { epoch, rows } => Outcome::EndOfEpoch { epoch, rows },
            Work::Row(mut job) => {
                let size = options.image_size;
                match decode_and_crop(&job.row.image, size, options.shuffle.then_some(&mut job.crop), &mut resizer) {
                    Ok(image) => Outcome::Sample(Box::new(Sample {
                        image,
                        tokens: tokenizer.tokenize(&job.row.candidate.caption, options.context_length),
                        key: std::mem::take(&mut job.row.candidate.key),
                        caption: std::mem::take(&mut job.row.candidate.caption),
                        query_ids: std::mem::take(&mut job.row.query_ids),
                        position: job.position,
                    })),
                    Err(reason) => Outcome::Skipped { reason, position: job.position },
                }
            }
        };
        if done.send((job.seq, outcome)).is_err() {
            return;
        }
    }
}

/// Makes glibc serve the loader's per-image buffers (rasters, crops, batches: 0.1–1 MB each) from
/// its heap instead of a fresh `mmap` each time. By default every buffer over the (adaptive) mmap
/// threshold is mapped, faulted in page by page and unmapped again; at a few hundred images per
/// second per thread that kernel work costs more than the JPEG decode (`bench_input 2000 256`,
/// back to back under the same load: 398–475 → 778 img/s on one thread). Process-wide and
/// idempotent; a no-op off glibc.
fn keep_image_buffers_on_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; any value is valid to pass.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

/// Decodes `bytes` (libjpeg-turbo for JPEG, through wit-imaging as fetch does), crops (random
/// resized crop with `rng`, else the centre square) and resizes to
/// `size`×`size`; returns CHW RGB bytes, or the reason the image cannot be used.
pub fn decode_and_crop(
    bytes: &[u8],
    size: u32,
    rng: Option<&mut Rng>,
    resizer: &mut Resizer,
) -> Result<Vec<u8>, String> {
    let limits = wit_imaging::ImageOptions::default();
    let rgb = wit_imaging::decode_rgb(bytes, limits.max_pixels, limits.max_decode_bytes).map_err(|e| match e {
        wit_imaging::ImageError::NotAnImage(_) => "unsupported image format".to_owned(),
        wit_imaging::ImageError::TooManyPixels { .. } => e.to_string(),
        _ => "undecodable image".to_owned(),
    })?;
    let (width, height) = (rgb.width, rgb.height);
    if width == 0 || height == 0 {
        return Err("empty image".into());
    }
    let (left, top, crop_w, crop_h) = match rng {
        Some(rng) => random_resized_crop(width, height, rng),
        None => {
            let side = width.min(height);
            ((width - side) / 2, (height - side) / 2, side, side)
        }
    };
    let source = Image::from_vec_u8(width, height, rgb.pixels, PixelType::U8x3).map_err(|e| e.to_string())?;
    let mut target = Image::new(size, size, PixelType::U8x3);
    let resize = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom)).crop(
        left as f64,
        top as f64,
        crop_w as f64,
        crop_h as f64,
    );
    resizer.resize(&source, &mut target, &resize).map_err(|e| format!("resize: {e}"))?;
    let hwc = target.buffer();
    let plane = (size * size) as usize;
    let mut chw = vec![0u8; 3 * plane];
    interleaved_to_planes(hwc, &mut chw);
    Ok(chw)
}

/// RGB RGB … → RRR … GGG … BBB … (three sequential streams, no bounds checks in the loop).
fn interleaved_to_planes(rgb: &[u8], planes: &mut [u8]) {
    let (red, green_blue) = planes.split_at_mut(rgb.len() / 3);
    let (green, blue) = green_blue.split_at_mut(rgb.len() / 3);
    for (((pixel, r), g), b) in rgb.chunks_exact(3).zip(red).zip(green).zip(blue) {
        (*r, *g, *b) = (pixel[0], pixel[1], pixel[2]);
    }
}

/// torchvision's `RandomResizedCrop.get_params` with open_clip's training scale (0.9, 1) and the
/// default ratio (3/4, 4/3): (left, top, width, height).
pub fn random_resized_crop(width: u32, height: u32, rng: &mut Rng) -> (u32, u32, u32, u32) {
    let (scale, ratio) = ((0.9, 1.0), (3.0f64 / 4.0, 4.0f64 / 3.0));
    let area = (width * height) as f64;
    for _ in 0..10 {
        let target_area = area * rng.uniform(scale.0, scale.1);
        let aspect = rng.uniform(ratio.0.ln(), ratio.1.ln()).exp();
        let w = (target_area * aspect).sqrt().round() as u32;
        let h = (target_area / aspect).sqrt().round() as u32;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = rng.below((height - h + 1) as u64) as u32;
            let left = rng.below((width - w + 1) as u64) as u32;
            return (left, top, w, h);
        }
    }
    // Fallback: the centre crop of the whole image with the aspect ratio clamped into range.
    let in_ratio = width as f64 / height as f64;
    let (w, h) = if in_ratio < ratio.0 {
        (width, ((width as f64 / ratio.0).round() as u32).min(height))
    } else if in_ratio > ratio.1 {
        (((height as f64 * ratio.1).round() as u32).min(width), height)
    } else {
        (width, height)
    };
    ((width - w) / 2, (height - h) / 2, w.max(1), h.max(1))
}

fn make_batches(
    options: &LoaderOptions,
    dir: &Path,
    done: &Receiver<(u64, Outcome)>,
    batches: &Sender<Result<HostBatch, DataError>>,
) {
    let mut waiting: HashMap<u64, Outcome> = HashMap::new();
    let mut next = 0u64;
    let mut batch = empty_batch(options);
    let mut epoch_samples = 0u64;
    let mut epoch_skips: BTreeMap<String, u64> = BTreeMap::new();
    for (seq, outcome) in done.iter() {
        waiting.insert(seq, outcome);
        while let Some(outcome) = waiting.remove(&next) {
            next += 1;
            match outcome {
                Outcome::Sample(sample) => {
                    epoch_samples += 1;
                    batch.images.extend_from_slice(&sample.image);
                    batch.tokens.extend_from_slice(&sample.tokens);
                    batch.captions.push(sample.caption);
                    batch.keys.push(sample.key);
                    batch.query_ids.push(sample.query_ids);
                    batch.position = sample.position;
                    batch.len += 1;
                    if batch.len == options.batch_size
                        && batches.send(Ok(std::mem::replace(&mut batch, empty_batch(options)))).is_err()
                    {
                        return;
                    }
                }
                Outcome::Skipped { reason, position } => {
                    *batch.skipped.entry(reason.clone()).or_default() += 1;
                    *epoch_skips.entry(reason).or_default() += 1;
                    batch.position = position;
                }
                Outcome::EndOfEpoch { epoch, rows } => {
                    if epoch_samples == 0 && rows > 0 {
                        let reasons =
                            epoch_skips.iter().map(|(r, n)| format!("{n} {r}")).collect::<Vec<_>>().join(", ");
                        let _ = batches.send(Err(DataError::NothingDecodes { dir: dir.into(), epoch, rows, reasons }));
                        return;
                    }
                    epoch_samples = 0;
                    epoch_skips.clear();
                }
                Outcome::Failed(e) => {
                    let _ = batches.send(Err(e));
                    return;
                }
            }
        }
    }
    if options.keep_partial_batch && batch.len > 0 {
        let _ = batches.send(Ok(batch));
    }
}

fn empty_batch(options: &LoaderOptions) -> HostBatch {
    let pixels = 3 * (options.image_size * options.image_size) as usize;
    HostBatch {
        images: Vec::with_capacity(options.batch_size * pixels),
        tokens: Vec::with_capacity(options.batch_size * options.context_length),
        captions: Vec::with_capacity(options.batch_size),
        query_ids: Vec::with_capacity(options.batch_size),
        keys: Vec::with_capacity(options.batch_size),
        len: 0,
        position: options.start.clone(),
        skipped: BTreeMap::new(),
    }
}

/// Normalises u8 batches on the device: `(x / 255 − mean) / std`, computed as `x · scale + shift`
/// with `scale = 1 / (255 · std)` and `shift = −mean / std` kept there: one conversion and two
/// in-place passes over the batch, where the plain formula makes four passes and four fresh
/// batch-sized tensors (on a CPU device that was more work than decoding the JPEGs:
/// `bench_input`, "normalised on CPU" rows).
#[derive(Debug)]
pub struct DeviceFeeder {
    pub device: Device,
    scale: Tensor,
    shift: Tensor,
}

impl DeviceFeeder {
    pub fn new(device: Device) -> Self {
        let column = |values: [f64; 3]| Tensor::from_slice(&values).to_kind(Kind::Float).view([1, 3, 1, 1]).to(device);
        DeviceFeeder {
            device,
            scale: column(CLIP_STD.map(|std| 1.0 / (255.0 * std))),
            shift: column(std::array::from_fn(|c| -CLIP_MEAN[c] / CLIP_STD[c])),
        }
    }

    /// u8 images (n, 3, size, size) already on the device → normalised f32.
    pub fn normalise(&self, images: &Tensor) -> Tensor {
        let mut images = images.to_kind(Kind::Float);
        images *= &self.scale;
        images += &self.shift;
        images
    }

    /// (images as normalised f32 (len, 3, size, size), tokens (len, context)) on the device. On
    /// CUDA the u8 batch goes through pinned memory with a non-blocking copy, so the transfer
    /// overlaps the previous step's kernels.
    pub fn to_device(&self, batch: &HostBatch, image_size: i64, context_length: i64) -> (Tensor, Tensor) {
        let n = batch.len as i64;
        let images = Tensor::from_slice(&batch.images).view([n, 3, image_size, image_size]);
        let tokens = Tensor::from_slice(&batch.tokens).view([n, context_length]);
        let (images, tokens) = if self.device.is_cuda() {
            let copy = |t: Tensor, kind| t.pin_memory(self.device).to_device_(self.device, kind, true, false);
            (copy(images, Kind::Uint8), copy(tokens, Kind::Int64))
        } else {
            (images, tokens)
        };
        let images = self.normalise(&images);
        (images, tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_resized_crops_stay_inside_and_cover_most_of_the_image() {
        let mut rng = Rng::keyed(3, &[]);
        for (w, h) in [(64, 48), (10, 300), (300, 10), (1, 1), (224, 224)] {
            for _ in 0..50 {
                let (left, top, cw, ch) = random_resized_crop(w, h, &mut rng);
                assert!(cw >= 1 && ch >= 1 && left + cw <= w && top + ch <= h, "{w}x{h}: {left},{top} {cw}x{ch}");
            }
        }
        let (_, _, cw, ch) = random_resized_crop(200, 200, &mut rng);
        assert!((cw * ch) as f64 >= 0.85 * 40_000.0, "{cw}x{ch}");
    }

    #[test]
    fn planes_hold_each_channel_in_pixel_order() {
        for pixels in [0usize, 1, 15, 16, 17, 50_176 + 5] {
            let rgb: Vec<u8> = (0..3 * pixels).map(|i| (i * 7 % 251) as u8).collect();
            let mut planes = vec![0u8; rgb.len()];
            interleaved_to_planes(&rgb, &mut planes);
            for p in 0..pixels {
                for c in 0..3 {
                    assert_eq!(planes[c * pixels + p], rgb[3 * p + c], "pixel {p} channel {c} of {pixels}");
                }
            }
        }
    }

    #[test]
    fn normalising_matches_clips_formula() {
        let pixels: Vec<u8> = (0..=255u8).cycle().take(3 * 16 * 16).collect();
        let images = Tensor::from_slice(&pixels).view([1, 3, 16, 16]);
        let ours = DeviceFeeder::new(Device::Cpu).normalise(&images);
        let mean = Tensor::from_slice(&CLIP_MEAN).view([1, 3, 1, 1]);
        let std = Tensor::from_slice(&CLIP_STD).view([1, 3, 1, 1]);
        let plain = (images.to_kind(Kind::Double) / 255.0 - mean) / std;
        let error = (ours.to_kind(Kind::Double) - plain).abs().max().double_value(&[]);
        assert!(error < 1e-6, "largest difference {error}");
        assert_eq!(ours.kind(), Kind::Float);
    }

    #[test]
    fn decoding_gives_chw_bytes_and_names_bad_images() {
        let mut png = Vec::new();
        let img =
            image::RgbImage::from_fn(
                40,
                20,
                |x, _| if x < 20 { image::Rgb([255, 0, 0]) } else { image::Rgb([0, 0, 255]) },
            );
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let mut resizer = Resizer::new();
        let chw = decode_and_crop(&png, 8, None, &mut resizer).unwrap();
        assert_eq!(chw.len(), 3 * 64);
        // Centre square of a half-red, half-blue image: left half red, right half blue.
        assert!(chw[0] > 200 && chw[128] < 50, "{:?}", &chw[..8]);
        assert!(chw[7] < 50 && chw[128 + 7] > 200);
        assert_eq!(decode_and_crop(b"not an image", 8, None, &mut resizer).unwrap_err(), "unsupported image format");
        assert_eq!(decode_and_crop(&png[..60], 8, None, &mut resizer).unwrap_err(), "undecodable image");
    }
}
