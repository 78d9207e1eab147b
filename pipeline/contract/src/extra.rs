//! Columns appended after a kind's own: the URL-list columns fetch keeps
//! (`--save-additional-columns`, img2dataset's option, each with its own type) and `exif`
//! (`--keep-exif`). All nullable. A manifest lists them in `extra_columns`, so `wit verify` and a
//! multi-rank merge check every shard has them; readers of the kind ignore them.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, UInt64Builder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, UInt64Type};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::{Deserialize, Serialize};

use crate::error::{ContractError, Result};
use crate::schema::RecordKind;

/// The column `--keep-exif` adds to corpus rows: the original image's EXIF tags as a JSON object.
pub const EXIF: &str = "exif";

/// One appended column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: ExtraType,
}

impl ExtraColumn {
    pub fn new(name: impl Into<String>, data_type: ExtraType) -> Self {
        ExtraColumn { name: name.into(), data_type }
    }

    pub fn field(&self) -> Field {
        Field::new(&self.name, self.data_type.arrow(), true)
    }
}

/// The types an appended column can have: a Parquet list's column keeps its own when it is one of
/// these; any other (dates, lists, decimals) becomes its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtraType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    Text,
}

impl ExtraType {
    pub fn arrow(self) -> DataType {
        match self {
            ExtraType::Bool => DataType::Boolean,
            ExtraType::Int8 => DataType::Int8,
            ExtraType::Int16 => DataType::Int16,
            ExtraType::Int32 => DataType::Int32,
            ExtraType::Int64 => DataType::Int64,
            ExtraType::UInt8 => DataType::UInt8,
            ExtraType::UInt16 => DataType::UInt16,
            ExtraType::UInt32 => DataType::UInt32,
            ExtraType::UInt64 => DataType::UInt64,
            ExtraType::Float32 => DataType::Float32,
            ExtraType::Float64 => DataType::Float64,
            ExtraType::Text => DataType::Utf8,
        }
    }

    /// The type a column of Arrow type `data_type` is kept as.
    pub fn of_arrow(data_type: &DataType) -> ExtraType {
        match data_type {
            DataType::Boolean => ExtraType::Bool,
            DataType::Int8 => ExtraType::Int8,
            DataType::Int16 => ExtraType::Int16,
            DataType::Int32 => ExtraType::Int32,
            DataType::Int64 => ExtraType::Int64,
            DataType::UInt8 => ExtraType::UInt8,
            DataType::UInt16 => ExtraType::UInt16,
            DataType::UInt32 => ExtraType::UInt32,
            DataType::UInt64 => ExtraType::UInt64,
            DataType::Float32 => ExtraType::Float32,
            DataType::Float64 => ExtraType::Float64,
            _ => ExtraType::Text,
        }
    }

    fn family(self) -> Family {
        match self {
            ExtraType::Bool => Family::Bool,
            ExtraType::Int8 | ExtraType::Int16 | ExtraType::Int32 | ExtraType::Int64 => Family::Int,
            ExtraType::UInt8 | ExtraType::UInt16 | ExtraType::UInt32 | ExtraType::UInt64 => Family::UInt,
            ExtraType::Float32 | ExtraType::Float64 => Family::Float,
            ExtraType::Text => Family::Text,
        }
    }
}

/// How values of a type are held while a row travels: the widest type of the family.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Bool,
    Int,
    UInt,
    Float,
    Text,
}

/// One value of an appended column, carried with its row.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtraValue {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
}

