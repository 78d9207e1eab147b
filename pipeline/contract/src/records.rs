//! The typed rows of each record kind and their conversion to and from Arrow record batches.
//!
//! Stages work with these structs; only this module knows how they map onto columns. Reading
//! checks every required value and names the row and column of a null instead of inventing a value.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Float64Array, Float64Builder, StringBuilder, TimestampMicrosecondBuilder,
    UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType, UInt16Type, UInt64Type};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::columns::{
    append_query_ids, column, lists_of_u32, optional_u64s, query_ids_builder, require, required_string, required_u32,
    required_u32_list, strings, u32s, CandidateBuilder, CandidateColumns,
};
use crate::error::{ContractError, Result};
use crate::schema::{col, RecordKind, TIMEZONE};

/// A typed row of one record kind.
pub trait Record: Sized {
    const KIND: RecordKind;

    /// One record batch holding `rows` in the kind's schema.
    fn to_batch(rows: &[Self]) -> Result<RecordBatch>;

    /// The rows of `batch`. Extra columns are ignored; a missing column or a null in a required
    /// column is an error naming it.
    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>>;
}

/// Where a dictionary query came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuerySource {
    Unigram,
    Bigram,
    Title,
    Wordnet,
}

impl QuerySource {
    pub const ALL: [QuerySource; 4] =
        [QuerySource::Unigram, QuerySource::Bigram, QuerySource::Title, QuerySource::Wordnet];

    pub fn name(self) -> &'static str {
        match self {
            QuerySource::Unigram => "unigram",
            QuerySource::Bigram => "bigram",
            QuerySource::Title => "title",
            QuerySource::Wordnet => "wordnet",
        }
    }
}

impl fmt::Display for QuerySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for QuerySource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        QuerySource::ALL
            .into_iter()
            .find(|source| source.name() == s)
            .ok_or_else(|| format!("unknown query source {s:?} (expected unigram, bigram, title or wordnet)"))
    }
}

/// One entry of the query dictionary.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryEntry {
    pub id: u32,
    pub query: String,
    pub source: QuerySource,
    /// Occurrences in the counted text (0 where the source does not count, e.g. WordNet).
    pub count: u64,
    /// log2(c12·N / (c1·c2)) for bigrams; None for the other sources.
    pub pmi: Option<f64>,
}

/// A candidate (image URL, text, page URL) pair, as harvest produces it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// [`crate::pair_key`] of (url, caption).
    pub key: String,
    pub url: String,
    pub caption: String,
    pub page_url: Option<String>,
    /// What produced the pair: `wat`, `warc`, `list` or `crawl`.
    pub source: String,
    /// whatlang's ISO 639-3 code, when it detected one.
    pub lang: Option<String>,
    pub lang_conf: Option<f32>,
    /// Where harvest found the pair (all null for pairs from elsewhere).
    pub provenance: Provenance,
}

/// Where a pair came from, so that any row of a corpus can be traced back to its source record:
/// columns `source_file`, `source_offset`, `source_record_id` and `source_row`, nullable, after the
/// pair's own columns in every pair-shaped kind (files written before them read as nulls).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The input as harvest recorded it: its path, or the URL it was downloaded from.
    pub file: Option<String>,
    /// WARC and WAT inputs: the byte offset, in the file as stored, where the record starts; in a
    /// gzip file, where the gzip member holding the record's first byte starts (with one member
    /// per record, Common Crawl's layout, that is the record's own offset: a range read from there
    /// decompresses exactly the record).
    pub offset: Option<u64>,
    /// WARC and WAT inputs: the record's `WARC-Record-ID` (WAT: of the metadata record), when it
    /// has one.
    pub record_id: Option<String>,
    /// URL lists: the 1-based data row (header not counted; for jsonl and txt, the line number).
    pub row: Option<u64>,
    /// Harvest's page-level opt-out check (column `page_opt_out`, see [`crate::trust`]): the
    /// opt-out directives the page carried that were not configured to drop it, comma-separated;
    /// empty when the page carried none; null when there was no page to check (URL lists).
    pub page_opt_out: Option<String>,
}

/// A candidate that matched dictionary queries, with the probability curate kept it with.
#[derive(Debug, Clone, PartialEq)]
pub struct CuratedPair {
    pub candidate: Candidate,
    pub query_ids: Vec<u32>,
    pub keep_prob: f64,
}

