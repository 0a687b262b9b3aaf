//! Pyrite's head: the recent series of every tenant in memory, with interned label
//! sets, an inverted index answering every matcher kind, and samples in compressed
//! XOR chunks of about 120 samples.
//!
//! The head does no I/O. Durability is its caller's business: a write-ahead log (or a
//! shard's Raft log) records each write first, then hands it to [`Head::apply`], which
//! is deterministic so replaying the log rebuilds the same head. A write to known
//! series ([`Head::apply_known`]) is applied exactly as the labeled series it stands
//! for; it only finds each series faster, by the place the series remembers from an
//! earlier write. Readers go through [`pyrite_storage::Queryable`].

mod head;
mod index;
mod series;

pub use head::{Head, HeadCapture, HeadCounters, HeadOptions, HeadStats, SnapshotError, TenantBounds};
pub use series::SampleRejection;