/// The values of `array` as a column of type `data_type` (see [`ExtraType::of_arrow`]).
pub fn values_of(array: &ArrayRef, data_type: ExtraType) -> Result<Vec<ExtraValue>> {
    let nulls = |i: usize| array.is_null(i);
    let len = array.len();
    Ok(match data_type.family() {
        Family::Bool => {
            let values = array.as_boolean_opt().ok_or_else(|| not_of(array, data_type))?;
            (0..len).map(|i| if nulls(i) { ExtraValue::Null } else { ExtraValue::Bool(values.value(i)) }).collect()
        }
        Family::Int => {
            let wide = cast(array, &DataType::Int64)?;
            let values = wide.as_primitive::<Int64Type>();
            (0..len).map(|i| if nulls(i) { ExtraValue::Null } else { ExtraValue::Int(values.value(i)) }).collect()
        }
        Family::UInt => {
            let wide = cast(array, &DataType::UInt64)?;
            let values = wide.as_primitive::<UInt64Type>();
            (0..len).map(|i| if nulls(i) { ExtraValue::Null } else { ExtraValue::UInt(values.value(i)) }).collect()
        }
        Family::Float => {
            let wide = cast(array, &DataType::Float64)?;
            let values = wide.as_primitive::<Float64Type>();
            (0..len).map(|i| if nulls(i) { ExtraValue::Null } else { ExtraValue::Float(values.value(i)) }).collect()
        }
        Family::Text => {
            let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())?;
            (0..len)
                .map(|i| {
                    if nulls(i) {
                        ExtraValue::Null
                    } else if let Some(text) = array.as_string_opt::<i32>() {
                        ExtraValue::Text(text.value(i).to_owned())
                    } else {
                        ExtraValue::Text(formatter.value(i).to_string())
                    }
                })
                .collect()
        }
    })
}

fn not_of(array: &ArrayRef, data_type: ExtraType) -> ContractError {
    ContractError::column("(extra)", format!("a {} array read as {data_type:?}", array.data_type()))
}

/// The schema of `kind` with `columns` appended (nullable), the kind's metadata kept.
pub fn schema_with(kind: RecordKind, columns: &[ExtraColumn]) -> SchemaRef {
    let base = kind.schema();
    if columns.is_empty() {
        return base;
    }
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(columns.iter().map(ExtraColumn::field));
    Arc::new(Schema::new_with_metadata(fields, base.metadata().clone()))
}

/// `batch` (a kind's own columns) with `columns` appended from `values` (one `Vec` per row, in
/// column order; a value of the wrong family is stored as null).
pub fn append(
    batch: RecordBatch,
    kind: RecordKind,
    columns: &[ExtraColumn],
    values: &[Vec<ExtraValue>],
) -> Result<RecordBatch> {
    if columns.is_empty() {
        return Ok(batch);
    }
    if values.len() != batch.num_rows() {
        return Err(ContractError::column(
            &columns[0].name,
            format!("{} rows of extra values for {} rows", values.len(), batch.num_rows()),
        ));
    }
    let mut arrays = batch.columns().to_vec();
    for (c, column) in columns.iter().enumerate() {
        let value = |row: &Vec<ExtraValue>| row.get(c).cloned().unwrap_or(ExtraValue::Null);
        let wide: ArrayRef = match column.data_type.family() {
            Family::Bool => {
                let mut b = BooleanBuilder::with_capacity(values.len());
                values
                    .iter()
                    .for_each(|r| b.append_option(if let ExtraValue::Bool(v) = value(r) { Some(v) } else { None }));
                Arc::new(b.finish())
            }
            Family::Int => {
                let mut b = Int64Builder::with_capacity(values.len());
                values
                    .iter()
                    .for_each(|r| b.append_option(if let ExtraValue::Int(v) = value(r) { Some(v) } else { None }));
                Arc::new(b.finish())
            }
            Family::UInt => {
                let mut b = UInt64Builder::with_capacity(values.len());
                values
                    .iter()
                    .for_each(|r| b.append_option(if let ExtraValue::UInt(v) = value(r) { Some(v) } else { None }));
                Arc::new(b.finish())
            }
            Family::Float => {
                let mut b = Float64Builder::with_capacity(values.len());
                values
                    .iter()
                    .for_each(|r| b.append_option(if let ExtraValue::Float(v) = value(r) { Some(v) } else { None }));
                Arc::new(b.finish())
            }
            Family::Text => {
                let mut b = StringBuilder::with_capacity(values.len(), values.len() * 16);
                values.iter().for_each(|r| match &r.get(c) {
                    Some(ExtraValue::Text(v)) => b.append_value(v),
                    _ => b.append_null(),
                });
                Arc::new(b.finish())
            }
        };
        // Narrowing back to the column's own type: the values came from that type.
        arrays.push(cast(&wide, &column.data_type.arrow())?);
    }
    Ok(RecordBatch::try_new(schema_with(kind, columns), arrays)?)
}