/// A downloaded, checked and re-encoded image with its pair: one row of a corpus shard.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusImage {
    pub candidate: Candidate,
    pub query_ids: Vec<u32>,
    pub width: u32,
    pub height: u32,
    pub original_width: u32,
    pub original_height: u32,
    /// The encoded image (see `image_format`).
    pub image: Vec<u8>,
    /// `jpeg`, `png` or `webp`.
    pub image_format: String,
    /// xxh3-64 of the original downloaded bytes (before re-encoding), for duplicate detection.
    pub image_xxh3: u64,
    /// Microseconds since the Unix epoch, UTC.
    pub fetched_at_us: i64,
    /// Perceptual hash of the decoded image (`image_phash`; None in corpora written before it).
    pub image_phash: Option<u64>,
}

/// A pair the fetch stage could not turn into a corpus row.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub candidate: Candidate,
    pub query_ids: Vec<u32>,
    /// img2dataset-style status, e.g. `failed_to_download`, `failed_to_resize`, `opted_out`.
    pub status: String,
    pub error_message: String,
    pub http_status: Option<u16>,
    /// Microseconds since the Unix epoch, UTC.
    pub fetched_at_us: i64,
}

/// How many candidates matched one query, and how many of those curate kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryCount {
    pub id: u32,
    pub query: String,
    pub matched: u64,
    pub kept: u64,
}

fn batch(kind: RecordKind, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(kind.schema(), columns)?)
}

pub(crate) fn timestamps(batch: &RecordBatch, name: &str) -> Result<arrow::array::TimestampMicrosecondArray> {
    let to = DataType::Timestamp(TimeUnit::Microsecond, Some(TIMEZONE.into()));
    Ok(column(batch, name, &to)?.as_primitive::<TimestampMicrosecondType>().clone())
}

pub(crate) fn timestamp_builder(rows: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(rows).with_timezone(TIMEZONE)
}

impl Record for QueryEntry {
    const KIND: RecordKind = RecordKind::Queries;

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let mut id = UInt32Builder::with_capacity(rows.len());
        let mut query = StringBuilder::with_capacity(rows.len(), rows.len() * 12);
        let mut source = StringBuilder::with_capacity(rows.len(), rows.len() * 7);
        let mut count = UInt64Builder::with_capacity(rows.len());
        let mut pmi = Float64Builder::with_capacity(rows.len());
        for row in rows {
            id.append_value(row.id);
            query.append_value(&row.query);
            source.append_value(row.source.name());
            count.append_value(row.count);
            pmi.append_option(row.pmi);
        }
        batch(
            Self::KIND,
            vec![
                Arc::new(id.finish()),
                Arc::new(query.finish()),
                Arc::new(source.finish()),
                Arc::new(count.finish()),
                Arc::new(pmi.finish()),
            ],
        )
    }

    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>> {
        let id = u32s(batch, col::ID)?;
        let query = strings(batch, col::QUERY)?;
        let source = strings(batch, col::SOURCE)?;
        let count = column(batch, col::COUNT, &DataType::UInt64)?;
        let count = count.as_primitive::<UInt64Type>();
        let pmi = column(batch, col::PMI, &DataType::Float64)?;
        let pmi: &Float64Array = pmi.as_primitive::<Float64Type>();
        (0..batch.num_rows())
            .map(|row| {
                let source_name = required_string(&source, row, col::SOURCE)?;
                let source = source_name.parse().map_err(|problem| ContractError::Value {
                    row,
                    column: col::SOURCE.into(),
                    problem,
                })?;
                require(count, row, col::COUNT)?;
                Ok(QueryEntry {
                    id: required_u32(&id, row, col::ID)?,
                    query: required_string(&query, row, col::QUERY)?,
                    source,
                    count: count.value(row),
                    pmi: (!pmi.is_null(row)).then(|| pmi.value(row)),
                })
            })
            .collect()
    }
}

impl Record for QueryCount {
    const KIND: RecordKind = RecordKind::QueryCounts;

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let mut id = UInt32Builder::with_capacity(rows.len());
        let mut query = StringBuilder::with_capacity(rows.len(), rows.len() * 12);
        let mut matched = UInt64Builder::with_capacity(rows.len());
        let mut kept = UInt64Builder::with_capacity(rows.len());
        for row in rows {
            id.append_value(row.id);
            query.append_value(&row.query);
            matched.append_value(row.matched);
            kept.append_value(row.kept);
        }
        batch(
            Self::KIND,
            vec![Arc::new(id.finish()), Arc::new(query.finish()), Arc::new(matched.finish()), Arc::new(kept.finish())],
        )
    }

    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>> {
        let id = u32s(batch, col::ID)?;
        let query = strings(batch, col::QUERY)?;
        let matched = column(batch, col::MATCHED, &DataType::UInt64)?;
        let matched = matched.as_primitive::<UInt64Type>();
        let kept = column(batch, col::KEPT, &DataType::UInt64)?;
        let kept = kept.as_primitive::<UInt64Type>();
        (0..batch.num_rows())
            .map(|row| {
                require(matched, row, col::MATCHED)?;
                require(kept, row, col::KEPT)?;
                Ok(QueryCount {
                    id: required_u32(&id, row, col::ID)?,
                    query: required_string(&query, row, col::QUERY)?,
                    matched: matched.value(row),
                    kept: kept.value(row),
                })
            })
            .collect()
    }
}

