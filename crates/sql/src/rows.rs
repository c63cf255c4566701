//! A statement's result as Arrow record batches, rendered in the format a client asked for.

use patchbay_engine::arrow::array::{Array, RecordBatch, StringArray};
use patchbay_engine::arrow::datatypes::SchemaRef;
use patchbay_engine::arrow::util::display::{ArrayFormatter, FormatOptions};
use patchbay_engine::{Output, databricks_type_name};
use patchbay_server::statements::engine::{ResultColumn, ResultRows};
use std::io::Write;
use std::ops::Range;

/// Rows held in memory until the statement's result expires.
pub struct ArrowRows {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    columns: Vec<ResultColumn>,
    rows: usize,
    bytes: usize,
}

impl ArrowRows {
    pub fn new(output: Output) -> ArrowRows {
        let columns = output
            .schema
            .fields()
            .iter()
            .map(|f| {
                let type_text = databricks_type_name(f.data_type());
                let type_name = type_text.split(['(', '<']).next().unwrap_or_default().to_owned();
                ResultColumn { name: f.name().clone(), type_name, type_text }
            })
            .collect();
        let batches: Vec<RecordBatch> =
            output.batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        // JSON spends a few bytes per value on quotes and commas beyond the data itself.
        let bytes = batches
            .iter()
            .map(|b| b.get_array_memory_size() + b.num_rows() * b.num_columns() * 4)
            .sum();
        ArrowRows { schema: output.schema, batches, columns, rows, bytes }
    }

    /// The batches that hold rows `range`, sliced to exactly those rows.
    fn slice(&self, range: Range<usize>) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        let mut offset = 0;
        for batch in &self.batches {
            let (start, end) = (offset, offset + batch.num_rows());
            offset = end;
            let from = range.start.max(start);
            let to = range.end.min(end);
            if from < to {
                out.push(batch.slice(from - start, to - from));
            }
            if end >= range.end {
                break;
            }
        }
        out
    }
}

fn lz4(bytes: Vec<u8>) -> Vec<u8> {
    let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(bytes.len() / 2));
    encoder.write_all(&bytes).expect("writing to memory does not fail");
    encoder.finish().expect("writing to memory does not fail")
}

/// The values of `column` as JSON text when it holds arrays, maps or structs, as Databricks
/// shows them (`[1,2,null]`, `{"a":"x"}`); `None` for a column of another type, whose values
/// are shown as they are.
fn json_values(column: &patchbay_engine::arrow::array::ArrayRef) -> Option<StringArray> {
    use patchbay_engine::arrow::datatypes::DataType;
    let nested = matches!(
        column.data_type(),
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::Struct(_)
            | DataType::Map(..)
    );
    nested.then(|| patchbay_engine::json_texts(column).ok())?
}

impl ResultRows for ArrowRows {
    fn columns(&self) -> &[ResultColumn] {
        &self.columns
    }

    fn row_count(&self) -> usize {
        self.rows
    }

    fn approximate_bytes(&self) -> usize {
        self.bytes
    }

    fn json(&self, range: Range<usize>) -> Vec<Vec<Option<String>>> {
        // Instants with their offset (`2026-01-01T00:00:00+00:00`), so that clients read them
        // as the instants they are.
        let options =
            FormatOptions::default().with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%S%.f%:z"));
        let mut rows = Vec::with_capacity(range.len());
        for batch in self.slice(range) {
            let formatters: Vec<_> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<_, _>>()
                .unwrap_or_default();
            let nested: Vec<Option<StringArray>> =
                batch.columns().iter().map(json_values).collect();
            for row in 0..batch.num_rows() {
                rows.push(
                    batch
                        .columns()
                        .iter()
                        .zip(&formatters)
                        .zip(&nested)
                        .map(|((column, format), nested)| {
                            (!column.is_null(row)).then(|| match nested {
                                Some(values) => values.value(row).to_owned(),
                                None => format.value(row).to_string(),
                            })
                        })
                        .collect(),
                );
            }
        }
        rows
    }

    fn arrow_stream(&self, range: Range<usize>, compress: bool) -> Vec<u8> {
        let mut bytes = Vec::new();
        {
            let mut writer = patchbay_engine::arrow::ipc::writer::StreamWriter::try_new(
                &mut bytes,
                &self.schema,
            )
            .expect("a schema the engine produced");
            for batch in self.slice(range) {
                writer.write(&batch).expect("writing to memory does not fail");
            }
            writer.finish().expect("writing to memory does not fail");
        }
        if compress { lz4(bytes) } else { bytes }
    }

    fn csv(&self, range: Range<usize>, compress: bool) -> Vec<u8> {
        let mut bytes = Vec::new();
        {
            let mut writer = patchbay_engine::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut bytes);
            for batch in self.slice(range) {
                writer.write(&batch).expect("writing to memory does not fail");
            }
        }
        if compress { lz4(bytes) } else { bytes }
    }
}

impl ArrowRows {
    /// No rows and no columns: what DDL, `GRANT` and `USE` return.
    pub fn empty() -> ArrowRows {
        ArrowRows::strings(&[], Vec::new())
    }

    /// Rows of text (or NULL) under these column names: what `SHOW` and `DESCRIBE` return.
    pub fn strings(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> ArrowRows {
        use patchbay_engine::arrow::array::{ArrayRef, StringArray};
        use patchbay_engine::arrow::datatypes::{DataType, Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(
            columns.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect::<Vec<_>>(),
        ));
        let batches = if columns.is_empty() || rows.is_empty() {
            Vec::new()
        } else {
            let arrays: Vec<ArrayRef> = (0..columns.len())
                .map(|i| {
                    Arc::new(StringArray::from(
                        rows.iter().map(|r| r.get(i).cloned().flatten()).collect::<Vec<_>>(),
                    )) as ArrayRef
                })
                .collect();
            vec![RecordBatch::try_new(schema.clone(), arrays).expect("one array per column")]
        };
        ArrowRows::new(Output::new(schema, batches))
    }
}
