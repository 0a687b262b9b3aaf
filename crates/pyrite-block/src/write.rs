//! Encoding a block: series in, one Parquet file out.
//!
//! One row per chunk. The columns are the block's label names (each a dictionary-encoded
//! string column, null where a series lacks the label; `__name__` first), then
//! `__series__` (the series' ordinal), `__kind__` (0: float XOR chunk, 1: native-histogram
//! chunk, 2: integer-delta float chunk), `__min_time__`, `__max_time__` and `__chunk__`
//! (the chunk's bytes). Rows are sorted by metric name, then labels, then kind and time,
//! so a series' chunks are contiguous and row-group and page statistics on `__name__`
//! prune by metric name.
//!
//! A float chunk is stored as an integer-delta chunk when all its values are exact
//! integers and that encoding is smaller, else as the XOR chunk it came as. The choice
//! depends only on the samples, so the same samples always give the same bytes.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Int64Builder, StringBuilder, UInt32Builder, UInt8Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use pyrite_chunk::{delta, ChunkBuilder, Encoding as ChunkEncoding};
use pyrite_storage::Series;

use crate::meta::BlockStats;
use crate::BlockError;

pub const SERIES_COL: &str = "__series__";
pub const KIND_COL: &str = "__kind__";
pub const MIN_TIME_COL: &str = "__min_time__";
pub const MAX_TIME_COL: &str = "__max_time__";
pub const CHUNK_COL: &str = "__chunk__";
/// The columns after the label columns, in order. They are exactly the label names
/// [`pyrite_model::RESERVED_LABEL_NAMES`] reserves, which the distributor refuses too.
pub const FIXED_COLUMNS: [&str; 5] = [SERIES_COL, KIND_COL, MIN_TIME_COL, MAX_TIME_COL, CHUNK_COL];

/// A float chunk in Prometheus's XOR encoding.
pub const KIND_FLOAT: u8 = 0;
/// A native-histogram chunk ([`pyrite_chunk::HistogramChunk`]).
pub const KIND_HISTOGRAM: u8 = 1;
/// A float chunk whose values are all integers, in [`pyrite_chunk::delta`]'s encoding
/// (format version 2 on).
pub const KIND_INTEGER: u8 = 2;

/// How a block file is laid out.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Rows (chunks) per row group: the unit a reader can skip by statistics.
    pub rows_per_group: usize,
    /// Bytes (chunks and label values) a row group holds at most, but for a single row
    /// larger than that. Each row group is built and written on its own, so no column
    /// of a block, however large, is ever one array (Arrow's string and binary arrays
    /// end at 2 GiB) and the writer holds one group's columns at a time.
    pub bytes_per_group: usize,
    /// Rows per data page: the unit a reader fetches chunks in.
    pub rows_per_page: usize,
    pub zstd_level: i32,
    /// Store float chunks whose values are all integers as integer-delta chunks where
    /// smaller (format version 2). Off writes only XOR float chunks.
    pub integer_chunks: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            rows_per_group: 64 * 1024,
            bytes_per_group: 128 << 20,
            rows_per_page: 512,
            zstd_level: 3,
            integer_chunks: true,
        }
    }
}

/// An encoded block file and what it holds.
#[derive(Clone)]
pub struct Encoded {
    pub bytes: Bytes,
    pub stats: BlockStats,
}

/// The order rows (and series) are kept in: metric name, then the whole label set.
pub fn series_order(a: &pyrite_model::Labels, b: &pyrite_model::Labels) -> std::cmp::Ordering {
    a.metric_name().cmp(b.metric_name()).then_with(|| a.cmp(b))
}

/// Encodes `series` (any order; each series' chunks in time order and non-overlapping,
/// label sets distinct) as a block file. Series without chunks are left out.
pub fn encode(mut series: Vec<Series>, opts: &WriteOptions) -> Result<Encoded, BlockError> {
    series.retain(|s| !s.chunks.is_empty() || !s.histograms.is_empty());
    series.sort_by(|a, b| series_order(&a.labels, &b.labels));
    let label_cols = label_columns(&series)?;
    let schema = block_schema(&label_cols);
    let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties(opts)?))?;
    let mut group = RowGroup::new(&label_cols);
    let mut stats = BlockStats {
        series: series.len() as u64,
        ..Default::default()
    };
    let mut scratch = ChunkScratch::default();
    for (i, s) in series.iter().enumerate() {
        let label_bytes: usize = s.labels.iter().map(|l| l.value.len()).sum();
        for r in 0..s.chunks.len() + s.histograms.len() {
            let row = scratch.row(s, r, opts);
            let row_bytes = row.bytes.len() + label_bytes;
            if group.rows > 0
                && (group.rows >= opts.rows_per_group.max(1) || group.bytes + row_bytes > opts.bytes_per_group)
            {
                writer.write(&group.finish(&schema)?)?;
                writer.flush()?;
            }
            group.append(&s.labels, i as u32, &row, row_bytes);
            stats.chunks += 1;
            stats.samples += row.samples as u64;
        }
    }
    if group.rows > 0 {
        writer.write(&group.finish(&schema)?)?;
    }
    Ok(Encoded {
        bytes: Bytes::from(writer.into_inner()?),
        stats,
    })
}

