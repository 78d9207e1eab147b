//! Trust columns (issue 23): what was checked before a pair entered the corpus and what it said,
//! and the hashes takedown lists are written in. All nullable; files without them still read.
//!
//! - Every pair-shaped kind: `page_opt_out` (in [`crate::Provenance`]), harvest's page-level check.
//! - Corpus and failures ([`ImageAudit`]): `robots_txt` (`allowed`, `disallowed` or `not_checked`)
//!   for the image URL that answered (the last redirect hop), `robots_txt_rule` (the rule that
//!   decided, e.g. `Disallow: /private`; null when none matched), `robots_txt_fetched_at` and
//!   `robots_txt_xxh3` (when that robots.txt was fetched and the xxh3 of its body; null without a
//!   body), `x_robots_tag` (the image response's `X-Robots-Tag` values joined by `, `).
//! - Corpus only ([`ImageHashes`]): `sha256` and `md5` of the original downloaded bytes, lower-case
//!   hex (null when fetch ran without `--compute-hash` for it).
//!
//! [`AuditedImage`] and [`AuditedFailure`] are the corpus and failure rows with these columns;
//! plain [`CorpusImage`] and [`Failure`] rows write them as nulls and read without them.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, TimeUnit, UInt64Type};
use arrow::record_batch::RecordBatch;

use crate::columns::{column, optional_string, strings};
use crate::error::Result;
use crate::records::{timestamp_builder, timestamps, CorpusImage, Failure, Record};
use crate::schema::{col, RecordKind, TIMEZONE};

/// The trust columns a file may lack and still be read as its kind.
pub(crate) const OPTIONAL_ON_READ: [&str; 8] = [
    col::PAGE_OPT_OUT,
    col::ROBOTS_TXT,
    col::ROBOTS_TXT_RULE,
    col::ROBOTS_TXT_FETCHED_AT,
    col::ROBOTS_TXT_XXH3,
    col::X_ROBOTS_TAG,
    col::SHA256,
    col::MD5,
];

pub(crate) fn page_opt_out_field() -> Field {
    Field::new(col::PAGE_OPT_OUT, DataType::Utf8, true)
}

/// The image-level opt-out audit columns (corpus and failures), in schema order.
pub fn image_audit_fields() -> Vec<Field> {
    vec![
        Field::new(col::ROBOTS_TXT, DataType::Utf8, true),
        Field::new(col::ROBOTS_TXT_RULE, DataType::Utf8, true),
        Field::new(col::ROBOTS_TXT_FETCHED_AT, DataType::Timestamp(TimeUnit::Microsecond, Some(TIMEZONE.into())), true),
        Field::new(col::ROBOTS_TXT_XXH3, DataType::UInt64, true),
        Field::new(col::X_ROBOTS_TAG, DataType::Utf8, true),
    ]
}

/// The hashes of the original bytes (corpus), in schema order.
pub fn hash_fields() -> Vec<Field> {
    vec![Field::new(col::SHA256, DataType::Utf8, true), Field::new(col::MD5, DataType::Utf8, true)]
}

/// What fetch checked for one image URL and what it said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageAudit {
    /// `allowed`, `disallowed` or `not_checked`.
    pub robots_txt: Option<String>,
    /// The robots.txt rule that decided (`Disallow: /x`, `Allow: /y`), or why everything was
    /// disallowed (robots.txt unreachable); None when no rule matched.
    pub robots_txt_rule: Option<String>,
    /// When the robots.txt consulted was fetched (microseconds since the epoch, UTC).
    pub robots_txt_fetched_at_us: Option<i64>,
    /// xxh3-64 of that robots.txt's body (None when there was no body: 4xx, unreachable).
    pub robots_txt_xxh3: Option<u64>,
    /// The response's `X-Robots-Tag` values, joined by `, ` (None: no such header, or no response).
    pub x_robots_tag: Option<String>,
}

/// sha256 and md5 of the original downloaded bytes, lower-case hex.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageHashes {
    pub sha256: Option<String>,
    pub md5: Option<String>,
}

/// A corpus row with its opt-out audit and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditedImage {
    pub image: CorpusImage,
    pub audit: ImageAudit,
    pub hashes: ImageHashes,
}

/// A failure row with its opt-out audit.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditedFailure {
    pub failure: Failure,
    pub audit: ImageAudit,
}

impl From<CorpusImage> for AuditedImage {
    /// A row without an audit or hashes (their columns are null).
    fn from(image: CorpusImage) -> Self {
        AuditedImage { image, audit: ImageAudit::default(), hashes: ImageHashes::default() }
    }
}

impl From<Failure> for AuditedFailure {
    /// A row without an audit (its columns are null).
    fn from(failure: Failure) -> Self {
        AuditedFailure { failure, audit: ImageAudit::default() }
    }
}

