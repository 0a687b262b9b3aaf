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

use crate::cut::BLOCK_SAMPLES_PER_CHUNK;
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
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for s in &series {
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

    let rows: usize = series.iter().map(|s| s.chunks.len() + s.histograms.len()).sum();
    let mut labels: Vec<StringBuilder> = label_cols.iter().map(|_| StringBuilder::new()).collect();
    let mut ordinal = UInt32Builder::with_capacity(rows);
    let mut kind = UInt8Builder::with_capacity(rows);
    let mut min_t = Int64Builder::with_capacity(rows);
    let mut max_t = Int64Builder::with_capacity(rows);
    let mut chunk = BinaryBuilder::with_capacity(rows, 0);
    let mut stats = BlockStats {
        series: series.len() as u64,
        ..Default::default()
    };
    // Scratch reused across chunks: a float chunk's samples and its integer encoding.
    let mut samples: Vec<(i64, f64)> = Vec::with_capacity(BLOCK_SAMPLES_PER_CHUNK);
    let mut dense: Vec<u8> = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let rows = s.chunks.len() + s.histograms.len();
        for r in 0..rows {
            for (col, name) in labels.iter_mut().zip(&label_cols) {
                match s.labels.get(name) {
                    "" => col.append_null(),
                    v => col.append_value(v),
                }
            }
            ordinal.append_value(i as u32);
            let (k, lo, hi, len) = match s.chunks.get(r) {
                Some(c) => {
                    samples.clear();
                    dense.clear();
                    let integer = c.encoding() == ChunkEncoding::IntegerDelta;
                    if opts.integer_chunks || integer {
                        samples.extend(c.iter());
                    }
                    // A chunk read from a block may be integer-encoded: compare, and fall
                    // back to, its XOR form.
                    let xor = if integer {
                        let mut b = ChunkBuilder::new();
                        samples.iter().for_each(|&(t, v)| b.append(t, v));
                        b.finish()
                    } else {
                        c.clone()
                    };
                    // The denser encoding where it carries the values exactly and is smaller.
                    if opts.integer_chunks
                        && samples.len() == c.len()
                        && delta::encode(&samples, &mut dense)
                        && dense.len() < xor.bytes().len()
                    {
                        chunk.append_value(&dense);
                        (KIND_INTEGER, c.min_time(), c.max_time(), c.len())
                    } else {
                        chunk.append_value(xor.bytes());
                        (KIND_FLOAT, c.min_time(), c.max_time(), xor.len())
                    }
                }
                None => {
                    let h = &s.histograms[r - s.chunks.len()];
                    chunk.append_value(h.bytes());
                    (KIND_HISTOGRAM, h.min_time(), h.max_time(), h.len())
                }
            };
            kind.append_value(k);
            min_t.append_value(lo);
            max_t.append_value(hi);
            stats.chunks += 1;
            stats.samples += len as u64;
        }
    }

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
    let schema = Arc::new(Schema::new(fields));
    let mut columns: Vec<ArrayRef> = labels.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
    columns.push(Arc::new(ordinal.finish()));
    columns.push(Arc::new(kind.finish()));
    columns.push(Arc::new(min_t.finish()));
    columns.push(Arc::new(max_t.finish()));
    columns.push(Arc::new(chunk.finish()));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| BlockError::Invalid(e.to_string()))?;

    let level = ZstdLevel::try_new(opts.zstd_level).map_err(|e| BlockError::Invalid(e.to_string()))?;
    let chunk_col = ColumnPath::from(CHUNK_COL);
    let series_col = ColumnPath::from(SERIES_COL);
    let props = WriterProperties::builder()
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
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(props))?;
    writer.write(&batch)?;
    let bytes = writer.into_inner()?;
    Ok(Encoded {
        bytes: Bytes::from(bytes),
        stats,
    })
}
