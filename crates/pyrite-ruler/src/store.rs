//! Rule groups kept in object storage, per tenant and namespace, as the rule
//! configuration API ([`crate::config_api`]) writes them and the ruler reads them.
//!
//! The layout: one object per group at
//! `rules/<tenant>/<namespace, URL-safe base64>/<group name, URL-safe base64>` (base64
//! with padding, so any namespace or group name makes one path segment), holding the
//! group's YAML as a rule file writes one group ([`RuleGroup::to_yaml`]). Objects
//! elsewhere under `rules/`, or whose names do not decode, are not groups and are
//! skipped.
//!
//! The invariant: only groups that passed [`RuleGroup::parse`] are written, and a group
//! is read back through the same check, so what the ruler runs from here is what
//! `promtool check rules` accepts; an object that no longer parses is skipped with a
//! warning rather than stopping every other group.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use pyrite_rules::RuleGroup;

use crate::loader::LoadedGroup;

/// The prefix every rule group object is under.
pub const PREFIX: &str = "rules";

/// A tenant's groups by namespace, each namespace's groups in name order.
pub type Namespaces = BTreeMap<String, Vec<RuleGroup>>;

/// Why the rule store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rule store: {0}")]
    Bucket(#[from] object_store::Error),
}

/// Rule groups in a bucket, under [`PREFIX`].
#[derive(Debug, Clone)]
pub struct RuleStore {
    bucket: Arc<dyn ObjectStore>,
}

/// Where one group was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    tenant: String,
    namespace: String,
    group: String,
}

impl RuleStore {
    pub fn new(bucket: Arc<dyn ObjectStore>) -> RuleStore {
        RuleStore { bucket }
    }

    /// The object of one group.
    pub fn object(tenant: &str, namespace: &str, group: &str) -> Path {
        Path::from(format!(
            "{PREFIX}/{tenant}/{}/{}",
            base64_url(namespace.as_bytes()),
            base64_url(group.as_bytes())
        ))
    }

    /// Every group of `tenant` (or of every tenant), optionally of one namespace only,
    /// by listing the bucket.
    async fn keys(&self, tenant: Option<&str>, namespace: Option<&str>) -> Result<Vec<Key>, StoreError> {
        let prefix = match (tenant, namespace) {
            (None, _) => Path::from(PREFIX),
            (Some(t), None) => Path::from(format!("{PREFIX}/{t}")),
            (Some(t), Some(ns)) => Path::from(format!("{PREFIX}/{t}/{}", base64_url(ns.as_bytes()))),
        };
        let listed: Vec<_> = self.bucket.list(Some(&prefix)).try_collect().await?;
        let mut keys: Vec<Key> = listed.iter().filter_map(|m| parse_key(&m.location)).collect();
        keys.retain(|k| tenant.is_none_or(|t| k.tenant == t) && namespace.is_none_or(|ns| k.namespace == ns));
        keys.sort();
        Ok(keys)
    }

    /// Reads one group's object: `None` when it is absent or no longer parses.
    async fn read(&self, key: &Key) -> Result<Option<RuleGroup>, StoreError> {
        let path = Self::object(&key.tenant, &key.namespace, &key.group);
        let bytes = match self.bucket.get(&path).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match RuleGroup::parse(&bytes, &crate::template::check) {
            Ok(g) if g.name == key.group => Ok(Some(g)),
            Ok(g) => {
                tracing::warn!(object = %path, name = %g.name, "skipping a stored rule group whose name is not its object's");
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(object = %path, error = %e, "skipping a stored rule group that does not parse");
                Ok(None)
            }
        }
    }

    /// `tenant`'s groups, of one namespace or of all, by namespace.
    pub async fn list(&self, tenant: &str, namespace: Option<&str>) -> Result<Namespaces, StoreError> {
        let mut out = Namespaces::new();
        for key in self.keys(Some(tenant), namespace).await? {
            if let Some(g) = self.read(&key).await? {
                out.entry(key.namespace).or_default().push(g);
            }
        }
        Ok(out)
    }

