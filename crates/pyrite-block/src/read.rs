//! Reading a block from a bucket. Opening one fetches the Parquet footer (with the page
//! index) and every column but the chunks, and keeps them in memory: the block's series,
//! their labels, and each chunk's kind and time range. A selection then finds its series
//! there and fetches only the pages of the chunk column that hold their chunks, by byte
//! range; a listing of label sets ([`BlockReader::series`]) fetches nothing.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt32Type, UInt8Type};
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use pyrite_chunk::{Chunk, HistogramChunk};
use pyrite_model::{Label, Labels, MatchOp, Matcher};
use pyrite_storage::{SelectHints, Series};

use crate::meta::{BlockMeta, DATA_FILE, FORMAT_VERSION};
use crate::write::{
    CHUNK_COL, KIND_COL, KIND_FLOAT, KIND_HISTOGRAM, KIND_INTEGER, MAX_TIME_COL, MIN_TIME_COL, SERIES_COL,
};
use crate::BlockError;

struct SeriesEntry {
    labels: Labels,
    rows: Range<usize>,
}

#[derive(Clone, Copy)]
struct RowInfo {
    kind: u8,
    min_t: i64,
    max_t: i64,
}

/// One block, opened: its index in memory, its chunks in the bucket.
pub struct BlockReader {
    meta: BlockMeta,
    store: Arc<dyn ObjectStore>,
    path: Path,
    parquet: ArrowReaderMetadata,
    /// In file order: by metric name, then labels.
    series: Vec<SeriesEntry>,
    rows: Vec<RowInfo>,
    chunk_col: usize,
}

