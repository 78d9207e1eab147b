//! Column access and column building shared by the record kinds: typed views of a batch's columns
//! (cast to the contract's type when a file used an equivalent one, such as large strings), value
//! readers that turn a null in a required column into an error naming row and column, and the
//! builders of the columns every pair-shaped kind shares.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Float32Builder, ListArray, ListBuilder, StringArray, StringBuilder,
    UInt32Array, UInt32Builder, UInt64Array, UInt64Builder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float32Type, UInt32Type, UInt64Type};
use arrow::record_batch::RecordBatch;

use crate::error::{ContractError, Result};
use crate::records::{Candidate, Provenance};
use crate::schema::{col, query_id_item_field};

/// The column `name` of `batch`, cast to `to` when the file stored it with another (castable) type.
pub(crate) fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef> {
    let array = batch.column_by_name(name).ok_or_else(|| ContractError::column(name, "missing"))?;
    if array.data_type() == to {
        return Ok(Arc::clone(array));
    }
    cast(array, to).map_err(|e| ContractError::column(name, format!("cannot read {} as {to}: {e}", array.data_type())))
}

pub(crate) fn strings(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    Ok(column(batch, name, &DataType::Utf8)?.as_string::<i32>().clone())
}

pub(crate) fn u32s(batch: &RecordBatch, name: &str) -> Result<UInt32Array> {
    Ok(column(batch, name, &DataType::UInt32)?.as_primitive::<UInt32Type>().clone())
}

pub(crate) fn f32s(batch: &RecordBatch, name: &str) -> Result<Float32Array> {
    Ok(column(batch, name, &DataType::Float32)?.as_primitive::<Float32Type>().clone())
}

/// A nullable u64 column a file may lack (None then).
pub(crate) fn optional_u64s(batch: &RecordBatch, name: &str) -> Result<Option<UInt64Array>> {
    if batch.column_by_name(name).is_none() {
        return Ok(None);
    }
    Ok(Some(column(batch, name, &DataType::UInt64)?.as_primitive::<UInt64Type>().clone()))
}

pub(crate) fn lists_of_u32(batch: &RecordBatch, name: &str) -> Result<ListArray> {
    Ok(column(batch, name, &DataType::List(query_id_item_field()))?.as_list::<i32>().clone())
}

/// Fails with the row and column when a required value is null.
pub(crate) fn require(array: &dyn Array, row: usize, name: &str) -> Result<()> {
    if array.is_null(row) {
        return Err(ContractError::Value { row, column: name.to_owned(), problem: "null in a required column".into() });
    }
    Ok(())
}

pub(crate) fn required_string(array: &StringArray, row: usize, name: &str) -> Result<String> {
    require(array, row, name)?;
    Ok(array.value(row).to_owned())
}

pub(crate) fn optional_string(array: &StringArray, row: usize) -> Option<String> {
    (!array.is_null(row)).then(|| array.value(row).to_owned())
}

pub(crate) fn required_u32(array: &UInt32Array, row: usize, name: &str) -> Result<u32> {
    require(array, row, name)?;
    Ok(array.value(row))
}

pub(crate) fn required_u32_list(array: &ListArray, row: usize, name: &str) -> Result<Vec<u32>> {
    require(array, row, name)?;
    let values = array.value(row);
    let ids = values.as_primitive::<UInt32Type>();
    if ids.null_count() > 0 {
        return Err(ContractError::Value { row, column: name.to_owned(), problem: "null id in the list".into() });
    }
    Ok(ids.values().to_vec())
}

pub(crate) fn query_ids_builder(capacity: usize) -> ListBuilder<UInt32Builder> {
    ListBuilder::with_capacity(UInt32Builder::with_capacity(capacity), capacity).with_field(query_id_item_field())
}

pub(crate) fn append_query_ids(builder: &mut ListBuilder<UInt32Builder>, ids: &[u32]) {
    builder.values().append_slice(ids);
    builder.append(true);
}

/// Typed views of the columns every pair-shaped kind starts with.
pub(crate) struct CandidateColumns {
    key: StringArray,
    url: StringArray,
    caption: StringArray,
    page_url: StringArray,
    source: StringArray,
    lang: StringArray,
    lang_conf: Float32Array,
    source_file: Option<StringArray>,
    source_offset: Option<UInt64Array>,
    source_record_id: Option<StringArray>,
    source_row: Option<UInt64Array>,
    page_opt_out: Option<StringArray>,
}

/// The column `name` when the batch has it (files written before it read as nulls).
fn optional_column<T>(
    batch: &RecordBatch,
    name: &str,
    read: impl Fn(&RecordBatch, &str) -> Result<T>,
) -> Result<Option<T>> {
    batch.column_by_name(name).map(|_| read(batch, name)).transpose()
}

fn u64s(batch: &RecordBatch, name: &str) -> Result<UInt64Array> {
    Ok(column(batch, name, &DataType::UInt64)?.as_primitive::<UInt64Type>().clone())
}