    /// How many groups `tenant` keeps here.
    pub async fn count(&self, tenant: &str) -> Result<usize, StoreError> {
        Ok(self.keys(Some(tenant), None).await?.len())
    }

    /// One group, if it is here.
    pub async fn get(&self, tenant: &str, namespace: &str, group: &str) -> Result<Option<RuleGroup>, StoreError> {
        let key = Key {
            tenant: tenant.to_string(),
            namespace: namespace.to_string(),
            group: group.to_string(),
        };
        self.read(&key).await
    }

    /// Whether the group's object exists.
    pub async fn exists(&self, tenant: &str, namespace: &str, group: &str) -> Result<bool, StoreError> {
        match self.bucket.head(&Self::object(tenant, namespace, group)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `group` into `namespace`, replacing a group of the same name there.
    pub async fn put(&self, tenant: &str, namespace: &str, group: &RuleGroup) -> Result<(), StoreError> {
        let path = Self::object(tenant, namespace, &group.name);
        self.bucket.put(&path, PutPayload::from(group.to_yaml())).await?;
        Ok(())
    }

    /// Deletes one group; `false` when there was none.
    pub async fn delete(&self, tenant: &str, namespace: &str, group: &str) -> Result<bool, StoreError> {
        if !self.exists(tenant, namespace, group).await? {
            return Ok(false);
        }
        match self.bucket.delete(&Self::object(tenant, namespace, group)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes every group of a namespace; `false` when it had none.
    pub async fn delete_namespace(&self, tenant: &str, namespace: &str) -> Result<bool, StoreError> {
        let keys = self.keys(Some(tenant), Some(namespace)).await?;
        for key in &keys {
            match self.bucket.delete(&Self::object(tenant, namespace, &key.group)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(!keys.is_empty())
    }

    /// Every tenant's groups, as the ruler runs them: tenants, namespaces and groups in
    /// name order; each group's file is its namespace.
    pub async fn load_all(&self) -> Result<Vec<LoadedGroup>, StoreError> {
        let mut out = Vec::new();
        for key in self.keys(None, None).await? {
            if let Some(group) = self.read(&key).await? {
                out.push(LoadedGroup {
                    tenant: key.tenant,
                    file: key.namespace.clone(),
                    namespace: key.namespace,
                    group,
                });
            }
        }
        Ok(out)
    }
}

/// The tenant, namespace and group of a group's object, or `None` for any other object.
fn parse_key(path: &Path) -> Option<Key> {
    let parts: Vec<_> = path.parts().collect();
    let [prefix, tenant, namespace, group] = parts.as_slice() else {
        return None;
    };
    if prefix.as_ref() != PREFIX || pyrite_model::validate_tenant(tenant.as_ref()).is_err() {
        return None;
    }
    let text = |p: &object_store::path::PathPart<'_>| {
        unbase64_url(p.as_ref())
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|s| !s.is_empty())
    };
    Some(Key {
        tenant: tenant.as_ref().to_string(),
        namespace: text(namespace)?,
        group: text(group)?,
    })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with the URL-safe alphabet and `=` padding (RFC 4648 §5).
pub fn base64_url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes [`base64_url`] wrote, or `None` for text it would not write.
pub fn unbase64_url(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let last = i + 1 == bytes.len() / 4;
        let pad = chunk.iter().rev().take_while(|b| **b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for (j, b) in chunk[..4 - pad].iter().enumerate() {
            let v = ALPHABET.iter().position(|a| a == b)? as u32;
            n |= v << (18 - 6 * j);
        }
        let keep = 3 - pad;
        // Bits beyond what the kept bytes hold must be zero, as an encoder writes them.
        if n & ((1 << (8 * (3 - keep))) - 1) != 0 {
            return None;
        }
        out.extend((0..keep).map(|k| (n >> (16 - 8 * k)) as u8));
    }
    Some(out)
}

#[cfg(test)]
mod tests;
