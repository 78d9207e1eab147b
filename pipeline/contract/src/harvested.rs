//! Harvest's rows: a [`Candidate`] with how its language was decided ([`PairLanguage`]), written
//! as the candidates kind with the language decision columns ([`crate::schema::language_fields`]).
//! Readers that want only the pair read the same files as [`Candidate`]s.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float32Builder, StringBuilder};
use arrow::record_batch::RecordBatch;

use crate::columns::{f32s, strings, CandidateBuilder, CandidateColumns};
use crate::error::Result;
use crate::records::{Candidate, Record};
use crate::schema::{col, RecordKind};

/// How a pair's language was decided (all optional: rows from URL lists or older files lack some).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairLanguage {
    /// The page's language (ISO 639-3 where whatlang knows it, else the page's own tag).
    pub page_lang: Option<String>,
    /// Where `lang` came from: `caption`, `script`, `page` or `caption_only`.
    pub lang_source: Option<String>,
    /// The caption's own detection and its confidence, whatever the decision.
    pub caption_lang: Option<String>,
    pub caption_lang_conf: Option<f32>,
}

/// One candidates row with its language decision.
#[derive(Debug, Clone, PartialEq)]
pub struct HarvestedCandidate {
    pub candidate: Candidate,
    pub language: PairLanguage,
}

/// Builders of the language decision columns, in schema order.
pub(crate) struct LanguageBuilder {
    page_lang: StringBuilder,
    lang_source: StringBuilder,
    caption_lang: StringBuilder,
    caption_lang_conf: Float32Builder,
}

impl LanguageBuilder {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        LanguageBuilder {
            page_lang: StringBuilder::with_capacity(rows, rows * 3),
            lang_source: StringBuilder::with_capacity(rows, rows * 6),
            caption_lang: StringBuilder::with_capacity(rows, rows * 3),
            caption_lang_conf: Float32Builder::with_capacity(rows),
        }
    }

    pub(crate) fn append(&mut self, language: &PairLanguage) {
        self.page_lang.append_option(language.page_lang.as_deref());
        self.lang_source.append_option(language.lang_source.as_deref());
        self.caption_lang.append_option(language.caption_lang.as_deref());
        self.caption_lang_conf.append_option(language.caption_lang_conf);
    }

    /// Columns of `rows` nulls (a plain [`Candidate`] written as the candidates kind).
    pub(crate) fn nulls(rows: usize) -> Vec<ArrayRef> {
        let mut builder = LanguageBuilder::with_capacity(rows);
        (0..rows).for_each(|_| builder.append(&PairLanguage::default()));
        builder.finish()
    }

    pub(crate) fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.page_lang.finish()),
            Arc::new(self.lang_source.finish()),
            Arc::new(self.caption_lang.finish()),
            Arc::new(self.caption_lang_conf.finish()),
        ]
    }
}

impl Record for HarvestedCandidate {
    const KIND: RecordKind = RecordKind::Candidates;

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let mut pair = CandidateBuilder::with_capacity(rows.len());
        let mut language = LanguageBuilder::with_capacity(rows.len());
        for row in rows {
            pair.append(&row.candidate);
            language.append(&row.language);
        }
        let mut columns = pair.finish();
        columns.extend(language.finish());
        Ok(RecordBatch::try_new(Self::KIND.schema(), columns)?)
    }

    /// Missing language columns read as nulls.
    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>> {
        let pair = CandidateColumns::new(batch)?;
        let optional_strings = |name| batch.column_by_name(name).map(|_| strings(batch, name)).transpose();
        let page_lang = optional_strings(col::PAGE_LANG)?;
        let lang_source = optional_strings(col::LANG_SOURCE)?;
        let caption_lang = optional_strings(col::CAPTION_LANG)?;
        let caption_lang_conf =
            batch.column_by_name(col::CAPTION_LANG_CONF).map(|_| f32s(batch, col::CAPTION_LANG_CONF)).transpose()?;
        let string_at = |array: &Option<arrow::array::StringArray>, row: usize| {
            array.as_ref().filter(|a| !a.is_null(row)).map(|a| a.value(row).to_owned())
        };
        (0..batch.num_rows())
            .map(|row| {
                Ok(HarvestedCandidate {
                    candidate: pair.row(row)?,
                    language: PairLanguage {
                        page_lang: string_at(&page_lang, row),
                        lang_source: string_at(&lang_source, row),
                        caption_lang: string_at(&caption_lang, row),
                        caption_lang_conf: caption_lang_conf.as_ref().filter(|a| !a.is_null(row)).map(|a| a.value(row)),
                    },
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::tests::candidate;

    #[test]
    fn rows_round_trip_and_plain_candidates_read_with_null_language() {
        let rows: Vec<HarvestedCandidate> = (0..5)
            .map(|i| HarvestedCandidate {
                candidate: candidate(i),
                language: PairLanguage {
                    page_lang: (i % 2 == 0).then(|| "eng".into()),
                    lang_source: Some(["page", "caption"][i % 2].into()),
                    caption_lang: (i != 3).then(|| "fra".into()),
                    caption_lang_conf: (i != 3).then_some(0.25),
                },
            })
            .collect();
        let batch = HarvestedCandidate::to_batch(&rows).unwrap();
        assert_eq!(batch.schema(), RecordKind::Candidates.schema());
        assert_eq!(HarvestedCandidate::from_batch(&batch).unwrap(), rows);
        assert_eq!(
            Candidate::from_batch(&batch).unwrap(),
            rows.iter().map(|r| r.candidate.clone()).collect::<Vec<_>>()
        );
        let plain = Candidate::to_batch(&[candidate(1)]).unwrap();
        assert_eq!(plain.schema(), RecordKind::Candidates.schema());
        let read = HarvestedCandidate::from_batch(&plain).unwrap();
        assert_eq!(read[0].language, PairLanguage::default());
        // A file of the pair columns only (before the language columns existed).
        let narrow = plain.project(&(0..7).collect::<Vec<_>>()).unwrap();
        assert_eq!(HarvestedCandidate::from_batch(&narrow).unwrap()[0].language, PairLanguage::default());
    }
}
