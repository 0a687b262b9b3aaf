//! `static_configs`: targets written in the configuration, one group per entry.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Discoverer, DiscoveryError, Env, LabelSet, SdConfig, TargetGroup, Updates};

/// One entry of `static_configs` (and of a `file_sd_configs` file).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: LabelSet,
}

impl StaticConfig {
    /// The group this entry describes, under `source`.
    pub fn group(&self, source: String) -> TargetGroup {
        TargetGroup {
            source,
            targets: self
                .targets
                .iter()
                .map(|t| LabelSet::from([("__address__".to_string(), t.clone())]))
                .collect(),
            labels: self.labels.clone(),
        }
    }
}

/// The whole `static_configs` list of a scrape config as one discoverer: groups are
/// sourced by their index, as in Prometheus.
pub struct StaticDiscoverer(pub Vec<TargetGroup>);

impl StaticDiscoverer {
    pub fn new(configs: &[StaticConfig]) -> Self {
        StaticDiscoverer(
            configs
                .iter()
                .enumerate()
                .map(|(i, c)| c.group(i.to_string()))
                .collect(),
        )
    }
}

#[async_trait]
impl Discoverer for StaticDiscoverer {
    async fn run(self: Box<Self>, updates: Updates) {
        if updates.send(self.0).await.is_ok() {
            // Nothing changes; stay until aborted so the provider reads as running.
            std::future::pending::<()>().await;
        }
    }
}

impl SdConfig for Vec<StaticConfig> {
    fn name(&self) -> &'static str {
        "static"
    }
    fn discoverer(&self, _env: &Env) -> Result<Box<dyn Discoverer>, DiscoveryError> {
        Ok(Box::new(StaticDiscoverer::new(self)))
    }
}
