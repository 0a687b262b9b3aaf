//! Metric metadata through the write path: each description is checked against the
//! tenant's `max_metadata_length` (a name, help or unit too long, or a name missing,
//! drops that description and counts it; metadata never fails a write on its own), and
//! the rest goes to the store, which places each family on its shard.

use pyrite_storage::{AppendError, MetricMetadata};

use crate::pipeline::Source;
use crate::{Distributor, PushError};

impl Distributor {
    /// Checks and stores a tenant's metric metadata. `Err` only when the store failed
    /// (a 5xx, so the sender retries).
    pub async fn push_metadata(
        &self,
        tenant: &str,
        metadata: Vec<MetricMetadata>,
        source: Source,
    ) -> Result<(), PushError> {
        if metadata.is_empty() {
            return Ok(());
        }
        let tl = vec![("tenant".to_string(), tenant.to_string())];
        self.metrics
            .received_metadata
            .get_or_create(&tl)
            .inc_by(metadata.len() as u64);
        let max = self.limits.max_metadata_length(tenant);
        let (valid, invalid): (Vec<_>, Vec<_>) = metadata.into_iter().partition(|m| {
            let fits = |s: &str| max == 0 || s.len() <= max;
            !m.metric.is_empty() && fits(&m.metric) && fits(&m.help) && fits(&m.unit)
        });
        for m in &invalid {
            let reason = match m.metric.is_empty() {
                true => "missing_metric_name",
                false => "metadata_too_long",
            };
            let labels = vec![
                ("tenant".to_string(), tenant.to_string()),
                ("reason".to_string(), reason.to_string()),
            ];
            self.metrics.discarded_metadata.get_or_create(&labels).inc();
        }
        if valid.is_empty() {
            return Ok(());
        }
        self.store.append_metadata(tenant, valid).await.map_err(|e| {
            let e = match e {
                AppendError::Limit(m) => PushError::TooManyRequests(m),
                AppendError::Unavailable(m) => PushError::Unavailable(m),
                AppendError::Internal(m) => PushError::Internal(m),
            };
            tracing::warn!(tenant, source = source.as_str(), error = %e, "storing metric metadata failed");
            e
        })
    }
}

#[cfg(test)]
mod tests {
    use pyrite_storage::MetricType;

    use crate::testing::Store;
    use crate::{Distributor, DistributorConfig, Source};

    #[tokio::test]
    async fn descriptions_within_limits_are_stored_and_the_rest_counted() {
        let store = std::sync::Arc::new(Store::default());
        let config = DistributorConfig {
            max_metadata_length: 8,
            ..DistributorConfig::default()
        };
        let d = Distributor::new(config, store.clone(), &mut Default::default());
        let md = |metric: &str, help: &str| pyrite_storage::MetricMetadata {
            metric: metric.into(),
            kind: MetricType::Gauge,
            help: help.into(),
            unit: String::new(),
        };
        d.push_metadata(
            "t",
            vec![md("up", "Up."), md("", "No name."), md("up", "Far too long a help.")],
            Source::RemoteWrite,
        )
        .await
        .unwrap();
        assert_eq!(
            *store.metadata.lock().unwrap(),
            vec![("t".to_string(), vec![md("up", "Up.")])]
        );
    }
}
