//! The Arrow schema of every record kind wit writes.
//!
//! Column names follow img2dataset where the two overlap (`key`, `url`, `caption`, `status`,
//! `error_message`, `width`, `height`, `original_width`, `original_height`); images are stored as
//! encoded bytes in a binary column. Each schema carries its kind in the metadata key `wit.kind`, so
//! a reader can tell a corpus shard from a candidate file.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

/// Column names, in one place so stages, tests and the docs agree on the spelling.
pub mod col {
    pub const ID: &str = "id";
    pub const QUERY: &str = "query";
    pub const SOURCE: &str = "source";
    pub const COUNT: &str = "count";
    pub const PMI: &str = "pmi";

    pub const KEY: &str = "key";
    pub const URL: &str = "url";
    pub const CAPTION: &str = "caption";
    pub const PAGE_URL: &str = "page_url";
    pub const LANG: &str = "lang";
    pub const LANG_CONF: &str = "lang_conf";
    pub const SOURCE_FILE: &str = "source_file";
    pub const SOURCE_OFFSET: &str = "source_offset";
    pub const SOURCE_RECORD_ID: &str = "source_record_id";
    pub const SOURCE_ROW: &str = "source_row";

    pub const QUERY_IDS: &str = "query_ids";
    pub const KEEP_PROB: &str = "keep_prob";
    pub const MATCHED: &str = "matched";
    pub const KEPT: &str = "kept";

    pub const WIDTH: &str = "width";
    pub const HEIGHT: &str = "height";
    pub const ORIGINAL_WIDTH: &str = "original_width";
    pub const ORIGINAL_HEIGHT: &str = "original_height";
    pub const IMAGE: &str = "image";
    pub const IMAGE_FORMAT: &str = "image_format";
    pub const IMAGE_XXH3: &str = "image_xxh3";
    pub const FETCHED_AT: &str = "fetched_at";

    // --- near-duplicate search (issue 23: wit dedup / wit decontaminate) ---
    /// Perceptual hash of the decoded image (wit_imaging::phash), nullable: older corpora lack it.
    pub const IMAGE_PHASH: &str = "image_phash";
    // --- end near-duplicate search ---

    pub const STATUS: &str = "status";
    pub const ERROR_MESSAGE: &str = "error_message";
    pub const HTTP_STATUS: &str = "http_status";

    // Harvest's language decision (candidates only; see `language_fields`).
    pub const PAGE_LANG: &str = "page_lang";
    pub const LANG_SOURCE: &str = "lang_source";
    pub const CAPTION_LANG: &str = "caption_lang";
    pub const CAPTION_LANG_CONF: &str = "caption_lang_conf";

    // Trust: the opt-out audit trail and the hashes of the original bytes (see `crate::trust`).
    pub const PAGE_OPT_OUT: &str = "page_opt_out";
    pub const ROBOTS_TXT: &str = "robots_txt";
    pub const ROBOTS_TXT_RULE: &str = "robots_txt_rule";
    pub const ROBOTS_TXT_FETCHED_AT: &str = "robots_txt_fetched_at";
    pub const ROBOTS_TXT_XXH3: &str = "robots_txt_xxh3";
    pub const X_ROBOTS_TAG: &str = "x_robots_tag";
    pub const SHA256: &str = "sha256";
    pub const MD5: &str = "md5";
}

/// Schema metadata key naming the record kind.
pub const KIND_METADATA_KEY: &str = "wit.kind";

/// The kinds of record a wit folder can hold, one schema each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// The query dictionary: id, query, source, count, pmi.
    Queries,
    /// Candidate (image URL, text, page URL) pairs from harvest.
    Candidates,
    /// Candidates that matched queries, with their query ids and keep probability.
    Curated,
    /// Downloaded, checked and re-encoded images with their pairs.
    Corpus,
    /// Pairs the fetch stage could not turn into corpus rows, with status and error message.
    Failures,
    /// Per-query balance of a curate run: how many candidates matched each query and how many
    /// were kept.
    QueryCounts,
}