/// The label columns of a block holding `series`: `__name__` first, then by name.
fn label_columns(series: &[Series]) -> Result<Vec<&str>, BlockError> {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for s in series {
        for l in s.labels.iter() {
            if pyrite_model::is_reserved_label_name(&l.name) {
                return Err(BlockError::Invalid(format!(
                    "label name {:?} is reserved in blocks",
                    l.name
                )));
            }
            names.insert(&l.name);
        }
    }
    let mut label_cols: Vec<&str> = Vec::with_capacity(names.len());
    if names.remove("__name__") {
        label_cols.push("__name__");
    }
    label_cols.extend(names);
    Ok(label_cols)
}

fn block_schema(label_cols: &[&str]) -> Arc<Schema> {
    let mut fields: Vec<Field> = label_cols
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, true))
        .collect();
    fields.extend([
        Field::new(SERIES_COL, DataType::UInt32, false),
        Field::new(KIND_COL, DataType::UInt8, false),
        Field::new(MIN_TIME_COL, DataType::Int64, false),
        Field::new(MAX_TIME_COL, DataType::Int64, false),
        Field::new(CHUNK_COL, DataType::Binary, false),
    ]);
    Arc::new(Schema::new(fields))
}

fn properties(opts: &WriteOptions) -> Result<WriterProperties, BlockError> {
    let level = ZstdLevel::try_new(opts.zstd_level).map_err(|e| BlockError::Invalid(e.to_string()))?;
    let chunk_col = ColumnPath::from(CHUNK_COL);
    let series_col = ColumnPath::from(SERIES_COL);
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(opts.rows_per_group.max(1)))
        .set_data_page_row_count_limit(opts.rows_per_page.max(1))
        .set_statistics_enabled(EnabledStatistics::Page)
        // Chunk bytes are unique: no dictionary, no statistics. zstd still pays on them:
        // integer chunks are byte-aligned groups whose headers repeat.
        .set_column_dictionary_enabled(chunk_col.clone(), false)
        .set_column_encoding(chunk_col.clone(), Encoding::PLAIN)
        .set_column_statistics_enabled(chunk_col, EnabledStatistics::None)
        // Ordinals ascend by 0 or 1 per row: delta-packed they take a few bits a row,
        // where a dictionary of them cost more than all label columns together.
        .set_column_dictionary_enabled(series_col.clone(), false)
        .set_column_encoding(series_col, Encoding::DELTA_BINARY_PACKED)
        .build())
}

/// One chunk as a row: its kind, time range, sample count and the bytes stored.
struct ChunkRow<'a> {
    kind: u8,
    min_t: i64,
    max_t: i64,
    samples: usize,
    bytes: &'a [u8],
}

/// Buffers reused across chunks: a float chunk's samples and the bytes chosen for it.
#[derive(Default)]
struct ChunkScratch {
    samples: Vec<(i64, f64)>,
    bytes: Vec<u8>,
}

impl ChunkScratch {
    /// Row `r` of series `s`: its float chunks first, then its histogram chunks.
    fn row<'a>(&'a mut self, s: &'a Series, r: usize, opts: &WriteOptions) -> ChunkRow<'a> {
        let Some(c) = s.chunks.get(r) else {
            let h = &s.histograms[r - s.chunks.len()];
            return ChunkRow {
                kind: KIND_HISTOGRAM,
                min_t: h.min_time(),
                max_t: h.max_time(),
                samples: h.len(),
                bytes: h.bytes(),
            };
        };
        self.samples.clear();
        self.bytes.clear();
        let integer = c.encoding() == ChunkEncoding::IntegerDelta;
        if opts.integer_chunks || integer {
            self.samples.extend(c.iter());
        }
        // A chunk read from a block may be integer-encoded: compare, and fall back to,
        // its XOR form.
        let xor = if integer {
            let mut b = ChunkBuilder::new();
            self.samples.iter().for_each(|&(t, v)| b.append(t, v));
            b.finish()
        } else {
            c.clone()
        };
        // The denser encoding where it carries the values exactly and is smaller.
        let kind = if opts.integer_chunks
            && self.samples.len() == c.len()
            && delta::encode(&self.samples, &mut self.bytes)
            && self.bytes.len() < xor.bytes().len()
        {
            KIND_INTEGER
        } else {
            self.bytes.clear();
            self.bytes.extend_from_slice(xor.bytes());
            KIND_FLOAT
        };
        ChunkRow {
            kind,
            min_t: c.min_time(),
            max_t: c.max_time(),
            samples: if kind == KIND_INTEGER { c.len() } else { xor.len() },
            bytes: &self.bytes,
        }
    }
}