impl Record for Candidate {
    const KIND: RecordKind = RecordKind::Candidates;

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let mut pair = CandidateBuilder::with_capacity(rows.len());
        rows.iter().for_each(|row| pair.append(row));
        let mut columns = pair.finish();
        // No language decision: the candidates kind's decision columns are null.
        columns.extend(crate::harvested::LanguageBuilder::nulls(rows.len()));
        batch(Self::KIND, columns)
    }

    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>> {
        let pair = CandidateColumns::new(batch)?;
        (0..batch.num_rows()).map(|row| pair.row(row)).collect()
    }
}

impl Record for CuratedPair {
    const KIND: RecordKind = RecordKind::Curated;

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let mut pair = CandidateBuilder::with_capacity(rows.len());
        let mut query_ids = query_ids_builder(rows.len());
        let mut keep_prob = Float64Builder::with_capacity(rows.len());
        for row in rows {
            pair.append(&row.candidate);
            append_query_ids(&mut query_ids, &row.query_ids);
            keep_prob.append_value(row.keep_prob);
        }
        let mut columns = pair.finish();
        columns.push(Arc::new(query_ids.finish()));
        columns.push(Arc::new(keep_prob.finish()));
        batch(Self::KIND, columns)
    }

    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>> {
        let pair = CandidateColumns::new(batch)?;
        let query_ids = lists_of_u32(batch, col::QUERY_IDS)?;
        let keep_prob = column(batch, col::KEEP_PROB, &DataType::Float64)?;
        let keep_prob = keep_prob.as_primitive::<Float64Type>();
        (0..batch.num_rows())
            .map(|row| {
                require(keep_prob, row, col::KEEP_PROB)?;
                Ok(CuratedPair {
                    candidate: pair.row(row)?,
                    query_ids: required_u32_list(&query_ids, row, col::QUERY_IDS)?,
                    keep_prob: keep_prob.value(row),
                })
            })
            .collect()
    }
}