impl RecordKind {
    pub const ALL: [RecordKind; 6] = [
        RecordKind::Queries,
        RecordKind::Candidates,
        RecordKind::Curated,
        RecordKind::Corpus,
        RecordKind::Failures,
        RecordKind::QueryCounts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Queries => "queries",
            RecordKind::Candidates => "candidates",
            RecordKind::Curated => "curated",
            RecordKind::Corpus => "corpus",
            RecordKind::Failures => "failures",
            RecordKind::QueryCounts => "query_counts",
        }
    }

    pub fn from_name(name: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The Arrow schema of this kind, with the kind recorded in its metadata.
    pub fn schema(self) -> SchemaRef {
        let fields = match self {
            RecordKind::Queries => vec![
                Field::new(col::ID, DataType::UInt32, false),
                Field::new(col::QUERY, DataType::Utf8, false),
                Field::new(col::SOURCE, DataType::Utf8, false),
                Field::new(col::COUNT, DataType::UInt64, false),
                Field::new(col::PMI, DataType::Float64, true),
            ],
            RecordKind::Candidates => {
                let mut fields = pair_fields();
                fields.extend(language_fields());
                fields
            }
            RecordKind::Curated => {
                let mut fields = pair_fields();
                fields.push(query_ids_field());
                fields.push(Field::new(col::KEEP_PROB, DataType::Float64, false));
                fields
            }
            RecordKind::Corpus => {
                let mut fields = pair_fields();
                fields.extend([
                    query_ids_field(),
                    Field::new(col::WIDTH, DataType::UInt32, false),
                    Field::new(col::HEIGHT, DataType::UInt32, false),
                    Field::new(col::ORIGINAL_WIDTH, DataType::UInt32, false),
                    Field::new(col::ORIGINAL_HEIGHT, DataType::UInt32, false),
                    Field::new(col::IMAGE, DataType::Binary, false),
                    Field::new(col::IMAGE_FORMAT, DataType::Utf8, false),
                    Field::new(col::IMAGE_XXH3, DataType::UInt64, false),
                    fetched_at_field(),
                ]);
                // --- near-duplicate search (issue 23) ---
                fields.push(Field::new(col::IMAGE_PHASH, DataType::UInt64, true));
                // --- end near-duplicate search ---
                fields.extend(crate::trust::image_audit_fields());
                fields.extend(crate::trust::hash_fields());
                fields
            }
            RecordKind::Failures => {
                let mut fields = pair_fields();
                fields.extend([
                    query_ids_field(),
                    Field::new(col::STATUS, DataType::Utf8, false),
                    Field::new(col::ERROR_MESSAGE, DataType::Utf8, false),
                    Field::new(col::HTTP_STATUS, DataType::UInt16, true),
                    fetched_at_field(),
                ]);
                fields.extend(crate::trust::image_audit_fields());
                fields
            }
            RecordKind::QueryCounts => vec![
                Field::new(col::ID, DataType::UInt32, false),
                Field::new(col::QUERY, DataType::Utf8, false),
                Field::new(col::MATCHED, DataType::UInt64, false),
                Field::new(col::KEPT, DataType::UInt64, false),
            ],
        };
        let metadata = HashMap::from([(KIND_METADATA_KEY.to_owned(), self.name().to_owned())]);
        Arc::new(Schema::new_with_metadata(fields, metadata))
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The columns every pair-shaped kind starts with.
fn pair_fields() -> Vec<Field> {
    vec![
        Field::new(col::KEY, DataType::Utf8, false),
        Field::new(col::URL, DataType::Utf8, false),
        Field::new(col::CAPTION, DataType::Utf8, false),
        Field::new(col::PAGE_URL, DataType::Utf8, true),
        Field::new(col::SOURCE, DataType::Utf8, false),
        Field::new(col::LANG, DataType::Utf8, true),
        Field::new(col::LANG_CONF, DataType::Float32, true),
        Field::new(col::SOURCE_FILE, DataType::Utf8, true),
        Field::new(col::SOURCE_OFFSET, DataType::UInt64, true),
        Field::new(col::SOURCE_RECORD_ID, DataType::Utf8, true),
        Field::new(col::SOURCE_ROW, DataType::UInt64, true),
        // Trust (issue 23): harvest's page-level opt-out check travels with the pair.
        crate::trust::page_opt_out_field(),
    ]
}

/// How harvest decided a pair's language, appended to the candidates schema (all nullable): the
/// page's language (`page_lang`), where the decision came from (`lang_source`: `caption`, `script`,
/// `page` or `caption_only`), and the caption's own detection (`caption_lang`, `caption_lang_conf`).
/// `lang` / `lang_conf` hold the decision. Files without these columns (written before them, or by
/// another tool) still read as candidates.
pub fn language_fields() -> Vec<Field> {
    vec![
        Field::new(col::PAGE_LANG, DataType::Utf8, true),
        Field::new(col::LANG_SOURCE, DataType::Utf8, true),
        Field::new(col::CAPTION_LANG, DataType::Utf8, true),
        Field::new(col::CAPTION_LANG_CONF, DataType::Float32, true),
    ]
}

/// Columns a file may lack and still be read as its kind (they are then null).
pub(crate) const OPTIONAL_ON_READ: [&str; 9] = [
    col::PAGE_LANG,
    col::LANG_SOURCE,
    col::CAPTION_LANG,
    col::CAPTION_LANG_CONF,
    col::SOURCE_FILE,
    col::SOURCE_OFFSET,
    col::SOURCE_RECORD_ID,
    col::SOURCE_ROW,
    // A corpus written before the perceptual hash (issue 23) reads with `image_phash` null.
    col::IMAGE_PHASH,
];

/// The item field of `query_ids` lists (ids are never null).
pub(crate) fn query_id_item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::UInt32, false))
}

