//! The per-query table: one row per query, its dictionary entry and its count at each stage
//! (matched → kept → in the corpus, plus fetch failures), and its Parquet form for DuckDB users.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, StringBuilder, UInt32Builder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use wit_contract::{ShardWriter, WriterOptions};

use crate::error::Result;
use wit_contract::PathError;

/// One query's row. A count is None when its stage is absent from the build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRow {
    pub id: u32,
    pub query: String,
    /// unigram, bigram, title or wordnet (None without a dictionary).
    pub source: Option<String>,
    /// The dictionary's count of the query in the counted text.
    pub dictionary_count: Option<u64>,
    pub pmi: Option<f64>,
    /// Candidates whose text matched the query (curate).
    pub matched: Option<u64>,
    /// Matched candidates curate kept after balancing.
    pub kept: Option<u64>,
    /// Corpus rows (downloaded images) holding the query.
    pub corpus: Option<u64>,
    /// Fetch failures holding the query.
    pub failed: Option<u64>,
}

impl QueryRow {
    pub fn new(id: u32, query: String) -> Self {
        QueryRow {
            id,
            query,
            source: None,
            dictionary_count: None,
            pmi: None,
            matched: None,
            kept: None,
            corpus: None,
            failed: None,
        }
    }

    /// The count of `column`.
    pub fn count(&self, column: Column) -> Option<u64> {
        match column {
            Column::Matched => self.matched,
            Column::Kept => self.kept,
            Column::Corpus => self.corpus,
        }
    }
}

/// The per-query count columns, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    Matched,
    Kept,
    Corpus,
}

impl Column {
    pub const ALL: [Column; 3] = [Column::Matched, Column::Kept, Column::Corpus];

    pub fn name(self) -> &'static str {
        match self {
            Column::Matched => "matched",
            Column::Kept => "kept",
            Column::Corpus => "corpus",
        }
    }

    /// What the column counts, for people.
    pub fn label(self) -> &'static str {
        match self {
            Column::Matched => "matched (before balancing)",
            Column::Kept => "kept (after balancing)",
            Column::Corpus => "in the corpus (downloaded)",
        }
    }
}

/// The Arrow schema of the per-query table's Parquet file.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt32, false),
        Field::new("query", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, true),
        Field::new("dictionary_count", DataType::UInt64, true),
        Field::new("pmi", DataType::Float64, true),
        Field::new("matched", DataType::UInt64, true),
        Field::new("kept", DataType::UInt64, true),
        Field::new("corpus", DataType::UInt64, true),
        Field::new("failed", DataType::UInt64, true),
    ]))
}

fn to_batch(rows: &[QueryRow]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let n = rows.len();
    let mut id = UInt32Builder::with_capacity(n);
    let mut query = StringBuilder::with_capacity(n, n * 12);
    let mut source = StringBuilder::with_capacity(n, n * 7);
    let mut pmi = Float64Builder::with_capacity(n);
    let [mut dictionary_count, mut matched, mut kept, mut corpus, mut failed] =
        std::array::from_fn(|_| UInt64Builder::with_capacity(n));
    for row in rows {
        id.append_value(row.id);
        query.append_value(&row.query);
        source.append_option(row.source.as_deref());
        dictionary_count.append_option(row.dictionary_count);
        pmi.append_option(row.pmi);
        matched.append_option(row.matched);
        kept.append_option(row.kept);
        corpus.append_option(row.corpus);
        failed.append_option(row.failed);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(query.finish()),
        Arc::new(source.finish()),
        Arc::new(dictionary_count.finish()),
        Arc::new(pmi.finish()),
        Arc::new(matched.finish()),
        Arc::new(kept.finish()),
        Arc::new(corpus.finish()),
        Arc::new(failed.finish()),
    ];
    RecordBatch::try_new(schema(), columns)
}

/// Writes the table to `path` atomically (zstd Parquet through the contract's shard writer).
pub fn write_parquet(path: &Path, rows: &[QueryRow]) -> Result<()> {
    let mut writer = ShardWriter::create(path, schema(), &WriterOptions::default())?;
    for chunk in rows.chunks(65_536) {
        let batch = to_batch(chunk).map_err(|e| PathError::input(path, e.to_string()))?;
        writer.write_batch(&batch)?;
    }
    writer.finish()?;
    Ok(())
}