impl Record for CorpusImage {
    const KIND: RecordKind = RecordKind::Corpus;

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let n = rows.len();
        let mut pair = CandidateBuilder::with_capacity(n);
        let mut query_ids = query_ids_builder(n);
        let [mut width, mut height, mut original_width, mut original_height] =
            std::array::from_fn(|_| UInt32Builder::with_capacity(n));
        let image_bytes = rows.iter().map(|row| row.image.len()).sum();
        let mut image = BinaryBuilder::with_capacity(n, image_bytes);
        let mut image_format = StringBuilder::with_capacity(n, n * 4);
        let mut image_xxh3 = UInt64Builder::with_capacity(n);
        let mut fetched_at = timestamp_builder(n);
        let mut image_phash = UInt64Builder::with_capacity(n);
        for row in rows {
            pair.append(&row.candidate);
            append_query_ids(&mut query_ids, &row.query_ids);
            image_phash.append_option(row.image_phash);
            width.append_value(row.width);
            height.append_value(row.height);
            original_width.append_value(row.original_width);
            original_height.append_value(row.original_height);
            image.append_value(&row.image);
            image_format.append_value(&row.image_format);
            image_xxh3.append_value(row.image_xxh3);
            fetched_at.append_value(row.fetched_at_us);
        }
        let mut columns = pair.finish();
        columns.extend([
            Arc::new(query_ids.finish()) as ArrayRef,
            Arc::new(width.finish()),
            Arc::new(height.finish()),
            Arc::new(original_width.finish()),
            Arc::new(original_height.finish()),
            Arc::new(image.finish()),
            Arc::new(image_format.finish()),
            Arc::new(image_xxh3.finish()),
            Arc::new(fetched_at.finish()),
            Arc::new(image_phash.finish()),
        ]);
        // No audit: the trust columns are null (`crate::trust::AuditedImage` writes them).
        columns.extend(crate::trust::AuditBuilder::nulls(n));
        columns.extend(crate::trust::HashBuilder::nulls(n));
        batch(Self::KIND, columns)
    }

    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>> {
        let pair = CandidateColumns::new(batch)?;
        let query_ids = lists_of_u32(batch, col::QUERY_IDS)?;
        let width = u32s(batch, col::WIDTH)?;
        let height = u32s(batch, col::HEIGHT)?;
        let original_width = u32s(batch, col::ORIGINAL_WIDTH)?;
        let original_height = u32s(batch, col::ORIGINAL_HEIGHT)?;
        let image = column(batch, col::IMAGE, &DataType::Binary)?;
        let image = image.as_binary::<i32>();
        let image_format = strings(batch, col::IMAGE_FORMAT)?;
        let image_xxh3 = column(batch, col::IMAGE_XXH3, &DataType::UInt64)?;
        let image_xxh3 = image_xxh3.as_primitive::<UInt64Type>();
        let fetched_at = timestamps(batch, col::FETCHED_AT)?;
        let image_phash = optional_u64s(batch, col::IMAGE_PHASH)?;
        (0..batch.num_rows())
            .map(|row| {
                require(image, row, col::IMAGE)?;
                require(image_xxh3, row, col::IMAGE_XXH3)?;
                require(&fetched_at, row, col::FETCHED_AT)?;
                Ok(CorpusImage {
                    candidate: pair.row(row)?,
                    query_ids: required_u32_list(&query_ids, row, col::QUERY_IDS)?,
                    width: required_u32(&width, row, col::WIDTH)?,
                    height: required_u32(&height, row, col::HEIGHT)?,
                    original_width: required_u32(&original_width, row, col::ORIGINAL_WIDTH)?,
                    original_height: required_u32(&original_height, row, col::ORIGINAL_HEIGHT)?,
                    image: image.value(row).to_vec(),
                    image_format: required_string(&image_format, row, col::IMAGE_FORMAT)?,
                    image_xxh3: image_xxh3.value(row),
                    fetched_at_us: fetched_at.value(row),
                    image_phash: image_phash.as_ref().and_then(|a| a.is_valid(row).then(|| a.value(row))),
                })
            })
            .collect()
    }
}

