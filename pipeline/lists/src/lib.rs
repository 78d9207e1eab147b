//! wit-lists: URL lists, img2dataset-style: csv, tsv, jsonl, parquet or plain text (one URL a line), each
//! optionally gzip-compressed (`.csv.gz` …).
//!
//! [`open`] gives an iterator of [`UrlRow`]s: the URL (`--url-col`, default `url`), the caption
//! (`--caption-col`, none by default as in img2dataset), every other column as a string by name,
//! and the 1-based data row number for messages. Columns named in `keep_columns`
//! (`--save-additional-columns`) also come typed, in [`UrlRow::kept`]: a Parquet column with its
//! own type ([`wit_contract::ExtraType::of_arrow`]), a csv/tsv/jsonl one as text (an empty csv field
//! or a JSON null is null); a csv, tsv or Parquet list without one of them is an error naming the file. A bad row (no URL, a line that is not a JSON
//! object, a CSV row of the wrong width) is an `Err` the caller may count and pass
//! ([`UrlListError::is_row_error`]); any other error ends the iteration.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use wit_contract::AtPath;
use wit_contract::{ExtraColumn, ExtraType, ExtraValue};

/// The formats a URL list can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListFormat {
    Csv,
    Tsv,
    Jsonl,
    Parquet,
    /// One URL a line, nothing else.
    Txt,
}

impl ListFormat {
    pub fn name(self) -> &'static str {
        match self {
            ListFormat::Csv => "csv",
            ListFormat::Tsv => "tsv",
            ListFormat::Jsonl => "jsonl",
            ListFormat::Parquet => "parquet",
            ListFormat::Txt => "txt",
        }
    }
}

/// The format of `path` from its name (`.csv`, `.tsv`, `.jsonl`/`.json`/`.ndjson`, `.parquet`,
/// `.txt`, each optionally with `.gz`) and whether it is gzip-compressed.
pub fn format_from_name(path: &Path) -> Option<(ListFormat, bool)> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let (name, gzip) = match name.strip_suffix(".gz") {
        Some(stem) => (stem.to_owned(), true),
        None => (name, false),
    };
    let ext = name.rsplit_once('.')?.1;
    let format = match ext {
        "csv" => ListFormat::Csv,
        "tsv" | "tab" => ListFormat::Tsv,
        "jsonl" | "json" | "ndjson" => ListFormat::Jsonl,
        "parquet" | "pq" => ListFormat::Parquet,
        "txt" => ListFormat::Txt,
        _ => return None,
    };
    Some((format, gzip))
}

/// How to read a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlListOptions {
    /// The URL column (ignored for txt).
    pub url_col: String,
    /// The caption column; None: rows have no caption. A named column that the file lacks is an error.
    pub caption_col: Option<String>,
    /// The format; None: from the file name (see [`format_from_name`]), gzip from the content.
    pub format: Option<ListFormat>,
    /// Columns to carry into the output rows as typed values ([`UrlRow::kept`]), in this order.
    pub keep_columns: Vec<String>,
}

impl Default for UrlListOptions {
    fn default() -> Self {
        UrlListOptions { url_col: "url".into(), caption_col: None, format: None, keep_columns: Vec::new() }
    }
}

/// One row of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlRow {
    /// 1-based data row (header not counted; for jsonl and txt, the line number).
    pub row: u64,
    pub url: String,
    pub caption: Option<String>,
    /// Every other non-null column, as text.
    pub extra: BTreeMap<String, String>,
    /// The values of `keep_columns`, in that order.
    pub kept: Vec<ExtraValue>,
}

#[derive(Debug, thiserror::Error)]
pub enum UrlListError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    /// The file as a whole cannot be read as a list (format, header, columns).
    #[error("{path}: {problem}")]
    Format { path: PathBuf, problem: String },
    /// One row is bad; the rows after it can still be read.
    #[error("{path}, row {row}: {problem}")]
    Row { path: PathBuf, row: u64, problem: String },
}