impl BlockReader {
    /// Opens the block `meta` describes, reading its index into memory.
    pub async fn open(store: Arc<dyn ObjectStore>, meta: BlockMeta) -> Result<BlockReader, BlockError> {
        if meta.version > FORMAT_VERSION {
            return Err(BlockError::Invalid(format!(
                "block {} has format version {}; this reader knows up to {FORMAT_VERSION}",
                meta.ulid, meta.version
            )));
        }
        let path = Path::from(format!("{}/{DATA_FILE}", meta.dir()));
        let mut reader = BucketFile {
            store: store.clone(),
            path: path.clone(),
            size: meta.data_size(),
        };
        let parquet = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new()).await?;
        let schema = parquet.schema().clone();
        let col = |name: &str| {
            schema
                .index_of(name)
                .map_err(|_| BlockError::Invalid(format!("block {} has no column {name}", meta.ulid)))
        };
        let chunk_col = col(CHUNK_COL)?;
        let (series_col, kind_col, min_col, max_col) =
            (col(SERIES_COL)?, col(KIND_COL)?, col(MIN_TIME_COL)?, col(MAX_TIME_COL)?);
        let label_cols: Vec<(usize, Arc<str>)> = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| ![chunk_col, series_col, kind_col, min_col, max_col].contains(i))
            .map(|(i, f)| (i, Arc::from(f.name().as_str())))
            .collect();

        let mask = ProjectionMask::roots(
            parquet.parquet_schema(),
            (0..schema.fields().len()).filter(|i| *i != chunk_col),
        );
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, parquet.clone())
            .with_projection(mask)
            .with_batch_size(8192)
            .build()?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;

        let mut series: Vec<SeriesEntry> = Vec::new();
        let mut rows: Vec<RowInfo> = Vec::with_capacity(meta.stats.chunks as usize);
        let mut last_ordinal: Option<u32> = None;
        // Projected batches keep the file's column order without the chunk column.
        let projected = |i: usize| if i > chunk_col { i - 1 } else { i };
        for batch in &batches {
            let ordinals = batch.column(projected(series_col)).as_primitive::<UInt32Type>();
            let kinds = batch.column(projected(kind_col)).as_primitive::<UInt8Type>();
            let mins = batch.column(projected(min_col)).as_primitive::<Int64Type>();
            let maxs = batch.column(projected(max_col)).as_primitive::<Int64Type>();
            let labels: Vec<_> = label_cols
                .iter()
                .map(|(i, name)| (name.clone(), batch.column(projected(*i)).as_string::<i32>()))
                .collect();
            for r in 0..batch.num_rows() {
                let ordinal = ordinals.value(r);
                if last_ordinal != Some(ordinal) {
                    last_ordinal = Some(ordinal);
                    let pairs: Vec<Label> = labels
                        .iter()
                        .filter(|(_, col)| col.is_valid(r))
                        .map(|(name, col)| Label {
                            name: name.clone(),
                            value: Arc::from(col.value(r)),
                        })
                        .collect();
                    let mut pairs = pairs;
                    pairs.sort_by(|a, b| a.name.cmp(&b.name));
                    let row = rows.len();
                    series.push(SeriesEntry {
                        labels: Labels::from_sorted_unchecked(pairs),
                        rows: row..row,
                    });
                }
                rows.push(RowInfo {
                    kind: kinds.value(r),
                    min_t: mins.value(r),
                    max_t: maxs.value(r),
                });
                if let Some(s) = series.last_mut() {
                    s.rows.end = rows.len();
                }
            }
        }
        Ok(BlockReader {
            meta,
            store,
            path,
            parquet,
            series,
            rows,
            chunk_col,
        })
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The series matching every matcher (a label a series lacks reads as "").
    fn matching(&self, matchers: &[Matcher]) -> &[SeriesEntry] {
        // Series are sorted by metric name first: an equality on the name is a range.
        let by_name = matchers
            .iter()
            .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
            .map(|m| m.value.as_str());
        match by_name {
            Some(name) => {
                let lo = self.series.partition_point(|s| s.labels.metric_name() < name);
                let hi = self.series.partition_point(|s| s.labels.metric_name() <= name);
                &self.series[lo..hi]
            }
            None => &self.series,
        }
    }

    fn matches(s: &SeriesEntry, matchers: &[Matcher]) -> bool {
        matchers.iter().all(|m| m.matches(s.labels.get(&m.name)))
    }

    /// The series matching `matchers` (of the hints' query shard, if one is named) with
    /// their chunks overlapping the hints' range; the chunk bytes are fetched from the
    /// bucket, page by page, only where needed.
    pub async fn select(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, BlockError> {
        let SelectHints { start, end, .. } = hints;
        let mut wanted: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, s) in self.matching(matchers).iter().enumerate() {
            if !Self::matches(s, matchers) || !hints.wants(&s.labels) {
                continue;
            }
            let rows: Vec<usize> = s
                .rows
                .clone()
                .filter(|r| self.rows[*r].min_t <= end && self.rows[*r].max_t >= start)
                .collect();
            if !rows.is_empty() {
                wanted.push((i, rows));
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let all_rows: Vec<usize> = wanted.iter().flat_map(|(_, r)| r.iter().copied()).collect();
        let chunks = self.fetch_chunks(&all_rows).await?;
        let candidates = self.matching(matchers);
        let mut chunks = chunks.into_iter();
        let mut out = Vec::with_capacity(wanted.len());
        for (i, rows) in wanted {
            let mut floats = Vec::new();
            let mut hists = Vec::new();
            for r in rows {
                let bytes = chunks
                    .next()
                    .ok_or_else(|| BlockError::Invalid("block returned too few chunks".into()))?;
                let info = self.rows[r];
                match info.kind {
                    KIND_FLOAT => floats.push(Chunk::from_parts(bytes, info.min_t, info.max_t)),
                    KIND_HISTOGRAM => hists.push(HistogramChunk::from_parts(bytes, info.min_t, info.max_t)),
                    KIND_INTEGER => floats.push(Chunk::from_integer_parts(bytes, info.min_t, info.max_t)),
                    k => {
                        return Err(BlockError::Invalid(format!(
                            "block {}: unknown chunk kind {k}",
                            self.meta.ulid
                        )))
                    }
                }
            }
            out.push(Series::new(candidates[i].labels.clone(), floats).with_histograms(hists));
        }
        Ok(out)
    }

    /// The label sets of the series [`BlockReader::select`] would return, sorted, from
    /// the index in memory alone: not a byte of the chunk column is fetched.
    pub fn series(&self, hints: SelectHints, matchers: &[Matcher]) -> Vec<Labels> {
        let SelectHints { start, end, .. } = hints;
        let found = self
            .matching(matchers)
            .iter()
            .filter(|s| Self::matches(s, matchers) && hints.wants(&s.labels))
            .filter(|s| {
                s.rows
                    .clone()
                    .any(|r| self.rows[r].min_t <= end && self.rows[r].max_t >= start)
            })
            .map(|s| s.labels.clone())
            .collect();
        pyrite_storage::sorted_labels(found)
    }

    /// The chunk bytes of `rows` (ascending), in that order.
    async fn fetch_chunks(&self, rows: &[usize]) -> Result<Vec<Bytes>, BlockError> {
        let mut selectors = Vec::new();
        let mut at = 0usize;
        for run in runs(rows) {
            if run.start > at {
                selectors.push(RowSelector::skip(run.start - at));
            }
            selectors.push(RowSelector::select(run.len()));
            at = run.end;
        }
        if at < self.rows.len() {
            selectors.push(RowSelector::skip(self.rows.len() - at));
        }
        let reader = BucketFile {
            store: self.store.clone(),
            path: self.path.clone(),
            size: self.meta.data_size(),
        };
        let mask = ProjectionMask::roots(self.parquet.parquet_schema(), [self.chunk_col]);
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, self.parquet.clone())
            .with_projection(mask)
            .with_row_selection(RowSelection::from(selectors))
            .with_batch_size(4096)
            .build()?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        let mut out = Vec::with_capacity(rows.len());
        for b in &batches {
            let col = b.column(0).as_binary::<i32>();
            out.extend((0..col.len()).map(|i| Bytes::copy_from_slice(col.value(i))));
        }
        if out.len() != rows.len() {
            return Err(BlockError::Invalid(format!(
                "block {}: asked for {} chunks, read {}",
                self.meta.ulid,
                rows.len(),
                out.len()
            )));
        }
        Ok(out)
    }

    /// Label names of the series matching `matchers`.
    pub fn label_names(&self, matchers: &[Matcher]) -> Vec<String> {
        let mut names: Vec<String> = self
            .matching(matchers)
            .iter()
            .filter(|s| Self::matches(s, matchers))
            .flat_map(|s| s.labels.iter().map(|l| l.name.to_string()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Values of label `name` among the series matching `matchers`.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Vec<String> {
        let mut values: Vec<String> = self
            .matching(matchers)
            .iter()
            .filter(|s| Self::matches(s, matchers))
            .map(|s| s.labels.get(name))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        values.sort_unstable();
        values.dedup();
        values
    }

    /// Bytes of the in-memory index, roughly.
    pub fn index_bytes(&self) -> usize {
        self.rows.len() * std::mem::size_of::<RowInfo>()
            + self
                .series
                .iter()
                .map(|s| s.labels.iter().map(|l| l.value.len() + 16).sum::<usize>() + 48)
                .sum::<usize>()
    }
}

/// A block file in the bucket, read by byte range. Its footer is read with the page
/// index, so selections fetch only the pages holding wanted rows.
struct BucketFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for BucketFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move { self.store.get_range(&self.path, range).await.map_err(external) }.boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move { self.store.get_ranges(&self.path, &ranges).await.map_err(external) }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let size = self.size;
        async move {
            let meta = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Optional)
                .with_prefetch_hint(Some(64 * 1024))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(meta))
        }
        .boxed()
    }
}