impl Record for Failure {
    const KIND: RecordKind = RecordKind::Failures;

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let n = rows.len();
        let mut pair = CandidateBuilder::with_capacity(n);
        let mut query_ids = query_ids_builder(n);
        let mut status = StringBuilder::with_capacity(n, n * 18);
        let mut error_message = StringBuilder::with_capacity(n, n * 40);
        let mut http_status = UInt16Builder::with_capacity(n);
        let mut fetched_at = timestamp_builder(n);
        for row in rows {
            pair.append(&row.candidate);
            append_query_ids(&mut query_ids, &row.query_ids);
            status.append_value(&row.status);
            error_message.append_value(&row.error_message);
            http_status.append_option(row.http_status);
            fetched_at.append_value(row.fetched_at_us);
        }
        let mut columns = pair.finish();
        columns.extend([
            Arc::new(query_ids.finish()) as ArrayRef,
            Arc::new(status.finish()),
            Arc::new(error_message.finish()),
            Arc::new(http_status.finish()),
            Arc::new(fetched_at.finish()),
        ]);
        // No audit: the trust columns are null (`crate::trust::AuditedFailure` writes them).
        columns.extend(crate::trust::AuditBuilder::nulls(n));
        batch(Self::KIND, columns)
    }

    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>> {
        let pair = CandidateColumns::new(batch)?;
        let query_ids = lists_of_u32(batch, col::QUERY_IDS)?;
        let status = strings(batch, col::STATUS)?;
        let error_message = strings(batch, col::ERROR_MESSAGE)?;
        let http_status = column(batch, col::HTTP_STATUS, &DataType::UInt16)?;
        let http_status = http_status.as_primitive::<UInt16Type>();
        let fetched_at = timestamps(batch, col::FETCHED_AT)?;
        (0..batch.num_rows())
            .map(|row| {
                require(&fetched_at, row, col::FETCHED_AT)?;
                Ok(Failure {
                    candidate: pair.row(row)?,
                    query_ids: required_u32_list(&query_ids, row, col::QUERY_IDS)?,
                    status: required_string(&status, row, col::STATUS)?,
                    error_message: required_string(&error_message, row, col::ERROR_MESSAGE)?,
                    http_status: (!http_status.is_null(row)).then(|| http_status.value(row)),
                    fetched_at_us: fetched_at.value(row),
                })
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::{Field, Schema};

    pub(crate) fn candidate(i: usize) -> Candidate {
        let url = format!("http://127.0.0.1/img/{i}.jpg");
        let caption = format!("a red cube number {i}");
        Candidate {
            key: crate::pair_key(&url, &caption),
            url,
            caption,
            page_url: i.is_multiple_of(2).then(|| format!("http://127.0.0.1/page/{i}.html")),
            source: "warc".into(),
            lang: (!i.is_multiple_of(3)).then(|| "eng".into()),
            lang_conf: (!i.is_multiple_of(3)).then_some(0.5 + i as f32 / 1000.0),
            provenance: Provenance {
                file: (i % 2 == 1).then(|| format!("s3://bucket/CC-MAIN-{i}.warc.gz")),
                offset: (i % 3 != 1).then_some(1 << 33 | i as u64),
                record_id: (i % 4 != 2).then(|| format!("<urn:uuid:{i:08}-0000-0000-0000-000000000000>")),
                row: i.is_multiple_of(5).then_some(i as u64 + 1),
                page_opt_out: i.is_multiple_of(2).then(|| ["", "noindex"][i % 4 / 2].to_owned()),
            },
        }
    }

    fn round_trip<T: Record + PartialEq + fmt::Debug>(rows: Vec<T>) {
        let batch = T::to_batch(&rows).unwrap();
        assert_eq!(batch.schema(), T::KIND.schema());
        assert_eq!(T::from_batch(&batch).unwrap(), rows);
    }

    #[test]
    fn every_kind_round_trips_through_a_batch() {
        round_trip(vec![
            QueryEntry { id: 0, query: "hot dog".into(), source: QuerySource::Bigram, count: 412, pmi: Some(9.25) },
            QueryEntry { id: 1, query: "dog".into(), source: QuerySource::Unigram, count: 9000, pmi: None },
        ]);
        round_trip((0..7).map(candidate).collect());
        round_trip(vec![QueryCount { id: 3, query: "hot dog".into(), matched: 41_000, kept: 20_000 }]);
        round_trip(
            (0..7)
                .map(|i| CuratedPair { candidate: candidate(i), query_ids: vec![i as u32, 7], keep_prob: 0.25 })
                .collect(),
        );
        round_trip(
            (0..5)
                .map(|i| CorpusImage {
                    candidate: candidate(i),
                    query_ids: (0..i as u32).collect(),
                    width: 256,
                    height: 192,
                    original_width: 1024,
                    original_height: 768,
                    image: vec![0xff, 0xd8, i as u8],
                    image_format: "jpeg".into(),
                    image_xxh3: u64::MAX - i as u64,
                    fetched_at_us: 1_790_000_000_000_000 + i as i64,
                    image_phash: (i % 2 == 0).then_some(0x8000_0000_0000_0000 | i as u64),
                })
                .collect(),
        );
        round_trip(
            (0..5)
                .map(|i| Failure {
                    candidate: candidate(i),
                    query_ids: vec![3],
                    status: "failed_to_download".into(),
                    error_message: format!("HTTP {}", 400 + i),
                    http_status: (i > 0).then_some(400 + i as u16),
                    fetched_at_us: 1,
                })
                .collect(),
        );
    }

    #[test]
    fn a_null_in_a_required_column_names_row_and_column() {
        let good = Candidate::to_batch(&[candidate(0), candidate(1)]).unwrap();
        let mut columns = good.columns().to_vec();
        let url_index = good.schema().index_of(col::URL).unwrap();
        columns[url_index] = Arc::new(StringArray::from(vec![Some("http://a/1.jpg"), None]));
        let fields: Vec<Field> =
            good.schema().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        let bad = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let err = Candidate::from_batch(&bad).unwrap_err().to_string();
        assert!(err.contains("row 1") && err.contains("`url`"), "{err}");
    }

    #[test]
    fn a_missing_column_is_named() {
        let batch = Candidate::to_batch(&[candidate(0)]).unwrap();
        let err = CuratedPair::from_batch(&batch).unwrap_err().to_string();
        assert!(err.contains("query_ids") && err.contains("missing"), "{err}");
    }

    #[test]
    fn large_strings_are_read_as_strings() {
        let batch = Candidate::to_batch(&[candidate(4)]).unwrap();
        let schema = batch.schema();
        let columns = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| match field.data_type() {
                DataType::Utf8 => arrow::compute::cast(column, &DataType::LargeUtf8).unwrap(),
                _ => Arc::clone(column),
            })
            .collect::<Vec<_>>();
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::LargeUtf8),
                _ => f.as_ref().clone(),
            })
            .collect();
        let large = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        assert_eq!(Candidate::from_batch(&large).unwrap(), vec![candidate(4)]);
    }
}