impl UrlListError {
    /// Whether this is one bad row (the iteration goes on) rather than the end of the file.
    pub fn is_row_error(&self) -> bool {
        matches!(self, UrlListError::Row { .. })
    }
}

/// The rows of one URL list; see the module docs.
pub struct UrlList {
    path: PathBuf,
    format: ListFormat,
    body: Body,
    done: bool,
    kept_columns: Vec<ExtraColumn>,
}

enum Body {
    Delimited { reader: Box<csv::Reader<Box<dyn Read + Send>>>, columns: Columns, record: csv::StringRecord, row: u64 },
    Jsonl { lines: Box<dyn BufRead + Send>, url_col: String, caption_col: Option<String>, keep: Vec<String>, line: u64 },
    Txt { lines: Box<dyn BufRead + Send>, line: u64 },
    Parquet { batches: Box<ParquetRecordBatchReader>, columns: Columns, pending: Vec<UrlRow>, row: u64 },
}

/// The next line of a line-based list (`line` counts them, 1-based once read); None at the end.
fn next_line(lines: &mut dyn BufRead, line: &mut u64, path: &Path) -> Option<Result<String, UrlListError>> {
    let mut text = String::new();
    match lines.read_line(&mut text) {
        Ok(0) => None,
        Ok(_) => {
            *line += 1;
            Some(Ok(text))
        }
        Err(e) => {
            Some(Err(UrlListError::Format { path: path.to_path_buf(), problem: format!("line {}: {e}", *line + 1) }))
        }
    }
}

/// Column positions and names of a tabular list.
struct Columns {
    names: Vec<String>,
    url: usize,
    caption: Option<usize>,
    /// Positions of the kept columns.
    keep: Vec<usize>,
}

impl Columns {
    fn find(path: &Path, names: Vec<String>, options: &UrlListOptions) -> Result<Self, UrlListError> {
        let position = |column: &str| names.iter().position(|n| n == column);
        let url = position(&options.url_col).ok_or_else(|| UrlListError::Format {
            path: path.to_path_buf(),
            problem: format!(
                "no URL column {:?} (columns: {}); pick one with --url-col",
                options.url_col,
                names.join(", ")
            ),
        })?;
        let caption = match &options.caption_col {
            None => None,
            Some(column) => Some(position(column).ok_or_else(|| UrlListError::Format {
                path: path.to_path_buf(),
                problem: format!("no caption column {column:?} (columns: {})", names.join(", ")),
            })?),
        };
        let keep = options
            .keep_columns
            .iter()
            .map(|column| {
                position(column).ok_or_else(|| UrlListError::Format {
                    path: path.to_path_buf(),
                    problem: format!(
                        "no column {column:?} to keep (--save-additional-columns; columns: {})",
                        names.join(", ")
                    ),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Columns { names, url, caption, keep })
    }
}

fn open_maybe_gzip(path: &Path) -> Result<Box<dyn Read + Send>, UrlListError> {
    let mut file = BufReader::with_capacity(1 << 16, File::open(path).at_path(path)?);
    let gzip = file.fill_buf().at_path(path)?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) })
}