fn optional_u64(array: &Option<UInt64Array>, row: usize) -> Option<u64> {
    array.as_ref().filter(|a| !a.is_null(row)).map(|a| a.value(row))
}

fn optional_string_of(array: &Option<StringArray>, row: usize) -> Option<String> {
    array.as_ref().and_then(|a| optional_string(a, row))
}

impl CandidateColumns {
    pub(crate) fn new(batch: &RecordBatch) -> Result<Self> {
        Ok(CandidateColumns {
            key: strings(batch, col::KEY)?,
            url: strings(batch, col::URL)?,
            caption: strings(batch, col::CAPTION)?,
            page_url: strings(batch, col::PAGE_URL)?,
            source: strings(batch, col::SOURCE)?,
            lang: strings(batch, col::LANG)?,
            lang_conf: f32s(batch, col::LANG_CONF)?,
            source_file: optional_column(batch, col::SOURCE_FILE, strings)?,
            source_offset: optional_column(batch, col::SOURCE_OFFSET, u64s)?,
            source_record_id: optional_column(batch, col::SOURCE_RECORD_ID, strings)?,
            source_row: optional_column(batch, col::SOURCE_ROW, u64s)?,
            page_opt_out: optional_column(batch, col::PAGE_OPT_OUT, strings)?,
        })
    }

    pub(crate) fn row(&self, row: usize) -> Result<Candidate> {
        Ok(Candidate {
            key: required_string(&self.key, row, col::KEY)?,
            url: required_string(&self.url, row, col::URL)?,
            caption: required_string(&self.caption, row, col::CAPTION)?,
            page_url: optional_string(&self.page_url, row),
            source: required_string(&self.source, row, col::SOURCE)?,
            lang: optional_string(&self.lang, row),
            lang_conf: (!self.lang_conf.is_null(row)).then(|| self.lang_conf.value(row)),
            provenance: Provenance {
                file: optional_string_of(&self.source_file, row),
                offset: optional_u64(&self.source_offset, row),
                record_id: optional_string_of(&self.source_record_id, row),
                row: optional_u64(&self.source_row, row),
                page_opt_out: optional_string_of(&self.page_opt_out, row),
            },
        })
    }
}

/// Builders of the columns every pair-shaped kind starts with, in schema order.
pub(crate) struct CandidateBuilder {
    key: StringBuilder,
    url: StringBuilder,
    caption: StringBuilder,
    page_url: StringBuilder,
    source: StringBuilder,
    lang: StringBuilder,
    lang_conf: Float32Builder,
    source_file: StringBuilder,
    source_offset: UInt64Builder,
    source_record_id: StringBuilder,
    source_row: UInt64Builder,
    page_opt_out: StringBuilder,
}

impl CandidateBuilder {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        CandidateBuilder {
            key: StringBuilder::with_capacity(rows, rows * 16),
            url: StringBuilder::with_capacity(rows, rows * 64),
            caption: StringBuilder::with_capacity(rows, rows * 64),
            page_url: StringBuilder::with_capacity(rows, rows * 64),
            source: StringBuilder::with_capacity(rows, rows * 4),
            lang: StringBuilder::with_capacity(rows, rows * 3),
            lang_conf: Float32Builder::with_capacity(rows),
            source_file: StringBuilder::with_capacity(rows, rows * 32),
            source_offset: UInt64Builder::with_capacity(rows),
            source_record_id: StringBuilder::with_capacity(rows, rows * 48),
            source_row: UInt64Builder::with_capacity(rows),
            page_opt_out: StringBuilder::with_capacity(rows, 0),
        }
    }

    pub(crate) fn append(&mut self, candidate: &Candidate) {
        self.key.append_value(&candidate.key);
        self.url.append_value(&candidate.url);
        self.caption.append_value(&candidate.caption);
        self.page_url.append_option(candidate.page_url.as_deref());
        self.source.append_value(&candidate.source);
        self.lang.append_option(candidate.lang.as_deref());
        self.lang_conf.append_option(candidate.lang_conf);
        let provenance = &candidate.provenance;
        self.source_file.append_option(provenance.file.as_deref());
        self.source_offset.append_option(provenance.offset);
        self.source_record_id.append_option(provenance.record_id.as_deref());
        self.source_row.append_option(provenance.row);
        self.page_opt_out.append_option(provenance.page_opt_out.as_deref());
    }

    pub(crate) fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.key.finish()),
            Arc::new(self.url.finish()),
            Arc::new(self.caption.finish()),
            Arc::new(self.page_url.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.lang.finish()),
            Arc::new(self.lang_conf.finish()),
            Arc::new(self.source_file.finish()),
            Arc::new(self.source_offset.finish()),
            Arc::new(self.source_record_id.finish()),
            Arc::new(self.source_row.finish()),
            Arc::new(self.page_opt_out.finish()),
        ]
    }
}
