//! wit-dedup: `wit dedup CORPUS -o OUT`, near-duplicate images of a corpus found through their
//! perceptual hash (`image_phash`, computed by fetch) and one pair kept per cluster.
//!
//! **What counts as a near duplicate**: two rows whose hashes are within `--threshold` bits
//! (Hamming distance), or whose hashes are so after mirroring one image left–right (`--mirror`,
//! on by default: the mirrored hash is a known function of the hash, see wit_imaging::phash).
//!
//! **Which row is kept** (the stated rule): a row is dropped when a near duplicate of it ranks
//! higher — more original pixels (`original_width × original_height`), then the smaller `key`,
//! then the earlier shard and row. The best row of every cluster is therefore kept; in a chain
//! A ~ B ~ C where A and C are not near, both B and C are dropped when A > B > C (a row is
//! compared with its near duplicates, not with what remains after other drops, so no step has to
//! walk a cluster in order). Each dropped row is listed with the closest higher-ranked row that
//! made it go.
//!
//! **How, without holding every hash** (multi-index hashing: modules `bands`, `search`):
//! ```text
//! send  (rank R: its shards)     one record per group each view (hash, mirror) joins (`search`:
//!                                exact band values, or every value within 1 bit of them)
//!                                → OUT/_buckets/to-bucket-B-of-N/from-rank-R.bin, bucket by group
//! pairs (bucket rank B)          external sort by (group, rank order) within --memory-budget;
//!                                every pair inside one group is compared in full; the loser of
//!                                each pair within the threshold → OUT/_drops/to-rank-R-of-N/…
//! apply (rank R)                 drops sorted by location; shards rewritten without them →
//!                                OUT/data/, the dropped rows with their keeper → OUT/_near_duplicates/
//! merge (once, N > 1)            OUT/_manifest.json lists every rank's shards
//! ```
//! Memory: the sort budget, plus one band group (rows sharing a band value) at a time.
//! World size 1 runs the four steps in one process.

pub mod bands;
pub mod error;
mod group;
pub mod rewrite;
pub mod search;

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, BooleanBuilder, StringBuilder, UInt32Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type, UInt64Type};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use wit_contract::schema::col;
use wit_contract::{Manifest, ReadOptions, RecordKind, ShardReader};
use wit_imaging::phash::{distance, mirrored};
use wit_ranks::shuffle::{bucket_of, pack, unpack, BucketWriter};
use wit_ranks::sort::read_records;
use wit_ranks::{ExternalSorter, RankOf, SortRecord};

pub use bands::{BandIndex, Bands, Match};
pub use error::{DedupError, Result};
use group::Group;
use rewrite::{filter_shard, home, input_shards, SideTable};
pub use search::{Search, SearchChoice};

/// The side table of dropped rows.
pub const NEAR_DUPLICATES_DIR: &str = "_near_duplicates";
/// The default `--threshold` of `wit dedup` (bits of 64).
pub const DEFAULT_THRESHOLD: u32 = 8;
/// The view bit of a record's location: set for the mirrored view of the row's hash.
const MIRROR_VIEW: u64 = 1 << 63;

/// Which step of a multi-rank run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    All,
    Send,
    Pairs,
    Apply,
    Merge,
}

#[derive(Debug, Clone)]
pub struct DedupConfig {
    pub corpus: PathBuf,
    pub out: PathBuf,
    pub threshold: u32,
    pub mirror: bool,
    /// How pairs are met (both schemes exact; `Auto` takes the cheaper for the corpus).
    pub search: SearchChoice,
    pub memory_budget: u64,
    pub rank: usize,
    pub world_size: usize,
    pub phase: Phase,
}

impl DedupConfig {
    pub fn new(corpus: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        DedupConfig {
            corpus: corpus.into(),
            out: out.into(),
            threshold: DEFAULT_THRESHOLD,
            mirror: true,
            search: SearchChoice::Auto,
            memory_budget: wit_ranks::DEFAULT_MEMORY_BUDGET,
            rank: 0,
            world_size: 1,
            phase: Phase::All,
        }
    }

    /// The configuration a run records: the scheme as resolved, so that ranks given different
    /// `--search` values do not merge.
    fn recorded(&self, search: &Search) -> serde_json::Value {
        serde_json::json!({
            "stage": "dedup",
            "input": wit_contract::recorded_path(&self.corpus),
            "threshold": self.threshold,
            "mirror": self.mirror,
            "search": search.describe(),
            "keep_rule": "most original pixels, then smallest key, then earliest shard and row",
        })
    }
}