/// Opens a URL list; see the module docs.
pub fn open(path: &Path, options: &UrlListOptions) -> Result<UrlList, UrlListError> {
    let format = match options.format.or_else(|| format_from_name(path).map(|(f, _)| f)) {
        Some(format) => format,
        None => {
            return Err(UrlListError::Format {
                path: path.to_path_buf(),
                problem: "cannot tell the list format from the name (csv, tsv, jsonl, parquet or txt, optionally .gz)"
                    .into(),
            })
        }
    };
    let input = open_maybe_gzip(path)?;
    // Text formats keep their columns as text; Parquet below keeps each column's type.
    let mut kept_columns: Vec<ExtraColumn> =
        options.keep_columns.iter().map(|name| ExtraColumn::new(name, ExtraType::Text)).collect();
    let body = match format {
        ListFormat::Csv | ListFormat::Tsv => {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(if format == ListFormat::Tsv { b'\t' } else { b',' })
                .flexible(true)
                .from_reader(input);
            let header = reader
                .headers()
                .map_err(|e| UrlListError::Format { path: path.to_path_buf(), problem: format!("header: {e}") })?;
            let names = header.iter().map(|h| h.trim().to_owned()).collect();
            let columns = Columns::find(path, names, options)?;
            Body::Delimited { reader: Box::new(reader), columns, record: csv::StringRecord::new(), row: 0 }
        }
        ListFormat::Jsonl => Body::Jsonl {
            lines: Box::new(BufReader::with_capacity(1 << 16, input)),
            url_col: options.url_col.clone(),
            caption_col: options.caption_col.clone(),
            keep: options.keep_columns.clone(),
            line: 0,
        },
        ListFormat::Txt => Body::Txt { lines: Box::new(BufReader::with_capacity(1 << 16, input)), line: 0 },
        ListFormat::Parquet => {
            let mut bytes = Vec::new();
            let mut input = input;
            input.read_to_end(&mut bytes).at_path(path)?;
            let parquet_error = |e: parquet::errors::ParquetError| UrlListError::Format {
                path: path.to_path_buf(),
                problem: format!("Parquet: {e}"),
            };
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).map_err(parquet_error)?;
            let names = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
            let columns = Columns::find(path, names, options)?;
            let fields = builder.schema().fields();
            kept_columns = columns
                .keep
                .iter()
                .map(|&i| ExtraColumn::new(fields[i].name(), ExtraType::of_arrow(fields[i].data_type())))
                .collect();
            let batches = builder.with_batch_size(4096).build().map_err(parquet_error)?;
            Body::Parquet { batches: Box::new(batches), columns, pending: Vec::new(), row: 0 }
        }
    };
    Ok(UrlList { path: path.to_path_buf(), format, body, done: false, kept_columns })
}

impl UrlList {
    pub fn format(&self) -> ListFormat {
        self.format
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kept columns (`keep_columns`) with the types their values come in.
    pub fn kept_columns(&self) -> &[ExtraColumn] {
        &self.kept_columns
    }

    fn next_row(&mut self) -> Option<Result<UrlRow, UrlListError>> {
        let path = self.path.clone();
        match &mut self.body {
            Body::Delimited { reader, columns, record, row } => {
                match reader.read_record(record) {
                    Ok(false) => return None,
                    Ok(true) => {}
                    Err(e) => {
                        *row += 1;
                        let row = *row;
                        return Some(Err(if e.is_io_error() {
                            self.done = true;
                            UrlListError::Format { path, problem: format!("row {row}: {e}") }
                        } else {
                            UrlListError::Row { path, row, problem: e.to_string() }
                        }));
                    }
                }
                *row += 1;
                let row = *row;
                // Missing trailing fields are absent values (as pandas reads them); extra ones are an error.
                if record.len() > columns.names.len() {
                    let problem = format!("{} fields, the header has {}", record.len(), columns.names.len());
                    return Some(Err(UrlListError::Row { path, row, problem }));
                }
                let url = record.get(columns.url).unwrap_or("").trim().to_owned();
                let caption = columns.caption.and_then(|c| record.get(c)).map(str::to_owned);
                let extra = columns
                    .names
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != columns.url && Some(*i) != columns.caption)
                    .filter_map(|(i, name)| record.get(i).map(|v| (name.clone(), v.to_owned())))
                    .collect();
                let kept = columns
                    .keep
                    .iter()
                    .map(|&i| match record.get(i) {
                        Some(v) if !v.is_empty() => ExtraValue::Text(v.to_owned()),
                        _ => ExtraValue::Null,
                    })
                    .collect();
                finish_row(&path, row, url, caption, extra, kept)
            }
            Body::Jsonl { lines, url_col, caption_col, keep, line } => loop {
                let text = match next_line(lines.as_mut(), line, &path)? {
                    Ok(text) => text,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                };
                if text.trim().is_empty() {
                    continue;
                }
                let row = *line;
                let object = match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(object)) => object,
                    Ok(_) => return Some(Err(UrlListError::Row { path, row, problem: "not a JSON object".into() })),
                    Err(e) => return Some(Err(UrlListError::Row { path, row, problem: format!("JSON: {e}") })),
                };
                let mut url = String::new();
                let mut caption = None;
                let mut extra = BTreeMap::new();
                let kept = keep
                    .iter()
                    .map(|name| match object.get(name) {
                        None | Some(serde_json::Value::Null) => ExtraValue::Null,
                        Some(serde_json::Value::String(s)) => ExtraValue::Text(s.clone()),
                        Some(other) => ExtraValue::Text(other.to_string()),
                    })
                    .collect();
                for (key, value) in object {
                    let value = match value {
                        serde_json::Value::Null => continue,
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    if key == *url_col {
                        url = value.trim().to_owned();
                    } else if caption_col.as_deref() == Some(key.as_str()) {
                        caption = Some(value);
                    } else {
                        extra.insert(key, value);
                    }
                }
                return finish_row(&path, row, url, caption, extra, kept);
            },
            Body::Txt { lines, line } => loop {
                let text = match next_line(lines.as_mut(), line, &path)? {
                    Ok(text) => text,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                };
                let url = text.trim();
                if url.is_empty() || url.starts_with('#') {
                    continue;
                }
                let row =
                    UrlRow { row: *line, url: url.to_owned(), caption: None, extra: BTreeMap::new(), kept: Vec::new() };
                return Some(Ok(row));
            },
            Body::Parquet { batches, columns, pending, row } => loop {
                if let Some(next) = pending.pop() {
                    if next.url.is_empty() {
                        return Some(Err(UrlListError::Row { path, row: next.row, problem: "no URL".into() }));
                    }
                    return Some(Ok(next));
                }
                let batch = match batches.next()? {
                    Ok(batch) => batch,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(UrlListError::Format { path, problem: format!("rows after {row}: {e}") }));
                    }
                };
                match parquet_rows(&path, &batch, columns, &self.kept_columns, *row) {
                    Ok(rows) => {
                        *row += batch.num_rows() as u64;
                        // Popped from the end.
                        *pending = rows.into_iter().rev().collect();
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            },
        }
    }
}

