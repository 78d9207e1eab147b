//! Column access and column building shared by the record kinds: typed views of a batch's columns
//! (cast to the contract's type when a file used an equivalent one, such as large strings), value
//! readers that turn a null in a required column into an error naming row and column, and the
//! builders of the columns every pair-shaped kind shares.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Float32Builder, ListArray, ListBuilder, StringArray, StringBuilder,
    UInt32Array, UInt32Builder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float32Type, UInt32Type};
use arrow::record_batch::RecordBatch;

use crate::error::{ContractError, Result};
use crate::records::Candidate;
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
        ]
    }
}
