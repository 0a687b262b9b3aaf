//! Series, matchers, labels and metric metadata to and from the internal gRPC messages, so every
//! component that reads or serves a store over the network converts the same way.

use bytes::Bytes;
use pyrite_chunk::{Chunk, Encoding, HistogramChunk};
use pyrite_model::{Label, Labels, MatchOp, Matcher, QueryShard};
use pyrite_proto::ingester as pb;

use crate::{MetricMetadata, MetricType, Series, StorageError};

pub fn metadata_to_proto(m: MetricMetadata) -> pb::MetricDescription {
    pb::MetricDescription {
        metric: m.metric,
        r#type: m.kind.as_str().to_string(),
        help: m.help,
        unit: m.unit,
    }
}

/// A description off the wire; a type this side does not know is `unknown`.
pub fn metadata_from_proto(m: pb::MetricDescription) -> MetricMetadata {
    MetricMetadata {
        kind: MetricType::from_name(&m.r#type).unwrap_or_default(),
        metric: m.metric,
        help: m.help,
        unit: m.unit,
    }
}

/// `Chunk.encoding` on the wire.
const ENCODING_XOR: u32 = 0;
const ENCODING_INTEGER_DELTA: u32 = 1;

pub fn query_shard_to_proto(s: Option<QueryShard>) -> Option<pb::QueryShard> {
    s.map(|s| pb::QueryShard {
        index: s.index,
        count: s.count,
    })
}

/// A query shard off the wire; one whose index is not below its count is refused.
pub fn query_shard_from_proto(s: Option<pb::QueryShard>) -> Result<Option<QueryShard>, StorageError> {
    match s {
        None => Ok(None),
        Some(s) if s.index < s.count => Ok(Some(QueryShard {
            index: s.index,
            count: s.count,
        })),
        Some(s) => Err(StorageError::BadRequest(format!(
            "query shard {} of {} does not exist",
            s.index, s.count
        ))),
    }
}

pub fn matchers_to_proto(ms: &[Matcher]) -> Vec<pb::Matcher> {
    ms.iter()
        .map(|m| pb::Matcher {
            r#type: match m.op {
                MatchOp::Equal => pb::matcher::Type::Eq,
                MatchOp::NotEqual => pb::matcher::Type::Neq,
                MatchOp::Regex => pb::matcher::Type::Re,
                MatchOp::NotRegex => pb::matcher::Type::Nre,
            } as i32,
            name: m.name.clone(),
            value: m.value.clone(),
        })
        .collect()
}

