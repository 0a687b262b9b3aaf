//! What a shard's Raft log holds: writes, the two steps of cutting a tenant's block,
//! which every replica must take at the same point in the log, and metric metadata.
//!
//! Layout: one tag byte, then the body. A write carries a 16-byte id, then a [`codec`]
//! record: a writer that retries sends the very same bytes, so an entry committed twice
//! is recognised by its id and applied once. `seal` and `flushed` carry a little-endian
//! millisecond bound, then the tenant. Logs written before writes had ids and seals had
//! tenants hold tags 0–2, which still decode (a seal without a tenant is every tenant's).
//! `metadata` carries its proposer's clock, the tenant and the descriptions, as
//! MessagePack.

use pyrite_model::TimeSeries;
use pyrite_storage::{KnownWrite, MetricMetadata};

use crate::codec::{self, CodecError, WriteRecord};

const TAG_WRITE_V1: u8 = 0;
const TAG_SEAL_ALL: u8 = 1;
const TAG_FLUSHED_ALL: u8 = 2;
const TAG_WRITE: u8 = 3;
const TAG_SEAL: u8 = 4;
const TAG_FLUSHED: u8 = 5;
const TAG_METADATA: u8 = 6;

/// Names one write, so its retries are applied once.
pub type WriteId = u128;

#[derive(Debug, Clone, PartialEq)]
pub enum ShardCommand {
    Write {
        /// `None` only in logs from before writes had ids.
        id: Option<WriteId>,
        record: WriteRecord,
    },
    /// Refuse the tenant's samples older than `before` from here on: its data before it
    /// is final and is being cut into blocks. `None`: every tenant (older logs).
    Seal { tenant: Option<String>, before: i64 },
    /// The tenant's blocks before `before` are in the bucket: drop that data from the head.
    Flushed { tenant: Option<String>, before: i64 },
    /// A tenant's metric metadata, sent at `at_ms` by its proposer's clock.
    Metadata(MetadataRecord),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetadataRecord {
    pub at_ms: i64,
    pub tenant: String,
    pub metadata: Vec<MetricMetadata>,
}

/// A tenant's metric metadata as a log command, stamped with this node's clock.
pub fn encode_metadata(tenant: &str, metadata: Vec<MetricMetadata>) -> Vec<u8> {
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    encode(&ShardCommand::Metadata(MetadataRecord {
        at_ms,
        tenant: tenant.to_string(),
        metadata,
    }))
}

/// A write as a log command (what distributors send to a shard's leader), under a
/// fresh id.
pub fn encode_write(tenant: &str, series: &[TimeSeries]) -> Vec<u8> {
    encode_write_with_id(ulid::Ulid::new().0, tenant, series)
}

pub fn encode_write_with_id(id: WriteId, tenant: &str, series: &[TimeSeries]) -> Vec<u8> {
    write_command(id, &codec::encode(tenant, series))
}

/// A write to known series as a log command under a fresh id: the same command as
/// [`encode_write`] of [`KnownWrite::to_series`].
pub fn encode_known_write(tenant: &str, write: &KnownWrite) -> Vec<u8> {
    write_command(ulid::Ulid::new().0, &codec::encode_known(tenant, write))
}

fn write_command(id: WriteId, record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + 17);
    out.push(TAG_WRITE);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(record);
    out
}

/// The id of a write command, read without decoding the rest.
pub fn write_id(bytes: &[u8]) -> Option<WriteId> {
    match bytes.split_first() {
        Some((&TAG_WRITE, body)) => Some(WriteId::from_le_bytes(body.get(..16)?.try_into().ok()?)),
        _ => None,
    }
}

/// A command in its log encoding (a write without an id is given a fresh one).
pub fn encode(command: &ShardCommand) -> Vec<u8> {
    match command {
        ShardCommand::Write { id, record } => encode_write_with_id(
            id.unwrap_or_else(|| ulid::Ulid::new().0),
            &record.tenant,
            &record.series,
        ),
        ShardCommand::Seal {
            tenant: Some(t),
            before,
        } => encode_seal(t, *before),
        ShardCommand::Flushed {
            tenant: Some(t),
            before,
        } => encode_flushed(t, *before),
        ShardCommand::Seal { tenant: None, before } => bound(TAG_SEAL_ALL, *before, ""),
        ShardCommand::Flushed { tenant: None, before } => bound(TAG_FLUSHED_ALL, *before, ""),
        ShardCommand::Metadata(record) => {
            let mut out = vec![TAG_METADATA];
            rmp_serde::encode::write(&mut out, record).expect("metadata always serializes");
            out
        }
    }
}

pub fn encode_seal(tenant: &str, before: i64) -> Vec<u8> {
    bound(TAG_SEAL, before, tenant)
}

pub fn encode_flushed(tenant: &str, before: i64) -> Vec<u8> {
    bound(TAG_FLUSHED, before, tenant)
}

