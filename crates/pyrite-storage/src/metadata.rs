//! Metric metadata: the `TYPE`, `HELP` and `UNIT` of a metric family, as scrape targets
//! expose it and remote-write senders send it. It is not time-series data: stores that
//! keep it hold each distinct description of a metric while it is being sent, and
//! forget it some time after it stops. Readers ([`MetadataReader`]) answer
//! `/api/v1/metadata`.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::StorageError;

/// A metric family's type, named as the Prometheus API names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricType {
    #[default]
    Unknown,
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
}

impl MetricType {
    /// Every type, in remote write's numbering (`prometheus.MetricMetadata.MetricType`,
    /// and remote write 2.0's `Metadata.MetricType`, whose 0 is "unspecified").
    const BY_NUMBER: [MetricType; 8] = [
        MetricType::Unknown,
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::GaugeHistogram,
        MetricType::Summary,
        MetricType::Info,
        MetricType::StateSet,
    ];

    /// The type's name in the API and in the exposition formats.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
        }
    }

    /// The type of an API or exposition name; `untyped` (the text format's) is unknown.
    pub fn from_name(name: &str) -> Option<MetricType> {
        match name {
            "untyped" => Some(MetricType::Unknown),
            _ => Self::BY_NUMBER.into_iter().find(|t| t.as_str() == name),
        }
    }

    /// The type a remote-write message numbers so; numbers it does not define are
    /// unknown, as a sender newer than the receiver may use them.
    pub fn from_number(n: u64) -> MetricType {
        Self::BY_NUMBER.get(n as usize).copied().unwrap_or_default()
    }

    pub fn number(self) -> u32 {
        Self::BY_NUMBER.iter().position(|t| *t == self).unwrap_or(0) as u32
    }
}

impl serde::Serialize for MetricType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for MetricType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(MetricType::from_name(&name).unwrap_or_default())
    }
}

/// One description of a metric family.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct MetricMetadata {
    /// The family's name (for an OpenMetrics counter, without `_total`).
    pub metric: String,
    #[serde(rename = "type")]
    pub kind: MetricType,
    pub help: String,
    pub unit: String,
}

/// What `/api/v1/metadata` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataQuery {
    /// Only this family; `None`: every family.
    pub metric: Option<String>,
    /// At most this many families; `None`: all of them.
    pub limit: Option<usize>,
    /// At most this many descriptions of each family; `None`: all of them.
    pub limit_per_metric: Option<usize>,
}

/// Answers metric metadata for one tenant.
#[async_trait]
pub trait MetadataReader: Send + Sync {
    /// The tenant's current descriptions matching `query.metric`, each family with at
    /// most `query.limit_per_metric` of them; `query.limit` is the caller's to apply
    /// (a reader that answers part of the families cannot know which to keep).
    async fn metadata(&self, tenant: &str, query: &MetadataQuery) -> Result<Vec<MetricMetadata>, StorageError>;
}

/// A reader that keeps no metadata.
pub struct NoMetadata;

#[async_trait]
impl MetadataReader for NoMetadata {
    async fn metadata(&self, _: &str, _: &MetadataQuery) -> Result<Vec<MetricMetadata>, StorageError> {
        Ok(Vec::new())
    }
}

/// The answer of `/api/v1/metadata` from every part's descriptions: families by name,
/// each description once, in the order the parts gave them, under the query's limits.
pub fn by_family(
    parts: impl IntoIterator<Item = MetricMetadata>,
    query: &MetadataQuery,
) -> BTreeMap<String, Vec<MetricMetadata>> {
    let mut families: BTreeMap<String, Vec<MetricMetadata>> = BTreeMap::new();
    for m in parts {
        if query.metric.as_ref().is_some_and(|want| *want != m.metric) {
            continue;
        }
        families.entry(m.metric.clone()).or_default().push(m);
    }
    if let Some(limit) = query.limit {
        while families.len() > limit {
            families.pop_last();
        }
    }
    for descriptions in families.values_mut() {
        // In the order the parts gave them (a store gives its newest first).
        let mut seen = std::collections::HashSet::new();
        descriptions.retain(|d| seen.insert(d.clone()));
        if let Some(per_metric) = query.limit_per_metric {
            descriptions.truncate(per_metric);
        }
    }
    families
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(metric: &str, kind: MetricType, help: &str) -> MetricMetadata {
        MetricMetadata {
            metric: metric.into(),
            kind,
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn types_round_trip_through_names_and_numbers() {
        for (n, t) in MetricType::BY_NUMBER.iter().enumerate() {
            assert_eq!(MetricType::from_name(t.as_str()), Some(*t));
            assert_eq!(MetricType::from_number(n as u64), *t);
            assert_eq!(t.number() as usize, n);
        }
        assert_eq!(MetricType::from_name("untyped"), Some(MetricType::Unknown));
        assert_eq!(MetricType::from_name("Counter"), None);
        assert_eq!(MetricType::from_number(99), MetricType::Unknown);
    }

    #[test]
    fn families_merge_dedup_and_obey_limits() {
        let parts = vec![
            md("b", MetricType::Gauge, "two"),
            md("a", MetricType::Counter, "one"),
            md("b", MetricType::Gauge, "two"),
            md("b", MetricType::Counter, "other"),
            md("c", MetricType::Summary, ""),
        ];
        let all = by_family(parts.clone(), &MetadataQuery::default());
        assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(all["b"].len(), 2, "the same description twice is listed once");

        let q = MetadataQuery {
            limit: Some(2),
            limit_per_metric: Some(1),
            ..MetadataQuery::default()
        };
        let limited = by_family(parts.clone(), &q);
        assert_eq!(limited.len(), 2);
        assert!(limited.values().all(|d| d.len() == 1));

        let one = by_family(
            parts,
            &MetadataQuery {
                metric: Some("c".into()),
                ..MetadataQuery::default()
            },
        );
        assert_eq!(one.keys().collect::<Vec<_>>(), ["c"]);
        assert!(by_family(
            vec![],
            &MetadataQuery {
                limit: Some(0),
                ..Default::default()
            }
        )
        .is_empty());
    }
}
