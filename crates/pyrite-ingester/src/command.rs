//! What a shard's Raft log holds: writes, and the two steps of cutting a block, which
//! every replica must take at the same point in the log.
//!
//! Layout: one tag byte, then the body. A write's body is a [`codec`] record; `seal` and
//! `flushed` carry a little-endian millisecond bound.

use pyrite_model::TimeSeries;

use crate::codec::{self, CodecError, WriteRecord};

const TAG_WRITE: u8 = 0;
const TAG_SEAL: u8 = 1;
const TAG_FLUSHED: u8 = 2;

#[derive(Debug, Clone, PartialEq)]
pub enum ShardCommand {
    Write(WriteRecord),
    /// Refuse samples older than `before` from here on: the data before it is final and
    /// is being cut into blocks.
    Seal {
        before: i64,
    },
    /// The blocks before `before` are in the bucket: drop that data from the head.
    Flushed {
        before: i64,
    },
}

/// A write as a log command (what distributors send to a shard's leader).
pub fn encode_write(tenant: &str, series: &[TimeSeries]) -> Vec<u8> {
    let record = codec::encode(tenant, series);
    let mut out = Vec::with_capacity(record.len() + 1);
    out.push(TAG_WRITE);
    out.extend_from_slice(&record);
    out
}

pub fn encode_seal(before: i64) -> Vec<u8> {
    bound(TAG_SEAL, before)
}

pub fn encode_flushed(before: i64) -> Vec<u8> {
    bound(TAG_FLUSHED, before)
}

fn bound(tag: u8, t: i64) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&t.to_le_bytes());
    out
}

pub fn decode(bytes: &[u8]) -> Result<ShardCommand, CodecError> {
    let (&tag, body) = bytes.split_first().ok_or(CodecError::Corrupt("empty command"))?;
    let bound = || -> Result<i64, CodecError> {
        let b: [u8; 8] = body.try_into().map_err(|_| CodecError::Corrupt("bad bound"))?;
        Ok(i64::from_le_bytes(b))
    };
    match tag {
        TAG_WRITE => Ok(ShardCommand::Write(codec::decode(body)?)),
        TAG_SEAL => Ok(ShardCommand::Seal { before: bound()? }),
        TAG_FLUSHED => Ok(ShardCommand::Flushed { before: bound()? }),
        _ => Err(CodecError::Corrupt("unknown command")),
    }
}

#[cfg(test)]
mod tests {
    use pyrite_model::{Labels, Sample};

    use super::*;

    #[test]
    fn commands_round_trip_and_garbage_is_an_error() {
        let series = vec![TimeSeries::floats(
            Labels::from_pairs(&[("__name__", "m")]),
            vec![Sample::new(1, 2.0)],
        )];
        match decode(&encode_write("t", &series)).unwrap() {
            ShardCommand::Write(w) => assert_eq!((w.tenant.as_str(), w.series), ("t", series)),
            other => panic!("{other:?}"),
        }
        assert_eq!(decode(&encode_seal(-5)).unwrap(), ShardCommand::Seal { before: -5 });
        assert_eq!(
            decode(&encode_flushed(7200)).unwrap(),
            ShardCommand::Flushed { before: 7200 }
        );
        assert!(decode(&[]).is_err());
        assert!(decode(&[TAG_SEAL, 1, 2]).is_err());
        assert!(decode(&[9, 0]).is_err());
    }
}