/// Builders of the audit columns, in schema order.
pub(crate) struct AuditBuilder {
    robots_txt: StringBuilder,
    rule: StringBuilder,
    fetched_at: arrow::array::TimestampMicrosecondBuilder,
    xxh3: UInt64Builder,
    x_robots_tag: StringBuilder,
}

impl AuditBuilder {
    fn with_capacity(rows: usize) -> Self {
        AuditBuilder {
            robots_txt: StringBuilder::with_capacity(rows, rows * 8),
            rule: StringBuilder::with_capacity(rows, 0),
            fetched_at: timestamp_builder(rows),
            xxh3: UInt64Builder::with_capacity(rows),
            x_robots_tag: StringBuilder::with_capacity(rows, 0),
        }
    }

    fn append(&mut self, audit: &ImageAudit) {
        self.robots_txt.append_option(audit.robots_txt.as_deref());
        self.rule.append_option(audit.robots_txt_rule.as_deref());
        self.fetched_at.append_option(audit.robots_txt_fetched_at_us);
        self.xxh3.append_option(audit.robots_txt_xxh3);
        self.x_robots_tag.append_option(audit.x_robots_tag.as_deref());
    }

    pub(crate) fn nulls(rows: usize) -> Vec<ArrayRef> {
        let mut builder = AuditBuilder::with_capacity(rows);
        (0..rows).for_each(|_| builder.append(&ImageAudit::default()));
        builder.finish()
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.robots_txt.finish()),
            Arc::new(self.rule.finish()),
            Arc::new(self.fetched_at.finish()),
            Arc::new(self.xxh3.finish()),
            Arc::new(self.x_robots_tag.finish()),
        ]
    }
}

/// Builders of the hash columns, in schema order.
pub(crate) struct HashBuilder {
    sha256: StringBuilder,
    md5: StringBuilder,
}

impl HashBuilder {
    fn with_capacity(rows: usize) -> Self {
        HashBuilder {
            sha256: StringBuilder::with_capacity(rows, rows * 64),
            md5: StringBuilder::with_capacity(rows, rows * 32),
        }
    }

    fn append(&mut self, hashes: &ImageHashes) {
        self.sha256.append_option(hashes.sha256.as_deref());
        self.md5.append_option(hashes.md5.as_deref());
    }

    pub(crate) fn nulls(rows: usize) -> Vec<ArrayRef> {
        let mut builder = HashBuilder::with_capacity(rows);
        (0..rows).for_each(|_| builder.append(&ImageHashes::default()));
        builder.finish()
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        vec![Arc::new(self.sha256.finish()), Arc::new(self.md5.finish())]
    }
}

fn optional_strings(batch: &RecordBatch, name: &str) -> Result<Option<StringArray>> {
    batch.column_by_name(name).map(|_| strings(batch, name)).transpose()
}

fn string_at(array: &Option<StringArray>, row: usize) -> Option<String> {
    array.as_ref().and_then(|a| optional_string(a, row))
}

/// The audit of every row of `batch` (missing columns read as nulls).
fn audits(batch: &RecordBatch) -> Result<Vec<ImageAudit>> {
    let robots_txt = optional_strings(batch, col::ROBOTS_TXT)?;
    let rule = optional_strings(batch, col::ROBOTS_TXT_RULE)?;
    let fetched_at = batch
        .column_by_name(col::ROBOTS_TXT_FETCHED_AT)
        .map(|_| timestamps(batch, col::ROBOTS_TXT_FETCHED_AT))
        .transpose()?;
    let xxh3 = batch
        .column_by_name(col::ROBOTS_TXT_XXH3)
        .map(|_| column(batch, col::ROBOTS_TXT_XXH3, &DataType::UInt64))
        .transpose()?;
    let xxh3 = xxh3.as_ref().map(|a| a.as_primitive::<UInt64Type>());
    let x_robots_tag = optional_strings(batch, col::X_ROBOTS_TAG)?;
    Ok((0..batch.num_rows())
        .map(|row| ImageAudit {
            robots_txt: string_at(&robots_txt, row),
            robots_txt_rule: string_at(&rule, row),
            robots_txt_fetched_at_us: fetched_at.as_ref().filter(|a| !a.is_null(row)).map(|a| a.value(row)),
            robots_txt_xxh3: xxh3.filter(|a| !a.is_null(row)).map(|a| a.value(row)),
            x_robots_tag: string_at(&x_robots_tag, row),
        })
        .collect())
}