fn finish_row(
    path: &Path,
    row: u64,
    url: String,
    caption: Option<String>,
    extra: BTreeMap<String, String>,
    kept: Vec<ExtraValue>,
) -> Option<Result<UrlRow, UrlListError>> {
    if url.is_empty() {
        return Some(Err(UrlListError::Row { path: path.to_path_buf(), row, problem: "no URL".into() }));
    }
    Some(Ok(UrlRow { row, url, caption, extra, kept }))
}

fn as_strings(path: &Path, array: &ArrayRef, name: &str) -> Result<StringArray, UrlListError> {
    let cast_array = cast(array, &DataType::Utf8).map_err(|e| UrlListError::Format {
        path: path.to_path_buf(),
        problem: format!("column {name:?} ({}) cannot be read as text: {e}", array.data_type()),
    })?;
    Ok(cast_array.as_string::<i32>().clone())
}

/// The rows of one Parquet batch (rows without a URL get an empty `url`, reported by the caller).
fn parquet_rows(
    path: &Path,
    batch: &RecordBatch,
    columns: &Columns,
    kept_columns: &[ExtraColumn],
    first: u64,
) -> Result<Vec<UrlRow>, UrlListError> {
    let mut kept: Vec<std::vec::IntoIter<ExtraValue>> = Vec::with_capacity(columns.keep.len());
    for (&i, column) in columns.keep.iter().zip(kept_columns) {
        let values = wit_contract::extra::values_of(batch.column(i), column.data_type).map_err(|e| {
            UrlListError::Format { path: path.to_path_buf(), problem: format!("column {:?}: {e}", column.name) }
        })?;
        kept.push(values.into_iter());
    }
    let urls = as_strings(path, batch.column(columns.url), &columns.names[columns.url])?;
    let captions = match columns.caption {
        Some(c) => Some(as_strings(path, batch.column(c), &columns.names[c])?),
        None => None,
    };
    let options = FormatOptions::default();
    let extras: Vec<(&String, ArrayFormatter<'_>, &ArrayRef)> = columns
        .names
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != columns.url && Some(*i) != columns.caption)
        .filter_map(|(i, name)| {
            let array = batch.column(i);
            ArrayFormatter::try_new(array.as_ref(), &options).ok().map(|f| (name, f, array))
        })
        .collect();
    let mut rows = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let url = if urls.is_null(r) { String::new() } else { urls.value(r).trim().to_owned() };
        let caption = captions.as_ref().and_then(|c| (!c.is_null(r)).then(|| c.value(r).to_owned()));
        let extra = extras
            .iter()
            .filter(|(_, _, array)| !array.is_null(r))
            .map(|(name, formatter, _)| ((*name).clone(), formatter.value(r).to_string()))
            .collect();
        let kept = kept.iter_mut().map(|values| values.next().unwrap_or(ExtraValue::Null)).collect();
        rows.push(UrlRow { row: first + r as u64 + 1, url, caption, extra, kept });
    }
    Ok(rows)
}