/// Consecutive runs of ascending row numbers.
fn runs(rows: &[usize]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for &r in rows {
        match out.last_mut() {
            Some(run) if run.end == r => run.end += 1,
            _ => out.push(r..r + 1),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use pyrite_chunk::{Chunk, HistogramChunk};
    use pyrite_model::{FloatHistogram, Labels, Matcher};
    use pyrite_storage::Series;

    use proptest::prelude::Strategy;

    use super::*;
    use crate::bucket;
    use crate::cut::{trim, BLOCK_SAMPLES_PER_CHUNK};
    use crate::meta::{cut_block_id, BlockStats, Compaction, FORMAT_VERSION};
    use crate::write::{encode, WriteOptions};

    fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> Series {
        Series::new(Labels::from_pairs(pairs), Chunk::encode_all(samples, 120))
    }

    fn meta(tenant: &str, min: i64, max: i64) -> BlockMeta {
        BlockMeta {
            ulid: cut_block_id(tenant, 0, min, max),
            version: FORMAT_VERSION,
            tenant: tenant.into(),
            min_time: min,
            max_time: max,
            stats: BlockStats::default(),
            compaction: Compaction {
                level: 1,
                sources: vec![],
            },
            shards: vec![0],
            files: vec![],
        }
    }

    /// Many series over one range, a few of them histograms, some labels missing.
    fn data() -> Vec<Series> {
        let mut out = Vec::new();
        for host in 0..50 {
            for (name, extra) in [("up", None), ("cpu_seconds_total", Some("user")), ("Zeta", None)] {
                let mut pairs = vec![("__name__", name.to_string()), ("instance", format!("h{host}"))];
                if let Some(mode) = extra {
                    pairs.push(("mode", mode.to_string()));
                }
                let samples: Vec<(i64, f64)> = (0..700).map(|i| (i * 15_000, (host * i) as f64)).collect();
                let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                out.push(trim(&series(&pairs, &samples), 0, 10_000_000).unwrap());
            }
        }
        let h = FloatHistogram {
            count: 3.0,
            sum: 1.5,
            ..Default::default()
        };
        let hist: Vec<(i64, FloatHistogram)> = (0..300).map(|i| (i * 15_000, h.clone())).collect();
        out.push(
            Series::new(Labels::from_pairs(&[("__name__", "latency")]), vec![])
                .with_histograms(HistogramChunk::encode_all(&hist, BLOCK_SAMPLES_PER_CHUNK)),
        );
        out
    }

    async fn written(opts: &WriteOptions) -> (Arc<dyn ObjectStore>, BlockMeta, Vec<Series>) {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let data = data();
        let encoded = encode(data.clone(), opts).unwrap();
        assert!(bucket::is_parquet(&encoded.bytes));
        let meta = bucket::upload(store.as_ref(), meta("t", 0, 10_500_000), encoded)
            .await
            .unwrap();
        (store, meta, data)
    }

    fn samples(s: &Series) -> Vec<(i64, f64)> {
        s.iter().collect()
    }

    #[tokio::test]
    async fn a_block_reads_back_what_was_written() {
        // Small groups (by rows and by bytes) and pages, so selections cross both.
        let opts = WriteOptions {
            rows_per_group: 64,
            bytes_per_group: 4096,
            rows_per_page: 8,
            zstd_level: 3,
            integer_chunks: true,
        };
        let (store, meta, data) = written(&opts).await;
        assert_eq!(meta.stats.series, data.len() as u64);
        // Trimmed to [0, 10,000,000): 667 samples of each float series.
        assert_eq!(meta.stats.samples, 150 * 667 + 300);
        let block = BlockReader::open(store, meta).await.unwrap();

        let all = block
            .select(
                SelectHints::new(i64::MIN, i64::MAX),
                &[Matcher::new(pyrite_model::MatchOp::Regex, "__name__", ".+").unwrap()],
            )
            .await
            .unwrap();
        assert_eq!(all.len(), data.len());
        for s in &all {
            let want = data.iter().find(|d| d.labels == s.labels).unwrap();
            assert_eq!(samples(s), samples(want), "{:?}", s.labels);
            assert_eq!(
                s.histograms_in(i64::MIN, i64::MAX).len(),
                want.histograms_in(i64::MIN, i64::MAX).len()
            );
        }

        let one = block
            .select(
                SelectHints::new(0, 100_000),
                &[Matcher::equal("__name__", "up"), Matcher::equal("instance", "h7")],
            )
            .await
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].labels.get("instance"), "h7");
        // Only the first chunk overlaps the range; readers filter the rest.
        assert_eq!(one[0].chunks.len(), 1);
        assert_eq!(samples(&one[0])[..2], [(0, 0.0), (15_000, 7.0)]);

        let none = block
            .select(SelectHints::new(0, 100), &[Matcher::equal("__name__", "absent")])
            .await
            .unwrap();
        assert!(none.is_empty());
        let users = block
            .select(SelectHints::new(i64::MIN, i64::MAX), &[Matcher::equal("mode", "user")])
            .await
            .unwrap();
        assert_eq!(users.len(), 50);
        let shard = pyrite_model::QueryShard { index: 1, count: 4 };
        let part = block
            .select(
                SelectHints::all().with_shard(Some(shard)),
                &[Matcher::equal("mode", "user")],
            )
            .await
            .unwrap();
        assert!(!part.is_empty() && part.len() < 50);
        assert_eq!(part.len(), users.iter().filter(|s| shard.contains(&s.labels)).count());
        assert!(users.iter().all(|s| s.labels.metric_name() == "cpu_seconds_total"));

        assert_eq!(block.label_names(&[]), ["__name__", "instance", "mode"]);
        assert_eq!(
            block.label_values("__name__", &[]),
            ["Zeta", "cpu_seconds_total", "latency", "up"]
        );
        assert_eq!(
            block.label_values("mode", &[Matcher::equal("__name__", "up")]),
            Vec::<String>::new()
        );
    }

    #[tokio::test]
    async fn label_sets_are_listed_without_reading_a_chunk() {
        let (store, meta, _) = written(&WriteOptions::default()).await;
        let block = BlockReader::open(store.clone(), meta.clone()).await.unwrap();
        let any = [Matcher::new(pyrite_model::MatchOp::Regex, "__name__", ".+").unwrap()];
        let ups = [Matcher::equal("__name__", "up"), Matcher::equal("instance", "h7")];
        let mut want = Vec::new();
        for (start, end, m) in [
            (i64::MIN, i64::MAX, &any[..]),
            (0, 100_000, &ups[..]),
            (4_500_000, 4_500_000, &any[..]),
            (20_000_000, 30_000_000, &any[..]),
        ] {
            let selected = block.select(SelectHints::new(start, end), m).await.unwrap();
            let mut labels: Vec<Labels> = selected.into_iter().map(|s| s.labels).collect();
            labels.sort();
            want.push(labels);
        }
        assert_eq!(want[0].len(), 151);
        assert_eq!(want[1].len(), 1);
        assert_eq!(want[2].len(), 150, "the histograms end before");
        assert!(want[3].is_empty());
        // The block's file is gone from the bucket: selections fail, listings do not.
        store.delete(&block.path).await.unwrap();
        assert!(block.select(SelectHints::all(), &ups).await.is_err());
        let got: Vec<Vec<Labels>> = [
            (i64::MIN, i64::MAX, &any[..]),
            (0, 100_000, &ups[..]),
            (4_500_000, 4_500_000, &any[..]),
            (20_000_000, 30_000_000, &any[..]),
        ]
        .into_iter()
        .map(|(start, end, m)| block.series(SelectHints::new(start, end), m))
        .collect();
        assert_eq!(got, want);
        let shard = pyrite_model::QueryShard { index: 0, count: 3 };
        let part = block.series(SelectHints::all().with_shard(Some(shard)), &any);
        assert_eq!(
            part,
            want[0]
                .iter()
                .filter(|l| shard.contains(l))
                .cloned()
                .collect::<Vec<_>>()
        );
    }

    fn bits(s: &Series) -> Vec<(i64, u64)> {
        s.iter().map(|(t, v)| (t, v.to_bits())).collect()
    }

    async fn round_trip(data: Vec<Series>, opts: &WriteOptions) -> (BlockReader, Vec<Series>) {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let meta = bucket::upload(store.as_ref(), meta("t", 0, 1), encode(data, opts).unwrap())
            .await
            .unwrap();
        let block = BlockReader::open(store, meta).await.unwrap();
        let all = block
            .select(
                SelectHints::new(i64::MIN, i64::MAX),
                &[Matcher::new(pyrite_model::MatchOp::Regex, "__name__", ".+").unwrap()],
            )
            .await
            .unwrap();
        (block, all)
    }

    fn kinds(block: &BlockReader, name: &str) -> Vec<u8> {
        let s = block.matching(&[Matcher::equal("__name__", name)]);
        s.iter()
            .flat_map(|s| s.rows.clone())
            .map(|r| block.rows[r].kind)
            .collect()
    }

    #[tokio::test]
    async fn integer_chunks_only_where_exact() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        type Shape = (&'static str, fn(i64) -> f64);
        let shapes: [Shape; 5] = [
            ("ints", |i| (i * 1_000_003) as f64 - 5e8),
            ("fractions", |i| i as f64 * 0.25),
            ("stale_in_first_chunk", |i| {
                if i == 100 {
                    f64::from_bits(0x7ff0_0000_0000_0002)
                } else {
                    i as f64
                }
            }),
            ("negative_zero", |_| -0.0),
            ("beyond_2_53", |i| 2f64.powi(60) + (i * 4096) as f64),
        ];
        let data: Vec<Series> = shapes
            .iter()
            .map(|(name, f)| {
                let samples: Vec<(i64, f64)> = (0..400).map(|i| (i * 15_000 + i % 3, f(i))).collect();
                Series::new(
                    Labels::from_pairs(&[("__name__", name)]),
                    Chunk::encode_all(&samples, BLOCK_SAMPLES_PER_CHUNK),
                )
            })
            .collect();
        assert!(stale.is_nan());
        let (block, all) = round_trip(data.clone(), &WriteOptions::default()).await;
        assert_eq!(kinds(&block, "ints"), [KIND_INTEGER, KIND_INTEGER]);
        assert_eq!(kinds(&block, "fractions"), [KIND_FLOAT, KIND_FLOAT]);
        assert_eq!(kinds(&block, "stale_in_first_chunk"), [KIND_FLOAT, KIND_INTEGER]);
        assert_eq!(kinds(&block, "negative_zero"), [KIND_FLOAT, KIND_FLOAT]);
        assert_eq!(kinds(&block, "beyond_2_53"), [KIND_FLOAT, KIND_FLOAT]);
        for s in &all {
            let want = data.iter().find(|d| d.labels == s.labels).unwrap();
            assert_eq!(bits(s), bits(want), "{:?}", s.labels);
            assert_eq!(s.chunks.iter().map(Chunk::len).collect::<Vec<_>>(), [240, 160]);
        }
        let xor_only = WriteOptions {
            integer_chunks: false,
            ..Default::default()
        };
        let (block, _) = round_trip(data, &xor_only).await;
        assert_eq!(kinds(&block, "ints"), [KIND_FLOAT, KIND_FLOAT]);
    }

    /// A block written by format version 1 (before integer chunks), kept as it was
    /// written: counter_total (integers), gauge (fractions), with_stale (integers and a
    /// stale marker every 50 samples), latency (histograms); 300 samples each.
    #[tokio::test]
    async fn version_1_blocks_still_read() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let mut m = meta("t", 0, 4_500_000);
        m.version = 1;
        let bytes = bytes::Bytes::from_static(include_bytes!("../testdata/v1-series.parquet"));
        let stats = BlockStats {
            series: 4,
            samples: 1200,
            chunks: 8,
        };
        let m = bucket::upload(store.as_ref(), m, crate::write::Encoded { bytes, stats })
            .await
            .unwrap();
        let block = BlockReader::open(store, m).await.unwrap();
        let got = block
            .select(SelectHints::new(i64::MIN, i64::MAX), &[Matcher::equal("job", "v1")])
            .await
            .unwrap();
        let stale = f64::from_bits(0x7ff0_0000_0000_0002).to_bits();
        let want = |name: &str, i: i64| match name {
            "counter_total" => ((i * 7) as f64).to_bits(),
            "gauge" => (i as f64 * 0.25).to_bits(),
            _ if i % 50 == 49 => stale,
            _ => (i as f64).to_bits(),
        };
        assert_eq!(got.len(), 4);
        for s in &got {
            let name = s.labels.metric_name();
            if name == "latency" {
                assert_eq!(s.histograms_in(i64::MIN, i64::MAX).len(), 300);
                continue;
            }
            let expected: Vec<(i64, u64)> = (0..300).map(|i| (i * 15_000, want(name, i))).collect();
            assert_eq!(bits(s), expected, "{name}");
        }
    }

    #[tokio::test]
    async fn blocks_of_a_newer_format_are_refused() {
        let (store, mut m, _) = written(&WriteOptions::default()).await;
        m.version = FORMAT_VERSION + 1;
        assert!(matches!(BlockReader::open(store, m).await, Err(BlockError::Invalid(_))));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Any float samples (integers, fractions, NaNs and stale markers mixed) read
        /// back from a block bit for bit, whichever kinds their chunks were stored as.
        #[test]
        fn float_samples_round_trip_through_blocks(
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    (-1000i64..1000).prop_map(|v| v as f64),
                    (-(1i64 << 53)..=1i64 << 53).prop_map(|v| v as f64),
                    proptest::prelude::any::<u64>().prop_map(f64::from_bits),
                    proptest::prelude::Just(f64::from_bits(0x7ff0_0000_0000_0002)),
                ],
                1..700,
            ),
            gaps in proptest::collection::vec(0i64..100_000, 700),
        ) {
            let mut t = 0;
            let samples: Vec<(i64, f64)> = values.iter().zip(&gaps).map(|(v, g)| { t += g; (t, *v) }).collect();
            let s = Series::new(Labels::from_pairs(&[("__name__", "m")]), Chunk::encode_all(&samples, BLOCK_SAMPLES_PER_CHUNK));
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (_, all) = rt.block_on(round_trip(vec![s.clone()], &WriteOptions::default()));
            proptest::prop_assert_eq!(all.len(), 1);
            proptest::prop_assert_eq!(bits(&all[0]), bits(&s));
        }
    }

    #[tokio::test]
    async fn encoding_is_deterministic() {
        let a = encode(data(), &WriteOptions::default()).unwrap();
        let mut shuffled = data();
        shuffled.reverse();
        let b = encode(shuffled, &WriteOptions::default()).unwrap();
        assert_eq!(a.bytes, b.bytes);
    }

    #[tokio::test]
    async fn reserved_label_names_are_refused() {
        assert_eq!(crate::write::FIXED_COLUMNS, pyrite_model::RESERVED_LABEL_NAMES);
        for name in pyrite_model::RESERVED_LABEL_NAMES {
            let s = series(&[("__name__", "m"), (name, "x")], &[(1, 1.0)]);
            assert!(matches!(
                encode(vec![s], &WriteOptions::default()),
                Err(crate::BlockError::Invalid(_))
            ));
        }
    }

    #[tokio::test]
    async fn unfinished_uploads_are_not_listed_and_the_index_follows_the_bucket() {
        let (store, meta, _) = written(&WriteOptions::default()).await;
        // A second block whose meta never arrived.
        let half = crate::meta::block_dir("t", cut_block_id("t", 1, 0, 1));
        store
            .put(&Path::from(format!("{half}/{DATA_FILE}")), b"partial".to_vec().into())
            .await
            .unwrap();
        let listed = bucket::list_blocks(store.as_ref(), "t").await.unwrap();
        assert_eq!(listed, std::slice::from_ref(&meta));
        assert_eq!(bucket::tenants(store.as_ref()).await.unwrap(), ["t"]);
        let index = bucket::refresh_index(store.as_ref(), "t", 5).await.unwrap();
        assert_eq!(bucket::read_index(store.as_ref(), "t").await.unwrap(), index);
        assert_eq!(index.live_blocks().count(), 1);
        bucket::delete_block(store.as_ref(), "t", meta.ulid).await.unwrap();
        bucket::delete_block(store.as_ref(), "t", cut_block_id("t", 1, 0, 1))
            .await
            .unwrap();
        assert!(bucket::list_blocks(store.as_ref(), "t").await.unwrap().is_empty());
        assert!(
            store.list(None).try_collect::<Vec<_>>().await.unwrap().len() == 1,
            "only the index is left"
        );
    }
}
