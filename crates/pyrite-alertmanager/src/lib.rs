//! The alertmanager: alerts received from rulers and Prometheus servers, routed,
//! grouped, silenced, inhibited and notified as Prometheus's Alertmanager does, from
//! an unchanged `alertmanager.yml`.
//!
//! # Layout
//! - [`model`]: alerts, label sets and fingerprints.
//! - [`matchers`]: label matchers in both of Alertmanager's syntaxes.
//! - [`config`]: `alertmanager.yml`, read and checked as Alertmanager checks it.
//! - [`timeinterval`]: `time_intervals`, and whether an instant falls in one.
//! - [`route`]: the routing tree, group labels and group keys.
//! - [`dispatch`]: aggregation groups and when each is flushed.
//! - [`silence`] and [`inhibit`]: what mutes an alert.
//! - [`nflog`]: the notification log, and whether a flush notifies.
//! - [`notify`]: the template data, the templates and the integrations that deliver.
//! - [`instance`]: one tenant's alertmanager and its delivery loop.
//! - [`tenants`] and [`state`]: every tenant's, with their state committed as one
//!   record of the metadata group's `alertmanager` pool by the replica owning it, and
//!   mirrored by the others.
//! - [`api`]: the API v2 and the per-tenant configuration API.
//!
//! The invariants a reader must not break: routing, grouping and timing depend only on
//! the configuration, the alerts and the clock, so every replica given the same state
//! reaches the same notifications; and only the replica that can commit the state
//! notifies, each notification committed as pending before it is sent.

pub mod api;
pub mod config;
pub mod dispatch;
pub mod inhibit;
pub mod instance;
pub mod matchers;
pub mod model;
pub mod nflog;
pub mod notify;
mod options;
pub mod route;
pub mod silence;
pub mod state;
pub mod tenants;
pub mod timeinterval;

pub use options::{AlertmanagerOptions, FALLBACK_CONFIG};
