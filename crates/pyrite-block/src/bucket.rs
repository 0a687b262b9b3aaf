//! Blocks in a bucket: uploading one (data first, meta last, so a block without a meta
//! is an unfinished upload, never read), finding a tenant's blocks, and the per-tenant
//! bucket index (`<tenant>/bucket-index.json`) that readers load instead of listing the
//! bucket on every query.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::meta::{block_dir, BlockFile, BlockMeta, DATA_FILE, META_FILE};
use crate::write::Encoded;
use crate::BlockError;

pub const INDEX_FILE: &str = "bucket-index.json";

/// Uploads a block: its data file, then its meta (with the file's size filled in).
/// Uploading the same block again rewrites the same names, so a retried or repeated
/// upload leaves exactly one block.
pub async fn upload(store: &dyn ObjectStore, mut meta: BlockMeta, block: Encoded) -> Result<BlockMeta, BlockError> {
    meta.stats = block.stats;
    meta.files = vec![BlockFile {
        name: DATA_FILE.to_string(),
        size: block.bytes.len() as u64,
    }];
    let dir = meta.dir();
    store
        .put(&Path::from(format!("{dir}/{DATA_FILE}")), PutPayload::from(block.bytes))
        .await?;
    let json = serde_json::to_vec_pretty(&meta)?;
    store
        .put(&Path::from(format!("{dir}/{META_FILE}")), PutPayload::from(json))
        .await?;
    Ok(meta)
}

/// A block's meta, or `None` when the block is absent or unfinished.
pub async fn read_meta(store: &dyn ObjectStore, tenant: &str, ulid: Ulid) -> Result<Option<BlockMeta>, BlockError> {
    let path = Path::from(format!("{}/{META_FILE}", block_dir(tenant, ulid)));
    match store.get(&path).await {
        Ok(r) => Ok(Some(serde_json::from_slice(&r.bytes().await?)?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every tenant with a directory in the bucket.
pub async fn tenants(store: &dyn ObjectStore) -> Result<Vec<String>, BlockError> {
    let listed = store.list_with_delimiter(None).await?;
    Ok(listed
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .collect())
}

/// Every finished block of a tenant, by listing the bucket (the index's source).
pub async fn list_blocks(store: &dyn ObjectStore, tenant: &str) -> Result<Vec<BlockMeta>, BlockError> {
    let listed = store.list_with_delimiter(Some(&Path::from(tenant))).await?;
    let mut out = Vec::new();
    for dir in &listed.common_prefixes {
        let Some(ulid) = dir.filename().and_then(|n| n.parse::<Ulid>().ok()) else {
            continue;
        };
        if let Some(meta) = read_meta(store, tenant, ulid).await? {
            out.push(meta);
        }
    }
    out.sort_by_key(|m| (m.min_time, m.ulid));
    Ok(out)
}

/// A tenant's blocks as last indexed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketIndex {
    /// Milliseconds since the epoch when the index was written.
    pub updated_at: i64,
    pub blocks: Vec<BlockMeta>,
    /// Blocks marked for deletion, and when (ms): readers stop using them; they vanish
    /// from the bucket only after a delay.
    pub deletion_marks: BTreeMap<Ulid, i64>,
}

impl BucketIndex {
    /// Blocks a reader should use: indexed and not marked for deletion.
    pub fn live_blocks(&self) -> impl Iterator<Item = &BlockMeta> {
        self.blocks
            .iter()
            .filter(|b| !self.deletion_marks.contains_key(&b.ulid))
    }
}

fn index_path(tenant: &str) -> Path {
    Path::from(format!("{tenant}/{INDEX_FILE}"))
}

/// The tenant's bucket index; an empty one when none was written yet.
pub async fn read_index(store: &dyn ObjectStore, tenant: &str) -> Result<BucketIndex, BlockError> {
    match store.get(&index_path(tenant)).await {
        Ok(r) => Ok(serde_json::from_slice(&r.bytes().await?)?),
        Err(object_store::Error::NotFound { .. }) => Ok(BucketIndex::default()),
        Err(e) => Err(e.into()),
    }
}

pub async fn write_index(store: &dyn ObjectStore, tenant: &str, index: &BucketIndex) -> Result<(), BlockError> {
    let json = serde_json::to_vec(index)?;
    store.put(&index_path(tenant), PutPayload::from(json)).await?;
    Ok(())
}

/// Rebuilds a tenant's index from the bucket's contents, keeping deletion marks of
/// blocks still present.
pub async fn refresh_index(store: &dyn ObjectStore, tenant: &str, now_ms: i64) -> Result<BucketIndex, BlockError> {
    let old = read_index(store, tenant).await?;
    let blocks = list_blocks(store, tenant).await?;
    let deletion_marks = old
        .deletion_marks
        .into_iter()
        .filter(|(id, _)| blocks.iter().any(|b| b.ulid == *id))
        .collect();
    let index = BucketIndex {
        updated_at: now_ms,
        blocks,
        deletion_marks,
    };
    write_index(store, tenant, &index).await?;
    Ok(index)
}

/// Deletes every object under a block's directory (what is left of it).
pub async fn delete_block(store: &dyn ObjectStore, tenant: &str, ulid: Ulid) -> Result<(), BlockError> {
    let prefix = Path::from(block_dir(tenant, ulid));
    // The meta goes first, so a half-deleted block reads as unfinished, never as whole.
    match store.delete(&Path::from(format!("{prefix}/{META_FILE}"))).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    for o in objects {
        match store.delete(&o.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Whether bytes are a whole block file (used when checking uploads in tests and tools).
pub fn is_parquet(bytes: &Bytes) -> bool {
    bytes.len() > 8 && bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1")
}