/// What a run did (the steps it ran).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DedupStats {
    /// The scheme that met the pairs ([`Search::describe`]).
    #[serde(default)]
    pub search: String,
    /// Rows with a hash, and rows without one (kept, never compared).
    pub hashed: u64,
    pub unhashed: u64,
    /// Band records sorted and pairs compared in full.
    pub band_records: u64,
    pub compared: u64,
    /// Pairs within the threshold (each reported once), of them through the mirror.
    pub near_pairs: u64,
    pub mirrored_pairs: u64,
    pub kept: u64,
    pub dropped: u64,
}

/// One row's view in one group ([`Search::group_keys`]): sorted by group, then best row first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct BandRecord {
    group: u64,
    /// `!(original pixels)`: more pixels sort first.
    order: u64,
    key: u64,
    /// `pack(shard, row)`, with [`MIRROR_VIEW`] for the mirrored view.
    at: u64,
    hash: u64,
}

impl SortRecord for BandRecord {
    const WORDS: usize = 5;
    fn write_words(&self, out: &mut Vec<u8>) {
        for w in [self.group, self.order, self.key, self.at, self.hash] {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    fn from_words(w: &[u64]) -> Self {
        BandRecord { group: w[0], order: w[1], key: w[2], at: w[3], hash: w[4] }
    }
}

/// One drop: the losing row, the distance (and mirror flag) and the row that beat it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DropRecord {
    at: u64,
    /// `distance << 1 | mirrored`: the closest keeper sorts first.
    how: u64,
    winner_key: u64,
    winner_at: u64,
}

impl SortRecord for DropRecord {
    const WORDS: usize = 4;
    fn write_words(&self, out: &mut Vec<u8>) {
        for w in [self.at, self.how, self.winner_key, self.winner_at] {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    fn from_words(w: &[u64]) -> Self {
        DropRecord { at: w[0], how: w[1], winner_key: w[2], winner_at: w[3] }
    }
}

/// A key as a number: wit keys are 16 hex digits (xxh3); any other string is hashed.
fn key_number(key: &str) -> u64 {
    match u64::from_str_radix(key, 16) {
        Ok(n) if key.len() == 16 => n,
        _ => xxhash_rust::xxh3::xxh3_64(key.as_bytes()),
    }
}

/// Runs the step(s) of `config.phase`.
pub fn dedup(config: &DedupConfig) -> Result<DedupStats> {
    if config.world_size == 0 || config.rank >= config.world_size {
        return Err(DedupError::input(
            &config.out,
            format!("rank {} of world size {}", config.rank, config.world_size),
        ));
    }
    rewrite::distinct_output(&config.corpus, &config.out)?;
    let me = RankOf::new(config.rank, config.world_size);
    let (corpus, _) = input_shards(&config.corpus, me)?;
    let rows = corpus.shards.iter().map(|s| s.rows).sum();
    let search = Search::choose(config.search, config.threshold, rows, config.mirror)
        .map_err(|e| DedupError::input(&config.corpus, e))?;
    let mut stats = DedupStats { search: search.describe(), ..DedupStats::default() };
    let run = |phase: Phase| config.phase == Phase::All || config.phase == phase;
    if run(Phase::Send) {
        send(config, &search, me, &mut stats)?;
    }
    if run(Phase::Pairs) {
        pairs(config, &search, me, &mut stats)?;
    }
    if run(Phase::Apply) {
        apply(config, &search, me, &mut stats)?;
    }
    if config.phase == Phase::Merge {
        rewrite::merge(&config.out, config.world_size, config.recorded(&search), serde_json::Value::Null)?;
    }
    if config.phase == Phase::Merge || config.world_size == 1 && config.phase == Phase::All {
        rewrite::remove_stale_files(&config.out, NEAR_DUPLICATES_DIR, config.world_size)?;
    }
    if config.phase == Phase::All {
        for dir in [wit_ranks::names::BUCKETS_DIR, wit_ranks::names::DROPS_DIR] {
            let path = config.out.join(dir);
            if path.exists() {
                std::fs::remove_dir_all(&path).map_err(|e| DedupError::io(&path, e))?;
            }
        }
    }
    Ok(stats)
}

/// The columns `send` reads: no image bytes.
fn hash_columns() -> Vec<String> {
    [col::KEY, col::ORIGINAL_WIDTH, col::ORIGINAL_HEIGHT, col::IMAGE_PHASH].map(str::to_owned).to_vec()
}

fn send(config: &DedupConfig, search: &Search, me: RankOf, stats: &mut DedupStats) -> Result<()> {
    let (_, shards) = input_shards(&config.corpus, me)?;
    let mut buckets = BucketWriter::create((0..me.world_size).map(|b| me.bucket_file(&config.out, b)).collect())?;
    for (index, path) in shards {
        if index >= 1 << 31 {
            return Err(DedupError::input(&path, "more than 2^31 shards"));
        }
        let options = ReadOptions { batch_size: rewrite::BATCH * 8, columns: Some(hash_columns()) };
        let reader = ShardReader::open(&path, &options).map_err(|e| {
            DedupError::input(&path, format!("{e} (a corpus fetched before image_phash existed: fetch it again)"))
        })?;
        let mut row = 0u32;
        for batch in reader {
            let batch = batch?;
            let keys = batch.column(0).as_string::<i32>();
            let widths = batch.column(1).as_primitive::<UInt32Type>();
            let heights = batch.column(2).as_primitive::<UInt32Type>();
            let hashes = batch.column(3).as_primitive::<UInt64Type>();
            for i in 0..batch.num_rows() {
                let at = pack(index as u32, row);
                row += 1;
                if hashes.is_null(i) {
                    stats.unhashed += 1;
                    continue;
                }
                stats.hashed += 1;
                let hash = hashes.value(i);
                let order = !(widths.value(i) as u64 * heights.value(i) as u64);
                let key = key_number(keys.value(i));
                let views: &[(u64, u64)] = &[(hash, at), (mirrored(hash), at | MIRROR_VIEW)];
                for &(view, at) in &views[..if config.mirror { 2 } else { 1 }] {
                    search.group_keys(view, |group| {
                        let bucket = bucket_of(xxhash_rust::xxh3::xxh3_64(&group.to_le_bytes()), me.world_size);
                        buckets.write(bucket, &BandRecord { group, order, key, at, hash: view })
                    })?;
                }
            }
        }
    }
    Ok(buckets.finish()?)
}

fn pairs(config: &DedupConfig, search: &Search, me: RankOf, stats: &mut DedupStats) -> Result<()> {
    let spill = config.out.join(wit_ranks::names::BUCKETS_DIR).join(format!("spill-{}", me.suffix()));
    let mut sorter = ExternalSorter::<BandRecord>::new(&spill, config.memory_budget);
    for rank in 0..me.world_size {
        let path = RankOf::new(rank, me.world_size).bucket_file(&config.out, me.rank);
        if !path.exists() {
            return Err(DedupError::input(&path, format!("missing: rank {rank} has not sent its hashes")));
        }
        sorter.push_file(&path)?;
    }
    stats.band_records += sorter.entries;
    let mut outgoing = BucketWriter::create((0..me.world_size).map(|r| me.drops_file(&config.out, r)).collect())?;
    // A group may hold any number of rows (copies of one picture): a quarter of the budget is held,
    // the rest spills (module `group`).
    let limit = (config.memory_budget / 4) as usize / std::mem::size_of::<BandRecord>();
    let group_spill = config.out.join(wit_ranks::names::BUCKETS_DIR).join(format!("group-{}.bin", me.suffix()));
    let mut group = Group::<BandRecord>::new(limit, group_spill);
    let mut compare = |group: &mut Group<BandRecord>, outgoing: &mut BucketWriter| -> Result<()> {
        let Some(group_key) = group.first().map(|first| first.group) else { return Ok(()) };
        group.each_pair(|a, b| {
            stats.compared += 1;
            let d = distance(a.hash, b.hash);
            if d > config.threshold || (a.at & !MIRROR_VIEW) == (b.at & !MIRROR_VIEW) {
                return Ok(());
            }
            let (a_mirror, b_mirror) = (a.at & MIRROR_VIEW != 0, b.at & MIRROR_VIEW != 0);
            // Mirror vs mirror repeats plain vs plain; of the two mixed views, the one whose
            // mirror is of the later row reports; each pair in one group (`Search::reports_at`).
            if (a_mirror && b_mirror)
                || (a_mirror != b_mirror && ((a.at & !MIRROR_VIEW) > (b.at & !MIRROR_VIEW)) != a_mirror)
                || !search.reports_at(a.hash, b.hash, group_key)
            {
                return Ok(());
            }
            stats.near_pairs += 1;
            stats.mirrored_pairs += (a_mirror != b_mirror) as u64;
            let (loser, winner) = (b.at & !MIRROR_VIEW, a);
            let owner = unpack(loser).0 as usize % me.world_size;
            let drop = DropRecord {
                at: loser,
                how: (d as u64) << 1 | (a_mirror != b_mirror) as u64,
                winner_key: winner.key,
                winner_at: winner.at & !MIRROR_VIEW,
            };
            Ok(outgoing.write(owner, &drop)?)
        })
    };
    for record in sorter.finish()? {
        let record = record?;
        if group.first().is_some_and(|g| g.group != record.group) {
            compare(&mut group, &mut outgoing)?;
        }
        group.push(record)?;
    }
    compare(&mut group, &mut outgoing)?;
    Ok(outgoing.finish()?)
}

/// The side table's columns: the dropped row and the row it lost to.
pub fn near_duplicates_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("url", DataType::Utf8, false),
        Field::new("kept_key", DataType::Utf8, false),
        Field::new("distance", DataType::UInt32, false),
        Field::new("mirrored", DataType::Boolean, false),
        Field::new("shard", DataType::UInt32, false),
        Field::new("row", DataType::UInt32, false),
    ]))
}

