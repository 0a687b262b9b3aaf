//! Sample encoding: float samples in Gorilla-style chunks, byte for byte the XOR chunk
//! format of the Prometheus TSDB; native histograms in chunks of Pyrite's own; and the
//! integer-delta encoding blocks use for integer-valued float chunks.
//!
//! A chunk starts with a 2-byte big-endian sample count, then the first timestamp as a
//! zig-zag varint and the first value as 64 raw bits, the second timestamp as an
//! unsigned-varint delta and every later one as a delta-of-delta in 0/14/17/20/64-bit
//! buckets; values after the first are XOR-ed with their predecessor and stored as the
//! window of meaningful bits.
//!
//! Native-histogram samples go in chunks of Pyrite's own format ([`HistogramChunk`]).
//! Blocks store float chunks whose values are all integers in a denser encoding of their
//! own ([`delta`]); a [`Chunk`] read from a block keeps that [`Encoding`] and iterates it
//! directly.
//!
//! This crate does no I/O. Its invariant: timestamps within a chunk never decrease.
//! Decoding never trusts its input: corrupt bytes end iteration with an error, never a
//! panic.

mod bits;
pub mod delta;
mod hist;
mod xor;

pub use hist::{HistogramChunk, HistogramChunkBuilder, HistogramChunkIter};
pub use xor::{Chunk, ChunkBuilder, ChunkError, ChunkIter, Encoding, SAMPLES_PER_CHUNK};