/// The columns of one row group being built.
struct RowGroup<'a> {
    label_cols: &'a [&'a str],
    labels: Vec<StringBuilder>,
    ordinal: UInt32Builder,
    kind: UInt8Builder,
    min_t: Int64Builder,
    max_t: Int64Builder,
    chunk: BinaryBuilder,
    rows: usize,
    bytes: usize,
}

impl<'a> RowGroup<'a> {
    fn new(label_cols: &'a [&'a str]) -> Self {
        Self {
            label_cols,
            labels: label_cols.iter().map(|_| StringBuilder::new()).collect(),
            ordinal: UInt32Builder::new(),
            kind: UInt8Builder::new(),
            min_t: Int64Builder::new(),
            max_t: Int64Builder::new(),
            chunk: BinaryBuilder::new(),
            rows: 0,
            bytes: 0,
        }
    }

    fn append(&mut self, labels: &pyrite_model::Labels, ordinal: u32, row: &ChunkRow<'_>, bytes: usize) {
        for (col, name) in self.labels.iter_mut().zip(self.label_cols) {
            match labels.get(name) {
                "" => col.append_null(),
                v => col.append_value(v),
            }
        }
        self.ordinal.append_value(ordinal);
        self.kind.append_value(row.kind);
        self.min_t.append_value(row.min_t);
        self.max_t.append_value(row.max_t);
        self.chunk.append_value(row.bytes);
        self.rows += 1;
        self.bytes += bytes;
    }

    /// The rows appended so far as one batch; the group starts empty again.
    fn finish(&mut self, schema: &Arc<Schema>) -> Result<RecordBatch, BlockError> {
        let mut columns: Vec<ArrayRef> = self
            .labels
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        columns.push(Arc::new(self.ordinal.finish()));
        columns.push(Arc::new(self.kind.finish()));
        columns.push(Arc::new(self.min_t.finish()));
        columns.push(Arc::new(self.max_t.finish()));
        columns.push(Arc::new(self.chunk.finish()));
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| BlockError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use pyrite_chunk::Chunk;
    use pyrite_model::Labels;

    /// Series of noisy floats, so chunks stay XOR and large.
    fn data(series: usize) -> Vec<Series> {
        (0..series)
            .map(|i| {
                let samples: Vec<(i64, f64)> = (0..2_000)
                    .map(|t| (t * 15_000, (t as f64 * 1.7).sin() * i as f64))
                    .collect();
                let name = format!("s{i:03}");
                Series::new(
                    Labels::from_pairs(&[("__name__", "noise"), ("id", name.as_str())]),
                    Chunk::encode_all(&samples, 120),
                )
            })
            .collect()
    }

    #[test]
    fn row_groups_are_bounded_by_bytes_not_only_rows() {
        let limit = 16 * 1024;
        let opts = WriteOptions {
            bytes_per_group: limit,
            ..Default::default()
        };
        let encoded = encode(data(40), &opts).unwrap();
        let file = SerializedFileReader::new(encoded.bytes.clone()).unwrap();
        let meta = file.metadata();
        let chunk_col = meta
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.name() == CHUNK_COL)
            .unwrap();
        let largest_row = 2_000; // a 120-sample XOR chunk of noise is well under this
        let mut rows = 0;
        for g in meta.row_groups() {
            let chunk_bytes = g.column(chunk_col).uncompressed_size() as usize;
            assert!(
                chunk_bytes <= limit + largest_row + 1024,
                "a row group of {chunk_bytes} chunk bytes"
            );
            rows += g.num_rows() as u64;
        }
        assert!(meta.num_row_groups() > 10, "{} row groups", meta.num_row_groups());
        assert_eq!(rows, encoded.stats.chunks);
        // The default keeps the same rows in one group.
        let one = encode(data(40), &WriteOptions::default()).unwrap();
        assert_eq!(
            SerializedFileReader::new(one.bytes)
                .unwrap()
                .metadata()
                .num_row_groups(),
            1
        );
        assert_eq!(one.stats.samples, encoded.stats.samples);
    }
}