fn apply(config: &DedupConfig, search: &Search, me: RankOf, stats: &mut DedupStats) -> Result<()> {
    let spill = config.out.join(wit_ranks::names::DROPS_DIR).join(format!("spill-{}", me.suffix()));
    let mut sorter = ExternalSorter::<DropRecord>::new(&spill, config.memory_budget);
    for bucket in 0..me.world_size {
        let path = RankOf::new(bucket, me.world_size).drops_file(&config.out, me.rank);
        if !path.exists() {
            return Err(DedupError::input(&path, format!("missing: bucket rank {bucket} has not finished")));
        }
        for record in read_records::<DropRecord>(&path)? {
            sorter.push(record?)?;
        }
    }
    let mut drops = sorter.finish()?.peekable();
    let (_, shards) = input_shards(&config.corpus, me)?;
    let rank_home = home(&config.out, me);
    std::fs::create_dir_all(&rank_home).map_err(|e| DedupError::io(&rank_home, e))?;
    let mut manifest = Manifest::new(RecordKind::Corpus, config.recorded(search), None);
    let mut side = SideTable::create(&config.out, NEAR_DUPLICATES_DIR, me, near_duplicates_schema())?;
    for (index, path) in shards {
        let (kept, dropped) = filter_shard(&path, index, &rank_home, &mut manifest, |batch, first_row| {
            let keys = batch
                .column_by_name(col::KEY)
                .ok_or_else(|| DedupError::input(&path, "no key column"))?
                .as_string::<i32>();
            let urls = batch
                .column_by_name(col::URL)
                .ok_or_else(|| DedupError::input(&path, "no url column"))?
                .as_string::<i32>();
            let mut mask = BooleanBuilder::with_capacity(batch.num_rows());
            let (mut key, mut url, mut kept_key) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
            let (mut dist, mut shard_col, mut row_col) =
                (UInt32Builder::new(), UInt32Builder::new(), UInt32Builder::new());
            let mut mirror = BooleanBuilder::new();
            for i in 0..batch.num_rows() {
                let at = pack(index as u32, first_row + i as u32);
                let mut best: Option<DropRecord> = None;
                while let Some(Ok(next)) = drops.peek() {
                    if next.at > at {
                        break;
                    }
                    let next = *next;
                    drops.next();
                    if next.at == at && best.is_none() {
                        best = Some(next);
                    }
                }
                if let Some(Err(_)) = drops.peek() {
                    if let Some(Err(e)) = drops.next() {
                        return Err(e.into());
                    }
                }
                mask.append_value(best.is_none());
                if let Some(drop) = best {
                    key.append_value(keys.value(i));
                    url.append_value(urls.value(i));
                    kept_key.append_value(format!("{:016x}", drop.winner_key));
                    dist.append_value((drop.how >> 1) as u32);
                    mirror.append_value(drop.how & 1 == 1);
                    let (s, r) = unpack(drop.winner_at);
                    shard_col.append_value(s);
                    row_col.append_value(r);
                }
            }
            let columns: Vec<Arc<dyn Array>> = vec![
                Arc::new(key.finish()),
                Arc::new(url.finish()),
                Arc::new(kept_key.finish()),
                Arc::new(dist.finish()),
                Arc::new(mirror.finish()),
                Arc::new(shard_col.finish()),
                Arc::new(row_col.finish()),
            ];
            let table = RecordBatch::try_new(near_duplicates_schema(), columns)
                .map_err(|e| DedupError::input(&path, e.to_string()))?;
            if table.num_rows() > 0 {
                side.write(&table)?;
            }
            let mask: BooleanArray = mask.finish();
            Ok(mask)
        })?;
        stats.kept += kept;
        stats.dropped += dropped;
    }
    side.finish()?;
    manifest.stats = serde_json::to_value(&*stats).unwrap_or_default();
    manifest.complete = true;
    manifest.save(&rank_home)?;
    Ok(())
}