impl Record for AuditedImage {
    const KIND: RecordKind = RecordKind::Corpus;

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        // The plain rows' batch (one more copy of each image: small next to its decoding) with
        // the trust block filled in.
        let images: Vec<CorpusImage> = rows.iter().map(|r| r.image.clone()).collect();
        let mut columns = CorpusImage::to_batch(&images)?.columns().to_vec();
        columns.truncate(columns.len() - image_audit_fields().len() - hash_fields().len());
        let mut audit = AuditBuilder::with_capacity(rows.len());
        let mut hashes = HashBuilder::with_capacity(rows.len());
        for row in rows {
            audit.append(&row.audit);
            hashes.append(&row.hashes);
        }
        columns.extend(audit.finish());
        columns.extend(hashes.finish());
        Ok(RecordBatch::try_new(Self::KIND.schema(), columns)?)
    }

    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>> {
        let images = CorpusImage::from_batch(batch)?;
        let audits = audits(batch)?;
        let sha256 = optional_strings(batch, col::SHA256)?;
        let md5 = optional_strings(batch, col::MD5)?;
        Ok(images
            .into_iter()
            .zip(audits)
            .enumerate()
            .map(|(row, (image, audit))| AuditedImage {
                image,
                audit,
                hashes: ImageHashes { sha256: string_at(&sha256, row), md5: string_at(&md5, row) },
            })
            .collect())
    }
}

impl Record for AuditedFailure {
    const KIND: RecordKind = RecordKind::Failures;

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let failures: Vec<Failure> = rows.iter().map(|r| r.failure.clone()).collect();
        let mut columns = Failure::to_batch(&failures)?.columns().to_vec();
        columns.truncate(columns.len() - image_audit_fields().len());
        let mut audit = AuditBuilder::with_capacity(rows.len());
        rows.iter().for_each(|row| audit.append(&row.audit));
        columns.extend(audit.finish());
        Ok(RecordBatch::try_new(Self::KIND.schema(), columns)?)
    }

    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>> {
        let failures = Failure::from_batch(batch)?;
        Ok(failures.into_iter().zip(audits(batch)?).map(|(failure, audit)| AuditedFailure { failure, audit }).collect())
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::tests::candidate;

    fn image(i: usize) -> CorpusImage {
        CorpusImage {
            candidate: candidate(i),
            query_ids: vec![1],
            width: 2,
            height: 2,
            original_width: 4,
            original_height: 4,
            image: vec![i as u8],
            image_format: "jpeg".into(),
            image_xxh3: i as u64,
            fetched_at_us: 7,
            image_phash: i.is_multiple_of(2).then_some(i as u64),
        }
    }

    fn audit(i: usize) -> ImageAudit {
        ImageAudit {
            robots_txt: Some(["allowed", "disallowed", "not_checked"][i % 3].into()),
            robots_txt_rule: (i % 3 == 1).then(|| "Disallow: /private".into()),
            robots_txt_fetched_at_us: (i % 3 != 2).then_some(1_790_000_000_000_000),
            robots_txt_xxh3: i.is_multiple_of(3).then_some(u64::MAX - 1),
            x_robots_tag: i.is_multiple_of(2).then(|| "noarchive, nosnippet".into()),
        }
    }

    #[test]
    fn audited_rows_round_trip_and_plain_rows_read_them_as_nulls() {
        let rows: Vec<AuditedImage> = (0..4)
            .map(|i| AuditedImage {
                image: image(i),
                audit: audit(i),
                hashes: ImageHashes { sha256: Some(hex(&[i as u8; 32])), md5: (i != 1).then(|| hex(&[9; 16])) },
            })
            .collect();
        let batch = AuditedImage::to_batch(&rows).unwrap();
        assert_eq!(batch.schema(), RecordKind::Corpus.schema());
        assert_eq!(AuditedImage::from_batch(&batch).unwrap(), rows);
        assert_eq!(CorpusImage::from_batch(&batch).unwrap()[2], image(2));
        let plain = CorpusImage::to_batch(&[image(5)]).unwrap();
        let read = AuditedImage::from_batch(&plain).unwrap();
        assert_eq!((read[0].audit.clone(), read[0].hashes.clone()), (ImageAudit::default(), ImageHashes::default()));

        let failures: Vec<AuditedFailure> = (0..3)
            .map(|i| AuditedFailure {
                failure: Failure {
                    candidate: candidate(i),
                    query_ids: vec![],
                    status: "robots_disallowed".into(),
                    error_message: "robots_disallowed: x".into(),
                    http_status: None,
                    fetched_at_us: 3,
                },
                audit: audit(i),
            })
            .collect();
        let batch = AuditedFailure::to_batch(&failures).unwrap();
        assert_eq!(batch.schema(), RecordKind::Failures.schema());
        assert_eq!(AuditedFailure::from_batch(&batch).unwrap(), failures);
        // A corpus file written before the trust columns still reads.
        let old = plain.project(&(0..plain.num_columns() - 7).collect::<Vec<_>>()).unwrap();
        assert!(crate::schema::check_compatible(&old.schema(), RecordKind::Corpus).is_ok());
        assert_eq!(AuditedImage::from_batch(&old).unwrap()[0].audit, ImageAudit::default());
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