fn bound(tag: u8, t: i64, tenant: &str) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&t.to_le_bytes());
    out.extend_from_slice(tenant.as_bytes());
    out
}

pub fn decode(bytes: &[u8]) -> Result<ShardCommand, CodecError> {
    let (&tag, body) = bytes.split_first().ok_or(CodecError::Corrupt("empty command"))?;
    let bound = || -> Result<(i64, &[u8]), CodecError> {
        let (b, rest) = body.split_at_checked(8).ok_or(CodecError::Corrupt("bad bound"))?;
        let b: [u8; 8] = b.try_into().map_err(|_| CodecError::Corrupt("bad bound"))?;
        Ok((i64::from_le_bytes(b), rest))
    };
    let tenant = |rest: &[u8]| -> Result<String, CodecError> {
        String::from_utf8(rest.to_vec()).map_err(|_| CodecError::Corrupt("tenant is not UTF-8"))
    };
    match tag {
        TAG_WRITE => {
            let id = write_id(bytes).ok_or(CodecError::Corrupt("bad write id"))?;
            Ok(ShardCommand::Write {
                id: Some(id),
                record: codec::decode(&body[16..])?,
            })
        }
        TAG_SEAL | TAG_FLUSHED => {
            let (before, rest) = bound()?;
            let tenant = Some(tenant(rest)?);
            Ok(if tag == TAG_SEAL {
                ShardCommand::Seal { tenant, before }
            } else {
                ShardCommand::Flushed { tenant, before }
            })
        }
        TAG_WRITE_V1 => Ok(ShardCommand::Write {
            id: None,
            record: codec::decode(body)?,
        }),
        TAG_SEAL_ALL | TAG_FLUSHED_ALL => {
            let (before, rest) = bound()?;
            if !rest.is_empty() {
                return Err(CodecError::Corrupt("bad bound"));
            }
            Ok(if tag == TAG_SEAL_ALL {
                ShardCommand::Seal { tenant: None, before }
            } else {
                ShardCommand::Flushed { tenant: None, before }
            })
        }
        TAG_METADATA => rmp_serde::from_slice(body)
            .map(ShardCommand::Metadata)
            .map_err(|_| CodecError::Corrupt("bad metadata command")),
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
        let bytes = encode_write_with_id(42, "t", &series);
        assert_eq!(write_id(&bytes), Some(42));
        match decode(&bytes).unwrap() {
            ShardCommand::Write { id, record } => {
                assert_eq!(
                    (id, record.tenant.as_str(), record.series),
                    (Some(42), "t", series.clone())
                )
            }
            other => panic!("{other:?}"),
        }
        assert_ne!(
            write_id(&encode_write("t", &series)),
            write_id(&encode_write("t", &series)),
            "every write gets its own id"
        );
        assert_eq!(
            decode(&encode_seal("team-a", -5)).unwrap(),
            ShardCommand::Seal {
                tenant: Some("team-a".into()),
                before: -5
            }
        );
        assert_eq!(
            decode(&encode_flushed("", 7200)).unwrap(),
            ShardCommand::Flushed {
                tenant: Some(String::new()),
                before: 7200
            }
        );
        for command in [
            ShardCommand::Metadata(MetadataRecord {
                at_ms: 12,
                tenant: "a".into(),
                metadata: vec![MetricMetadata {
                    metric: "up".into(),
                    kind: pyrite_storage::MetricType::Gauge,
                    help: "Whether the target answered.".into(),
                    unit: String::new(),
                }],
            }),
            ShardCommand::Seal {
                tenant: Some("a".into()),
                before: 3,
            },
            ShardCommand::Flushed {
                tenant: None,
                before: -3,
            },
            ShardCommand::Write {
                id: Some(9),
                record: WriteRecord {
                    tenant: "t".into(),
                    series: series.clone(),
                },
            },
        ] {
            assert_eq!(decode(&encode(&command)).unwrap(), command);
        }
        assert!(decode(&[]).is_err());
        assert!(decode(&[TAG_SEAL, 1, 2]).is_err());
        assert!(decode(&[TAG_WRITE, 1, 2]).is_err());
        assert!(decode(&[9, 0]).is_err());
    }

    #[test]
    fn commands_of_older_logs_still_decode() {
        let mut seal = vec![TAG_SEAL_ALL];
        seal.extend_from_slice(&100i64.to_le_bytes());
        assert_eq!(
            decode(&seal).unwrap(),
            ShardCommand::Seal {
                tenant: None,
                before: 100
            }
        );
        let series = vec![TimeSeries::floats(
            Labels::from_pairs(&[("__name__", "m")]),
            vec![Sample::new(1, 2.0)],
        )];
        let mut write = vec![TAG_WRITE_V1];
        write.extend_from_slice(&codec::encode("t", &series));
        assert_eq!(write_id(&write), None);
        assert!(matches!(decode(&write).unwrap(), ShardCommand::Write { id: None, .. }));
    }
}
