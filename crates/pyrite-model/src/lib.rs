//! The vocabulary every Pyrite component shares: label sets, samples, native histograms,
//! label matchers, tenants, the series hash that places a series on the ring and the
//! series-hash shards of query sharding.
//!
//! This crate does no I/O and knows nothing about encodings or storage. Its one invariant:
//! a [`Labels`] value is always sorted by label name with no duplicate names and no empty
//! values, so equal series compare, hash and print identically everywhere.

pub mod histogram;
mod labels;
mod matcher;
mod query_shard;
mod sample;
mod tenant;

pub use histogram::FloatHistogram;
pub use labels::{
    is_reserved_label_name, is_valid_label_name, is_valid_metric_name, Label, Labels, LabelsBuilder, METRIC_NAME,
    RESERVED_LABEL_NAMES,
};
pub use matcher::{matches_all, MatchOp, Matcher, MatcherError};
pub use query_shard::QueryShard;
pub use sample::{is_stale_nan, Sample, TimeSeries, STALE_NAN, STALE_NAN_BITS};
pub use tenant::{validate_tenant, TenantError, DEFAULT_TENANT, TENANT_HEADER};
