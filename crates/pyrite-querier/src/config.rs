//! The querier's configuration (`querier:` in YAML, `--querier.*` flags), with its
//! defaults: the engine's limits and the query frontend it may work for.

use pyrite_config::Duration;
use pyrite_promql::EngineOptions;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierConfig {
    pub lookback_delta: Duration,
    pub timeout: Duration,
    pub max_samples: usize,
    pub max_points_per_series: usize,
    pub enable_experimental_functions: bool,
    /// Step of subqueries written without one (`rate(x[1h:])`).
    pub default_subquery_step: Duration,
    /// The query frontend's gRPC address (`host:port`) to pull work from; empty: none
    /// (in a process that also runs the frontend, its own).
    pub frontend_address: String,
    /// Frontend requests this querier runs at once (its workers, each pulling one).
    pub max_concurrent: usize,
}

impl Default for QuerierConfig {
    fn default() -> Self {
        let e = EngineOptions::default();
        Self {
            lookback_delta: Duration(e.lookback_delta),
            timeout: Duration(e.timeout),
            max_samples: e.max_samples,
            max_points_per_series: e.max_points_per_series,
            enable_experimental_functions: e.enable_experimental_functions,
            default_subquery_step: Duration(e.default_subquery_step),
            frontend_address: String::new(),
            max_concurrent: 4,
        }
    }
}

impl QuerierConfig {
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            lookback_delta: self.lookback_delta.0,
            timeout: self.timeout.0,
            max_samples: self.max_samples,
            max_points_per_series: self.max_points_per_series,
            enable_experimental_functions: self.enable_experimental_functions,
            default_subquery_step: self.default_subquery_step.0,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.lookback_delta.0.is_zero() {
            return Err("--querier.lookback-delta must be positive".into());
        }
        if self.default_subquery_step.0.is_zero() {
            return Err("--querier.default-subquery-step must be positive".into());
        }
        Ok(())
    }
}
