//! The ruler: evaluates Prometheus recording and alerting rules ([`pyrite_rules`]) for
//! each tenant and keeps the state of their alerts.
//!
//! Layout:
//! - [`alerting`]: one alerting rule's alerts — pending, firing, resolved — as
//!   Prometheus moves them at each evaluation, the `ALERTS` and `ALERTS_FOR_STATE`
//!   series they make, and when each must be sent to Alertmanagers.
//! - [`api`]: `/api/v1/rules` and `/api/v1/alerts`, per tenant, in Prometheus's shapes.
//! - [`config_api`]: the rule configuration API (`/prometheus/config/v1/rules`): rule
//!   groups per tenant and namespace, as YAML, read from and written to the [`store`].
//! - [`group`]: one group's evaluation — its rules in order, recording rules' output
//!   and alerts' series written through [`group::RuleEnv`], staleness markers for what
//!   a rule no longer writes — and the [`group::GroupState`] it carries between
//!   evaluations.
//! - [`loader`]: rule files from `--ruler.rules-dir`, one sub-directory per tenant.
//! - [`manager`]: the groups, a loop each on every ruler, evaluated by the ruler owning
//!   the group in the `ruler` pool, and what a change of rules does to them; alerts due
//!   after an evaluation go to a [`manager::Notify`].
//! - [`notifier`]: alerts due, given the external labels and `alert_relabel_configs`,
//!   queued and posted to Alertmanagers' API v2, with Prometheus's notification
//!   metrics; [`notifier::config`] reads the alerting configuration file (Prometheus's
//!   `alerting` section and `global.external_labels`), [`notifier::discovery`] finds
//!   each set's Alertmanagers and relabels them.
//! - [`page`]: the rules page, `/rules`, per tenant.
//! - [`record`]: a group's state as the metadata group keeps it between evaluations,
//!   written by the group's owner after each one.
//! - [`schedule`]: a group's evaluation instants, at Prometheus's offset from its hash.
//! - [`store`]: rule groups in object storage, one object per group at
//!   `rules/<tenant>/<namespace>/<group>` (names in URL-safe base64), each one group's
//!   YAML.
//! - [`template`]: the labels and annotations of alerting rules expanded as Prometheus
//!   expands them — its data, variables and functions (`query`, `humanize`, `toTime`,
//!   …) over [`pyrite_template`] — and `promtool`'s parse-only [`template::check`].
//! - [`unittest`]: rule unit tests in `promtool test rules`'s file format, run with this
//!   crate's evaluation over an in-memory store, failures worded as promtool words them.
//!
//! The invariant: an alert's state changes only in an evaluation, as a function of the
//! state, the evaluation's instant and its query result, so replaying the same
//! evaluations on the same state gives the same alerts to the millisecond; and a
//! group's instants are evaluated in order, each recorded once, by whichever ruler owns
//! the group when its record commits.

pub mod alerting;
pub mod api;
mod config;
pub mod config_api;
pub mod group;
pub mod loader;
pub mod manager;
pub mod notifier;
pub mod page;
pub mod record;
pub mod schedule;
pub mod store;
pub mod template;
pub mod unittest;

pub use config::RulerConfig;
