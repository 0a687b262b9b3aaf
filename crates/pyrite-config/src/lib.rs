//! The value types Pyrite's configuration is written in, shared by every component's
//! config: [`Duration`] (Prometheus's `30s`, `1h30m`, `7d`, the one duration type and
//! [`parse_duration`] its one parser) and [`Secret`] (a value never printed — not by
//! `/config`, not in logs, not by `Debug` — that can come from a file instead of the
//! configuration).
//!
//! The invariants: a [`Duration`] prints back as the same value; a [`Secret`] leaves the
//! process only through [`Secret::expose`], at the one place that hands it to the peer it
//! authenticates to.

mod duration;
mod secret;

pub use duration::{parse_duration, parse_model_duration, Duration};
pub use secret::{Secret, MASK};