impl Iterator for UrlList {
    type Item = Result<UrlRow, UrlListError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_row();
        if next.is_none() {
            self.done = true;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    fn rows(path: &Path, options: &UrlListOptions) -> Vec<Result<UrlRow, String>> {
        open(path, options).unwrap().map(|r| r.map_err(|e| e.to_string())).collect()
    }

    fn with_caption(col: &str) -> UrlListOptions {
        UrlListOptions { caption_col: Some(col.into()), ..Default::default() }
    }

    #[test]
    fn csv_tsv_and_gzip_with_extra_columns_and_bad_rows() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("list.csv");
        std::fs::write(&csv, "url,caption,width\nhttp://a/1.jpg,\"A cat, sitting\",10\n,no url,3\nhttp://a/2.jpg,x,1,2\nhttp://a/3.jpg,short\n").unwrap();
        let got = rows(&csv, &with_caption("caption"));
        let first = got[0].as_ref().unwrap();
        assert_eq!(
            (first.row, first.url.as_str(), first.caption.as_deref()),
            (1, "http://a/1.jpg", Some("A cat, sitting"))
        );
        assert_eq!(first.extra, BTreeMap::from([("width".to_string(), "10".to_string())]));
        assert!(got[1].as_ref().unwrap_err().contains("list.csv, row 2: no URL"));
        let keep = UrlListOptions { keep_columns: vec!["width".into()], ..with_caption("caption") };
        let kept: Vec<Vec<ExtraValue>> = rows(&csv, &keep).into_iter().filter_map(|r| r.ok()).map(|r| r.kept).collect();
        assert_eq!(kept, [vec![ExtraValue::Text("10".into())], vec![ExtraValue::Null]]);
        let err = open(&csv, &UrlListOptions { keep_columns: vec!["LICENSE".into()], ..Default::default() });
        let err = err.err().unwrap().to_string();
        assert!(
            err.contains("list.csv")
                && err.contains("no column \"LICENSE\" to keep")
                && err.contains("url, caption, width"),
            "{err}"
        );
        assert!(got[2].as_ref().unwrap_err().contains("row 3: 4 fields, the header has 3"));
        let short = got[3].as_ref().unwrap();
        assert_eq!((short.caption.as_deref(), short.extra.len()), (Some("short"), 0));

        let tsv = dir.path().join("list.tsv.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"link\ttext\nhttp://b/1.png\tA dog\n").unwrap();
        std::fs::write(&tsv, gz.finish().unwrap()).unwrap();
        let options = UrlListOptions { url_col: "link".into(), caption_col: Some("text".into()), ..Default::default() };
        let got = rows(&tsv, &options);
        assert_eq!(got[0].as_ref().unwrap().caption.as_deref(), Some("A dog"));

        let err = open(&tsv, &UrlListOptions::default()).err().unwrap().to_string();
        assert!(
            err.contains("list.tsv.gz") && err.contains("no URL column \"url\"") && err.contains("link, text"),
            "{err}"
        );
        let err = open(&csv, &with_caption("alt")).err().unwrap().to_string();
        assert!(err.contains("no caption column \"alt\""), "{err}");
    }

    #[test]
    fn jsonl_and_txt() {
        let dir = tempfile::tempdir().unwrap();
        let jsonl = dir.path().join("list.jsonl");
        std::fs::write(
            &jsonl,
            "{\"url\": \"http://a/1.jpg\", \"caption\": \"one\", \"n\": 3, \"tag\": null}\n\n[1]\n{\"caption\": \"x\"}\n{bad\n",
        )
        .unwrap();
        let got = rows(&jsonl, &with_caption("caption"));
        let first = got[0].as_ref().unwrap();
        assert_eq!((first.row, first.caption.as_deref()), (1, Some("one")));
        assert_eq!(first.extra, BTreeMap::from([("n".to_string(), "3".to_string())]));
        assert!(got[1].as_ref().unwrap_err().contains("row 3: not a JSON object"));
        let keep = UrlListOptions { keep_columns: vec!["n".into(), "tag".into()], ..with_caption("caption") };
        let first = open(&jsonl, &keep).unwrap().next().unwrap().unwrap();
        assert_eq!(first.kept, [ExtraValue::Text("3".into()), ExtraValue::Null]);
        assert!(got[2].as_ref().unwrap_err().contains("row 4: no URL"));
        assert!(got[3].as_ref().unwrap_err().contains("row 5: JSON"));
        assert_eq!(got.len(), 4);

        let txt = dir.path().join("urls.txt");
        std::fs::write(&txt, "# comment\nhttp://a/1.jpg\n\n  http://a/2.jpg  \n").unwrap();
        let urls: Vec<(u64, String)> =
            rows(&txt, &UrlListOptions::default()).into_iter().map(|r| r.map(|r| (r.row, r.url)).unwrap()).collect();
        assert_eq!(urls, [(2, "http://a/1.jpg".into()), (4, "http://a/2.jpg".into())]);
    }

    #[test]
    fn parquet_with_typed_and_null_columns() {
        use arrow::array::{Int64Array, LargeStringArray};
        use arrow::datatypes::{Field, Schema};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("URL", DataType::LargeUtf8, true),
            Field::new("TEXT", DataType::Utf8, true),
            Field::new("height", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(LargeStringArray::from(vec![Some("http://a/1.jpg"), None, Some("http://a/3.jpg")])),
                Arc::new(StringArray::from(vec![Some("one"), Some("two"), None])),
                Arc::new(Int64Array::from(vec![Some(7), Some(8), None])),
            ],
        )
        .unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(File::create(&path).unwrap(), schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let options = UrlListOptions {
            url_col: "URL".into(),
            caption_col: Some("TEXT".into()),
            keep_columns: vec!["height".into(), "TEXT".into()],
            ..Default::default()
        };
        let list = open(&path, &options).unwrap();
        assert_eq!(
            list.kept_columns(),
            [ExtraColumn::new("height", ExtraType::Int64), ExtraColumn::new("TEXT", ExtraType::Text)]
        );
        let got = rows(&path, &options);
        let first = got[0].as_ref().unwrap();
        assert_eq!((first.row, first.caption.as_deref()), (1, Some("one")));
        assert_eq!(first.extra, BTreeMap::from([("height".to_string(), "7".to_string())]));
        assert_eq!(first.kept, [ExtraValue::Int(7), ExtraValue::Text("one".into())]);
        assert!(got[1].as_ref().unwrap_err().contains("row 2: no URL"));
        let third = got[2].as_ref().unwrap();
        assert_eq!((third.row, third.caption.as_deref(), third.extra.len()), (3, None, 0));
        assert_eq!(third.kept, [ExtraValue::Null, ExtraValue::Null]);
        let missing = UrlListOptions { keep_columns: vec!["LICENSE".into()], ..options };
        let err = open(&path, &missing).err().unwrap().to_string();
        assert!(err.contains("list.parquet") && err.contains("no column \"LICENSE\" to keep"), "{err}");
    }
}
