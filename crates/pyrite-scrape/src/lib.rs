//! Scraping as Prometheus does it. [`config`] reads a Prometheus configuration file's
//! `global` and `scrape_configs`; [`target`] turns discovered groups into targets with
//! Prometheus's labels; [`scrape`] is the loop that fetches, parses, relabels and
//! writes one target's samples, with `up` and the other synthetic series, staleness
//! markers and limits; [`schedule`] runs a target's scrapes at its instants; [`manager`] runs discovery and the loops of the targets this
//! node owns (which targets those are is an [`Ownership`]); [`service`] reads the file
//! and reloads it; [`api`] answers the targets APIs and the `/targets` page, with each
//! target's state as the node that scrapes it knows it ([`peers`]).
//!
//! Samples leave through a [`Sink`] — the distributor's write path in Pyrite — so a
//! scraped sample is validated, limited and sharded like a remote-written one. A
//! scrape hands over its samples as a write to known series
//! ([`pyrite_storage::KnownWrite`]): each series' labels are made once, when it enters
//! the scrape cache, and written by reference from then on.
//!
//! The invariant: a target's identity and its place in its interval come from the
//! target alone ([`target::Target::hash`]), never from the node scraping it, so any node
//! that takes a target over scrapes it at the same instants.

pub mod api;
pub mod config;
pub mod manager;
pub mod peers;
pub mod schedule;
pub mod scrape;
pub mod service;
pub mod target;

pub use config::{parse, ConfigError, ScrapeConfig, ScrapeFile};
pub use manager::{Manager, Ownership, PoolOwnership, SoleOwner};
pub use scrape::Sink;
pub use service::{LoadError, ScrapeOptions, Service};
pub use target::Target;
