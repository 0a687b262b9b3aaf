//! The Prometheus HTTP query API (`/api/v1/query`, `query_range`, `series`, `labels`,
//! `label/<name>/values`, `metadata`, `status/buildinfo`), with Prometheus's JSON shapes
//! and error shapes, served over any [`pyrite_storage::Queryable`] through the PromQL
//! engine, so Grafana's Prometheus data source works unchanged.
//!
//! This crate owns request parsing and response encoding only: it evaluates nothing
//! itself and knows no store. Every request is scoped to the tenant that
//! `pyrite-tenant`'s layer found on it (`X-Scope-OrgID`); that is the one invariant — no
//! handler reads without a tenant.

mod handlers;
mod params;
mod response;
mod selector;

pub use handlers::{form_body, reject_tenant, routes, ApiState, BuildInfo};
pub use params::{parse_duration, parse_time, Params};
pub use response::{format_time, format_value, query_data, success, ApiError};
pub use selector::parse_selector;