/// Matchers from a request; a bad regex or type is the caller's fault.
pub fn matchers_from_proto(ms: &[pb::Matcher]) -> Result<Vec<Matcher>, StorageError> {
    ms.iter()
        .map(|m| {
            let op = match pb::matcher::Type::try_from(m.r#type) {
                Ok(pb::matcher::Type::Eq) => MatchOp::Equal,
                Ok(pb::matcher::Type::Neq) => MatchOp::NotEqual,
                Ok(pb::matcher::Type::Re) => MatchOp::Regex,
                Ok(pb::matcher::Type::Nre) => MatchOp::NotRegex,
                Err(_) => return Err(StorageError::BadRequest(format!("unknown matcher type {}", m.r#type))),
            };
            Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| StorageError::BadRequest(e.to_string()))
        })
        .collect()
}

pub fn labels_to_proto(l: &Labels) -> Vec<pb::Label> {
    l.iter()
        .map(|l| pb::Label {
            name: l.name.to_string(),
            value: l.value.to_string(),
        })
        .collect()
}

/// Labels as sent: sorted by the sender, but checked, since order is what every
/// reader's merge relies on.
pub fn labels_from_proto(ls: Vec<pb::Label>) -> Result<Labels, StorageError> {
    let labels: Vec<Label> = ls.into_iter().map(|l| Label::new(l.name, l.value)).collect();
    if labels.windows(2).any(|w| w[0].name >= w[1].name) {
        return Err(StorageError::Internal("series labels arrived unsorted".into()));
    }
    Ok(Labels::from_sorted_unchecked(labels))
}

pub fn series_to_proto(s: &Series) -> pb::Series {
    pb::Series {
        labels: labels_to_proto(&s.labels),
        float_chunks: s
            .chunks
            .iter()
            .map(|c| pb::Chunk {
                min_time: c.min_time(),
                max_time: c.max_time(),
                data: c.bytes().clone(),
                encoding: match c.encoding() {
                    Encoding::Xor => ENCODING_XOR,
                    Encoding::IntegerDelta => ENCODING_INTEGER_DELTA,
                },
            })
            .collect(),
        histogram_chunks: s
            .histograms
            .iter()
            .map(|c| pb::Chunk {
                min_time: c.min_time(),
                max_time: c.max_time(),
                data: c.bytes().clone(),
                encoding: ENCODING_XOR,
            })
            .collect(),
    }
}

/// The series several stores answered on the wire, decoded and merged into one sorted
/// list (a series found in more than one answer comes back once).
pub fn merged_from_proto(answers: Vec<Vec<pb::Series>>) -> Result<Vec<Series>, StorageError> {
    let mut all = Vec::new();
    for s in answers.into_iter().flatten() {
        all.push(series_from_proto(s)?);
    }
    Ok(crate::merge_series(all))
}

/// A series' labels with no chunks: one entry of a labels-only select answer.
pub fn labels_only_to_proto(l: &Labels) -> pb::Series {
    pb::Series {
        labels: labels_to_proto(l),
        float_chunks: Vec::new(),
        histogram_chunks: Vec::new(),
    }
}

/// The label sets of labels-only select answers from several stores, sorted and each
/// once. Chunks a store sent anyway (one that predates `labels_only`) are dropped.
pub fn labels_from_answers(answers: Vec<Vec<pb::Series>>) -> Result<Vec<Labels>, StorageError> {
    let all = answers
        .into_iter()
        .flatten()
        .map(|s| labels_from_proto(s.labels))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::sorted_labels(all))
}

pub fn series_from_proto(s: pb::Series) -> Result<Series, StorageError> {
    let chunk = |c: pb::Chunk| -> (Bytes, i64, i64) { (c.data, c.min_time, c.max_time) };
    let floats = s
        .float_chunks
        .into_iter()
        .map(|c| match c.encoding {
            ENCODING_XOR => Ok(Chunk::from_parts(c.data, c.min_time, c.max_time)),
            ENCODING_INTEGER_DELTA => Ok(Chunk::from_integer_parts(c.data, c.min_time, c.max_time)),
            e => Err(StorageError::Internal(format!(
                "a chunk arrived in unknown encoding {e}"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Series {
        labels: labels_from_proto(s.labels)?,
        chunks: floats,
        histograms: s
            .histogram_chunks
            .into_iter()
            .map(|c| {
                let (b, lo, hi) = chunk(c);
                HistogramChunk::from_parts(b, lo, hi)
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_and_matchers_round_trip() {
        let samples: Vec<(i64, f64)> = (0..300).map(|i| (i * 15_000, i as f64)).collect();
        let s = Series::new(
            Labels::from_pairs(&[("__name__", "up"), ("job", "node")]),
            Chunk::encode_all(&samples, 120),
        );
        let back = series_from_proto(series_to_proto(&s)).unwrap();
        assert_eq!(back.labels, s.labels);
        assert_eq!(back.iter().collect::<Vec<_>>(), samples);
        assert_eq!(back.num_samples(), 300);

        // A block's integer chunk crosses the wire as it is.
        let mut dense = Vec::new();
        assert!(pyrite_chunk::delta::encode(&samples, &mut dense));
        let ints = Series::new(
            s.labels.clone(),
            vec![Chunk::from_integer_parts(dense.into(), 0, 299 * 15_000)],
        );
        let back = series_from_proto(series_to_proto(&ints)).unwrap();
        assert_eq!(back.chunks[0].encoding(), Encoding::IntegerDelta);
        assert_eq!(back.iter().collect::<Vec<_>>(), samples);

        let ms = vec![
            Matcher::equal("job", "node"),
            Matcher::new(MatchOp::Regex, "instance", "a.*").unwrap(),
        ];
        assert_eq!(matchers_from_proto(&matchers_to_proto(&ms)).unwrap(), ms);
        let bad = pb::Matcher {
            r#type: 2,
            name: "x".into(),
            value: "(".into(),
        };
        assert!(matches!(matchers_from_proto(&[bad]), Err(StorageError::BadRequest(_))));
    }

    #[test]
    fn labels_only_answers_merge_and_drop_chunks() {
        let l = |i: &str| Labels::from_pairs(&[("__name__", "up"), ("i", i)]);
        let with_chunks = series_to_proto(&Series::new(l("2"), Chunk::encode_all(&[(1, 1.0)], 120)));
        let got = labels_from_answers(vec![
            vec![labels_only_to_proto(&l("1")), labels_only_to_proto(&l("3"))],
            vec![labels_only_to_proto(&l("1")), with_chunks],
        ])
        .unwrap();
        assert_eq!(got, [l("1"), l("2"), l("3")]);
        assert!(labels_only_to_proto(&l("1")).float_chunks.is_empty());
    }
}