/// Checks that `schema` holds every one of `columns` with its type.
pub fn check(schema: &Schema, columns: &[ExtraColumn]) -> Result<()> {
    for column in columns {
        let found = schema.field_with_name(&column.name).map_err(|_| {
            ContractError::column(&column.name, "missing (the manifest lists it as a kept extra column)")
        })?;
        if found.data_type() != &column.data_type.arrow() {
            return Err(ContractError::column(
                &column.name,
                format!("has type {}, the manifest says {}", found.data_type(), column.data_type.arrow()),
            ));
        }
    }
    Ok(())
}

/// The names of `kind`'s own columns that `columns` would clash with, if any.
pub fn clashes(kind: RecordKind, columns: &[ExtraColumn]) -> Vec<String> {
    let schema = kind.schema();
    columns.iter().filter(|c| schema.field_with_name(&c.name).is_ok()).map(|c| c.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float32Array, Int32Array, LargeStringArray};

    #[test]
    fn typed_values_round_trip_through_their_own_type() {
        let similarity: ArrayRef = Arc::new(Float32Array::from(vec![Some(0.25), None]));
        let width: ArrayRef = Arc::new(Int32Array::from(vec![Some(-7), Some(640)]));
        let license: ArrayRef = Arc::new(LargeStringArray::from(vec![Some("cc-by"), None]));
        let columns = vec![
            ExtraColumn::new("similarity", ExtraType::of_arrow(similarity.data_type())),
            ExtraColumn::new("WIDTH", ExtraType::of_arrow(width.data_type())),
            ExtraColumn::new("LICENSE", ExtraType::of_arrow(license.data_type())),
        ];
        let per_column: Vec<Vec<ExtraValue>> = [&similarity, &width, &license]
            .iter()
            .zip(&columns)
            .map(|(a, c)| values_of(a, c.data_type).unwrap())
            .collect();
        assert_eq!(per_column[1], [ExtraValue::Int(-7), ExtraValue::Int(640)]);
        let rows: Vec<Vec<ExtraValue>> = (0..2).map(|r| per_column.iter().map(|c| c[r].clone()).collect()).collect();
        let queries = crate::records::QueryEntry {
            id: 0,
            query: "q".into(),
            source: crate::records::QuerySource::Title,
            count: 1,
            pmi: None,
        };
        use crate::records::Record;
        let base = crate::records::QueryEntry::to_batch(&[queries.clone(), queries]).unwrap();
        let batch = append(base, RecordKind::Queries, &columns, &rows).unwrap();
        check(batch.schema().as_ref(), &columns).unwrap();
        assert_eq!(batch.column_by_name("similarity").unwrap().data_type(), &DataType::Float32);
        assert_eq!(batch.column_by_name("WIDTH").unwrap().as_primitive::<arrow::datatypes::Int32Type>().value(1), 640);
        let license = batch.column_by_name("LICENSE").unwrap();
        assert_eq!((license.as_string::<i32>().value(0), license.is_null(1)), ("cc-by", true));
        assert!(check(&RecordKind::Queries.schema(), &columns).unwrap_err().to_string().contains("similarity"));
        assert_eq!(clashes(RecordKind::Corpus, &[ExtraColumn::new("caption", ExtraType::Text)]), ["caption"]);
    }
}