fn query_ids_field() -> Field {
    Field::new(col::QUERY_IDS, DataType::List(query_id_item_field()), false)
}

/// The timezone of `fetched_at`: timestamps are instants, stored as microseconds since the epoch.
pub(crate) const TIMEZONE: &str = "UTC";

pub(crate) fn fetched_at_field() -> Field {
    Field::new(col::FETCHED_AT, DataType::Timestamp(TimeUnit::Microsecond, Some(TIMEZONE.into())), false)
}

/// Checks that `schema` holds every column of `kind` with the same type and nullability it may be
/// read as; extra columns (a URL list's own columns, say) are allowed.
pub fn check_compatible(schema: &Schema, kind: RecordKind) -> Result<(), crate::ContractError> {
    for expected in kind.schema().fields() {
        let optional = OPTIONAL_ON_READ.contains(&expected.name().as_str())
            || crate::trust::OPTIONAL_ON_READ.contains(&expected.name().as_str());
        if optional && schema.field_with_name(expected.name()).is_err() {
            continue;
        }
        let found = schema
            .field_with_name(expected.name())
            .map_err(|_| crate::ContractError::column(expected.name(), format!("missing (a {kind} file needs it)")))?;
        if found.data_type() != expected.data_type() {
            return Err(crate::ContractError::column(
                expected.name(),
                format!("has type {}, a {kind} file needs {}", found.data_type(), expected.data_type()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::from_name(kind.name()), Some(kind));
            assert_eq!(kind.schema().metadata().get(KIND_METADATA_KEY).map(String::as_str), Some(kind.name()));
        }
        assert_eq!(RecordKind::from_name("pictures"), None);
    }

    #[test]
    fn img2dataset_column_names_are_kept() {
        let corpus = RecordKind::Corpus.schema();
        for name in ["key", "url", "caption", "width", "height", "original_width", "original_height"] {
            assert!(corpus.field_with_name(name).is_ok(), "corpus lacks {name}");
        }
        let failures = RecordKind::Failures.schema();
        for name in ["key", "url", "caption", "status", "error_message"] {
            assert!(failures.field_with_name(name).is_ok(), "failures lack {name}");
        }
    }

    #[test]
    fn compatibility_names_the_bad_column() {
        let err = check_compatible(&RecordKind::Candidates.schema(), RecordKind::Corpus).unwrap_err();
        assert!(err.to_string().contains("query_ids"), "{err}");
        let ok = check_compatible(&RecordKind::Curated.schema(), RecordKind::Candidates);
        assert!(ok.is_ok(), "curated rows are candidates (without the language decision columns)");
        let candidates = RecordKind::Candidates.schema();
        let names: Vec<&str> = candidates.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names[names.len() - 4..], ["page_lang", "lang_source", "caption_lang", "caption_lang_conf"]);
        let wrong = Schema::new(
            candidates
                .fields()
                .iter()
                .map(|f| {
                    if f.name() == "page_lang" {
                        Field::new("page_lang", DataType::Int32, true)
                    } else {
                        f.as_ref().clone()
                    }
                })
                .collect::<Vec<_>>(),
        );
        assert!(check_compatible(&wrong, RecordKind::Candidates).unwrap_err().to_string().contains("page_lang"));
    }
}
